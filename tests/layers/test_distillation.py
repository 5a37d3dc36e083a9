"""FeatureDistillation: the two similarities, the teacher gets no gradient, training only, errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ShapeError, TensorSpec
from recblocks.core.context import ForwardContext
from recblocks.layers import FeatureDistillation, FeatureDistillationParams
from recblocks.layers.distillation import hidden_similarity


def test_similarities_by_hand() -> None:
    t = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    s = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    assert float(hidden_similarity(t, s, "cosine")) == pytest.approx(0.5)  # cos 1 and cos 0
    assert float(hidden_similarity(t, s, "euclid")) == pytest.approx(8 ** 0.5)  # 2^2 + 2^2 over the batch


def test_teacher_is_detached_and_loss_weighted() -> None:
    fd = FeatureDistillation.from_spec(FeatureDistillationParams(loss_name="sim"), [TensorSpec((2,))] * 2, "fd")
    teacher = torch.tensor([[0.0, 0.0]], requires_grad=True)
    student = torch.tensor([[3.0, 4.0]], requires_grad=True)
    context = ForwardContext(training=True)
    out = fd([teacher, student], context)
    value, weight = context.losses["sim"]
    assert float(value.detach()) == 5.0 and weight == -0.1 and float(out[0, 0].detach()) == pytest.approx(-0.5)
    (value * weight).backward()
    assert teacher.grad is None and student.grad is not None
    eval_context = ForwardContext(training=False)
    assert float(fd([teacher, student], eval_context).abs().sum()) == 0.0 and not eval_context.losses


def test_widths_must_match() -> None:
    with pytest.raises(ShapeError, match="one width"):
        FeatureDistillation.from_spec(FeatureDistillationParams(), [TensorSpec((2,)), TensorSpec((3,))], "fd")
