"""DIEN: the single-step hand case of components.md §4.2, a naive per-row loop, lengths and shape errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ShapeError, TensorSpec
from recblocks.layers import DIEN, DIENParams, evolve_step

LONG = TensorSpec((), "long")


@pytest.mark.parametrize(("att_type", "a", "expected"),
                         [("AUGRU", 0.4, 0.8), ("AGRU", 0.4, 0.6), ("GRU", 0.4, 0.5), ("AIGRU", 0.4, 0.5),
                          ("AUGRU", 0.0, 1.0), ("AGRU", 0.0, 1.0)])
def test_single_step_hand_case(att_type: str, a: float, expected: float) -> None:
    # zero weights and biases: u = r = 0.5, candidate 0; state [1, 1]
    # AUGRU u~ = 0.2 -> 0.8; AGRU -> 1 - 0.4 = 0.6; GRU -> 0.5; a = 0 leaves the state unchanged
    zeros = torch.zeros(1, 6)
    out = evolve_step(att_type, zeros, zeros, torch.ones(1, 2), torch.tensor([[a]]))
    torch.testing.assert_close(out, torch.full((1, 2), expected))


@pytest.mark.parametrize("att_type", ["AUGRU", "AGRU", "AIGRU", "GRU"])
def test_equals_a_naive_per_row_loop_over_the_valid_steps(att_type: str) -> None:
    torch.manual_seed(0)
    dien = DIEN.from_spec(DIENParams(num_units=3, att_type=att_type), (TensorSpec((5, 2)), LONG, TensorSpec((4,))))
    seq, target, lengths = torch.randn(3, 5, 2), torch.randn(3, 4), torch.tensor([5, 2, 0])
    out = dien((seq, lengths, target))
    for b in range(3):
        n = int(lengths[b])
        h = torch.zeros(1, 3)
        if n:
            states, _ = dien.extractor(seq[b:b + 1, :n])
            a = torch.ones(n) if att_type == "GRU" else torch.softmax(states[0] @ (dien.bilinear @ target[b]), 0)
            for t in range(n):
                i_t = states[:, t] * a[t] if att_type == "AIGRU" else states[:, t]
                h = evolve_step(att_type, dien.input_proj(i_t), dien.state_proj(h), h, a[t].view(1, 1))
        torch.testing.assert_close(out[b:b + 1], h)
    changed = seq.clone()
    changed[1, 2:] = 50.0
    torch.testing.assert_close(dien((changed, lengths, target)), out)  # padding never reaches the state
    assert torch.equal(out[2], torch.zeros(3))  # empty sequence -> zeros


@pytest.mark.parametrize(
    ("params", "spec", "message"),
    [
        ({}, TensorSpec((5, 3)), "blk: DIEN needs a sequence with its lengths, got a sequence without lengths"),
        ({}, (TensorSpec((5, 3)), LONG, None), "blk: DIEN needs a target"),
        ({}, (TensorSpec((5, 3)),), "blk: DIEN needs a sequence with its lengths"),
        ({"attention_type": "dot"}, (TensorSpec((5, 3)), LONG, TensorSpec((2,))),
         "blk: DIEN: dot attention needs a target as wide as the GRU"),
    ],
)
def test_shape_errors(params: dict, spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        DIEN.from_spec(DIENParams(**params), spec, "blk")
    assert message in str(info.value) and "(sequence (B, L, D), lengths (B,) long" in str(info.value)


def test_auxiliary_next_behaviour_loss_is_added_in_training_over_valid_pairs_only():
    from recblocks.core.context import ForwardContext

    torch.manual_seed(0)
    spec = (TensorSpec((4, 3)), TensorSpec((), "long"), TensorSpec((2,)))
    dien = DIEN.from_spec(DIENParams(num_units=5, aux_loss_weight=0.5, aux_hidden_units=4), spec)
    assert dien.uses_context
    seq, lengths, target = torch.randn(3, 4, 3), torch.tensor([4, 2, 1]), torch.randn(3, 2)
    context = ForwardContext(training=True)
    out = dien((seq, lengths, target), context)
    value, weight = context.losses["dien_aux"]
    assert weight == 0.5 and value.dim() == 0 and value > 0
    # by hand: rows pair with the previous row (roll by one); positions t+1 valid in both rows
    states, _ = dien.extractor(seq)
    expected, count = 0.0, 0
    for b in range(3):
        other = (b - 1) % 3
        for t in range(3):
            if t + 1 < lengths[b] and t + 1 < lengths[other]:
                pos = dien.aux_scorer(torch.cat([states[b, t], seq[b, t + 1]]))
                neg = dien.aux_scorer(torch.cat([states[b, t], seq[other, t + 1]]))
                expected += float(torch.nn.functional.softplus(-pos) + torch.nn.functional.softplus(neg))
                count += 1
    assert abs(float(value) - expected / count) < 1e-5
    eval_context = ForwardContext(training=False)
    torch.testing.assert_close(dien((seq, lengths, target), eval_context), out)  # the output does not change
    assert not eval_context.losses
    plain = DIEN.from_spec(DIENParams(num_units=5), spec)
    assert not plain.uses_context and plain.aux_scorer is None
