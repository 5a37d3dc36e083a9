"""DotInteraction: the pair orders of components.md §2.2, skip_gather, errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ConfigError, ShapeError, TensorSpec, parse_params
from recblocks.layers import DotInteraction, DotInteractionParams

X = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]]])
GRAM = X[0] @ X[0].T


def build(spec: object = TensorSpec((4, 2)), where: str = "dot", **params) -> DotInteraction:
    return DotInteraction.from_spec(parse_params(DotInteractionParams, params, where), spec, where)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [0, 1, 2, 1, 0, 2]),
        ({"order": "tril_row"}, [0, 1, 1, 2, 0, 2]),
        ({"self_interaction": True}, [1, 0, 1, 2, 1, 1, 0, 2, 2, 4]),
        ({"self_interaction": True, "order": "tril_row"}, [1, 0, 1, 1, 1, 2, 2, 0, 2, 4]),
    ],
)
def test_hand_cases(params: dict, expected: list[int]) -> None:
    dot = build(**params)
    torch.testing.assert_close(dot(X), torch.tensor([expected], dtype=torch.float32))
    assert dot.output_spec(TensorSpec((4, 2))) == TensorSpec((len(expected),))


def test_field_list_equals_stacked_input() -> None:
    fields = [TensorSpec((2,))] * 4
    dot = build(fields)
    torch.testing.assert_close(dot(list(X.unbind(1))), dot(X))
    x = torch.randn(5, 4, 2)
    expected = torch.stack([torch.stack([x[b, i] @ x[b, j] for i in range(4) for j in range(i + 1, 4)])
                            for b in range(5)])
    torch.testing.assert_close(dot(x), expected)


def test_skip_gather_masks_the_other_triangle() -> None:
    triu = build(skip_gather=True)(X).reshape(4, 4)
    torch.testing.assert_close(triu, torch.triu(GRAM, diagonal=1))
    tril = build(skip_gather=True, order="tril_row", self_interaction=True)(X).reshape(4, 4)
    torch.testing.assert_close(tril, torch.tril(GRAM))
    assert build(skip_gather=True).output_spec(TensorSpec((4, 2))) == TensorSpec((16,))


def test_indices_are_non_persistent_buffers() -> None:
    dot = build()
    assert dot.state_dict() == {} and dot.flat_index.tolist() == [1, 2, 3, 6, 7, 11]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([TensorSpec((2,)), TensorSpec((3,))], "dot: all embedding dims must be equal"),
        ([TensorSpec((2,))], "dot: too few fields"),
        (TensorSpec((4,)), "dot: input must be a field list or a 3-D tensor"),
        (TensorSpec((3, 2), "long"), "dot: fields must be float tensors"),
    ],
)
def test_shape_errors(spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        build(spec)
    assert message in str(info.value)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="dot.order"):
        parse_params(DotInteractionParams, {"order": "triu"}, "dot")
    with pytest.raises(ShapeError, match="number of fields differs"):
        build().output_spec(TensorSpec((3, 2)))
