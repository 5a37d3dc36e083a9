"""Cross (DCN-v2) and CrossNet (DCN-v1): the hand cases of components.md §2.3-2.4, errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ConfigError, ShapeError, TensorSpec, parse_params
from recblocks.layers import Cross, CrossNet, CrossNetParams, CrossParams

X0 = torch.tensor([[1.0, 2.0]])


def cross(where: str = "cross", spec: object = TensorSpec((2,)), **params) -> Cross:
    return Cross.from_spec(parse_params(CrossParams, params, where), spec, where)


def identity_cross(**params) -> Cross:
    layer = cross(**params)
    with torch.no_grad():
        layer.dense.weight.copy_(torch.eye(2))
        if layer.project is not None:
            layer.project.weight.copy_(torch.eye(2))
    return layer


def test_two_stacked_layers_hand_case() -> None:
    first, second = identity_cross(), identity_cross()
    x1 = first(X0)
    torch.testing.assert_close(x1, torch.tensor([[2.0, 6.0]]))
    torch.testing.assert_close(first([X0, X0]), x1)
    torch.testing.assert_close(second([X0, x1]), torch.tensor([[4.0, 18.0]]))


def test_low_rank_and_diag_scale() -> None:
    torch.testing.assert_close(identity_cross(projection_dim=2)(X0), torch.tensor([[2.0, 6.0]]))
    layer = cross(diag_scale=1.0)
    with torch.no_grad():
        layer.dense.weight.zero_()
    torch.testing.assert_close(layer(X0), torch.tensor([[2.0, 6.0]]))  # (0 + I) x
    assert cross(projection_dim=1.0, spec=TensorSpec((6,))).project.weight.shape == (1, 6)


def test_preactivation_and_bias_inside_the_product() -> None:
    layer = cross(preactivation="relu")
    with torch.no_grad():
        layer.dense.weight.copy_(-torch.eye(2))
        layer.dense.bias.copy_(torch.tensor([0.0, 1.0]))
    # p = relu(-x + b) = [0, 0] -> output x
    torch.testing.assert_close(layer(X0), X0)
    with torch.no_grad():
        layer.dense.weight.zero_()
    torch.testing.assert_close(layer(X0), torch.tensor([[1.0, 4.0]]))  # x0 * [0, 1] + x


def test_default_initialization() -> None:
    torch.manual_seed(0)
    layer = cross(spec=TensorSpec((64,)))
    assert float(layer.dense.weight.detach().abs().max()) <= 0.1 + 1e-6  # truncated normal, std 0.05
    assert float(layer.dense.bias.detach().abs().sum()) == 0.0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"diag_scale": -0.1}, "cross.diag_scale: diag_scale should be non-negative"),
        ({"projection_dim": 0}, "cross.projection_dim: projection_dim must be positive"),
        ({"preactivation": "rel"}, "cross.preactivation: unknown activation"),
        ({"kernel_initializer": "truncnormal"}, "cross.kernel_initializer: unknown initializer"),
    ],
)
def test_cross_config_errors(params: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        cross(**params)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([TensorSpec((2,)), TensorSpec((3,))], "cross: x0 and xi must have the same shape"),
        ([TensorSpec((2,))] * 3, "cross: a list input must be the pair [x0, xi]"),
        ([TensorSpec((2,)), TensorSpec((4, 2))], "x0 and xi must have the same shape"),
        (TensorSpec(()), "cross: input has too few axes"),
    ],
)
def test_cross_shape_errors(spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        Cross.from_spec(CrossParams(), spec, "cross")
    assert message in str(info.value)


def test_output_spec_checks_the_built_width() -> None:
    layer = cross()
    with pytest.raises(ShapeError, match="cross: xi width differs from the one this layer was built for"):
        layer.output_spec([TensorSpec((2,)), TensorSpec((3,))])


def crossnet(num_layers: int) -> CrossNet:
    net = CrossNet.from_spec(CrossNetParams(num_layers=num_layers), TensorSpec((2,)), "net")
    with torch.no_grad():
        net.kernels.fill_(1.0)
    return net


def test_crossnet_hand_cases() -> None:
    torch.testing.assert_close(crossnet(1)(X0), torch.tensor([[4.0, 8.0]]))
    torch.testing.assert_close(crossnet(2)(X0), torch.tensor([[16.0, 32.0]]))
    net = crossnet(1)
    with torch.no_grad():
        net.biases.fill_(0.5)
    torch.testing.assert_close(net(X0), torch.tensor([[4.5, 8.5]]))


def test_crossnet_defaults_and_errors() -> None:
    net = CrossNet.from_spec(CrossNetParams(), TensorSpec((8,)))
    assert net.kernels.shape == (3, 8) and float(net.biases.detach().abs().sum()) == 0.0
    assert net(torch.randn(4, 5, 8)).shape == (4, 5, 8)
    with pytest.raises(ConfigError, match="net.num_layers: num_layers must be positive"):
        CrossNet.from_spec(CrossNetParams(num_layers=0), TensorSpec((2,)), "net")
    with pytest.raises(ShapeError, match="net: input must be a single tensor"):
        CrossNet.from_spec(CrossNetParams(), [TensorSpec((2,))], "net")
