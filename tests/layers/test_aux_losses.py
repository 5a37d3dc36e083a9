"""AuxiliaryLoss: the hand cases of components.md §6.1, naive loops, the context and shape errors."""

from __future__ import annotations

import math

import pytest
import torch

from recblocks.core import ConfigError, ForwardContext, ShapeError, TensorSpec
from recblocks.core.params import parse_params
from recblocks.layers import AuxiliaryLoss, AuxiliaryLossParams, info_nce_loss, nce_loss

EYE = torch.eye(2)
WHERE = "block 'cl' (model.backbone.blocks[4])"


def added(params: dict, x1: torch.Tensor, x2: torch.Tensor, training: bool = True) -> ForwardContext:
    aux = AuxiliaryLoss.from_spec(parse_params(AuxiliaryLossParams, params, "cl"), [TensorSpec((x1.shape[1],))] * 2,
                                  WHERE)
    context = ForwardContext(training=training)
    out = aux([x1, x2], context)
    assert out.shape == (x1.shape[0], 1)
    return context


def test_hand_cases() -> None:
    # info_nce, q = p = I: row loss -log(e^(1/t) / (e^(1/t) + 1))
    value, weight = added({"loss_type": "info_nce", "temperature": 1.0}, EYE, EYE).losses["cl_info_nce"]
    assert weight == 1.0 and float(value) == pytest.approx(0.3132617, abs=1e-6)
    value, _ = added({"loss_type": "info_nce", "temperature": 0.5}, EYE, EYE).losses["cl_info_nce"]
    assert float(value) == pytest.approx(0.1269280, abs=1e-6)
    # NT-Xent, x1 = x2 = I, t = 1: row 0 sees [pos e^1, negatives e^0, e^0] -> log(1 + 2/e)
    value, _ = added({"loss_type": "nce_loss", "temperature": 1.0}, EYE, EYE).losses["cl_nce_loss"]
    assert float(value) == pytest.approx(math.log(1 + 2 / math.e), abs=1e-6) == pytest.approx(0.5514447, abs=1e-6)
    # l2: |(0,0) - (3,4)|^2 = 25, weighted 0.5 in the model's total
    context = added({"loss_type": "l2", "loss_weight": 0.5, "loss_name": "align"},
                    torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]]))
    value, weight = context.losses["align"]
    assert float(value) == 25.0 and weight == 0.5


def test_losses_equal_naive_loops() -> None:
    torch.manual_seed(0)
    x1, x2, tau = torch.randn(5, 3), torch.randn(5, 3), 0.3
    rows = [-torch.log_softmax(torch.stack([x1[b] @ x2[j] / tau for j in range(5)]), 0)[b] for b in range(5)]
    torch.testing.assert_close(info_nce_loss(x1, x2, tau), torch.stack(rows).mean())
    z = torch.cat([x1, x2])
    rows = []
    for k in range(10):
        pair = (k + 5) % 10
        logits = torch.stack([z[k] @ z[pair] / tau] + [z[k] @ z[j] / tau for j in range(10) if j not in (k, pair)])
        rows.append(-torch.log_softmax(logits, 0)[0])
    torch.testing.assert_close(nce_loss(x1, x2, tau), torch.stack(rows).mean())


def test_training_only_and_named_after_the_block() -> None:
    assert added({"loss_type": "l2_loss"}, EYE, EYE, training=False).losses == {}
    assert list(added({"loss_type": "l2_loss"}, EYE, EYE).losses) == ["cl_l2_loss"]


def test_unknown_loss_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"cl.loss_type: Input should be 'l2_loss', 'info_nce' or 'nce_loss'"):
        parse_params(AuxiliaryLossParams, {"loss_type": "cosine"}, "cl")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TensorSpec((4,)), "blk: AuxiliaryLoss needs two inputs"),
        ([TensorSpec((4,))] * 3, "blk: AuxiliaryLoss needs two inputs"),
        ([TensorSpec((2, 4))] * 2, "blk: AuxiliaryLoss: each input must have 2 dimensions"),
        ([TensorSpec((4,)), TensorSpec((3,))], "blk: AuxiliaryLoss: the two inputs differ in width"),
    ],
)
def test_shape_errors(spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        AuxiliaryLoss.from_spec(AuxiliaryLossParams(loss_type="l2_loss"), spec, "blk")
    assert message in str(info.value) and "expected two representations [x1 (B, D), x2 (B, D)]" in str(info.value)
