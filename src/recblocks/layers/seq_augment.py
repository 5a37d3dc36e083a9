"""SeqAugment: random crop / mask / reorder of a behaviour sequence for contrastive learning (CL4SRec)."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from recblocks.core.errors import ShapeError
from recblocks.core.params import Params
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.base import Component
from recblocks.layers.sequence import length_mask, sequence_spec, split_sequence

__all__ = ["SeqAugment", "SeqAugmentParams"]

_LONG = TensorSpec((), "long")


class SeqAugmentParams(Params):
    """Parameters of :class:`SeqAugment` (EasyRec ``SequenceAugment`` names and defaults)."""

    mask_rate: float = Field(default=0.6, ge=0.0, le=1.0)
    crop_rate: float = Field(default=0.2, ge=0.0, le=1.0)
    reorder_rate: float = Field(default=0.6, ge=0.0, le=1.0)


@COMPONENTS.register(
    "SeqAugment", params=SeqAugmentParams, input_kind="sequence", aliases=("SequenceAugment", "SeqAugmentOps"),
    examples=[
        ({}, (TensorSpec((5, 3)), _LONG)),
        ({"crop_rate": 1.0, "reorder_rate": 0.0}, (TensorSpec((4, 2)), _LONG, TensorSpec((2,)))),
        ({"mask_rate": 0.0}, (TensorSpec((4, 2)), _LONG, None)),
    ])
class SeqAugment(Component):
    """Random crop, mask or reorder of each sequence in training; the identity in eval (CL4SRec).

    Xie et al., "Contrastive Learning for Sequential Recommendation", arXiv:2010.14395; EasyRec
    ``SeqAugment``. Each row (length ``n``) gets one enabled operator, drawn uniformly:

    * crop (enabled when ``crop_rate < 1``): ``m = max(floor(n crop_rate), 1)`` items from a
      start ``s ~ U{0..n-m}`` move to the front, the rest is zeroed; the length becomes ``m``;
    * mask (``mask_rate > 0``): ``floor(n mask_rate)`` distinct positions among the first ``n``
      are replaced by a learned mask embedding (starts at 0); the length is kept;
    * reorder (``reorder_rate > 0``): the window ``[s, s + m)``, ``m = floor(n reorder_rate)``,
      ``s ~ U{0..n-m}``, is randomly permuted; the length is kept.

    The start's upper bound is inclusive (EasyRec's exclusive bound never picks the last window
    and fails when ``n = m``). Randomness comes from torch's global generator (seed it with
    ``torch.manual_seed``); every operator is computed for the whole batch at once and each
    row keeps its own. A target, when present, passes through unchanged. EasyRec's custom-op
    variant ``SeqAugmentOps`` is the same augmentation and is accepted as an alias.

    Args:
        mask_rate: fraction of the items masked.
        crop_rate: fraction of the items kept by a crop.
        reorder_rate: fraction of the items in the permuted window.

    Shape:
        - Input: ``(seq (B, L, D), lengths (B,)[, target (B, D_q)])``.
        - Output: ``(seq (B, L, D), lengths (B,)[, target (B, D_q)])``.

    Example:
        >>> aug = SeqAugment.from_spec(SeqAugmentParams(), (TensorSpec((5, 2)), TensorSpec((), "long")))
        >>> seq, lengths = aug((torch.randn(3, 5, 2), torch.tensor([5, 3, 1])))
        >>> seq.shape, lengths.shape
        (torch.Size([3, 5, 2]), torch.Size([3]))
    """

    def __init__(self, params: SeqAugmentParams, dim: int, where: str) -> None:
        super().__init__(params)
        self.where, self.dim = where, dim
        self.operators = [name for name, on in (("crop", params.crop_rate < 1), ("mask", params.mask_rate > 0),
                                                ("reorder", params.reorder_rate > 0)) if on]
        self.mask_embedding = nn.Parameter(torch.zeros(dim)) if params.mask_rate > 0 else None

    @classmethod
    def from_spec(cls, params: SeqAugmentParams, input_spec: Any, where: str = "") -> "SeqAugment":
        where = where or "SeqAugment"
        return cls(params, sequence_spec(input_spec, where, "SeqAugment").dim, where)

    def output_spec(self, input_spec: Any) -> tuple:
        spec = sequence_spec(input_spec, self.where, "SeqAugment")
        if spec.dim != self.dim:
            raise ShapeError(self.where, "SeqAugment: the sequence width differs from the one this layer was built for",
                             f"D={self.dim}", describe_spec(input_spec))
        target = () if spec.target_dim is None else (TensorSpec((spec.target_dim,)),)
        return (TensorSpec((spec.length, spec.dim)), _LONG, *target)

    @staticmethod
    def _window(n: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """A start ``s ~ U{0..n-m}`` per row."""
        return (torch.rand(n.shape, device=n.device) * (n - m + 1)).floor().long().clamp(min=0)

    def augment(self, seq: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One random operator per row (training behaviour)."""
        p = self.params
        batch, length = seq.shape[0], seq.shape[1]
        n = lengths.clamp(0, length)
        positions = torch.arange(length, device=seq.device).expand(batch, length)
        choice = torch.randint(len(self.operators), (batch,), device=seq.device)
        out, out_len = seq, n
        for index, name in enumerate(self.operators):
            rows = (choice == index).view(-1, 1)
            if name == "crop":
                m = torch.minimum((n * p.crop_rate).floor().long().clamp(min=1), n)
                start = self._window(n, m)
                source = (start.view(-1, 1) + positions).clamp(max=length - 1)
                cropped = seq.gather(1, source.unsqueeze(-1).expand_as(seq)) * (positions < m.view(-1, 1)).unsqueeze(-1)
                out = torch.where(rows.unsqueeze(-1), cropped, out)
                out_len = torch.where(rows.view(-1), m, out_len)
            elif name == "mask":
                m = (n * p.mask_rate).floor().long()
                keys = torch.rand(batch, length, device=seq.device).masked_fill(~length_mask(n, length), 2.0)
                rank = keys.argsort(dim=1).argsort(dim=1)
                chosen = (rank < m.view(-1, 1)) & rows
                out = torch.where(chosen.unsqueeze(-1), self.mask_embedding.to(seq.dtype), out)  # type: ignore[union-attr]
            else:
                m = (n * p.reorder_rate).floor().long()
                start = self._window(n, m).view(-1, 1)
                inside = (positions >= start) & (positions < start + m.view(-1, 1)) & rows
                keys = torch.where(inside, start + torch.rand(batch, length, device=seq.device) * m.view(-1, 1),
                                   positions.to(seq.dtype))
                order = keys.argsort(dim=1)
                out = out.gather(1, order.unsqueeze(-1).expand_as(out))
        return out, out_len

    def forward(self, x: Any) -> tuple:
        seq, lengths, target = split_sequence(x)
        if self.training and self.operators:
            seq, lengths = self.augment(seq, lengths)
        return (seq, lengths) if target is None else (seq, lengths, target)
