"""BatchNormalization / LayerNormalization: Keras defaults converted to torch, hand cases."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ConfigError, TensorSpec, parse_params
from recblocks.layers import (
    BatchNormalization,
    BatchNormalizationParams,
    LayerNormalization,
    LayerNormalizationParams,
)


def test_batch_norm_keras_defaults() -> None:
    bn = BatchNormalization.from_spec(BatchNormalizationParams(), TensorSpec((2,)), "bn")
    assert bn.bn.eps == pytest.approx(1e-3) and bn.bn.momentum == pytest.approx(0.01)
    x = torch.tensor([[1.0, 2.0], [3.0, 6.0]])
    bn.train()(x)
    # Keras momentum 0.99: running = 0.99 * 0 + 0.01 * batch mean
    torch.testing.assert_close(bn.bn.running_mean, torch.tensor([0.02, 0.04]))
    bn.eval()
    bn.bn.running_mean.zero_()
    bn.bn.running_var.fill_(1.0)
    torch.testing.assert_close(bn(torch.tensor([[1.0, -2.0]])), torch.tensor([[0.9995004, -1.9990008]]))


def test_batch_norm_on_3d_input_uses_every_position() -> None:
    bn = BatchNormalization.from_spec(BatchNormalizationParams(epsilon=1e-6), TensorSpec((3, 2)))
    x = torch.randn(4, 3, 2)
    out = bn.train()(x)
    flat = out.reshape(-1, 2)
    torch.testing.assert_close(flat.mean(0), torch.zeros(2), atol=1e-5, rtol=0)


def test_center_and_scale_freeze_parameters() -> None:
    bn = BatchNormalization.from_spec(BatchNormalizationParams(center=False), TensorSpec((2,)))
    assert bn.bn.weight.requires_grad and not bn.bn.bias.requires_grad
    ln = LayerNormalization.from_spec(LayerNormalizationParams(scale=False), TensorSpec((2,)))
    assert not ln.norm.weight.requires_grad and ln.norm.bias.requires_grad


def test_layer_norm_hand_case() -> None:
    ln = LayerNormalization.from_spec(LayerNormalizationParams(), TensorSpec((2,)))
    assert ln.norm.eps == pytest.approx(1e-3)
    # mean 2, variance 1: (x - 2) / sqrt(1 + 1e-3)
    torch.testing.assert_close(ln(torch.tensor([[1.0, 3.0]])), torch.tensor([[-0.9995004, 0.9995004]]))


@pytest.mark.parametrize(
    ("cls", "params", "message"),
    [
        (BatchNormalizationParams, {"momentum": 1.0}, "bn.momentum: invalid Keras momentum"),
        (BatchNormalizationParams, {"epsilon": 0.0}, "bn.epsilon: epsilon must be positive"),
        (LayerNormalizationParams, {"epsilon": -1.0}, "bn.epsilon: epsilon must be positive"),
        (BatchNormalizationParams, {"axis": 1}, "bn.axis: unknown parameter"),
    ],
)
def test_errors(cls: type, params: dict, message: str) -> None:
    component = BatchNormalization if cls is BatchNormalizationParams else LayerNormalization
    with pytest.raises(ConfigError) as info:
        component.from_spec(parse_params(cls, params, "bn"), TensorSpec((2,)), "bn")
    assert message in str(info.value)
