"""MLP: the hand-computed case of components.md §1.1, layer order, defaults and errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from recblocks.core import ConfigError, ShapeError, TensorSpec, parse_params
from recblocks.layers import MLP, MLPParams


def build(where: str = "mlp", spec: TensorSpec = TensorSpec((2,)), **params) -> MLP:
    return MLP.from_spec(parse_params(MLPParams, params, where), spec, where)


def linears(mlp: MLP) -> list[nn.Linear]:
    return [m for m in mlp.net if isinstance(m, nn.Linear)]


def set_hand_weights(mlp: MLP) -> None:
    first, second = linears(mlp)
    with torch.no_grad():
        first.weight.copy_(torch.eye(2))
        if first.bias is not None:
            first.bias.zero_()
        second.weight.copy_(torch.tensor([[1.0, 1.0]]))
        second.bias.fill_(0.5)


LOGITS = {"use_final_bn": False, "final_activation": None, "use_final_bias": True}


def test_hand_case_without_bn() -> None:
    mlp = build(hidden_units=[2, 1], use_bn=False, **LOGITS)
    set_hand_weights(mlp)
    out = mlp(torch.tensor([[1.0, -2.0]], dtype=torch.float32))
    torch.testing.assert_close(out, torch.tensor([[1.5]]))


def test_hand_case_with_bn_in_eval_mode() -> None:
    mlp = build(hidden_units=[2, 1], use_bn=True, **LOGITS).eval()
    set_hand_weights(mlp)
    out = mlp(torch.tensor([[1.0, -2.0]]))
    torch.testing.assert_close(out, torch.tensor([[1.4995004]]), atol=1e-6, rtol=0)


def test_easyrec_defaults_and_layer_order() -> None:
    mlp = build(hidden_units=[4, 3], spec=TensorSpec((5,)))
    kinds = [type(m).__name__ for m in mlp.net]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU"]
    assert all(lin.bias is None for lin in linears(mlp))
    bn = mlp.net[1]
    assert bn.eps == pytest.approx(1e-3) and bn.momentum == pytest.approx(0.1)  # bn_momentum 0.9 (Keras terms)
    assert build(hidden_units=[4], spec=TensorSpec((5,)), bn_momentum=0.99).net[1].momentum == pytest.approx(0.01)
    bound = (6 / 5) ** 0.5  # he_uniform on fan_in 5
    assert float(linears(mlp)[0].weight.detach().abs().max()) <= bound


def test_bn_after_activation_and_dropout_placement() -> None:
    mlp = build(hidden_units=[4, 3, 1], spec=TensorSpec((5,)), use_bn_after_activation=True,
                dropout_ratio=[0.1, 0.2], **LOGITS)
    kinds = [type(m).__name__ for m in mlp.net]
    assert kinds == ["Linear", "ReLU", "BatchNorm1d", "Dropout", "Linear", "ReLU", "BatchNorm1d", "Dropout", "Linear"]
    assert [m.p for m in mlp.net if isinstance(m, nn.Dropout)] == [0.1, 0.2]


def test_scalar_dropout_skips_the_last_layer_and_ratio_can_reach_it() -> None:
    mlp = build(hidden_units=[4, 3, 1], dropout=0.3, use_bn=False, **LOGITS)
    assert [m.p for m in mlp.net if isinstance(m, nn.Dropout)] == [0.3, 0.3]
    mlp = build(hidden_units=[4, 1], dropout_ratio=[0.0, 0.5], use_bn=False, **LOGITS)
    assert type(mlp.net[-1]).__name__ == "Dropout"


def test_easyrec_float_numbers_are_accepted() -> None:
    params = parse_params(MLPParams, {"hidden_units": [256.0, 64.0], "dropout_ratio": [0.0, 0.5]}, "mlp")
    assert params.hidden_units == [256, 64]
    with pytest.raises(ConfigError, match=r"mlp\.hidden_units\[0\]"):
        parse_params(MLPParams, {"hidden_units": [2.5]}, "mlp")


def test_acts_on_the_last_axis() -> None:
    mlp = build(hidden_units=[3], spec=TensorSpec((7, 2)))
    x = torch.randn(4, 7, 2)
    out = mlp.eval()(x)
    assert out.shape == (4, 7, 3)
    torch.testing.assert_close(out[:, 2], mlp(x[:, 2]))
    assert mlp.output_spec(TensorSpec((7, 2))) == TensorSpec((7, 3))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"hidden_units": []}, "blk.hidden_units: an MLP needs at least one layer"),
        ({"hidden_units": [4, 0]}, "blk.hidden_units: layer widths must be positive"),
        ({"hidden_units": [4], "dropout_ratio": [1.0]}, "blk.dropout_ratio: invalid dropout_ratio; expected values in [0, 1)"),
        ({"hidden_units": [4], "dropout": 1.5}, "blk.dropout: invalid dropout"),
        ({"hidden_units": [4], "dropout_ratio": [0.1, 0.1]}, "more dropout ratios than layers"),
        ({"hidden_units": [4, 1], "dropout_ratio": [0.1], "dropout": 0.1}, "not both"),
        ({"hidden_units": [4], "activation": "rleu"}, "blk.activation: unknown activation"),
        ({"hidden_units": [4], "final_activation": "sigmod"}, "did you mean 'sigmoid'?"),
        ({"hidden_units": [4], "initializer": "he_unifrom"}, "blk.initializer: unknown initializer"),
    ],
)
def test_config_errors(params: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build("blk", **params)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TensorSpec(()), "input has too few axes"),
        (TensorSpec((3,), "long"), "input must be a float tensor"),
        ([TensorSpec((3,)), TensorSpec((3,))], "input must be a single tensor"),
    ],
)
def test_shape_errors(spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        build("blk", spec=spec, hidden_units=[2])
    assert str(info.value).startswith("blk: ") and message in str(info.value)


def test_output_spec_rejects_another_width() -> None:
    mlp = build("blk", hidden_units=[2])
    with pytest.raises(ShapeError, match="blk: input width differs"):
        mlp.output_spec(TensorSpec((3,)))


def test_add_to_outputs_adds_the_output_named_after_the_block() -> None:
    from recblocks.core import ForwardContext

    params = MLPParams(hidden_units=[1], use_final_bn=False, final_activation=None, add_to_outputs=True)
    mlp = MLP.from_spec(params, TensorSpec((3,)), "block 'score' (model.backbone.blocks[2])")
    assert mlp.uses_context and not MLP.from_spec(MLPParams(hidden_units=[1]), TensorSpec((3,))).uses_context
    x = torch.randn(4, 3)
    for training in (True, False):
        context = ForwardContext(training=training)
        out = mlp(x, context)
        assert list(context.outputs) == ["score"] and context.losses == {}
        torch.testing.assert_close(context.outputs["score"], out.squeeze(1))  # (B, 1) is added as (B,)
