"""VariationalDropout: eval scaling and penalty by hand, the concrete mask, embedding-wise rates, shape errors."""

from __future__ import annotations

import math

import pytest
import torch

from recblocks.core import ForwardContext, ShapeError, TensorSpec
from recblocks.layers import VariationalDropout, VariationalDropoutParams

F1, F2 = torch.tensor([[2.0, 4.0], [1.0, 1.0]]), torch.tensor([[3.0], [5.0]])


def test_eval_scales_each_feature_by_its_keep_rate_and_adds_the_penalty() -> None:
    layer = VariationalDropout.from_spec(VariationalDropoutParams(regularization_lambda=0.5),
                                         [TensorSpec((2,)), TensorSpec((1,))], "block 'all_vd' (model.backbone.blocks[1])")
    with torch.no_grad():
        layer.logit_p.copy_(torch.tensor([0.0, math.log(3.0)]))  # p = 0.5 and 0.75
    context = ForwardContext(training=False)
    first, second = layer.eval()([F1, F2], context)
    torch.testing.assert_close(first, F1 * 0.5)
    torch.testing.assert_close(second, F2 * 0.25)
    value, weight = context.losses["all_vd_variational_dropout_loss"]
    # lambda / B * sum(1 - p) = 0.5 / 2 * (0.5 + 0.25)
    assert weight == 1.0 and value.item() == pytest.approx(0.1875)


def test_training_mask_is_the_concrete_relaxation_of_easyrec() -> None:
    layer = VariationalDropout.from_spec(VariationalDropoutParams(), [TensorSpec((2,)), TensorSpec((1,))])
    with torch.no_grad():
        layer.logit_p.copy_(torch.tensor([-1.0, 2.0]))
    torch.manual_seed(3)
    first, second = layer.train()([F1, F2], ForwardContext(training=True))
    torch.manual_seed(3)
    p = torch.sigmoid(layer.logit_p.detach()).expand(2, -1)
    u = torch.rand(2, 2)
    keep = 1 - torch.sigmoid((torch.log(p / (1 - p)) + torch.log(u / (1 - u))) / 0.1)
    torch.testing.assert_close(first, F1 * keep[:, :1], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(second, F2 * keep[:, 1:], atol=1e-5, rtol=1e-4)
    assert (first[0, 0] / F1[0, 0]).item() == pytest.approx((first[0, 1] / F1[0, 1]).item())  # one mask value per feature and row


def test_embedding_wise_rates_and_stacked_input() -> None:
    layer = VariationalDropout.from_spec(VariationalDropoutParams(use_embedding_wise=True), TensorSpec((2, 2)))
    assert layer.logit_p.shape == (4,)
    assert layer.logit_p.abs().max() <= math.sqrt(3 / 4)  # Glorot-uniform for a 1-D variable
    with torch.no_grad():
        layer.logit_p.copy_(torch.tensor([0.0, 100.0, -100.0, 0.0]))
    out = layer.eval()(torch.ones(1, 2, 2), ForwardContext(training=False))
    torch.testing.assert_close(out, torch.tensor([[[0.5, 0.0], [1.0, 0.5]]]))


def test_the_penalty_pushes_the_drop_rates_up() -> None:
    layer = VariationalDropout.from_spec(VariationalDropoutParams(), [TensorSpec((1,))] * 2)
    context = ForwardContext(training=True)
    layer.train()([F2, F2], context)
    context.losses[layer.loss_name][0].backward()
    assert (layer.logit_p.grad < 0).all()  # descending the penalty raises p


@pytest.mark.parametrize(("spec", "message"), [
    (TensorSpec((4,)), "vd: VariationalDropout needs the features of a group"),
    ([TensorSpec((2, 3))], "vd: VariationalDropout needs the features of a group"),
])
def test_shape_errors(spec, message) -> None:
    with pytest.raises(ShapeError, match=message):
        VariationalDropout.from_spec(VariationalDropoutParams(), spec, "vd")
    layer = VariationalDropout.from_spec(VariationalDropoutParams(), [TensorSpec((2,))], "vd")
    with pytest.raises(ShapeError, match="the features differ"):
        layer.output_spec([TensorSpec((3,))])
