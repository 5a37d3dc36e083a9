"""FM: the hand case of components.md §2.1 and its shape errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ShapeError, TensorSpec
from recblocks.layers import FM, FMParams

E1, E2 = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 4.0]])


def test_hand_case() -> None:
    fm = FM.from_spec(FMParams(), [TensorSpec((2,))] * 2, "fm")
    torch.testing.assert_close(fm([E1, E2]), torch.tensor([[11.0]]))
    variant = FM.from_spec(FMParams(use_variant=True), TensorSpec((2, 2)), "fm")
    torch.testing.assert_close(variant(torch.stack([E1, E2], dim=1)), torch.tensor([[3.0, 8.0]]))
    assert variant.output_spec(TensorSpec((2, 2))) == TensorSpec((2,))


def test_equals_the_sum_of_pairwise_products() -> None:
    x = torch.randn(3, 5, 4)
    expected = sum((x[:, i] * x[:, j]).sum(-1, keepdim=True) for i in range(5) for j in range(i + 1, 5))
    fm = FM.from_spec(FMParams(), TensorSpec((5, 4)))
    torch.testing.assert_close(fm(x), expected)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([TensorSpec((2,)), TensorSpec((3,))], "fm: all embedding dims must be equal"),
        (TensorSpec((4,)), "fm: input must be a field list or a 3-D tensor"),
        ([TensorSpec((2,))], "fm: too few fields"),
    ],
)
def test_shape_errors(spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        FM.from_spec(FMParams(), spec, "fm")
    assert message in str(info.value)
