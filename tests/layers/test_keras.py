"""Keras-named primitives: hand cases, Keras defaults and axis rules, errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import COMPONENTS, ConfigError, ShapeError, TensorSpec, parse_params
from recblocks.layers import (
    Activation,
    Add,
    Concatenate,
    Dense,
    Dropout,
    Flatten,
)

T = TensorSpec


def build(name: str, params: dict, spec: object, where: str = "blk"):
    entry = COMPONENTS.get(name)
    return entry.cls.from_spec(parse_params(entry.params, params, where), spec, where)


def test_dense_hand_case() -> None:
    dense = build("Dense", {"units": 2, "activation": "relu"}, T((2,)))
    with torch.no_grad():
        dense.linear.weight.copy_(torch.tensor([[1.0, 2.0], [-3.0, 0.0]]))  # (out, in)
        dense.linear.bias.copy_(torch.tensor([0.5, 0.0]))
    out = dense(torch.tensor([[1.0, 1.0]]))
    torch.testing.assert_close(out, torch.tensor([[3.5, 0.0]]))
    assert dense.output_spec(T((5, 2))) == T((5, 2))


def test_dense_keras_defaults_and_struct_numbers() -> None:
    dense = build("Dense", {"units": 64.0}, T((32,)))
    assert isinstance(dense, Dense) and dense.linear.out_features == 64
    assert float(dense.linear.weight.detach().abs().max()) <= (6 / 96) ** 0.5  # glorot_uniform
    assert float(dense.linear.bias.detach().abs().sum()) == 0.0
    assert dense.to_config() == {"class_name": "Dense", "params": {"units": 64}}


def test_dense_errors() -> None:
    with pytest.raises(ConfigError, match="blk.units: units must be positive"):
        build("Dense", {"units": 0}, T((2,)))
    with pytest.raises(ConfigError, match="blk.units: required parameter is missing"):
        build("Dense", {}, T((2,)))
    with pytest.raises(ConfigError, match="blk.bias_initializer: unknown initializer"):
        build("Dense", {"units": 1, "use_bias": False, "bias_initializer": "zeroes"}, T((2,)))
    with pytest.raises(ShapeError, match="blk: input has too few axes"):
        build("Dense", {"units": 1}, T(()))


def test_dropout() -> None:
    drop = build("Dropout", {"rate": 0.5}, T((1000,)))
    assert isinstance(drop, Dropout)
    out = drop.train()(torch.ones(2, 1000))
    assert set(out.unique().tolist()) <= {0.0, 2.0} and 0 < int((out == 0).sum()) < 2000
    torch.testing.assert_close(drop.eval()(torch.ones(2, 1000)), torch.ones(2, 1000))
    with pytest.raises(ConfigError, match=r"blk.rate: invalid dropout rate; expected a value in \[0, 1\), got 1.0"):
        build("Dropout", {"rate": 1.0}, T((3,)))


def test_dropout_with_a_row_mask_keeps_or_drops_whole_rows() -> None:
    drop = build("Dropout", {"rate": 0.5, "noise_shape": [None, 1]}, T((4,)))
    torch.manual_seed(0)
    out = drop.train()(torch.ones(200, 4))
    rows = out.unique(dim=0).tolist()
    assert sorted(rows) == [[0.0] * 4, [2.0] * 4]  # each row all dropped or all kept (scaled by 1 / keep)
    torch.testing.assert_close(drop.eval()(torch.ones(3, 4)), torch.ones(3, 4))
    with pytest.raises(ConfigError, match=r"blk.noise_shape: the mask shape holds the batch axis"):
        build("Dropout", {"rate": 0.5, "noise_shape": [None, 3]}, T((4,)))
    with pytest.raises(ShapeError, match=r"noise_shape: the mask shape needs one entry per input axis"):
        build("Dropout", {"rate": 0.5, "noise_shape": [None, 1, 1]}, T((4,))).train()(torch.ones(2, 4))


def test_activation_and_flatten() -> None:
    act = build("Activation", {"activation": "sigmoid"}, T((2,)))
    assert isinstance(act, Activation)
    torch.testing.assert_close(act(torch.zeros(1, 2)), torch.full((1, 2), 0.5))
    with pytest.raises(ConfigError, match="blk.activation: unknown activation"):
        build("Activation", {"activation": "sigmoidd"}, T((2,)))
    flat = build("Flatten", {}, T((2, 3)))
    assert isinstance(flat, Flatten)
    x = torch.arange(12.0).reshape(2, 2, 3)
    torch.testing.assert_close(flat(x), x.reshape(2, 6))
    assert flat.output_spec(T((2, 3))) == T((6,)) and flat.output_spec(T((), "long")) == T((1,), "long")


def test_add_hand_cases() -> None:
    add = build("Add", {}, [T((1,)), T((1,))])
    assert isinstance(add, Add)
    out = add([torch.tensor([[1.0], [2.0]]), torch.tensor([[0.5], [-2.0]])])
    torch.testing.assert_close(out, torch.tensor([[1.5], [0.0]]))
    add = build("Add", {}, [T((1,)), T((3,))])
    assert add.output_spec([T((1,)), T((3,))]) == T((3,))
    torch.testing.assert_close(add([torch.ones(1, 1), torch.tensor([[1.0, 2.0, 3.0]])]),
                               torch.tensor([[2.0, 3.0, 4.0]]))


def test_add_errors() -> None:
    with pytest.raises(ShapeError, match="blk: inputs to add have incompatible shapes"):
        build("Add", {}, [T((2,)), T((3,))])
    with pytest.raises(ShapeError, match="set merge_inputs_into_list"):
        build("Add", {}, T((2,)))
    with pytest.raises(ShapeError, match="same rank"):
        build("Add", {}, [T((2,)), T((1, 2))])


def test_concatenate_axes() -> None:
    cat = build("Concatenate", {}, [T((1,)), T((2,))])
    assert isinstance(cat, Concatenate)
    torch.testing.assert_close(cat([torch.tensor([[1.0]]), torch.tensor([[2.0, 3.0]])]), torch.tensor([[1.0, 2.0, 3.0]]))
    cat = build("Concatenate", {"axis": 1}, [T((2, 4)), T((3, 4))])
    assert cat.output_spec([T((2, 4)), T((3, 4))]) == T((5, 4))
    assert cat([torch.zeros(2, 2, 4), torch.ones(2, 3, 4)]).shape == (2, 5, 4)


def test_concatenate_errors() -> None:
    with pytest.raises(ConfigError, match="blk.axis: axis out of range"):
        build("Concatenate", {"axis": 0}, [T((1,)), T((2,))])
    with pytest.raises(ShapeError, match="blk: inputs differ on an axis other than the concat axis -1"):
        build("Concatenate", {}, [T((2, 1)), T((3, 1))])
    with pytest.raises(ShapeError, match="every input must be a float tensor"):
        build("Concatenate", {}, [T((1,)), T((1,), "long")])
