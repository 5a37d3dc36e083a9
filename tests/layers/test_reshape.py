"""Reshape and Permute (Keras): values by hand, the -1 rule and shape errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ShapeError, TensorSpec
from recblocks.layers import Permute, PermuteParams, Reshape, ReshapeParams


def test_reshape_by_hand_and_inferred_axis() -> None:
    layer = Reshape.from_spec(ReshapeParams(target_shape=[3, -1]), TensorSpec((2, 3)), "r")
    assert layer.output_spec(TensorSpec((2, 3))) == TensorSpec((3, 2))
    x = torch.arange(6.0).reshape(1, 2, 3)
    assert layer(x).tolist() == [[[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]]  # row-major, as Keras


@pytest.mark.parametrize("target", [[4], [-1, -1], [4, -1], [0, 6]])
def test_reshape_errors(target: list[int]) -> None:
    with pytest.raises(ShapeError) as info:
        Reshape.from_spec(ReshapeParams(target_shape=target), TensorSpec((6,)), "r")
    assert "r.target_shape: Reshape target_shape does not hold the input's values; expected a shape of 6 values" in \
        str(info.value)


def test_permute_by_hand() -> None:
    layer = Permute.from_spec(PermuteParams(dims=[2, 1]), TensorSpec((2, 3)), "p")
    x = torch.arange(6.0).reshape(1, 2, 3)
    assert layer(x).tolist() == [[[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]]
    assert layer.output_spec(TensorSpec((2, 3))) == TensorSpec((3, 2))


@pytest.mark.parametrize(("cls", "params", "spec", "message"), [
    (Permute, PermuteParams(dims=[1, 1]), TensorSpec((2, 3)), "p.dims: Permute dims must order every non-batch axis"),
    (Permute, PermuteParams(dims=[2, 1]), TensorSpec((2, 3, 4)), "expected a permutation of [1, 2, 3]"),
    (Permute, PermuteParams(dims=[1]), [TensorSpec((2,))], "p: Permute takes one tensor; expected (B, ...)"),
    (Reshape, ReshapeParams(target_shape=[2]), [TensorSpec((2,))], "p: Reshape takes one tensor; expected (B, ...)"),
])
def test_shape_errors(cls: type, params: object, spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        cls.from_spec(params, spec, "p")
    assert message in str(info.value)
