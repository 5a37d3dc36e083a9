"""TransformerBlock / TransformerEncoder: a hand case from "Attention Is All You Need", masking, errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ShapeError, TensorSpec
from recblocks.layers import TransformerBlock, TransformerBlockParams, TransformerEncoder, TransformerEncoderParams
from recblocks.layers.transformer import sinusoid_positions

X = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])


def _identity_block() -> TransformerBlock:
    block = TransformerBlock.from_spec(TransformerBlockParams(hidden_size=2, num_attention_heads=1),
                                       TensorSpec((2, 2)), "tb")
    with torch.no_grad():
        att = block.layer.attention
        for layer in (att.query, att.key, att.value, att.out):
            layer.weight.copy_(torch.eye(2))
        for p in (block.layer.ffn_in.weight, block.layer.ffn_out.weight):
            p.zero_()
    return block.eval()


def test_block_hand_case() -> None:
    # scores = X X^T / sqrt(2): row 0 = [0.707107, 0] -> alpha = [0.669762, 0.330238]
    # attention out = alpha X = [[0.669762, 0.330238], [0.330238, 0.669762]]; + X = [[1.669762, 0.330238], ...]
    # LN over 2 values: mean 1, deviations +-0.669762, var 0.448581 -> +-0.669762 / sqrt(0.448581 + 1e-5)
    #   = +-0.999989; FFN has zero weights and biases -> adds 0; LN again: +-0.999989 / sqrt(0.999978 + 1e-5)
    #   = +-0.999995
    out = _identity_block()(X)
    v = 0.999995
    torch.testing.assert_close(out, torch.tensor([[[v, -v], [-v, v]]]), atol=2e-6, rtol=0)


def test_padding_does_not_change_valid_tokens() -> None:
    block = TransformerBlock.from_spec(TransformerBlockParams(hidden_size=4, num_attention_heads=2),
                                       (TensorSpec((3, 4)), TensorSpec((), "long"), None), "tb").eval()
    seq, lengths = torch.randn(2, 3, 4), torch.tensor([2, 3])
    changed = seq.clone()
    changed[0, 2] = 100.0
    a, b = block((seq, lengths, None)), block((changed, lengths, None))
    torch.testing.assert_close(a[0, :2], b[0, :2])
    torch.testing.assert_close(a[1], b[1])


def test_encoder_positions_and_first_token() -> None:
    table = sinusoid_positions(3, 4)  # sin half then cos half; rates 1 and 1/100
    torch.testing.assert_close(table[1], torch.tensor([0.841471, 0.010000, 0.540302, 0.999950]), atol=1e-6, rtol=0)
    enc = TransformerEncoder.from_spec(TransformerEncoderParams(hidden_size=2, num_attention_heads=1,
                                                                num_hidden_layers=2,
                                                                output_all_token_embeddings=False),
                                       TensorSpec((2, 2)), "enc").eval()
    x = torch.randn(3, 2, 2)
    h = x + sinusoid_positions(2, 2)
    for layer in enc.layers:
        h = layer(h, None)
    torch.testing.assert_close(enc(x), h[:, 0])


@pytest.mark.parametrize(
    ("cls", "params", "spec", "message"),
    [
        (TransformerBlock, {}, TensorSpec((4,)), "t: TransformerBlock: the sequence must be a 3-D float tensor; "
         "expected (B, L, H), or (seq (B, L, H), lengths (B,) long[, target])"),
        (TransformerBlock, {}, [TensorSpec((3, 4)), TensorSpec((3, 4))],
         "t: TransformerBlock: a sequence list must be (sequence, lengths[, target])"),
        (TransformerBlock, {}, TensorSpec((3, 5)), "t: TransformerBlock: the sequence width must equal hidden_size"),
        (TransformerEncoder, {}, TensorSpec((3,), "long"), "t: TransformerEncoder: token ids need vocab_size"),
        (TransformerEncoder, {"max_position_embeddings": 2}, TensorSpec((3, 4)),
         "t: TransformerEncoder: the sequence is longer than max_position_embeddings"),
        (TransformerBlock, {"num_attention_heads": 3}, TensorSpec((3, 4)),
         "t: Transformer: hidden_size must be divisible by num_attention_heads"),
    ],
)
def test_shape_errors(cls: type, params: dict, spec: object, message: str) -> None:
    full = {"hidden_size": 4, "num_attention_heads": 2, **params}
    params_cls = TransformerBlockParams if cls is TransformerBlock else TransformerEncoderParams
    with pytest.raises(ShapeError) as info:
        cls.from_spec(params_cls(**full), spec, "t")
    assert message in str(info.value)
