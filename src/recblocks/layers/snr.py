"""SNR: sub-network routing through hard-concrete gates, with its L0 penalty."""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from recblocks.core.context import ForwardContext
from recblocks.core.errors import ShapeError
from recblocks.core.limits import MAX_LAYER_WIDTH, MAX_LAYERS
from recblocks.core.params import Params
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.activations import initialize
from recblocks.layers.base import Component, block_name

__all__ = ["SNR", "SNRParams", "hard_concrete_gate"]


def hard_concrete_gate(log_alpha: torch.Tensor, beta: float, gamma: float, zeta: float, sample: bool,
                       use_ste: bool = False) -> torch.Tensor:
    """Hard-concrete gate ``z = clamp(s (zeta - gamma) + gamma, 0, 1)`` (Louizos et al., 2018).

    ``s = sigmoid((log u - log(1 - u) + log_alpha) / beta)`` with ``u ~ U(0, 1)`` when ``sample``,
    else ``s = sigmoid(log_alpha)``. With ``use_ste`` the clamp passes the gradient unchanged.

    Example:
        >>> hard_concrete_gate(torch.tensor([0.0, 1.0]), 0.5, -0.1, 1.1, sample=False)
        tensor([0.5000, 0.7773])
    """
    if sample:
        u = torch.rand_like(log_alpha).clamp(1e-6, 1 - 1e-6)
        s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + log_alpha) / beta)
    else:
        s = torch.sigmoid(log_alpha)
    stretched = s * (zeta - gamma) + gamma
    clamped = stretched.clamp(0.0, 1.0)
    return stretched + (clamped - stretched).detach() if use_ste else clamped


class SNRParams(Params):
    """Parameters of :class:`SNR` (Monolith ``SNR`` names and defaults)."""

    num_out_subnet: int = Field(ge=1, le=MAX_LAYERS, description="output sub-networks, at most 1,000")
    out_subnet_dim: int = Field(ge=1, le=MAX_LAYER_WIDTH, description="width of each output sub-network")
    snr_type: Literal["trans", "aver"] = "trans"
    zeta: float = Field(default=1.1, ge=1.0, le=1e3)
    gamma: float = Field(default=-0.1, ge=-1e3, lt=0.0)
    beta: float = Field(default=0.5, gt=0.0, le=1e3)
    use_ste: bool = False
    l0_weight: float = Field(default=1.0, ge=0.0, le=1e6)
    loss_name: str | None = Field(default=None, min_length=1, pattern=r"^[^/]+$")

    @model_validator(mode="after")
    def _zeta_above_one(self) -> "SNRParams":
        if self.zeta <= 1.0:
            raise ValueError(f"zeta must exceed 1 (the gate stretch (gamma, zeta) must contain [0, 1]), got {self.zeta}")
        return self


@COMPONENTS.register(
    "SNR", params=SNRParams, input_kind="fields", uses_context=True, positional=("num_out_subnet", "out_subnet_dim"),
    examples=[
        ({"num_out_subnet": 2, "out_subnet_dim": 3}, [TensorSpec((4,))] * 3),
        ({"num_out_subnet": 3, "out_subnet_dim": 4, "snr_type": "aver", "use_ste": True}, [TensorSpec((4,))] * 2),
        ({"num_out_subnet": 2, "out_subnet_dim": 2, "loss_name": "routing_l0", "l0_weight": 0.01},
         TensorSpec((2, 3))),
    ])
class SNR(Component):
    """Sub-network routing: hard-concrete gated connections between sub-networks (SNR).

    Ma et al., "SNR: Sub-Network Routing for Flexible Parameter Sharing in Multi-Task
    Learning", AAAI 2019; gates from Louizos, Welling, Kingma, arXiv:1712.01312. Route
    ``(i, j)`` from input ``u_i`` to output ``j`` has a gate ``z_ij`` (:func:`hard_concrete_gate`
    of ``log alpha_ij``, which starts at 0): sampled in training, ``clamp(sigmoid(log alpha)
    (zeta - gamma) + gamma, 0, 1)`` in eval (deterministic; Monolith also samples in its eval
    mode and is deterministic only when predicting: here evaluation and prediction agree). ``v_j = sum_i z_ij u_i W_ij``
    (``trans``: a learned ``d_in x d_out`` matrix per route, Glorot-uniform; ``aver``:
    ``W_ij = I``, needs ``d_in = d_out``). In training the L0 penalty
    ``sum_ij sigmoid(log alpha_ij - beta log(-gamma / zeta))`` is added through the forward
    context as ``loss_name`` (default ``<block>_l0_loss``) with weight ``l0_weight``.

    Args:
        num_out_subnet: output sub-networks ``n_out``.
        out_subnet_dim: their width ``d_out``.
        snr_type: ``'trans'`` or ``'aver'``.
        zeta: upper stretch of the gate (> 1).
        gamma: lower stretch of the gate (< 0).
        beta: temperature of the gate samples (Monolith 0.5; Louizos uses 2/3).
        use_ste: straight-through clamp (the gradient ignores the clamp).
        l0_weight: weight of the L0 penalty in the model's loss.
        loss_name: name of the added penalty (no ``/``); default ``<block>_l0_loss``.

    Shape:
        - Input: ``n_in x (B, d_in)`` (or ``(B, n_in, d_in)``), equal widths.
        - Output: list ``n_out x (B, d_out)``; added loss ``()``.

    Example:
        >>> snr = SNR.from_spec(SNRParams(num_out_subnet=1, out_subnet_dim=2, snr_type="aver"),
        ...                     [TensorSpec((2,))] * 2).eval()
        >>> snr([torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 4.0]])], ForwardContext(training=False))
        [tensor([[2., 3.]], grad_fn=<UnbindBackward0>)]
    """

    def __init__(self, params: SNRParams, num_in: int, input_dim: int, where: str) -> None:
        super().__init__(params)
        self.where, self.num_in, self.input_dim = where, num_in, input_dim
        n_out, d_out = params.num_out_subnet, params.out_subnet_dim
        self.loss_name = params.loss_name or f"{block_name(where)}_l0_loss"
        self.log_alpha = nn.Parameter(torch.zeros(num_in, n_out))
        self.weight = None
        if params.snr_type == "trans":
            self.weight = nn.Parameter(torch.empty(num_in, n_out, input_dim, d_out))
            initialize(self.weight, "glorot_uniform", where, fan_in=input_dim, fan_out=d_out)

    @classmethod
    def _inputs(cls, spec: Any, params: SNRParams, where: str) -> tuple[int, int]:
        expected = "a list of sub-network outputs n_in x (B, d_in) of one width, or (B, n_in, d_in)"
        if isinstance(spec, TensorSpec) and spec.rank == 3:
            num_in, dim = spec.shape
        elif isinstance(spec, (list, tuple)) and spec and all(isinstance(s, TensorSpec) for s in spec):
            if any(s.rank != 2 for s in spec):
                raise ShapeError(where, "SNR: every sub-network output must be a 2-D tensor", expected,
                                 describe_spec(spec))
            widths = {s.shape[0] for s in spec}
            if len(widths) != 1:
                raise ShapeError(where, "SNR: all sub-network outputs must have one width", expected,
                                 describe_spec(spec))
            num_in, dim = len(spec), widths.pop()
        else:
            raise ShapeError(where, "SNR needs a list of sub-network outputs", expected, describe_spec(spec))
        if params.snr_type == "aver" and dim != params.out_subnet_dim:
            raise ShapeError(where, "SNR 'aver' routes inputs unchanged: out_subnet_dim must equal the input width",
                             f"d_in = out_subnet_dim = {params.out_subnet_dim}", dim)
        return num_in, dim

    @classmethod
    def from_spec(cls, params: SNRParams, input_spec: Any, where: str = "") -> "SNR":
        where = where or "SNR"
        return cls(params, *cls._inputs(input_spec, params, where), where)

    def output_spec(self, input_spec: Any) -> list[TensorSpec]:
        dims = self._inputs(input_spec, self.params, self.where)
        if dims != (self.num_in, self.input_dim):
            raise ShapeError(self.where, "SNR: the inputs differ from the ones this layer was built for",
                             f"{self.num_in} x (B, {self.input_dim})", describe_spec(input_spec))
        return [TensorSpec((self.params.out_subnet_dim,)) for _ in range(self.params.num_out_subnet)]

    def l0_penalty(self) -> torch.Tensor:
        """``sum_ij sigmoid(log alpha_ij - beta log(-gamma / zeta))``."""
        p = self.params
        return torch.sigmoid(self.log_alpha - p.beta * math.log(-p.gamma / p.zeta)).sum()

    def forward(self, x: Any, context: ForwardContext) -> list[torch.Tensor]:
        p = self.params
        inputs = x if isinstance(x, torch.Tensor) else torch.stack(list(x), dim=1)  # (B, n_in, d_in)
        gates = hard_concrete_gate(self.log_alpha, p.beta, p.gamma, p.zeta, self.training, p.use_ste)  # (n_in, n_out)
        if self.weight is None:
            out = torch.einsum("bid,ij->bjd", inputs, gates)
        else:
            out = torch.einsum("bid,ijde,ij->bje", inputs, self.weight, gates)
        if self.training:
            context.add_loss(self.loss_name, self.l0_penalty(), weight=p.l0_weight)
        return list(out.unbind(dim=1))
