"""PLE / CGC: task-specific and shared experts mixed by per-task gates, stacked in levels."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from pydantic import Field, model_validator
from torch import nn

from recblocks.core.errors import ShapeError
from recblocks.core.limits import MAX_LAYER_WIDTH, MAX_LAYERS
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.base import Component
from recblocks.layers.mlp import MLP, MLPParams

__all__ = ["CGC", "CGCParams", "PLE", "PLELevelParams", "PLEParams"]


class CGCParams(Params):
    """Parameters of :class:`CGC` (one extraction level of PLE)."""

    num_tasks: int = Field(ge=2, le=MAX_LAYERS, description="tasks T, 2 to 1,000")
    num_specific_experts: int = Field(default=1, ge=1, le=MAX_LAYERS)
    num_shared_experts: int = Field(default=1, ge=1, le=MAX_LAYERS)
    expert_mlp: MLPParams
    shared_expert_mlp: MLPParams | None = None
    gate_hidden_units: list[Annotated[int, Field(ge=1, le=MAX_LAYER_WIDTH)]] = Field(
        default=[], max_length=MAX_LAYERS, description="hidden widths of every gate (relu); empty: a linear gate")

    @model_validator(mode="after")
    def _one_expert_width(self) -> "CGCParams":
        if self.expert_mlp is not None and self.shared_expert_mlp is not None and \
                self.shared_expert_mlp.hidden_units[-1:] != self.expert_mlp.hidden_units[-1:]:
            raise ValueError("the gates mix task and shared experts, so shared_expert_mlp must end in the width of "
                             f"expert_mlp ({self.expert_mlp.hidden_units[-1:]}), got "
                             f"{self.shared_expert_mlp.hidden_units[-1:]}")
        return self


class PLELevelParams(Params):
    """One entry of :class:`PLE`'s ``extraction_levels`` (EasyRec's ``ExtractionNetwork``)."""

    num_specific_experts: int = Field(default=1, ge=1, le=MAX_LAYERS)
    num_shared_experts: int = Field(default=1, ge=1, le=MAX_LAYERS)
    expert_mlp: MLPParams
    shared_expert_mlp: MLPParams | None = None


class PLEParams(CGCParams):
    """Parameters of :class:`PLE`."""

    expert_mlp: MLPParams | None = None  # type: ignore[assignment]
    num_levels: int = Field(default=2, ge=1, le=MAX_LAYERS, description="extraction levels (1 = CGC)")
    extraction_levels: list[PLELevelParams] = Field(default=[], max_length=MAX_LAYERS)

    @model_validator(mode="after")
    def _experts_once(self) -> "PLEParams":
        if (self.expert_mlp is None) == (not self.extraction_levels):
            raise ValueError("set either expert_mlp (with num_levels and the expert counts, every level alike) or "
                             "extraction_levels (one entry per level)")
        return self

    def level_params(self) -> list[CGCParams]:
        """The params of every level, in order."""
        if not self.extraction_levels:
            return [self] * self.num_levels
        return [CGCParams(num_tasks=self.num_tasks, gate_hidden_units=self.gate_hidden_units,
                          **level.model_dump(exclude_unset=True)) for level in self.extraction_levels]


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
        self.shared = nn.ModuleList(MLP(params.shared_expert_mlp or params.expert_mlp, input_dim,
                                        join_path(where, f"shared_expert_{k}")) for k in range(shared))
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
        ({"num_tasks": 2, "extraction_levels": [
            {"num_specific_experts": 2, "expert_mlp": {"hidden_units": [4]}, "shared_expert_mlp": {"hidden_units": [6, 4]}},
            {"num_shared_experts": 2, "expert_mlp": {"hidden_units": [3]}}]}, TensorSpec((5,))),
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
    DeepCTR (2); one level is :class:`CGC`. Levels that differ (EasyRec's ``extraction_networks``:
    own expert counts and nets per level) are listed in ``extraction_levels`` instead.

    Args:
        num_tasks: tasks ``T >= 2``.
        num_specific_experts: experts per task and level.
        num_shared_experts: shared experts per level.
        expert_mlp: MLP params of every expert (``D_e = hidden_units[-1]``).
        shared_expert_mlp: MLP params of the shared experts (None: ``expert_mlp``); same ``D_e``.
        gate_hidden_units: hidden widths of every gate (empty: a linear gate).
        num_levels: extraction levels.
        extraction_levels: one entry per level (``num_specific_experts``, ``num_shared_experts``,
            ``expert_mlp``, ``shared_expert_mlp``) instead of ``expert_mlp`` and ``num_levels``.

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
        levels = params.level_params() if isinstance(params, PLEParams) else [params]
        self.levels = nn.ModuleList()
        width = input_dim
        for level, level_params in enumerate(levels):
            self.levels.append(_Level(level_params, width, level == len(levels) - 1, join_path(where, f"level_{level}")))
            width = level_params.expert_mlp.hidden_units[-1]
        self.output_dim = width

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
        return [TensorSpec((self.output_dim,)) for _ in range(self.params.num_tasks)]

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
        shared_expert_mlp: MLP params of the shared experts (None: ``expert_mlp``); same ``D_e``.
        gate_hidden_units: hidden widths of every gate (empty: a linear gate).

    Shape:
        - Input: ``(B, D)``.
        - Output: list ``T x (B, D_e)``.

    Example:
        >>> cgc = CGC.from_spec(CGCParams(num_tasks=2, expert_mlp={"hidden_units": [4]}), TensorSpec((5,)))
        >>> len(cgc.levels), [y.shape for y in cgc(torch.randn(3, 5))]
        (1, [torch.Size([3, 4]), torch.Size([3, 4])])
    """
