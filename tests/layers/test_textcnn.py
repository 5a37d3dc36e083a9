"""TextCNN: a hand case with lengths, a naive loop, shape errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ConfigError, ShapeError, TensorSpec
from recblocks.core.params import parse_params
from recblocks.layers import TextCNN, TextCNNParams

LONG = TensorSpec((), "long")


def test_hand_case_honours_lengths() -> None:
    cnn = TextCNN.from_spec(TextCNNParams(filter_sizes=[2, 1], num_filters=[1, 1]), (TensorSpec((3, 1)), LONG, None),
                            "t")
    with torch.no_grad():
        for conv in cnn.convs:
            conv.weight.fill_(1.0)
            conv.bias.zero_()
    seq = torch.tensor([[1.0, 2.0, 5.0]] * 3).unsqueeze(-1)  # (3, 3, 1)
    out = cnn((seq, torch.tensor([3, 2, 1]), None))
    # size 2: windows 1+2=3, 2+5=7; len 3 -> max 7, len 2 -> only 3, len 1 -> its first window 3
    # size 1: len 3 -> 5, len 2 -> 2, len 1 -> 1
    torch.testing.assert_close(out, torch.tensor([[7.0, 5.0], [3.0, 2.0], [3.0, 1.0]]))


def test_equals_a_naive_loop() -> None:
    cnn = TextCNN.from_spec(TextCNNParams(filter_sizes=[2, 3], num_filters=[3, 2]), (TensorSpec((6, 4)), LONG, None))
    seq, lengths = torch.randn(5, 6, 4), torch.tensor([6, 3, 2, 4, 1])
    rows = []
    for b in range(5):
        feats = []
        for conv, k in zip(cnn.convs, [2, 3]):
            n = max(int(lengths[b]), k)
            windows = [torch.relu(conv.bias + (conv.weight * seq[b, t:t + k].T).sum(dim=(1, 2))) for t in range(n - k + 1)]
            feats.append(torch.stack(windows).amax(dim=0))
        rows.append(torch.cat(feats))
    torch.testing.assert_close(cnn((seq, lengths, None)), torch.stack(rows))


def test_pad_sequence_length_cuts_and_pads() -> None:
    spec = (TensorSpec((6, 2)), LONG, None)
    cnn = TextCNN.from_spec(TextCNNParams(filter_sizes=[2], num_filters=[2], pad_sequence_length=4), spec)
    seq = torch.randn(2, 6, 2)
    out = cnn((seq, torch.tensor([6, 6]), None))
    torch.testing.assert_close(out, cnn((seq[:, :4], torch.tensor([4, 4]), None)))
    longer = TextCNN.from_spec(TextCNNParams(filter_sizes=[5], num_filters=[1], pad_sequence_length=8),
                               (TensorSpec((3, 2)), LONG, None))
    assert longer((torch.randn(2, 3, 2), torch.tensor([3, 1]), None)).shape == (2, 1)


def test_counts_must_match() -> None:
    with pytest.raises(ConfigError, match="t: .*filter_sizes and num_filters need one entry each"):
        parse_params(TextCNNParams, {"filter_sizes": [2, 3], "num_filters": [4]}, "t")


@pytest.mark.parametrize(("spec", "message"), [
    (TensorSpec((5, 4)), "t: TextCNN needs the sequence lengths (set output_seq_and_normal_feature on the input layer); "
                         "expected a sequence with its lengths (seq (B, L, D), lengths (B,)[, target])"),
    ([TensorSpec((5, 4))], "t: TextCNN takes a token-embedding sequence and its lengths"),
    ((TensorSpec((4,)), LONG), "t: the TextCNN sequence must be a 3-D float tensor"),
    ((TensorSpec((5, 4)), TensorSpec((1,))), "t: the TextCNN lengths must be one integer per row"),
    ((TensorSpec((1, 4)), LONG), "t: a TextCNN filter is longer than the sequence"),
])
def test_shape_errors(spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        TextCNN.from_spec(TextCNNParams(filter_sizes=[2], num_filters=[1]), spec, "t")
    assert message in str(info.value)
