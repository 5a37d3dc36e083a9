"""CAN: the hand case of components.md §2.13, every user layout, and its shape errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ShapeError, TensorSpec
from recblocks.layers import CAN, CANParams


def test_hand_case() -> None:
    can = CAN.from_spec(CANParams(layer_num=1, is_stacked=False), [TensorSpec((2,)), TensorSpec((6,))], "can")
    out = can([torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 0.0, 0.0, 1.0, 0.5, -5.0]])])
    torch.testing.assert_close(out, torch.tensor([[1.5, 0.0]]))  # [1, 2] I + [0.5, -5] = [1.5, -3] -> relu


def _naive(user_rows: torch.Tensor, item: torch.Tensor, layers: int, d: int) -> torch.Tensor:
    """One sample: every user row through the item's MLP, row by row."""
    out = []
    for row in user_rows:
        h = row
        for layer in range(layers):
            w = item[layer * (d * d + d): layer * (d * d + d) + d * d].reshape(d, d)
            b = item[layer * (d * d + d) + d * d: (layer + 1) * (d * d + d)]
            h = torch.tanh(h @ w + b)
        out.append(h)
    return torch.stack(out)


@pytest.mark.parametrize(("is_seq", "is_stacked", "user_shape", "out_shape"), [
    (False, True, (2, 3, 2), (2, 3, 2)),
    (True, True, (2, 3, 4, 2), (2, 3, 2)),
    (True, False, (2, 4, 2), (2, 2)),
    (False, False, (2, 2), (2, 2)),
])
def test_every_user_layout_matches_a_naive_loop(is_seq: bool, is_stacked: bool, user_shape: tuple,
                                                 out_shape: tuple) -> None:
    user, item = torch.randn(user_shape), torch.randn(2, 2 * 6)
    params = CANParams(is_seq=is_seq, is_stacked=is_stacked, activation="tanh")
    can = CAN.from_spec(params, [TensorSpec(user_shape[1:]), TensorSpec((12,))], "can")
    out = can([user, item])
    assert out.shape == out_shape and can.output_spec([TensorSpec(user_shape[1:]), TensorSpec((12,))]).shape == \
        out_shape[1:]
    for sample in range(2):
        rows = _naive(user[sample].reshape(-1, 2), item[sample], 2, 2).reshape(user_shape[1:])
        expected = rows.sum(dim=-2) if is_seq else rows
        torch.testing.assert_close(out[sample], expected)


@pytest.mark.parametrize(("params", "spec", "message"), [
    ({}, TensorSpec((3, 2)), "CAN: input must be a list of 2 values"),
    ({}, [TensorSpec((3, 2)), TensorSpec((11,))], "the item width must be layer_num * d * (d + 1) = 2 * 2 * 3"),
    ({}, [TensorSpec((2,)), TensorSpec((12,))], "the user input has the wrong shape (is_seq=False, is_stacked=True)"),
    ({"is_seq": True}, [TensorSpec((3, 2)), TensorSpec((12,))], "the user input has the wrong shape"),
    ({}, [TensorSpec((3, 2)), TensorSpec((3, 4))], "the item input has the wrong shape"),
])
def test_shape_errors_name_block_component_and_layout(params: dict, spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        CAN.from_spec(CANParams(**params), spec, "can")
    text = str(info.value)
    assert text.startswith("can: CAN: ") and message in text
