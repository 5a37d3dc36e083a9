"""CapsuleRouting (MIND's B2I routing) and LabelAwareAttention, computed by hand."""

import math

import pytest
import torch

from recblocks.core.context import ForwardContext
from recblocks.core.errors import ShapeError
from recblocks.core.shapes import TensorSpec
from recblocks.layers.capsule import (CapsuleRouting, CapsuleRoutingParams, LabelAwareAttention,
                                      LabelAwareAttentionParams, interest_similarity, squash)

EVAL = ForwardContext(training=False)

SEQ = [TensorSpec((3, 2)), TensorSpec((), "long")]


def _routing(**params) -> CapsuleRouting:
    layer = CapsuleRouting.from_spec(CapsuleRoutingParams(max_seq_len=3, high_dim=2, **params), SEQ).eval()
    with torch.no_grad():
        layer.bilinear.copy_(torch.eye(2))  # u_s = e_s
    return layer


def test_squash_by_hand():
    # |z|^2 = 25: z * (25 / 26) / 5
    assert torch.allclose(squash(torch.tensor([[3.0, 4.0]])), torch.tensor([[15 / 26, 20 / 26]]))
    # power 2, scale 2: z * 2 * (25 / 26)^2 / 5
    assert torch.allclose(squash(torch.tensor([[3.0, 4.0]]), 2.0, 2.0), torch.tensor([[3.0, 4.0]]) * 2 * (25 / 26) ** 2 / 5)


def test_capsule_counts_follow_log_of_the_length():
    layer = _routing(max_k=5)
    # floor(log n) clamped to [1, 5]: log 8 = 2.08, log 200 = 5.3
    assert layer.capsule_counts(torch.tensor([0, 1, 3, 8, 200])).tolist() == [1, 1, 1, 2, 5]
    assert _routing(max_k=4, const_caps_num=True).capsule_counts(torch.tensor([1, 9])).tolist() == [4, 4]


def test_one_capsule_sums_the_valid_behaviours():
    layer = _routing(max_k=3, num_iters=1)
    seq = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])
    capsules, mask = layer([seq, torch.tensor([2])])
    # one capsule (log 2 < 1): every valid behaviour routes to it, z = [1, 1]; squash: n = 2, z * (2/3) / sqrt(2)
    value = (2 / 3) / math.sqrt(2)
    assert mask.tolist() == [[1.0, 0.0, 0.0]]
    assert torch.allclose(capsules, torch.tensor([[[value, value], [0.0, 0.0], [0.0, 0.0]]]))


def test_routing_iterations_from_uniform_logits():
    layer = _routing(max_k=2, num_iters=2, const_caps_num=True, routing_logits_stddev=0.0)
    seq = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]])
    capsules, mask = layer([seq, torch.tensor([2])])
    # logits 0 -> w = 1/2 everywhere -> z_k = [0.5, 0.5]; the cosine logits 20 * 0.7071 are equal for both capsules,
    # so w stays 1/2 and the last z_k = [0.5, 0.5]: squash n = 0.5 -> z * (0.5 / 1.5) / sqrt(0.5)
    value = 0.5 * (0.5 / 1.5) / math.sqrt(0.5)
    assert mask.tolist() == [[1.0, 1.0]]
    assert torch.allclose(capsules, torch.full((1, 2, 2), value))


def test_only_the_last_iteration_trains_the_bilinear_map():
    layer = _routing(max_k=2, num_iters=3, const_caps_num=True).train()
    seq = torch.randn(4, 3, 2)
    capsules, _ = layer([seq, torch.tensor([3, 2, 1, 3])])
    capsules.sum().backward()
    assert layer.bilinear.grad is not None and layer.bilinear.grad.abs().sum() > 0


def test_label_aware_attention_by_hand():
    layer = LabelAwareAttention.from_spec(LabelAwareAttentionParams(simi_pow=1.0),
                                          [TensorSpec((3, 2)), TensorSpec((2,)), TensorSpec((3,))])
    interests = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    out = layer([interests, torch.tensor([[1.0, 0.0]]), mask], EVAL)
    # scores [1, 0, masked] -> a = [e / (e + 1), 1 / (e + 1), 0]
    a = math.e / (math.e + 1)
    assert torch.allclose(out, torch.tensor([[a, 1 - a]]))
    hard = LabelAwareAttention.from_spec(LabelAwareAttentionParams(simi_pow=100.0),
                                         [TensorSpec((3, 2)), TensorSpec((2,)), TensorSpec((3,))])
    assert hard([interests, torch.tensor([[0.2, 0.1]]), mask], EVAL).tolist() == [[1.0, 0.0]]  # the argmax interest


def test_interest_similarity_penalty_by_hand():
    # user 1: interests e1, e1 and a masked one -> mean cosine 1; user 2: one interest (not counted)
    interests = torch.tensor([[[1.0, 0.0], [2.0, 0.0], [0.0, 5.0]], [[0.0, 1.0], [0.0, 0.0], [0.0, 0.0]]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert float(interest_similarity(interests, mask)) == 1.0  # (1 + 1) / 2 over the one multi-interest user
    layer = LabelAwareAttention.from_spec(LabelAwareAttentionParams(max_interests_simi=0.75),
                                          [TensorSpec((3, 2)), TensorSpec((2,)), TensorSpec((3,))], "mind_user")
    context = ForwardContext(training=True)
    layer([interests, torch.tensor([[1.0, 0.0], [0.0, 1.0]]), mask], context)
    value, weight = context.losses["mind_user_interest_simi"]
    assert float(value) == pytest.approx(0.25) and weight == 1.0  # relu(1 - 0.75)
    layer([interests, torch.tensor([[1.0, 0.0], [0.0, 1.0]]), mask], EVAL)  # no penalty outside training


def test_shape_errors_name_the_block():
    with pytest.raises(ShapeError, match="caps: CapsuleRouting needs a sequence with its lengths"):
        CapsuleRouting.from_spec(CapsuleRoutingParams(max_seq_len=3, high_dim=2), TensorSpec((3, 2)), "caps")
    with pytest.raises(ShapeError, match="att: LabelAwareAttention needs the interests, the item vector of the same "
                                         "width"):
        LabelAwareAttention.from_spec(LabelAwareAttentionParams(), [TensorSpec((3, 4)), TensorSpec((5,))], "att")
