"""PLE / CGC: task-specific and shared experts mixed by per-task gates, stacked in levels."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from pydantic import Field
from torch import nn

from recblocks.core.errors import ShapeError
from recblocks.core.limits import MAX_LAYER_WIDTH, MAX_LAYERS
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.base import Component
from recblocks.layers.mlp import MLP, MLPParams

__all__ = ["CGC", "CGCParams", "PLE", "PLEParams"]


class CGCParams(Params):
    """Parameters of :class:`CGC` (one extraction level of PLE)."""

    num_tasks: int = Field(ge=2, le=MAX_LAYERS, description="tasks T, 2 to 1,000")
    num_specific_experts: int = Field(default=1, ge=1, le=MAX_LAYERS)
    num_shared_experts: int = Field(default=1, ge=1, le=MAX_LAYERS)
    expert_mlp: MLPParams
    gate_hidden_units: list[Annotated[int, Field(ge=1, le=MAX_LAYER_WIDTH)]] = Field(
        default=[], max_length=MAX_LAYERS, description="hidden widths of every gate (relu); empty: a linear gate")


class PLEParams(CGCParams):
    """Parameters of :class:`PLE`."""

    num_levels: int = Field(default=2, ge=1, le=MAX_LAYERS, description="extraction levels (1 = CGC)")


def _gate(input_dim: int, hidden: list[int], num_experts: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for units in hidden:
        layers += [nn.Linear(input_dim, units), nn.ReLU()]
        input_dim = units
    return nn.Sequential(*layers, nn.Linear(input_dim, num_experts), nn.Softmax(dim=-1))


class _Level(nn.Module):
    """One extraction level: per-task and shared experts, task gates and (not last) the shared gate."""

    def __init__(self, params: CGCParams, input_dim: int, last: bool, where: str) -> None:
        super().__init__()
        tasks, own, shared = params.num_tasks, params.num_specific_experts, params.num_shared_experts
        self.specific = nn.ModuleList(
            nn.ModuleList(MLP(params.expert_mlp, input_dim, join_path(where, f"task_{t}_expert_{k}"))
                          for k in range(own)) for t in range(tasks))
        self.shared = nn.ModuleList(MLP(params.expert_mlp, input_dim, join_path(where, f"shared_expert_{k}"))
                                    for k in range(shared))
        self.task_gates = nn.ModuleList(_gate(input_dim, params.gate_hidden_units, own + shared) for _ in range(tasks))
        self.shared_gate = None if last else _gate(input_dim, params.gate_hidden_units, tasks * own + shared)

    def forward(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        shared = [expert(inputs[-1]) for expert in self.shared]
        specific = [[expert(inputs[t]) for expert in experts] for t, experts in enumerate(self.specific)]
        outputs = []
        for t, gate in enumerate(self.task_gates):
            experts = torch.stack(specific[t] + shared, dim=1)  # (B, m_s + m_c, D_e)
            outputs.append(torch.bmm(gate(inputs[t]).unsqueeze(1), experts).squeeze(1))
        if self.shared_gate is not None:
            experts = torch.stack([e for task in specific for e in task] + shared, dim=1)
            outputs.append(torch.bmm(self.shared_gate(inputs[-1]).unsqueeze(1), experts).squeeze(1))
        return outputs


@COMPONENTS.register(
    "PLE", params=PLEParams, input_kind="tensor", positional=("num_tasks", "expert_mlp"),
    examples=[
        ({"num_tasks": 2, "expert_mlp": {"hidden_units": [4]}, "gate_hidden_units": [3]}, TensorSpec((5,))),
        ({"num_tasks": 3, "num_levels": 1, "num_specific_experts": 2, "num_shared_experts": 2,
          "expert_mlp": {"hidden_units": [4, 2], "use_bn": False, "use_final_bn": False}}, TensorSpec((3,))),
    ])
class PLE(Component):
    """Progressive layered extraction: task-specific and shared experts mixed by task gates (PLE).

    Tang et al., "Progressive Layered Extraction (PLE): A Novel Multi-Task Learning (MTL) Model
    for Personalized Recommendations", RecSys 2020. Level ``l`` takes ``[in_1..in_T, in_s]``
    (all ``x`` at level 0): task ``t`` has experts ``S_t,k(in_t)``, the level shared experts
    ``C_k(in_s)``; ``out_t = sum g_t * [S_t,1..m_s, C_1..m_c]`` with
    ``g_t = softmax(Gate_t(in_t))``; below the last level a shared gate
    ``softmax(Gate_s(in_s))`` mixes **all** the level's experts (every task's and the shared
    ones: the paper and DeepCTR; FuxiCTR mixes the shared ones only) into
    ``out_s``. The next level takes ``[out_1..out_T, out_s]``; the output is the last level's
    ``[out_1..out_T]``. Experts are :class:`~recblocks.layers.mlp.MLP` s; a gate is
    ``gate_hidden_units`` relu layers then a linear layer and a softmax. ``num_levels`` follows
    DeepCTR (2); one level is :class:`CGC`.

    Args:
        num_tasks: tasks ``T >= 2``.
        num_specific_experts: experts per task and level.
        num_shared_experts: shared experts per level.
        expert_mlp: MLP params of every expert (``D_e = hidden_units[-1]``).
        gate_hidden_units: hidden widths of every gate (empty: a linear gate).
        num_levels: extraction levels.

    Shape:
        - Input: ``(B, D)``.
        - Output: list ``T x (B, D_e)``.

    Example:
        >>> ple = PLE.from_spec(PLEParams(num_tasks=2, expert_mlp={"hidden_units": [4]}), TensorSpec((5,)))
        >>> [y.shape for y in ple(torch.randn(3, 5))]
        [torch.Size([3, 4]), torch.Size([3, 4])]
    """

    def __init__(self, params: CGCParams, input_dim: int, where: str) -> None:
        super().__init__(params)
        self.where, self.input_dim = where, input_dim
        levels = getattr(params, "num_levels", 1)
        width = params.expert_mlp.hidden_units[-1]
        self.levels = nn.ModuleList(
            _Level(params, input_dim if level == 0 else width, level == levels - 1, join_path(where, f"level_{level}"))
            for level in range(levels))

    @classmethod
    def _input(cls, spec: Any, where: str) -> int:
        if not isinstance(spec, TensorSpec) or spec.rank != 2 or spec.dtype != "float":
            raise ShapeError(where, f"{cls.registry_name} needs one 2-D input", "one (B, D) tensor",
                             describe_spec(spec))
        return spec.shape[0]

    @classmethod
    def from_spec(cls, params: CGCParams, input_spec: Any, where: str = "") -> "PLE":
        where = where or cls.registry_name
        return cls(params, cls._input(input_spec, where), where)

    def output_spec(self, input_spec: Any) -> list[TensorSpec]:
        width = self._input(input_spec, self.where)
        if width != self.input_dim:
            raise ShapeError(self.where, f"{self.registry_name}: the input width differs from the one this layer was "
                             "built for", f"(B, {self.input_dim})", describe_spec(input_spec))
        return [TensorSpec((self.params.expert_mlp.hidden_units[-1],)) for _ in range(self.params.num_tasks)]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        inputs = [x] * (self.params.num_tasks + 1)
        for level in self.levels:
            inputs = level(inputs)
        return inputs


@COMPONENTS.register(
    "CGC", params=CGCParams, input_kind="tensor", positional=("num_tasks", "expert_mlp"),
    examples=[({"num_tasks": 2, "expert_mlp": {"hidden_units": [4], "use_final_bn": False}}, TensorSpec((5,)))])
class CGC(PLE):
    """Customized gate control: one PLE extraction level, task gates over own and shared experts.

    Tang et al., RecSys 2020 (the single-level form of :class:`PLE`, FuxiCTR's default):
    ``out_t = sum softmax(Gate_t(x)) * [S_t,1..m_s(x), C_1..m_c(x)]``; no shared gate.

    Args:
        num_tasks: tasks ``T >= 2``.
        num_specific_experts: experts per task.
        num_shared_experts: shared experts.
        expert_mlp: MLP params of every expert (``D_e = hidden_units[-1]``).
        gate_hidden_units: hidden widths of every gate (empty: a linear gate).

    Shape:
        - Input: ``(B, D)``.
        - Output: list ``T x (B, D_e)``.

    Example:
        >>> cgc = CGC.from_spec(CGCParams(num_tasks=2, expert_mlp={"hidden_units": [4]}), TensorSpec((5,)))
        >>> len(cgc.levels), [y.shape for y in cgc(torch.randn(3, 5))]
        (1, [torch.Size([3, 4]), torch.Size([3, 4])])
    """
