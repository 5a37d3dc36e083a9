"""SeqAugment: the deterministic counts of components.md §4.5, each operator alone, eval identity, seeding."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ShapeError, TensorSpec
from recblocks.layers import SeqAugment, SeqAugmentParams

LONG = TensorSpec((), "long")
ONLY = {"crop": {"mask_rate": 0.0, "reorder_rate": 0.0}, "mask": {"crop_rate": 1.0, "reorder_rate": 0.0},
        "reorder": {"crop_rate": 1.0, "mask_rate": 0.0}}


def items(batch: int, length: int) -> torch.Tensor:
    """Row b, position t holds the item 1 + t (width 1), so positions are easy to follow."""
    return torch.arange(1.0, length + 1).repeat(batch, 1).unsqueeze(-1)


def only(name: str, length: int = 10) -> SeqAugment:
    return SeqAugment.from_spec(SeqAugmentParams(**ONLY[name]), (TensorSpec((length, 1)), LONG), "aug")


def test_crop_counts() -> None:
    torch.manual_seed(0)
    seq = items(50, 10)
    for n, kept in ((5, 1), (10, 2), (3, 1), (1, 1)):  # floor(5 * 0.2) = 1; floor(10 * 0.2) = 2; clamped to >= 1
        out, lengths = only("crop")((seq, torch.full((50,), n)))
        assert (lengths == kept).all()
        first = out[:, 0, 0]
        assert ((first >= 1) & (first <= n - kept + 1)).all()  # a window inside the first n items
        torch.testing.assert_close(out[:, :kept, 0], first.view(-1, 1) + torch.arange(float(kept)))
        assert (out[:, kept:] == 0).all()


def test_mask_counts() -> None:
    torch.manual_seed(0)
    aug = only("mask")
    with torch.no_grad():
        aug.mask_embedding.fill_(-1.0)
    out, lengths = aug((items(50, 10), torch.full((50,), 5)))
    masked = out[..., 0] == -1.0
    assert (masked.sum(1) == 3).all() and not masked[:, 5:].any()  # floor(5 * 0.6) = 3 among the first 5
    assert (lengths == 5).all() and torch.equal(out[~masked], items(50, 10)[~masked])


def test_reorder_counts() -> None:
    torch.manual_seed(0)
    seq = items(50, 10)
    out, lengths = only("reorder")((seq, torch.full((50,), 5)))
    moved = out[..., 0] != seq[..., 0]
    assert (lengths == 5).all() and not moved[:, 5:].any()
    assert (moved.sum(1) <= 3).all() and moved.any()  # a window of floor(5 * 0.6) = 3 is permuted
    assert torch.equal(out[..., 0].sort(1).values, seq[..., 0])  # the same items, reordered
    spans = [idx.max() - idx.min() for idx in (row.nonzero() for row in moved) if len(idx)]
    assert max(spans) <= 2


def test_identity_in_eval_and_seeded_in_training() -> None:
    aug = SeqAugment.from_spec(SeqAugmentParams(), (TensorSpec((6, 2)), LONG, TensorSpec((3,))))
    x = (torch.randn(8, 6, 2), torch.randint(0, 7, (8,)), torch.randn(8, 3))
    torch.manual_seed(3)
    first = aug(x)
    torch.manual_seed(3)
    again = aug(x)
    assert all(torch.equal(a, b) for a, b in zip(first, again)) and first[2] is x[2]
    aug.eval()
    assert all(a is b for a, b in zip(aug(x), x))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TensorSpec((4, 2)), "blk: SeqAugment needs a sequence with its lengths, got a sequence without lengths"),
        ([TensorSpec((4, 2))], "blk: SeqAugment needs a sequence with its lengths"),
        ((TensorSpec((4,)), LONG), "blk: SeqAugment: the sequence must be a float (B, L, D) tensor"),
    ],
)
def test_shape_errors(spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        SeqAugment.from_spec(SeqAugmentParams(), spec, "blk")
    assert message in str(info.value) and "(sequence (B, L, D), lengths (B,) long" in str(info.value)
