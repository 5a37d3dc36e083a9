"""Attention pooling of a sequence by a learned linear score (EasyRec's ``AttentionCombiner``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from recblocks.core.params import Params
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec
from recblocks.layers.base import Component
from recblocks.layers.sequence import length_mask, sequence_spec, split_sequence

__all__ = ["AttentionPooling", "AttentionPoolingParams"]

#: EasyRec's value for masked scores before the softmax.
_PAD_SCORE = -(2.0**32) + 1


class AttentionPoolingParams(Params):
    """Parameters of :class:`AttentionPooling` (none: EasyRec's ``AttentionCombiner`` has none)."""


@COMPONENTS.register(
    "AttentionPooling", params=AttentionPoolingParams, input_kind="sequence", aliases=("AttentionCombiner",),
    examples=[({}, (TensorSpec((4, 3)), TensorSpec((), "long"))),
              ({}, (TensorSpec((5, 2)), TensorSpec((), "long"), TensorSpec((2,))))])
class AttentionPooling(Component):
    """Pool a sequence with softmax weights of a learned linear score of each element.

    ``s_t = w . x_t`` (no bias), padding positions (``t >= lengths``) masked, ``a = softmax(s)``,
    ``out = sum_t a_t x_t``: the per-feature ``sequence_combiner { attention {} }`` of EasyRec's
    input layer (``easy_rec/python/layers/input_layer.py``), a self-attentive pooling in the sense
    of Lin et al., "A Structured Self-attentive Sentence Embedding", ICLR 2017 (one hop, no hidden
    layer). A row without valid positions pools to zeros. A target, when given, is ignored.

    Args:
        (none)

    Shape:
        - Input: sequence input ``(seq (B, L, D), lengths (B,)[, target])``.
        - Output: ``(B, D)``.

    Example:
        >>> pool = AttentionPooling.from_spec(AttentionPoolingParams(), (TensorSpec((5, 4)), TensorSpec((), "long")))
        >>> pool((torch.randn(2, 5, 4), torch.tensor([3, 5]))).shape
        torch.Size([2, 4])
    """

    def __init__(self, params: AttentionPoolingParams, dim: int, where: str) -> None:
        super().__init__(params)
        self.where, self.dim = where, dim
        self.score = nn.Linear(dim, 1, bias=False)
        nn.init.xavier_uniform_(self.score.weight)  # tf.layers.dense's Glorot-uniform kernel

    @classmethod
    def from_spec(cls, params: AttentionPoolingParams, input_spec: Any, where: str = "") -> "AttentionPooling":
        where = where or "AttentionPooling"
        return cls(params, sequence_spec(input_spec, where, "AttentionPooling").dim, where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        sequence_spec(input_spec, self.where, "AttentionPooling")
        return TensorSpec((self.dim,))

    def forward(self, x: Any) -> torch.Tensor:
        sequence, lengths, _ = split_sequence(x)
        mask = length_mask(lengths, sequence.shape[1])
        scores = self.score(sequence).squeeze(-1).masked_fill(~mask, _PAD_SCORE)
        weights = torch.softmax(scores, dim=-1) * mask
        return torch.bmm(weights.unsqueeze(1), sequence).squeeze(1)
