"""DMR_U2I: the hand case of components.md §4.4, a naive loop, padding and shape errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ShapeError, TensorSpec
from recblocks.layers import DMRU2I, DMRU2IParams

LONG = TensorSpec((), "long")


def test_hand_case() -> None:
    dmr = DMRU2I.from_spec(DMRU2IParams(cmp_dim=3, activation=None), (TensorSpec((2, 2)), LONG, TensorSpec((2,))))
    with torch.no_grad():
        dmr.position.zero_()
        dmr.project.zero_()  # scores all 0 -> uniform weights
        dmr.dense.weight.copy_(torch.eye(2))  # Dense = identity, linear
    seq, item = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]]), torch.tensor([[1.0, 1.0]])
    # u = mean([1, 2], [3, 4]) = [2, 3]; times the item [1, 1]
    torch.testing.assert_close(dmr((seq, torch.tensor([2]), item)), torch.tensor([[2.0, 3.0]]))
    # length 1: only [1, 2] is pooled
    torch.testing.assert_close(dmr((seq, torch.tensor([1]), item)), torch.tensor([[1.0, 2.0]]))


def test_equals_a_naive_loop_and_ignores_padding() -> None:
    torch.manual_seed(0)
    dmr = DMRU2I.from_spec(DMRU2IParams(cmp_dim=4), (TensorSpec((5, 3)), LONG, TensorSpec((2,))))
    seq, lengths, item = torch.randn(3, 5, 3), torch.tensor([5, 2, 0]), torch.randn(3, 2)
    out = dmr((seq, lengths, item))
    for b in range(3):
        n = int(lengths[b])
        pooled = torch.zeros(3)
        if n:
            scores = torch.stack([(dmr.position[t] + seq[b, t] @ dmr.project + dmr.bias) @ dmr.z for t in range(n)])
            pooled = (torch.softmax(scores, 0)[:, None] * seq[b, :n]).sum(0)
        torch.testing.assert_close(out[b], dmr.act(dmr.dense(pooled[None]))[0] * item[b])
    changed = seq.clone()
    changed[1, 2:] = 9.0
    torch.testing.assert_close(dmr((changed, lengths, item)), out)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TensorSpec((5, 3)), "blk: DMR_U2I needs a sequence with its lengths, got a sequence without lengths"),
        ((TensorSpec((5, 3)), LONG, None), "blk: DMR_U2I needs a target"),
        ([TensorSpec((2,)), TensorSpec((5, 3))], "blk: DMR_U2I: the sequence must be a float (B, L, D) tensor"),
    ],
)
def test_shape_errors(spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        DMRU2I.from_spec(DMRU2IParams(cmp_dim=2), spec, "blk")
    assert message in str(info.value) and "(sequence (B, L, D), lengths (B,) long" in str(info.value)
