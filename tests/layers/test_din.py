"""DIN: the hand case of components.md §4.1, a naive loop, padding and the sequence input errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ShapeError, TensorSpec
from recblocks.layers import DIN, DINParams

LONG = TensorSpec((), "long")


def scorer_on_q_times_k(normalizer: str = "softmax") -> DIN:
    """A single linear scoring layer reading only the q*k block: s_t = q . k_t."""
    din = DIN.from_spec(DINParams(attention_dnn={"hidden_units": [1]}, attention_normalizer=normalizer,
                                  need_target_feature=False), (TensorSpec((2, 2)), LONG, TensorSpec((2,))), "din")
    linear = din.attention.net[0]
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[0.0, 0, 0, 0, 0, 0, 1, 1]]))
        linear.bias.zero_()
    return din


def test_hand_case() -> None:
    q, k = torch.tensor([[1.0, 0.0]]), torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    # scores [1, 0]; softmax -> [0.731059, 0.268941]; pooled = 0.731059 k_1 + 0.268941 k_2
    out = scorer_on_q_times_k()((k, torch.tensor([2]), q))
    torch.testing.assert_close(out, torch.tensor([[0.731059, 0.268941]]), atol=1e-5, rtol=0)
    # no normaliser (paper): raw scores [1, 0] -> k_1
    torch.testing.assert_close(scorer_on_q_times_k("none")((k, torch.tensor([2]), q)), torch.tensor([[1.0, 0.0]]))
    # seq_len = 1: only k_1 is valid -> weight 1 on it
    torch.testing.assert_close(scorer_on_q_times_k()((k, torch.tensor([1]), q)), torch.tensor([[1.0, 0.0]]))
    # sigmoid: sigmoid(s / sqrt(2)) = [0.669762, 0.5]
    out = scorer_on_q_times_k("sigmoid")((k, torch.tensor([2]), q))
    torch.testing.assert_close(out, torch.tensor([[0.669762, 0.5]]), atol=1e-5, rtol=0)


def test_equals_a_naive_loop_and_ignores_padding() -> None:
    torch.manual_seed(0)
    din = DIN.from_spec(DINParams(attention_dnn={"hidden_units": [4, 1], "use_bn": False}),
                        (TensorSpec((5, 3)), LONG, TensorSpec((3,))), "din").eval()
    keys, query, lengths = torch.randn(3, 5, 3), torch.randn(3, 3), torch.tensor([5, 2, 0])
    out = din((keys, lengths, query))
    for b in range(3):
        n = int(lengths[b])
        pooled = torch.zeros(3)
        if n:
            scores = torch.stack([din.attention(torch.cat([query[b], keys[b, t], query[b] - keys[b, t],
                                                           query[b] * keys[b, t]])[None])[0, 0] for t in range(n)])
            pooled = (torch.softmax(scores, 0)[:, None] * keys[b, :n]).sum(0)
        torch.testing.assert_close(out[b], torch.cat([pooled, query[b]]))
    changed = keys.clone()
    changed[1, 2:] = 100.0
    torch.testing.assert_close(din((changed, lengths, query)), out)


def test_narrow_target_is_padded_for_scoring_and_keys_cut() -> None:
    din = DIN.from_spec(DINParams(attention_dnn={"hidden_units": [1]}), (TensorSpec((3, 4)), LONG, TensorSpec((2,))))
    out = din((torch.randn(2, 3, 4), torch.tensor([1, 3]), torch.randn(2, 2)))
    assert out.shape == (2, 4) and din.output_spec((TensorSpec((3, 4)), LONG, TensorSpec((2,)))) == TensorSpec((4,))


def test_pool_full_sequence_keeps_the_side_information_by_hand() -> None:
    # keys (movie 2 dims, rating 1 dim), target 2 dims; the scorer reads q*k: s_t = q . k_t[:2].
    din = DIN.from_spec(DINParams(attention_dnn={"hidden_units": [1]}, pool_full_sequence=True,
                                  need_target_feature=False), (TensorSpec((2, 3)), LONG, TensorSpec((2,))))
    with torch.no_grad():
        din.attention.net[0].weight.copy_(torch.tensor([[0.0] * 9 + [1, 1, 0]]))  # [q, k, q-k, q*k] of width 3
        din.attention.net[0].bias.zero_()
    k = torch.tensor([[[1.0, 0.0, 5.0], [0.0, 1.0, 1.0]]])
    out = din((k, torch.tensor([2]), torch.tensor([[1.0, 0.0]])))
    # weights softmax([1, 0]) = [0.731059, 0.268941]; the third column pools 0.731059 * 5 + 0.268941 * 1
    torch.testing.assert_close(out, torch.tensor([[0.731059, 0.268941, 3.924236]]), atol=1e-5, rtol=0)
    assert din.output_spec((TensorSpec((2, 3)), LONG, TensorSpec((2,)))) == TensorSpec((3,))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TensorSpec((4, 3)), "blk: DIN needs a sequence with its lengths, got a sequence without lengths"),
        (TensorSpec((3,)), "blk: DIN needs a sequence with its lengths, got a single tensor"),
        ([TensorSpec((4, 3))], "blk: DIN needs a sequence with its lengths"),
        ((TensorSpec((4, 3)), LONG, None), "blk: DIN needs a target"),
        ((TensorSpec((3,)), LONG, TensorSpec((3,))), "blk: DIN: the sequence must be a float (B, L, D) tensor"),
        ((TensorSpec((4, 3)), TensorSpec((4,)), TensorSpec((3,))), "blk: DIN: the lengths must be a long (B,)"),
        (([TensorSpec((4, 3))] * 2, LONG, TensorSpec((3,))), "blk: DIN needs one sequence tensor"),
        ((TensorSpec((4, 3)), LONG, TensorSpec((3,)), TensorSpec((3,))), "blk: DIN needs one sequence tensor"),
        ((TensorSpec((4, 3)), LONG, TensorSpec((5,))), "blk: DIN: the target is wider than the sequence"),
    ],
)
def test_shape_errors(spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        DIN.from_spec(DINParams(attention_dnn={"hidden_units": [1]}), spec, "blk")
    assert message in str(info.value) and "(sequence (B, L, D), lengths (B,) long" in str(info.value)


def test_scoring_mlp_must_end_in_one_unit() -> None:
    with pytest.raises(Exception, match=r"blk.attention_dnn.hidden_units: DIN's scoring MLP must end in one unit"):
        DIN.from_spec(DINParams(attention_dnn={"hidden_units": [4]}), (TensorSpec((4, 3)), LONG, TensorSpec((3,))),
                      "blk")


def test_aux_behaviours_are_pooled_with_the_scores_of_the_behaviours() -> None:
    torch.manual_seed(0)
    din = DIN.from_spec(DINParams(attention_dnn={"hidden_units": [4, 1], "use_bn": False}, aux_dim=2),
                        (TensorSpec((5, 5)), LONG, TensorSpec((3,))), "din").eval()
    sequence, query, lengths = torch.randn(2, 5, 5), torch.randn(2, 3), torch.tensor([5, 2])
    out = din((sequence, lengths, query))
    assert out.shape == (2, 3 + 2 + 3)
    # the weights come from the first 3 widths only: the same scoring MLP on the behaviours alone
    scorer = DIN.from_spec(DINParams(attention_dnn={"hidden_units": [4, 1], "use_bn": False},
                                     need_target_feature=False), (TensorSpec((5, 3)), LONG, TensorSpec((3,))), "s")
    scorer.load_state_dict(din.state_dict())
    q = query.unsqueeze(1).expand(-1, 5, -1)
    keys = sequence[..., :3]
    scores = scorer.attention(torch.cat([q, keys, q - keys, q * keys], -1)).squeeze(-1)
    scores = scores.masked_fill(torch.arange(5)[None] >= lengths[:, None], -(2.0**32) + 1)
    weights = torch.softmax(scores, -1)
    expected = torch.cat([torch.bmm(weights.unsqueeze(1), sequence).squeeze(1), query], -1)
    torch.testing.assert_close(out, expected)


def test_allow_key_transform_pads_a_narrow_target_or_projects_it() -> None:
    spec = (TensorSpec((4, 6)), LONG, TensorSpec((3,)))
    with pytest.raises(ShapeError, match="target is wider"):
        DIN.from_spec(DINParams(attention_dnn={"hidden_units": [1]}), (TensorSpec((4, 2)), LONG, TensorSpec((3,))))
    padded = DIN.from_spec(DINParams(attention_dnn={"hidden_units": [1]}, allow_key_transform=True), spec, "d")
    assert padded.transform == "pad" and padded.output_spec(spec).shape == (12,)
    sequence, query = torch.randn(2, 4, 6), torch.randn(2, 3)
    out = padded((sequence, torch.tensor([4, 1]), query))
    # EasyRec appends the zero-padded target, and pools all 6 behaviour widths
    torch.testing.assert_close(out[:, 6:], torch.nn.functional.pad(query, (0, 3)))
    torch.testing.assert_close(out[1, :6], sequence[1, 0])  # one valid behaviour: weight 1
    dense = DIN.from_spec(DINParams(attention_dnn={"hidden_units": [1]}, allow_key_transform=True,
                                    transform_dnn=True), spec, "d")
    assert dense.transform == "dense" and dense.output_spec(spec).shape == (12,)
    out = dense((sequence, torch.tensor([4, 1]), query))
    torch.testing.assert_close(out[:, 6:], dense.key_dense(query))
    torch.testing.assert_close(out[1, :6], dense.seq_dense(sequence[1, 0]))
    wide = DIN.from_spec(DINParams(attention_dnn={"hidden_units": [1]}, allow_key_transform=True),
                         (TensorSpec((4, 2)), LONG, TensorSpec((3,))), "d")
    assert wide.transform == "dense" and wide((torch.randn(2, 4, 2), torch.tensor([4, 1]), query)).shape == (2, 4)
