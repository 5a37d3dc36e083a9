"""TimeWeightedSequence: a behaviour sequence reweighted by a softmax over a learned time logit (EasyRec MIND)."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from recblocks.core.errors import ShapeError
from recblocks.core.params import Params
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.base import Component
from recblocks.layers.sequence import length_mask, sequence_spec, split_sequence

__all__ = ["TimeWeightedSequence", "TimeWeightedSequenceParams"]

_LONG = TensorSpec((), "long")


class TimeWeightedSequenceParams(Params):
    """Parameters of :class:`TimeWeightedSequence`."""

    time_index: int = Field(default=-1, ge=-(2**31), le=2**31 - 1)


@COMPONENTS.register(
    "TimeWeightedSequence", params=TimeWeightedSequenceParams, input_kind="sequence", positional=("time_index",),
    examples=[({}, (TensorSpec((5, 3)), _LONG)), ({"time_index": 0}, (TensorSpec((4, 2)), _LONG, None))])
class TimeWeightedSequence(Component):
    """Scale each position of a sequence by a softmax, over the valid positions, of one of its columns.

    EasyRec's MIND with ``time_id_fea``: the time feature of the behaviour sequence has a
    one-wide embedding ``t_l`` (a learned logit per time bucket); it is taken out of the
    sequence and the other columns become ``x_l * softmax_l(t)``, the softmax over the valid
    positions ``l < n`` (padded positions get weight 0), before the capsule routing.

    Args:
        time_index: the column of the sequence that holds the time logit (negative counts from
            the end).

    Shape:
        - Input: ``(seq (B, L, D), lengths (B,)[, target])``.
        - Output: ``(seq (B, L, D - 1), lengths (B,))``.

    Example:
        >>> layer = TimeWeightedSequence.from_spec(TimeWeightedSequenceParams(), (TensorSpec((3, 2)),
        ...                                        TensorSpec((), "long")))
        >>> seq = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [5.0, 9.0]]])  # last column: the time logit
        >>> out, lengths = layer((seq, torch.tensor([2])))
        >>> out.squeeze(-1).tolist()  # equal logits on the 2 valid positions: 1/2 each, padding 0
        [[0.5, 0.5, 0.0]]
    """

    def __init__(self, params: TimeWeightedSequenceParams, length: int, dim: int, where: str) -> None:
        super().__init__(params)
        self.where, self.length, self.dim = where, length, dim
        self.index = params.time_index % dim

    @classmethod
    def from_spec(cls, params: TimeWeightedSequenceParams, input_spec: Any,
                  where: str = "") -> "TimeWeightedSequence":
        where = where or "TimeWeightedSequence"
        spec = sequence_spec(input_spec, where, "TimeWeightedSequence")
        if spec.dim < 2 or not -spec.dim <= params.time_index < spec.dim:
            raise ShapeError(where, "TimeWeightedSequence: the time column must be one of the sequence's columns, "
                             "beside at least one other", f"time_index in [-{spec.dim}, {spec.dim}) and D >= 2",
                             f"time_index {params.time_index} with {describe_spec(input_spec)}")
        return cls(params, spec.length, spec.dim, where)

    def output_spec(self, input_spec: Any) -> tuple:
        spec = sequence_spec(input_spec, self.where, "TimeWeightedSequence")
        if spec.dim != self.dim:
            raise ShapeError(self.where, "TimeWeightedSequence: the sequence width differs from the one this layer "
                             "was built for", f"D={self.dim}", describe_spec(input_spec))
        return (TensorSpec((spec.length, self.dim - 1)), _LONG)

    def forward(self, x: Any) -> tuple[torch.Tensor, torch.Tensor]:
        seq, lengths, _ = split_sequence(x)
        logits = seq[:, :, self.index]  # (B, L)
        keep = [i for i in range(self.dim) if i != self.index]
        valid = length_mask(lengths.clamp(0, seq.shape[1]), seq.shape[1])
        weights = torch.softmax(logits.masked_fill(~valid, float("-inf")), dim=1)
        weights = torch.nan_to_num(weights, nan=0.0)  # an empty row: no weight anywhere
        return seq[:, :, keep] * weights.unsqueeze(-1), lengths
