"""Mixtures of experts for multi-task models: MMoE (softmax / top-k / noisy top-k gates) and POSO-MMoE."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from recblocks.core.context import ForwardContext
from recblocks.core.errors import ShapeError
from recblocks.core.limits import MAX_LAYER_WIDTH, MAX_LAYERS
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.activations import check_activation, initialize, make_activation
from recblocks.layers.base import Component, block_name
from recblocks.layers.mlp import MLP, MLPParams

__all__ = ["MMoE", "MMoEParams", "POSOMMoE", "POSOMMoEParams", "load_balance_loss", "mix_experts"]

#: Most experts / tasks of one mixture (a typo such as 1e6 is refused when the config is read).
_MAX_EXPERTS = MAX_LAYERS


def mix_experts(gates: torch.Tensor, experts: torch.Tensor) -> list[torch.Tensor]:
    """``gates (B, T, E)`` x ``experts (B, E, D_e)`` -> ``T x (B, D_e)`` (``y_t = sum_e g_te e_e``)."""
    return list(torch.bmm(gates, experts).unbind(dim=1))


class MMoEParams(Params):
    """Parameters of :class:`MMoE` (EasyRec ``MMoELayer`` names accepted: ``num_task``, ``num_expert``)."""

    num_tasks: int = Field(ge=1, le=_MAX_EXPERTS, alias="num_task", description="tasks T, at most 1,000")
    num_experts: int = Field(ge=1, le=_MAX_EXPERTS, alias="num_expert", description="experts E, at most 1,000")
    expert_mlp: MLPParams | None = None
    gate_type: Literal["softmax", "topk", "noise_topk"] = "softmax"
    top_k: int = Field(default=1, ge=1, le=_MAX_EXPERTS)
    load_balance_weight: float = Field(default=0.0, ge=0.0, le=1e6)

    @model_validator(mode="after")
    def _top_k_fits(self) -> "MMoEParams":
        if self.gate_type != "softmax" and self.top_k > self.num_experts:
            raise ValueError(f"top_k ({self.top_k}) must not exceed num_experts ({self.num_experts})")
        if self.load_balance_weight and self.gate_type == "softmax":
            raise ValueError("load_balance_weight applies to the 'topk' and 'noise_topk' gates only")
        return self


def load_balance_loss(gates: torch.Tensor) -> torch.Tensor:
    """``sum_t cv^2(importance_t)`` with ``importance_t = sum_b g_bt`` over the experts (Shazeer et al.).

    ``cv^2 = var_E / mean_E^2`` (population variance). Both rows routed to expert 0 of
    two: importance ``[2, 0]``, mean 1, variance 1 -> 1.

    Example:
        >>> load_balance_loss(torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]]]))
        tensor(1.)
    """
    importance = gates.sum(dim=0)  # (T, E)
    mean = importance.mean(dim=-1)
    return (importance.var(dim=-1, unbiased=False) / (mean.pow(2) + 1e-10)).sum()


def _mmoe_input(spec: Any, params: MMoEParams, where: str) -> tuple[int, int]:
    """(gate input width, expert width) of an MMoE input; ShapeError naming the expected input."""
    if params.expert_mlp is not None:
        expected = "one (B, D) tensor (the experts are built from expert_mlp)"
        if not isinstance(spec, TensorSpec) or spec.rank != 2 or spec.dtype != "float":
            raise ShapeError(where, "MMoE needs one 2-D input", expected, describe_spec(spec))
        return spec.shape[0], params.expert_mlp.hidden_units[-1]
    count = params.num_experts
    expected = f"a list of {count} expert outputs (B, D_e) followed by the gate input (B, D) (no expert_mlp)"
    if not isinstance(spec, (list, tuple)) or not all(isinstance(s, TensorSpec) and s.rank == 2 for s in spec):
        raise ShapeError(where, "MMoE without expert_mlp needs precomputed expert outputs", expected,
                         describe_spec(spec))
    if len(spec) != count + 1:
        raise ShapeError(where, "MMoE without expert_mlp got the wrong number of inputs", expected, len(spec))
    widths = {s.shape[0] for s in spec[:count]}
    if len(widths) != 1:
        raise ShapeError(where, "MMoE: all expert outputs must have one width", expected, describe_spec(spec))
    return spec[count].shape[0], widths.pop()


@COMPONENTS.register(
    "MMoE", params=MMoEParams, input_kind="tensor", positional=("num_tasks", "num_experts"),
    examples=[
        ({"num_task": 2, "num_expert": 3, "expert_mlp": {"hidden_units": [6, 4]}}, TensorSpec((5,))),
        ({"num_tasks": 3, "num_experts": 2}, [TensorSpec((4,)), TensorSpec((4,)), TensorSpec((3,))]),
        ({"num_tasks": 2, "num_experts": 3, "gate_type": "topk", "top_k": 2,
          "expert_mlp": {"hidden_units": [4], "use_bn": False, "use_final_bn": False}}, TensorSpec((5,))),
        ({"num_tasks": 2, "num_experts": 4, "gate_type": "noise_topk", "top_k": 3,
          "expert_mlp": {"hidden_units": [4], "use_final_bn": False}}, TensorSpec((5,))),
        ({"num_tasks": 2, "num_experts": 3, "gate_type": "topk", "top_k": 2, "load_balance_weight": 0.01,
          "expert_mlp": {"hidden_units": [4], "use_final_bn": False}}, TensorSpec((5,))),
    ])
class MMoE(Component):
    """Multi-gate mixture of experts: one gate per task mixes shared experts (MMoE).

    Ma et al., "Modeling Task Relationships in Multi-task Learning with Multi-gate
    Mixture-of-Experts", KDD 2018; noisy top-k gating from Shazeer et al., arXiv:1701.06538.
    ``e_i = Expert_i(x)`` (an :class:`~recblocks.layers.mlp.MLP` each, from ``expert_mlp``);
    ``l_t = x W_t + b_t`` (one dense gate per task, as EasyRec); ``y_t = sum_i g_t[i] e_i`` with

    * ``softmax``: ``g_t = softmax(l_t)``;
    * ``topk``: ``g = softmax(l_t)``, entries below the k-th largest zeroed (ties kept), renormalised;
    * ``noise_topk``: as ``topk`` on ``l_t + eps * softplus(x W_noise)``, ``eps ~ N(0, 1)``
      drawn in training only (eval: no noise).

    Without ``expert_mlp`` the input is EasyRec's list of ``E`` precomputed expert outputs
    followed by the gate input (use ``merge_inputs_into_list``). With ``load_balance_weight``
    (top-k gates; Monolith adds it, EasyRec has none, so it is off by default) the loss
    :func:`load_balance_loss` of the gates is added in training through the forward context as
    ``<block>_load_balance`` (the component then reads the context, per instance). EasyRec's ``num_expert: 0``
    (return the input unchanged) is refused: ``num_experts >= 1``. Gate kernels start
    Glorot-uniform with zero bias (Keras ``Dense``). The output is a list with one tensor per
    task (pick one with ``input_slice: '[t]'``).

    Args:
        num_tasks: tasks ``T`` (EasyRec ``num_task``).
        num_experts: experts ``E`` (EasyRec ``num_expert``).
        expert_mlp: MLP params of every expert; None: the input holds the expert outputs.
        gate_type: ``'softmax'`` (EasyRec, default), ``'topk'`` or ``'noise_topk'`` (Monolith).
        top_k: experts kept by the top-k gates (``<= num_experts``).
        load_balance_weight: weight of the load-balancing loss (0: none; top-k gates only).

    Shape:
        - Input: ``(B, D)``; without ``expert_mlp``: ``[E x (B, D_e), (B, D)]``.
        - Output: list ``T x (B, D_e)``, ``D_e = expert_mlp.hidden_units[-1]``.

    Example:
        >>> mmoe = MMoE.from_spec(MMoEParams(num_task=2, num_expert=3, expert_mlp={"hidden_units": [4]}),
        ...                       TensorSpec((5,)))
        >>> [y.shape for y in mmoe(torch.randn(8, 5))]
        [torch.Size([8, 4]), torch.Size([8, 4])]
    """

    #: ``model_params.l2_regularization`` with ``l2_scope: easyrec`` reaches this module's kernels (as in EasyRec)
    easyrec_l2 = True

    def __init__(self, params: MMoEParams, gate_dim: int, expert_dim: int, where: str) -> None:
        super().__init__(params)
        self.where, self.gate_dim, self.expert_dim = where, gate_dim, expert_dim
        num_tasks, num_experts = params.num_tasks, params.num_experts
        self.experts = nn.ModuleList()
        if params.expert_mlp is not None:
            self.experts.extend(MLP(params.expert_mlp, gate_dim, join_path(where, f"expert_{i}"))
                                for i in range(num_experts))
        self.gate = nn.Linear(gate_dim, num_tasks * num_experts)
        self.noise = nn.Linear(gate_dim, num_tasks * num_experts) if params.gate_type == "noise_topk" else None
        for layer in (self.gate, self.noise):
            if layer is not None:
                initialize(layer.weight, "glorot_uniform", where, fan_in=gate_dim, fan_out=num_experts)
                nn.init.zeros_(layer.bias)
        self.loss_name = f"{block_name(where)}_load_balance"
        # per instance: only an MMoE with a load-balancing loss reads the forward context
        self.uses_context = params.load_balance_weight > 0  # type: ignore[misc]

    @classmethod
    def from_spec(cls, params: MMoEParams, input_spec: Any, where: str = "") -> "MMoE":
        where = where or "MMoE"
        gate_dim, expert_dim = _mmoe_input(input_spec, params, where)
        return cls(params, gate_dim, expert_dim, where)

    def output_spec(self, input_spec: Any) -> list[TensorSpec]:
        gate_dim, expert_dim = _mmoe_input(input_spec, self.params, self.where)
        if (gate_dim, expert_dim) != (self.gate_dim, self.expert_dim):
            raise ShapeError(self.where, "MMoE: the input widths differ from the ones this layer was built for",
                             f"D={self.gate_dim}, D_e={self.expert_dim}", f"D={gate_dim}, D_e={expert_dim}")
        return [TensorSpec((self.expert_dim,)) for _ in range(self.params.num_tasks)]

    def gates(self, x: torch.Tensor) -> torch.Tensor:
        """The gate weights ``(B, T, E)`` for the gate input ``x``."""
        params = self.params
        logits = self.gate(x)
        if self.noise is not None and self.training:
            logits = logits + torch.randn_like(logits) * F.softplus(self.noise(x))
        gates = torch.softmax(logits.view(-1, params.num_tasks, params.num_experts), dim=-1)
        if params.gate_type == "softmax":
            return gates
        kth = gates.topk(params.top_k, dim=-1).values[..., -1:]
        kept = gates * (gates >= kth)
        return kept / kept.sum(dim=-1, keepdim=True)

    def forward(self, x: Any, context: ForwardContext | None = None) -> list[torch.Tensor]:
        if self.params.expert_mlp is not None:
            gate_input, experts = x, torch.stack([expert(x) for expert in self.experts], dim=1)
        else:
            gate_input, experts = x[-1], torch.stack(list(x[:-1]), dim=1)
        gates = self.gates(gate_input)
        if context is not None and context.training and self.uses_context:
            context.add_loss(self.loss_name, load_balance_loss(gates), weight=self.params.load_balance_weight)
        return mix_experts(gates, experts)


class POSOMMoEParams(Params):
    """Parameters of :class:`POSOMMoE` (NextRec ``POSOMMoE`` names and defaults)."""

    num_tasks: int = Field(ge=1, le=_MAX_EXPERTS, description="tasks T, at most 1,000")
    num_experts: int = Field(default=4, ge=1, le=_MAX_EXPERTS, description="experts E, at most 1,000")
    expert_hidden_dims: list[Annotated[int, Field(ge=1, le=MAX_LAYER_WIDTH)]] = Field(
        min_length=1, max_length=MAX_LAYERS, description="widths of every expert's layers (non-empty)")
    activation: str = "relu"
    expert_dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    gate_hidden_dim: int = Field(default=32, ge=1, le=MAX_LAYER_WIDTH)
    scale_factor: float = Field(default=2.0, gt=0.0, le=1e6)
    gate_use_softmax: bool = True


def _poso_input(spec: Any, where: str) -> tuple[int, int]:
    expected = "[x (B, D), pc (B, D_pc)]: the main input and the personalised-code input"
    if not (isinstance(spec, (list, tuple)) and len(spec) == 2
            and all(isinstance(s, TensorSpec) and s.rank == 2 and s.dtype == "float" for s in spec)):
        raise ShapeError(where, "POSOMMoE needs two 2-D inputs", expected, describe_spec(spec))
    return spec[0].shape[0], spec[1].shape[0]


@COMPONENTS.register(
    "POSOMMoE", params=POSOMMoEParams, input_kind="fields", aliases=("POSO_MMoE",),
    positional=("num_tasks", "expert_hidden_dims"),
    examples=[
        ({"num_tasks": 2, "num_experts": 3, "expert_hidden_dims": [6, 4], "gate_hidden_dim": 5},
         [TensorSpec((5,)), TensorSpec((3,))]),
        ({"num_tasks": 2, "num_experts": 2, "expert_hidden_dims": [4], "expert_dropout": 0.3,
          "gate_use_softmax": False, "activation": "gelu"}, [TensorSpec((5,)), TensorSpec((2,))]),
    ])
class POSOMMoE(Component):
    """MMoE whose expert outputs are rescaled by POSO gates of a personalised code (POSO-MMoE).

    Dai et al., "POSO: Personalized Cold Start Modules for Large-scale Recommender Systems",
    arXiv:2108.04690 (NextRec ``POSOMMoE`` form). ``h_e = Expert_e(x)``
    (``Linear -> activation -> dropout`` per width of ``expert_hidden_dims``);
    ``h~_e = C * sigmoid(W2_e act(W1_e pc + b1_e) + b2_e) * h_e`` (one POSO gate per expert,
    width ``D_e``); ``g_t = softmax(x V_t + c_t)`` (raw logits when not ``gate_use_softmax``);
    ``y_t = sum_e g_t[e] h~_e``. Dropout acts in training only.

    Args:
        num_tasks: tasks ``T``.
        num_experts: experts ``E``.
        expert_hidden_dims: layer widths of every expert (``D_e`` = the last).
        activation: activation of the expert layers and of the POSO gates' hidden layer.
        expert_dropout: dropout after every expert layer, in ``[0, 1)``.
        gate_hidden_dim: hidden width of each POSO gate.
        scale_factor: ``C``, the POSO gates' range ``(0, C)``.
        gate_use_softmax: softmax over the task gate logits (False: raw logits, unnormalised).

    Shape:
        - Input: ``[x (B, D), pc (B, D_pc)]``.
        - Output: list ``T x (B, D_e)``.

    Example:
        >>> poso = POSOMMoE.from_spec(POSOMMoEParams(num_tasks=2, expert_hidden_dims=[4]),
        ...                           [TensorSpec((5,)), TensorSpec((2,))])
        >>> [y.shape for y in poso([torch.randn(3, 5), torch.randn(3, 2)])]
        [torch.Size([3, 4]), torch.Size([3, 4])]
    """

    def __init__(self, params: POSOMMoEParams, input_dim: int, pc_dim: int, where: str) -> None:
        super().__init__(params)
        self.where, self.input_dim, self.pc_dim = where, input_dim, pc_dim
        check_activation(params.activation, join_path(where, "activation"))
        num_experts, hidden, width = params.num_experts, params.gate_hidden_dim, params.expert_hidden_dims[-1]
        self.experts = nn.ModuleList()
        for _ in range(num_experts):
            layers: list[nn.Module] = []
            previous = input_dim
            for units in params.expert_hidden_dims:
                layers += [nn.Linear(previous, units), make_activation(params.activation, where, width=units)]
                if params.expert_dropout > 0:
                    layers.append(nn.Dropout(params.expert_dropout))
                previous = units
            self.experts.append(nn.Sequential(*layers))
        self.gate_hidden = nn.Linear(pc_dim, num_experts * hidden)
        self.gate_act = make_activation(params.activation, where, width=num_experts * hidden)
        self.gate_out_weight = nn.Parameter(torch.empty(num_experts, hidden, width))
        self.gate_out_bias = nn.Parameter(torch.zeros(num_experts, width))
        nn.init.xavier_uniform_(self.gate_out_weight)
        self.task_gate = nn.Linear(input_dim, params.num_tasks * num_experts)

    @classmethod
    def from_spec(cls, params: POSOMMoEParams, input_spec: Any, where: str = "") -> "POSOMMoE":
        where = where or "POSOMMoE"
        return cls(params, *_poso_input(input_spec, where), where)

    def output_spec(self, input_spec: Any) -> list[TensorSpec]:
        dims = _poso_input(input_spec, self.where)
        if dims != (self.input_dim, self.pc_dim):
            raise ShapeError(self.where, "POSOMMoE: the input widths differ from the ones this layer was built for",
                             f"D={self.input_dim}, D_pc={self.pc_dim}", f"D={dims[0]}, D_pc={dims[1]}")
        return [TensorSpec((self.params.expert_hidden_dims[-1],)) for _ in range(self.params.num_tasks)]

    def poso_gates(self, pc: torch.Tensor) -> torch.Tensor:
        """The POSO gates ``(B, E, D_e)`` in ``(0, C)``."""
        hidden = self.gate_act(self.gate_hidden(pc)).view(pc.shape[0], self.params.num_experts, -1)
        logits = torch.einsum("beh,ehd->bed", hidden, self.gate_out_weight) + self.gate_out_bias
        return self.params.scale_factor * torch.sigmoid(logits)

    def forward(self, x: Any) -> list[torch.Tensor]:
        main, pc = x
        experts = torch.stack([expert(main) for expert in self.experts], dim=1) * self.poso_gates(pc)
        logits = self.task_gate(main).view(-1, self.params.num_tasks, self.params.num_experts)
        gates = torch.softmax(logits, dim=-1) if self.params.gate_use_softmax else logits
        return mix_experts(gates, experts)
