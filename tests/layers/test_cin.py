"""CIN: the hand cases of components.md §2.6, a naive-loop property, split_half and shape errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ShapeError, TensorSpec
from recblocks.core.errors import ConfigError
from recblocks.core.params import parse_params
from recblocks.layers import CIN, CINParams

X = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])  # m=2, D=2


def _linear_cin(sizes: list[int], **kw: object) -> CIN:
    return CIN.from_spec(CINParams(layer_sizes=sizes, activation=None, use_bias=False, **kw), TensorSpec((2, 2)), "cin")


def test_hand_cases() -> None:
    cin = _linear_cin([1])
    with torch.no_grad():
        cin.kernels[0].fill_(1.0)
    # all W = 1: X^1 = (x1 + x2) * (x1 + x2) = [16, 36] -> sum 52
    torch.testing.assert_close(cin(X), torch.tensor([[52.0]]))
    with torch.no_grad():
        cin.kernels[0].zero_()
        cin.kernels[0][0, 0, 1] = 1.0
    # only W[0, 0, 1]: x1 * x2 = [3, 8] -> 11
    torch.testing.assert_close(cin(X), torch.tensor([[11.0]]))


def _naive(cin: CIN, x0: torch.Tensor) -> torch.Tensor:
    hidden, pooled = x0, []
    for k, kernel in enumerate(cin.kernels):
        size = kernel.shape[0]
        maps = torch.zeros(x0.shape[0], size, x0.shape[2])
        for h in range(size):
            for i in range(hidden.shape[1]):
                for j in range(x0.shape[1]):
                    maps[:, h] += kernel[h, i, j] * hidden[:, i] * x0[:, j]
        maps = torch.relu(maps + cin.biases[k][:, None])
        feed = cin.feeds[k]
        hidden, out = (maps[:, :feed], maps[:, feed:]) if feed < size else (maps, maps)
        pooled.append(out.sum(-1))
    return torch.cat(pooled, dim=-1)


@pytest.mark.parametrize("split", [False, True])
def test_equals_loops(split: bool) -> None:
    cin = CIN.from_spec(CINParams(layer_sizes=[4, 2, 3], split_half=split), TensorSpec((3, 2)))
    with torch.no_grad():
        for bias in cin.biases:
            bias.normal_()
    x = torch.randn(2, 3, 2)
    torch.testing.assert_close(cin(x), _naive(cin, x))
    width = 2 + 1 + 3 if split else 9
    assert cin.output_spec(TensorSpec((3, 2))) == TensorSpec((width,)) and cin(x).shape == (2, width)


def test_easyrec_name_and_split_half_validation() -> None:
    assert parse_params(CINParams, {"hidden_feature_sizes": [64, 64]}, "cin").layer_sizes == [64, 64]
    with pytest.raises(ConfigError, match="layer_size must be even number"):
        CIN.from_spec(CINParams(layer_sizes=[3, 2], split_half=True), TensorSpec((2, 2)), "cin")
    with pytest.raises(ConfigError, match="layer_sizes"):
        parse_params(CINParams, {"layer_sizes": []}, "cin")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TensorSpec((4,)), "cin: CIN: input must be a field list or a 3-D tensor; expected (B, F, D) or [F x (B, D)]"),
        ([TensorSpec((2,)), TensorSpec((3,))], "cin: CIN: all embedding dims must be equal"),
        ([TensorSpec((2, 2))], "cin: CIN: every field must be a 2-D tensor; expected [F x (B, D)]"),
        (TensorSpec((2, 2), "long"), "cin: CIN: field embeddings must be float tensors; expected float fields"),
    ],
)
def test_shape_errors(spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        CIN.from_spec(CINParams(layer_sizes=[2]), spec, "cin")
    assert message in str(info.value)
