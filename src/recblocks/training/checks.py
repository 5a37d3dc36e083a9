"""Checks the trainer runs once, on the first batch, before any weight changes."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from recblocks.core.errors import DataError, ShapeError
from recblocks.training.errors import NonFiniteLossError

__all__ = ["check_batch", "check_extras", "check_outputs", "check_first_loss"]


def check_batch(tasks: Sequence[Any], batch: Any, where: str = "train batch") -> None:
    """Every task's label column is in ``batch.labels`` and fits the task (dtype, range)."""
    if not getattr(batch, "features", None):
        raise DataError(where, "the batch has no features", "a Batch with feature tensors",
                        type(batch).__name__)
    labels = batch.labels
    for task in tasks:
        if task.label not in labels:
            raise DataError(f"task '{task.name}'.label", f"label column missing from the {where}",
                            f"one of {sorted(labels)}", repr(task.label), choices=list(labels))
        check = getattr(task, "check_labels", None)
        if check is not None:
            check(labels[task.label], f"label '{task.label}'")


def check_extras(batch: Any, names: Sequence[str], where: str) -> None:
    """Every column in ``names`` is in ``batch.extras``."""
    for name in names:
        if name not in batch.extras:
            raise DataError(where, f"extras column '{name}' missing from the batch",
                            f"one of {sorted(batch.extras)}", repr(name), choices=list(batch.extras))


def check_outputs(tasks: Sequence[Any], outputs: Any, batch_size: int) -> None:
    """The model returned ``{task name: logits}`` with the shapes the tasks expect."""
    if not isinstance(outputs, Mapping):
        raise ShapeError("model output", "forward must return a dict of task name -> logits", "a dict",
                         type(outputs).__name__)
    for task in tasks:
        if task.name not in outputs:
            raise ShapeError("model output", f"no logits for task '{task.name}'", f"keys including '{task.name}'",
                             repr(task.name), choices=list(outputs))
        check = getattr(task, "check_logits", None)
        if check is not None:
            check(outputs[task.name], batch_size, f"model output '{task.name}'")


def check_first_loss(loss: torch.Tensor, regularization: Any, step: int, epoch: int) -> None:
    """The first loss is a finite scalar and the regularization loss is a scalar."""
    if isinstance(regularization, torch.Tensor) and regularization.dim() != 0:
        raise ShapeError("model.regularization_loss()", "must return a scalar", "shape ()",
                         str(tuple(regularization.shape)))
    if loss.dim() != 0:
        raise ShapeError("training loss", "the loss must be a scalar", "shape ()", str(tuple(loss.shape)))
    value = float(loss.detach())
    if not math.isfinite(value):
        raise NonFiniteLossError(step, epoch, value)
