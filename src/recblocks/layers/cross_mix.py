"""DCN-v2's mixture of low-rank cross experts (``CrossNetMix``)."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from recblocks.core.limits import MAX_LAYER_WIDTH, MAX_LAYERS
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec
from recblocks.layers.activations import initialize, make_activation
from recblocks.layers.base import Component
from recblocks.layers.field_inputs import named_error, tensor_of

__all__ = ["CrossNetMix", "CrossNetMixParams"]

#: Experts of one mixture layer.
MAX_EXPERTS = 1_024


class CrossNetMixParams(Params):
    """Parameters of :class:`CrossNetMix` (NextRec/FuxiCTR names and defaults)."""

    num_layers: int = Field(default=2, ge=1, le=MAX_LAYERS, description=f"cross layers, 1 to {MAX_LAYERS:,}")
    low_rank: int = Field(default=32, ge=1, le=MAX_LAYER_WIDTH, description="rank r of every expert")
    num_experts: int = Field(default=4, ge=1, le=MAX_EXPERTS, description=f"experts K, 1 to {MAX_EXPERTS:,}")
    activation: str | None = "tanh"
    share_gates: bool = True
    kernel_initializer: str = "glorot_normal"


@COMPONENTS.register(
    "CrossNetMix", params=CrossNetMixParams, input_kind="tensor", positional=("num_layers",),
    aliases=("DCNMix", "LowRankMixtureCrossNet"),
    examples=[
        ({"low_rank": 2, "num_experts": 3}, TensorSpec((5,))),
        ({"num_layers": 1, "low_rank": 3, "num_experts": 1, "activation": "relu"}, TensorSpec((4,))),
        ({"low_rank": 2, "num_experts": 2, "share_gates": False}, TensorSpec((4,))),
    ])
class CrossNetMix(Component):
    """DCN-v2 cross layers as softmax-gated mixtures of low-rank experts (Wang et al., 2021).

    Paper: "DCN V2: Improved Deep & Cross Network...", WWW 2021, arXiv:2008.13535 (DCN-Mix).
    Layer ``l``, expert ``i``: ``E_i = x_0 * (U_li g(C_li g(V_li^T x_l)) + b_l)`` with
    ``U, V: D x r``, ``C: r x r`` (Glorot normal) and one bias ``b_l`` per layer (zeros);
    gate ``pi = softmax_i(x_l . g_i)`` (``g_i`` in ``R^D``, no bias);
    ``x_{l+1} = sum_i pi_i E_i + x_l``. The gate vectors are shared by every layer (FuxiCTR,
    TorchRec, NextRec; components.md section 11) unless ``share_gates`` is false (Monolith: one
    gate per layer). With one expert there is no gate (its weight is 1).

    Args:
        num_layers: number of cross layers.
        low_rank: rank ``r`` of the expert projections.
        num_experts: number of experts ``K`` per layer.
        activation: non-linearity ``g`` in the low-rank space (default ``tanh``; TorchRec uses relu).
        share_gates: one set of gate vectors for all layers (default) or one per layer.
        kernel_initializer: initializer of ``U``, ``V``, ``C`` and the gates.

    Shape:
        - Input: ``(B, D)``.
        - Output: ``(B, D)``.

    Example:
        >>> net = CrossNetMix.from_spec(CrossNetMixParams(num_layers=1, low_rank=1, num_experts=1),
        ...                             TensorSpec((2,)))
        >>> with torch.no_grad():
        ...     _ = net.v.copy_(torch.tensor([1.0, 0.0]).reshape(1, 1, 2, 1))
        ...     _ = net.c.fill_(1.0)
        ...     _ = net.u.fill_(1.0)
        ...     net(torch.tensor([[1.0, 2.0]]))
        tensor([[1.6420, 3.2840]])
    """

    def __init__(self, params: CrossNetMixParams, input_dim: int, where: str = "CrossNetMix") -> None:
        super().__init__(params)
        self.where = where
        self.input_dim = input_dim
        layers, experts, rank, dim = params.num_layers, params.num_experts, params.low_rank, input_dim
        init_where = join_path(where, "kernel_initializer")
        self.u = nn.Parameter(initialize(torch.empty(layers, experts, dim, rank), params.kernel_initializer,
                                         init_where, fan_in=rank, fan_out=dim))
        self.v = nn.Parameter(initialize(torch.empty(layers, experts, dim, rank), params.kernel_initializer,
                                         init_where, fan_in=dim, fan_out=rank))
        self.c = nn.Parameter(initialize(torch.empty(layers, experts, rank, rank), params.kernel_initializer,
                                         init_where, fan_in=rank, fan_out=rank))
        self.bias = nn.Parameter(torch.zeros(layers, dim))
        self.gates = None
        if experts > 1:
            gate_layers = 1 if params.share_gates else layers
            self.gates = nn.Parameter(initialize(torch.empty(gate_layers, experts, dim), params.kernel_initializer,
                                                 init_where, fan_in=dim, fan_out=1))
        self.act = make_activation(params.activation, join_path(where, "activation"), width=rank)

    @classmethod
    def from_spec(cls, params: CrossNetMixParams, input_spec: Any, where: str = "") -> "CrossNetMix":
        where = where or "CrossNetMix"
        return cls(params, tensor_of(input_spec, where, "CrossNetMix", 2, expected="(B, D)").last_dim, where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        spec = tensor_of(input_spec, self.where, "CrossNetMix", 2, expected="(B, D)")
        if spec.last_dim != self.input_dim:
            raise named_error(self.where, "CrossNetMix", "input width differs from the one it was built for",
                              f"(B, {self.input_dim})", str(spec))
        return spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = x
        for layer in range(self.params.num_layers):
            low = self.act(torch.einsum("bd,kdr->bkr", x, self.v[layer]))
            low = self.act(torch.einsum("bkr,ksr->bks", low, self.c[layer]))
            experts = x0.unsqueeze(1) * (torch.einsum("bks,kds->bkd", low, self.u[layer]) + self.bias[layer])
            if self.gates is None:
                mixed = experts.squeeze(1)
            else:
                gate = self.gates[0 if self.gates.shape[0] == 1 else layer]
                weights = torch.softmax(torch.einsum("bd,kd->bk", x, gate), dim=-1)
                mixed = (weights.unsqueeze(-1) * experts).sum(dim=1)
            x = mixed + x
        return x
