"""BST: the sanity checks of components.md §4.3, a naive re-computation of the encoder, and shape errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from recblocks.core import ConfigError, ShapeError, TensorSpec
from recblocks.core.params import parse_params
from recblocks.layers import BST, BSTParams

LONG = TensorSpec((), "long")
SMALL = {"hidden_size": 4, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 6}


def test_output_width_with_a_reserved_target_position() -> None:
    # max_position 50, H 128, target reserved -> 51 * 128 = 6528
    params = BSTParams(hidden_size=128, num_hidden_layers=1, num_attention_heads=8, intermediate_size=8,
                       max_position_embeddings=50)
    for target in (TensorSpec((128,)), None):
        spec = (TensorSpec((20, 128)), LONG, target)
        assert BST.from_spec(params, spec).output_spec(spec) == TensorSpec((6528,))
    no_slot = params.model_copy(update={"reserve_target_position": False})
    assert BST.from_spec(no_slot, (TensorSpec((20, 128)), LONG)).output_spec(
        (TensorSpec((20, 128)), LONG)) == TensorSpec((50 * 128,))


def naive_encoder(bst: BST, tokens: torch.Tensor) -> torch.Tensor:
    """Post-LN BERT encoder on the valid tokens of one row (N, H), written out with plain ops."""
    enc, heads = bst.encoder, bst.params.num_attention_heads
    x = F.layer_norm(tokens + enc.position[: tokens.shape[0]], (4,), enc.norm.weight, enc.norm.bias)
    for block in enc.blocks:
        attn = block.self_attn
        q, k, v = (x @ attn.in_proj_weight.T + attn.in_proj_bias).chunk(3, dim=-1)
        split = [t.view(-1, heads, 4 // heads).transpose(0, 1) for t in (q, k, v)]
        weights = torch.softmax(split[0] @ split[1].transpose(1, 2) / (4 // heads) ** 0.5, dim=-1)
        mixed = (weights @ split[2]).transpose(0, 1).reshape(-1, 4)
        x = block.norm1(x + attn.out_proj(mixed))
        x = block.norm2(x + block.linear2(F.gelu(block.linear1(x))))
    return x


def test_equals_a_naive_encoder_on_the_valid_tokens_and_ignores_padding() -> None:
    torch.manual_seed(0)
    spec = (TensorSpec((3, 4)), LONG, TensorSpec((4,)))
    bst = BST.from_spec(BSTParams(**SMALL, max_position_embeddings=3), spec).eval()
    seq, lengths, target = torch.randn(2, 3, 4), torch.tensor([3, 1]), torch.randn(2, 4)
    out = bst((seq, lengths, target)).view(2, 4, 4)  # head target + 3 positions
    for b in range(2):
        n = int(lengths[b])
        expected = naive_encoder(bst, torch.cat([target[b:b + 1], seq[b, :n]]))
        torch.testing.assert_close(out[b, : n + 1], expected, atol=1e-5, rtol=1e-5)
        assert torch.equal(out[b, n + 1:], torch.zeros(3 - n, 4))
    changed = seq.clone()
    changed[1, 1:] = 30.0
    torch.testing.assert_close(bst((changed, lengths, target)), out.view(2, 16))


def test_a_narrower_target_gets_its_own_projection_into_the_head_token() -> None:
    # sequence D = 6 (e.g. movie + rating), target D_q = 4 = H: the target enters as it is,
    # the sequence through its Dense(H, relu); the rest is the naive encoder over both.
    torch.manual_seed(0)
    bst = BST.from_spec(BSTParams(**SMALL, output_all_token_embeddings=False),
                        (TensorSpec((3, 6)), LONG, TensorSpec((4,)))).eval()
    assert bst.target_project is None and bst.seq_project[0].in_features == 6
    seq, lengths, target = torch.randn(2, 3, 6), torch.tensor([3, 2]), torch.randn(2, 4)
    out = bst((seq, lengths, target))
    for b in range(2):
        tokens = torch.cat([target[b:b + 1], bst.seq_project(seq[b, : int(lengths[b])])])
        torch.testing.assert_close(out[b], naive_encoder(bst, tokens)[0], atol=1e-5, rtol=1e-5)
    narrow = BST.from_spec(BSTParams(**{**SMALL, "hidden_size": 2, "num_attention_heads": 1},
                                     output_all_token_embeddings=False), (TensorSpec((3, 6)), LONG, TensorSpec((4,))))
    assert narrow.target_project[0].in_features == 4 and narrow(((seq, lengths, target))).shape == (2, 2)


def test_target_token_state_at_head_or_tail() -> None:
    torch.manual_seed(0)
    spec = (TensorSpec((3, 4)), LONG, TensorSpec((4,)))
    seq, lengths, target = torch.randn(2, 3, 4), torch.tensor([3, 2]), torch.randn(2, 4)
    for position in ("head", "tail"):
        one = BST.from_spec(BSTParams(**SMALL, output_all_token_embeddings=False, target_item_position=position),
                            spec).eval()
        every = BST.from_spec(BSTParams(**SMALL, max_position_embeddings=3, target_item_position=position),
                              spec).eval()
        every.load_state_dict(one.state_dict(), strict=False)
        with torch.no_grad():
            every.encoder.position.copy_(one.encoder.position)
        tokens = every((seq, lengths, target)).view(2, 4, 4)
        torch.testing.assert_close(one((seq, lengths, target)), tokens[:, 0] if position == "head" else tokens[:, 3])


def test_heads_must_divide_the_width() -> None:
    with pytest.raises(ConfigError, match=r"bst: .*hidden_size \(4\) must be a multiple of num_attention_heads \(3\)"):
        parse_params(BSTParams, {**SMALL, "num_attention_heads": 3}, "bst")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TensorSpec((3, 4)), "blk: BST needs a sequence with its lengths, got a sequence without lengths"),
        ((TensorSpec((3, 4)),), "blk: BST needs a sequence with its lengths"),
        ((TensorSpec((9, 4)), LONG, None), "blk: BST: the sequence is longer than max_position_embeddings"),
        ((TensorSpec((3, 2)), LONG, TensorSpec((4,))), "blk: BST: the target is wider than the sequence"),
        ((TensorSpec((3, 4)), TensorSpec((3,)), None), "blk: BST: the lengths must be a long (B,) tensor"),
    ],
)
def test_shape_errors(spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        BST.from_spec(BSTParams(**SMALL, max_position_embeddings=8), spec, "blk")
    assert message in str(info.value) and "; expected " in str(info.value)
