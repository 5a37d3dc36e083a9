"""The activation and initializer factory: names, TF spellings, Keras semantics, errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from recblocks.core import ConfigError
from recblocks.layers.activations import (
    ACTIVATIONS,
    INITIALIZERS,
    Dice,
    activation_key,
    initialize,
    initializer_key,
    make_activation,
)


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("relu", nn.ReLU), ("tf.nn.relu", nn.ReLU), ("ReLU", nn.ReLU), ("sigmoid", nn.Sigmoid),
        ("tf.sigmoid", nn.Sigmoid), ("tanh", nn.Tanh), ("tf.nn.tanh", nn.Tanh), (None, nn.Identity),
        ("linear", nn.Identity), ("identity", nn.Identity), ("None", nn.Identity), ("leaky_relu", nn.LeakyReLU),
        ("tf.nn.leaky_relu", nn.LeakyReLU), ("LeakyReLU", nn.LeakyReLU), ("gelu", nn.GELU), ("tf.nn.gelu", nn.GELU),
        ("swish", nn.SiLU), ("silu", nn.SiLU), ("tf.nn.swish", nn.SiLU), ("softmax", nn.Softmax), ("elu", nn.ELU),
        ("selu", nn.SELU), ("tf.keras.activations.selu", nn.SELU), ("relu6", nn.ReLU6),
    ],
)
def test_names_and_tf_spellings(name: str | None, module: type) -> None:
    assert type(make_activation(name)) is module


def test_every_canonical_name_builds() -> None:
    for name in ACTIVATIONS:
        act = make_activation(name, width=3)
        assert act(torch.randn(4, 3)).shape == (4, 3)


def test_keras_semantics() -> None:
    x = torch.tensor([[-1.0, 2.0]])
    torch.testing.assert_close(make_activation("leaky_relu")(x), torch.tensor([[-0.2, 2.0]]))
    prelu = make_activation("prelu", width=2)
    assert prelu.weight.shape == (2,) and float(prelu.weight.detach().abs().sum()) == 0.0
    torch.testing.assert_close(make_activation("softmax")(torch.zeros(1, 4)), torch.full((1, 4), 0.25))
    torch.testing.assert_close(make_activation("gelu")(torch.tensor([1.0])), torch.tensor([0.8413447]))


def test_dice_starts_as_a_sigmoid_gated_identity() -> None:
    dice = make_activation("dice", width=2)
    assert isinstance(dice, Dice)
    dice.eval()  # running mean 0, var 1: p = sigmoid(x / sqrt(1 + 1e-9))
    x = torch.tensor([[1.0, -1.0]])
    torch.testing.assert_close(dice(x), x * torch.sigmoid(x))
    assert dice(torch.randn(3, 5, 2)).shape == (3, 5, 2)


def test_unknown_activation_suggests() -> None:
    with pytest.raises(ConfigError) as info:
        activation_key("tf.nn.rleu", "blocks[1].activation")
    text = str(info.value)
    assert text.startswith("blocks[1].activation: unknown activation") and "did you mean 'relu'" in text
    with pytest.raises(ConfigError, match="needs the input width"):
        make_activation("prelu", "blk")
    with pytest.raises(ConfigError, match="activation must be a name"):
        activation_key(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "key"),
    [("HeUniform", "he_uniform"), ("tf.keras.initializers.GlorotNormal", "glorot_normal"),
     ("xavier_uniform", "glorot_uniform"), ("TruncatedNormal", "truncated_normal"), ("RandomNormal", "normal"),
     ("random_uniform", "uniform"), ("Zeros", "zeros"), ("ones", "ones")],
)
def test_initializer_spellings(name: str, key: str) -> None:
    assert initializer_key(name) == key


def test_initializer_ranges_follow_keras() -> None:
    torch.manual_seed(0)
    w = initialize(torch.empty(300, 200), "he_uniform")  # torch layout (out, in): fan_in 200
    assert float(w.abs().max()) <= math.sqrt(6 / 200) and float(w.abs().max()) > 0.9 * math.sqrt(6 / 200)
    w = initialize(torch.empty(300, 200), "glorot_uniform")
    assert float(w.abs().max()) <= math.sqrt(6 / 500)
    w = initialize(torch.empty(300, 200), "he_normal")
    std = math.sqrt(2 / 200) / 0.87962566103423978
    assert float(w.abs().max()) <= 2 * std + 1e-6
    assert float(w.std()) == pytest.approx(math.sqrt(2 / 200), rel=0.05)
    w = initialize(torch.empty(300, 200), "truncated_normal")
    assert float(w.abs().max()) <= 0.1 + 1e-6 and float(w.std()) == pytest.approx(0.05 * 0.8796, rel=0.05)
    assert float(initialize(torch.empty(300, 200), "normal").std()) == pytest.approx(0.05, rel=0.05)
    assert float(initialize(torch.empty(300, 200), "uniform").abs().max()) <= 0.05
    assert float(initialize(torch.empty(3), "ones").sum()) == 3.0
    assert float(initialize(torch.ones(3), "zeros").abs().sum()) == 0.0
    v = initialize(torch.empty(10000), "glorot_normal", fan_in=50, fan_out=1)
    assert float(v.std()) == pytest.approx(math.sqrt(2 / 51), rel=0.05)
    assert set(INITIALIZERS) >= {"he_uniform", "he_normal", "glorot_uniform", "glorot_normal", "truncated_normal",
                                 "zeros", "ones", "normal", "uniform"}


def test_unknown_initializer_suggests() -> None:
    with pytest.raises(ConfigError) as info:
        initialize(torch.empty(2, 2), "glorot_unifrom", "blk.kernel_initializer")
    assert str(info.value).startswith("blk.kernel_initializer: unknown initializer")
    assert "did you mean 'glorot_uniform'" in str(info.value)
