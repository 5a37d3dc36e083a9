"""AttentionPooling (EasyRec's attention sequence combiner): a hand case, padding and a naive loop."""

from __future__ import annotations

import torch

from recblocks.core import TensorSpec
from recblocks.layers import AttentionPooling, AttentionPoolingParams

LONG = TensorSpec((), "long")


def test_hand_case_and_padding() -> None:
    pool = AttentionPooling.from_spec(AttentionPoolingParams(), (TensorSpec((3, 2)), LONG), "pool")
    with torch.no_grad():
        pool.score.weight.copy_(torch.tensor([[1.0, 0.0]]))
    seq = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]]])
    # scores [1, 0] on the 2 valid positions: softmax [0.731059, 0.268941]; the padded one gets 0
    torch.testing.assert_close(pool((seq, torch.tensor([2]))), torch.tensor([[0.731059, 0.268941]]),
                               atol=1e-5, rtol=0)
    assert pool((seq, torch.tensor([0]))).abs().sum() == 0  # no valid position: zeros


def test_equals_a_naive_loop_and_ignores_a_target() -> None:
    torch.manual_seed(0)
    pool = AttentionPooling.from_spec(AttentionPoolingParams(), (TensorSpec((4, 3)), LONG, TensorSpec((3,))))
    seq, lengths = torch.randn(2, 4, 3), torch.tensor([4, 2])
    out = pool((seq, lengths, torch.randn(2, 3)))
    for b in range(2):
        n = int(lengths[b])
        weights = torch.softmax(torch.stack([pool.score.weight[0] @ seq[b, t] for t in range(n)]), 0)
        torch.testing.assert_close(out[b], (weights[:, None] * seq[b, :n]).sum(0))
    assert pool.output_spec((TensorSpec((4, 3)), LONG)).shape == (3,)
