"""TextEncoder: a hand case (zero transformer weights leave the LayerNorm of [CLS]), padding and shape errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ShapeError, TensorSpec
from recblocks.layers import TextEncoder, TextEncoderParams

LONG = TensorSpec((), "long")
SMALL = {"hidden_size": 2, "num_hidden_layers": 1, "num_attention_heads": 1, "intermediate_size": 3}


def test_hand_case() -> None:
    text = TextEncoder.from_spec(TextEncoderParams(transformer=SMALL), (TensorSpec((3, 2)), LONG), "text").eval()
    with torch.no_grad():
        for name, weight in text.encoder.blocks.named_parameters():
            if "norm" not in name:
                weight.zero_()  # attention and FFN add 0: x = LN1(x), then LN2(x)
        text.cls.copy_(torch.tensor([[[3.0, 1.0]]]))
    out = text((torch.randn(2, 3, 2), torch.tensor([3, 1])))
    # LN([3, 1]) = ([3, 1] - 2) / sqrt(1 + 1e-5) = +-0.999995; LN of that again divides by sqrt(0.999990 + 1e-5)
    first = 1 / (1 + 1e-5) ** 0.5
    value = first
    for _ in range(2):  # norm1 and norm2 of the block
        value = value / (value**2 + 1e-5) ** 0.5
    torch.testing.assert_close(out, torch.tensor([[value, -value]] * 2), atol=1e-6, rtol=0)


def test_cls_state_ignores_padding_and_all_tokens_shape() -> None:
    torch.manual_seed(0)
    text = TextEncoder.from_spec(TextEncoderParams(transformer={**SMALL, "use_position_embeddings": True}),
                                 (TensorSpec((4, 3)), LONG)).eval()
    tokens, lengths = torch.randn(2, 4, 3), torch.tensor([4, 2])
    out = text((tokens, lengths))
    changed = tokens.clone()
    changed[1, 2:] = 7.0
    torch.testing.assert_close(text((changed, lengths)), out)
    every = TextEncoder.from_spec(TextEncoderParams(transformer={**SMALL, "output_all_token_embeddings": True}),
                                  (TensorSpec((4, 3)), LONG))
    assert every((tokens, lengths)).shape == (2, 10)  # ([CLS] + 4 tokens) * H


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TensorSpec((4, 2)), "blk: TextEncoder needs a sequence with its lengths, got a sequence without lengths"),
        ((TensorSpec((4, 2)), TensorSpec((4,))), "blk: TextEncoder: the lengths must be a long (B,) tensor"),
        ((TensorSpec((8, 2)), LONG), "blk: TextEncoder: [CLS] and the tokens are longer than max_position_embeddings"),
    ],
)
def test_shape_errors(spec: object, message: str) -> None:
    params = TextEncoderParams(transformer={**SMALL, "max_position_embeddings": 8})
    with pytest.raises(ShapeError) as info:
        TextEncoder.from_spec(params, spec, "blk")
    assert message in str(info.value) and "; expected " in str(info.value)
