"""SNR: the hand cases of components.md §5.3, a naive loop, train/eval gates, the L0 loss and shape errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ConfigError, ForwardContext, ShapeError, TensorSpec
from recblocks.core.params import parse_params
from recblocks.layers import SNR, SNRParams, hard_concrete_gate

U1, U2 = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 4.0]])


def test_hand_cases() -> None:
    gate = hard_concrete_gate(torch.tensor([0.0, 1.0, -2.0]), 0.5, -0.1, 1.1, sample=False)
    # sigmoid(a) * 1.2 - 0.1: 0.5, 0.7772703, 0.0430435
    torch.testing.assert_close(gate, torch.tensor([0.5, 0.7772703, 0.0430435]), atol=1e-6, rtol=0)
    snr = SNR.from_spec(SNRParams(num_out_subnet=1, out_subnet_dim=2, snr_type="aver"), [TensorSpec((2,))] * 2, "snr")
    # beta log(-gamma / zeta) = 0.5 log(0.1 / 1.1) = -1.1989476; sigmoid(1.1989476) = 0.7683375 per route
    assert float(snr.l0_penalty().detach()) == pytest.approx(2 * 0.7683375, abs=1e-6)
    snr.eval()
    context = ForwardContext(training=False)
    (out,) = snr([U1, U2], context)
    torch.testing.assert_close(out, torch.tensor([[2.0, 3.0]]))  # 0.5 u1 + 0.5 u2
    assert context.losses == {}


def test_trans_equals_a_naive_loop_and_adds_the_l0_loss_in_training() -> None:
    torch.manual_seed(0)
    snr = SNR.from_spec(SNRParams(num_out_subnet=2, out_subnet_dim=3, l0_weight=0.1), [TensorSpec((4,))] * 3,
                        "block 'route' (model.backbone.blocks[1])")
    with torch.no_grad():
        snr.log_alpha.copy_(torch.randn(3, 2))
    inputs = [torch.randn(5, 4) for _ in range(3)]
    snr.eval()
    z = hard_concrete_gate(snr.log_alpha, 0.5, -0.1, 1.1, sample=False)
    out = snr(inputs, ForwardContext(training=False))
    for j in range(2):
        torch.testing.assert_close(out[j], sum(z[i, j] * inputs[i] @ snr.weight[i, j] for i in range(3)))
    snr.train()
    context = ForwardContext(training=True)
    first = snr(inputs, context)
    value, weight = context.losses["route_l0_loss"]
    assert weight == 0.1 and torch.equal(value, snr.l0_penalty())
    assert not torch.equal(first[0], snr(inputs, ForwardContext(training=True))[0])  # sampled gates


def test_zeta_must_exceed_one() -> None:
    with pytest.raises(ConfigError, match=r"snr: .*zeta must exceed 1"):
        parse_params(SNRParams, {"num_out_subnet": 1, "out_subnet_dim": 2, "zeta": 1.0}, "snr")


@pytest.mark.parametrize(
    ("params", "spec", "message"),
    [
        ({}, TensorSpec((4,)), "blk: SNR needs a list of sub-network outputs"),
        ({}, [TensorSpec((4,)), TensorSpec((3,))], "blk: SNR: all sub-network outputs must have one width"),
        ({}, [TensorSpec((2, 4))] * 2, "blk: SNR: every sub-network output must be a 2-D tensor"),
        ({"snr_type": "aver"}, [TensorSpec((4,))] * 2, "blk: SNR 'aver' routes inputs unchanged"),
    ],
)
def test_shape_errors(params: dict, spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        SNR.from_spec(SNRParams(num_out_subnet=2, out_subnet_dim=2, **params), spec, "blk")
    assert message in str(info.value)
    assert params or "expected a list of sub-network outputs n_in x (B, d_in)" in str(info.value)
