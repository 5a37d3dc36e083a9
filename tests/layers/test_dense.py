"""Dense: weight-normalised kernel (components.md §1.2), Keras regularizers, shape errors."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from recblocks.core import ConfigError, ShapeError, TensorSpec
from recblocks.core.params import parse_params
from recblocks.layers import Dense, DenseParams

X = torch.tensor([[1.0, 1.0]])


def _dense(**params: object) -> Dense:
    return Dense.from_spec(parse_params(DenseParams, {"units": 1, **params}, "d"), TensorSpec((2,)), "d")


def test_kernel_norm_hand_case() -> None:
    layer = _dense(allow_kernel_norm=True)
    with torch.no_grad():
        layer.linear.weight.copy_(torch.tensor([[3.0, 4.0]]))
        layer.linear.bias.zero_()
        layer.kernel_norm.fill_(5.0)  # g = |W_init| = 5
    torch.testing.assert_close(layer(X), torch.tensor([[7.0]]))  # same as a plain Dense
    with torch.no_grad():
        layer.linear.weight.mul_(2.0)  # raw W = [6, 8], g stays 5
    torch.testing.assert_close(layer(X), torch.tensor([[7.0]]))  # scale invariance
    assert "kernel_norm" in dict(layer.named_buffers())


def test_trainable_kernel_norm_hand_case() -> None:
    layer = _dense(allow_kernel_norm=True, kernel_norm_trainable=True)
    assert isinstance(layer.kernel_norm, torch.nn.Parameter)
    with torch.no_grad():
        layer.linear.weight.copy_(torch.tensor([[3.0, 4.0]]))
        layer.linear.bias.zero_()
        layer.kernel_norm.fill_(10.0)
    torch.testing.assert_close(layer(X), torch.tensor([[14.0]]))


def test_kernel_norm_starts_equal_to_the_plain_layer() -> None:
    torch.manual_seed(0)
    normed = Dense.from_spec(DenseParams(units=3, allow_kernel_norm=True), TensorSpec((4,)))
    x = torch.randn(5, 4)
    torch.testing.assert_close(normed(x), normed.linear(x))


@pytest.mark.parametrize(("spec", "l1", "l2"), [
    ("l2", 0.0, 0.01), ("L1", 0.01, 0.0), ("l1_l2", 0.01, 0.01), ({"l2": 0.5}, 0.0, 0.5),
    ({"class_name": "L2", "config": {"l2": 0.25}}, 0.0, 0.25), ({"class_name": "L1L2"}, 0.01, 0.01),
])
def test_regularizer_forms(spec: object, l1: float, l2: float) -> None:
    layer = _dense(kernel_regularizer=spec)
    with torch.no_grad():
        layer.linear.weight.copy_(torch.tensor([[3.0, -4.0]]))
    # Keras: l1 * sum|W| + l2 * sum W^2 (no 1/2)
    torch.testing.assert_close(layer.regularization_loss(), torch.tensor(l1 * 7.0 + l2 * 25.0))


def test_bias_regularizer_and_none() -> None:
    assert _dense().regularization_loss() is None
    layer = _dense(bias_regularizer={"l1": 2.0})
    with torch.no_grad():
        layer.linear.bias.fill_(-1.5)
    torch.testing.assert_close(layer.regularization_loss(), torch.tensor(3.0))


def test_unknown_regularizer_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"d.kernel_regularizer: .*unknown regularizer 'l3'"):
        parse_params(DenseParams, {"units": 1, "kernel_regularizer": "l3"}, "d")


def test_regularization_reaches_the_model_loss(tmp_path) -> None:
    from recblocks.runs import train_run

    raw = {
        "data": {"synthetic": {"num_rows": 64, "num_dense": 2, "vocab_sizes": [5], "seed": 1}},
        "features": [{"name": "I1", "kind": "dense"}, {"name": "I2", "kind": "dense"}],
        "model": {"feature_groups": [{"group_name": "all", "feature_names": ["I1", "I2"]}],
                  "backbone": {"blocks": [{"name": "d", "inputs": [{"feature_group_name": "all"}], "component": {
                      "class_name": "Dense", "params": {"units": 1, "kernel_regularizer": {"l2": 10.0}}}}],
                      "concat_blocks": ["d"]},
                  "task": {"type": "binary", "label": "label"}},
        "train": {"epochs": 1, "batch_size": 32, "progress": False},
    }
    result = train_run(raw, tmp_path / "run")
    model = result.model
    dense = next(m for m in model.modules() if isinstance(m, Dense))
    expected = 10.0 * dense.linear.weight.pow(2).sum()
    torch.testing.assert_close(model.regularization_loss(SimpleNamespace(lookups=[])), expected)


def test_shape_errors() -> None:
    with pytest.raises(ShapeError, match=r"d: input must be a single tensor; expected \(B, \.\.\., D\)"):
        Dense.from_spec(DenseParams(units=1), [TensorSpec((2,))], "d")
    layer = _dense()
    with pytest.raises(ShapeError, match="d: input width differs"):
        layer.output_spec(TensorSpec((3,)))
