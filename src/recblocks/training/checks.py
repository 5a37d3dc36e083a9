"""Checks the trainer runs once, on the first batch, before any weight changes."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from recblocks.core.errors import ConfigError, DataError, ShapeError
from recblocks.training.errors import NonFiniteLossError

__all__ = ["check_batch", "check_extras", "check_outputs", "check_first_loss", "has_batch_norm",
           "check_batch_norm_rows", "non_finite_rows"]

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


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


def check_first_loss(loss: torch.Tensor, regularization: Any, step: int, epoch: int, batch: Any = None,
                     outputs: Mapping[str, torch.Tensor] | None = None) -> float:
    """The first loss is a finite scalar and the regularization loss is a scalar; returns its value.

    When the loss is not finite, the error names the first cause found: a feature of
    ``batch`` whose inputs are NaN/inf (with the count and the first row of the batch), a
    model output that is NaN/inf, or a non-finite regularization loss.
    """
    if isinstance(regularization, torch.Tensor) and regularization.dim() != 0:
        raise ShapeError("model.regularization_loss()", "must return a scalar", "shape ()",
                         str(tuple(regularization.shape)))
    if loss.dim() != 0:
        raise ShapeError("training loss", "the loss must be a scalar", "shape ()", str(tuple(loss.shape)))
    value = float(loss.detach())
    if not math.isfinite(value):
        raise NonFiniteLossError(step, epoch, value, _non_finite_cause(batch, outputs, regularization))
    return value


def _non_finite_cause(batch: Any, outputs: Mapping[str, torch.Tensor] | None, regularization: Any) -> str | None:
    for name, tensor in (getattr(batch, "features", None) or {}).items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
            count, first = non_finite_rows(tensor)
            if count:
                return f"feature '{name}' has NaN/inf inputs in {count} rows of the batch, first at batch row {first}"
    for name, tensor in (outputs or {}).items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
            count, first = non_finite_rows(tensor.detach())
            if count:
                return (f"model output '{name}' is NaN/inf for {count} rows of the batch (first at batch row {first}) "
                        "although every input is finite")
    if isinstance(regularization, torch.Tensor) and not bool(torch.isfinite(regularization.detach()).all()):
        return "the regularization loss is not finite"
    return None


def non_finite_rows(values: torch.Tensor) -> tuple[int, int]:
    """``(rows holding NaN/inf, 1-based index of the first such row)`` of a (B,) or (B, ...) tensor;
    ``(0, 0)`` when every value is finite."""
    bad = ~torch.isfinite(values)
    if bad.dim() > 1:
        bad = bad.flatten(1).any(dim=1)
    count = int(bad.sum())
    return (count, int(bad.nonzero()[0, 0]) + 1) if count else (0, 0)


def has_batch_norm(model: nn.Module) -> bool:
    """Whether ``model`` holds a torch batch-norm layer (which needs 2+ rows per training batch)."""
    return any(isinstance(module, _BATCH_NORMS) for module in model.modules())


def check_batch_norm_rows(rows: int, batch_size: int | None, step: int, epoch: int) -> None:
    """Refuse a training batch of one row for a model with batch norm (torch would raise mid-epoch).

    Loaders never cut a last batch of one row (it joins the batch before it), so this is hit
    only by ``batch_size: 1`` or by a training set of one row.
    """
    if rows >= 2:
        return
    if batch_size == 1:
        raise ConfigError("train.batch_size", "batch norm cannot train on batches of one row",
                          "batch_size >= 2 for a model with batch norm (use_bn, BatchNormalization)", 1)
    raise DataError(f"training data (train step {step}, epoch {epoch + 1})",
                    f"a training batch of {rows} row; batch norm cannot normalise a single row in training mode "
                    "(only a training set of one row gives such a batch)",
                    "at least 2 training rows for a model with batch norm (use_bn, BatchNormalization)",
                    f"{rows} row")
