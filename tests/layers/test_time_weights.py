"""TimeWeightedSequence: the softmax of the time column over valid positions scales the other columns."""

from __future__ import annotations

import pytest
import torch

from recblocks.core.errors import ShapeError
from recblocks.core.shapes import TensorSpec
from recblocks.layers.time_weights import TimeWeightedSequence, TimeWeightedSequenceParams

LONG = TensorSpec((), "long")


def test_weights_by_hand_with_the_time_column_inside():
    layer = TimeWeightedSequence.from_spec(TimeWeightedSequenceParams(time_index=1), (TensorSpec((3, 3)), LONG))
    seq = torch.tensor([[[1.0, 0.0, 2.0], [3.0, 1.0, 4.0], [9.0, 5.0, 9.0]],
                        [[1.0, 7.0, 1.0], [2.0, 0.0, 2.0], [3.0, 0.0, 3.0]]])
    out, lengths = layer((seq, torch.tensor([2, 3])))
    w0 = torch.softmax(torch.tensor([0.0, 1.0]), 0)  # row 0: position 2 is padding
    w1 = torch.softmax(torch.tensor([7.0, 0.0, 0.0]), 0)
    assert torch.allclose(out[0], torch.stack([seq[0, 0, [0, 2]] * w0[0], seq[0, 1, [0, 2]] * w0[1],
                                               torch.zeros(2)]))
    assert torch.allclose(out[1], seq[1][:, [0, 2]] * w1.unsqueeze(-1))
    assert lengths.tolist() == [2, 3]
    assert layer.output_spec((TensorSpec((3, 3)), LONG))[0] == TensorSpec((3, 2))
    empty, _ = layer((seq, torch.tensor([0, 3])))
    assert torch.equal(empty[0], torch.zeros(3, 2))  # an empty row has no weight anywhere


def test_the_time_column_must_exist_beside_another():
    with pytest.raises(ShapeError, match="time_index in \\[-1, 1\\) and D >= 2"):
        TimeWeightedSequence.from_spec(TimeWeightedSequenceParams(), (TensorSpec((3, 1)), LONG), "block 'w'")
    with pytest.raises(ShapeError, match="time_index 4"):
        TimeWeightedSequence.from_spec(TimeWeightedSequenceParams(time_index=4), (TensorSpec((3, 3)), LONG))
