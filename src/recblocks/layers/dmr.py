"""DMR_U2I: position-aware attention pooling of the behaviours, then user x item relevance."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from recblocks.core.errors import ShapeError
from recblocks.core.limits import MAX_LAYER_WIDTH
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec
from recblocks.layers.activations import check_activation, initialize, make_activation
from recblocks.layers.base import Component
from recblocks.layers.sequence import length_mask, sequence_spec, split_sequence

__all__ = ["DMRU2I", "DMRU2IParams"]


class DMRU2IParams(Params):
    """Parameters of :class:`DMRU2I` (Monolith ``DMR_U2I`` names and defaults)."""

    cmp_dim: int = Field(ge=1, le=MAX_LAYER_WIDTH, description="width c of the position-aware scoring space")
    activation: str | None = "prelu"
    initializer: str = "glorot_uniform"


@COMPONENTS.register(
    "DMR_U2I", params=DMRU2IParams, input_kind="sequence", aliases=("DMRU2I",), positional=("cmp_dim",),
    examples=[
        ({"cmp_dim": 3}, (TensorSpec((4, 3)), TensorSpec((), "long"), TensorSpec((2,)))),
        ({"cmp_dim": 2, "activation": None}, [TensorSpec((3, 2)), TensorSpec((), "long"), None, TensorSpec((2,))]),
    ])
class DMRU2I(Component):
    """User-to-item relevance: position-aware pooling of the sequence times the target item (DMR).

    Lyu et al., "Deep Match to Rank Model for Personalized Click-Through Rate Prediction",
    AAAI 2020, in Monolith's form: with ``x_t`` the behaviours and the
    target item ``i``: ``s_t = (p_t + x_t W_e + b) z`` (``p`` learned per position, ``z``
    starts at ones, ``b`` at zeros), ``a = softmax(s)`` over the valid positions (the lengths
    mask the padding, which Monolith does not), ``u = act(Dense(sum_t a_t x_t))`` and the
    output ``u * i``. Our sequence input carries the item as its target (Monolith's
    ``(items, user_seq)``); a row without valid positions gives zeros.

    Args:
        cmp_dim: width ``c`` of ``p_t``, ``W_e`` and ``z``.
        activation: activation of the Dense (Monolith ``PReLU``; None for linear).
        initializer: initializer of ``p``, ``W_e`` and the Dense kernel.

    Shape:
        - Input: sequence input ``(seq (B, L, D_u), lengths (B,), target (B, D_i))``.
        - Output: ``(B, D_i)``.

    Example:
        >>> dmr = DMRU2I.from_spec(DMRU2IParams(cmp_dim=4),
        ...                        (TensorSpec((5, 3)), TensorSpec((), "long"), TensorSpec((2,))))
        >>> dmr((torch.randn(2, 5, 3), torch.tensor([5, 1]), torch.randn(2, 2))).shape
        torch.Size([2, 2])
    """

    def __init__(self, params: DMRU2IParams, length: int, dim: int, item_dim: int, where: str) -> None:
        super().__init__(params)
        self.where, self.facts = where, (length, dim, item_dim)
        check_activation(params.activation, join_path(where, "activation"))
        cmp, init_where = params.cmp_dim, join_path(where, "initializer")
        self.position = nn.Parameter(initialize(torch.empty(length, cmp), params.initializer, init_where,
                                                fan_in=length, fan_out=cmp))
        self.project = nn.Parameter(initialize(torch.empty(dim, cmp), params.initializer, init_where,
                                               fan_in=dim, fan_out=cmp))
        self.bias = nn.Parameter(torch.zeros(cmp))
        self.z = nn.Parameter(torch.ones(cmp))
        self.dense = nn.Linear(dim, item_dim)
        initialize(self.dense.weight, params.initializer, init_where)
        nn.init.zeros_(self.dense.bias)
        self.act = make_activation(params.activation, join_path(where, "activation"), width=item_dim)

    @staticmethod
    def _facts(spec: Any, where: str) -> tuple[int, int, int]:
        seq = sequence_spec(spec, where, "DMR_U2I", need_target=True)
        return seq.length, seq.dim, seq.target_dim  # type: ignore[return-value]

    @classmethod
    def from_spec(cls, params: DMRU2IParams, input_spec: Any, where: str = "") -> "DMRU2I":
        where = where or "DMR_U2I"
        return cls(params, *cls._facts(input_spec, where), where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        facts = self._facts(input_spec, self.where)
        if facts != self.facts:
            raise ShapeError(self.where, "DMR_U2I: the input differs from the one this layer was built for (L is fixed "
                             "at build time)", "L={}, D_u={}, D_i={}".format(*self.facts),
                             "L={}, D_u={}, D_i={}".format(*facts))
        return TensorSpec((self.facts[2],))

    def forward(self, x: Any) -> torch.Tensor:
        seq, lengths, item = split_sequence(x)  # from_spec checked that the item (target) is there
        mask = length_mask(lengths, seq.shape[1])
        scores = (self.position + seq @ self.project + self.bias) @ self.z  # (B, L)
        weights = torch.softmax(scores.masked_fill(~mask, torch.finfo(scores.dtype).min), dim=-1) * mask
        user = torch.bmm(weights.unsqueeze(1), seq).squeeze(1)
        return self.act(self.dense(user)) * item
