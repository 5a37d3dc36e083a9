"""Checks the trainer runs once, on the first batch, before any weight changes (the model's own
checks of its batch and outputs are ``model.check_batch`` / ``model.check_outputs``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from recblocks.core.context import LossTerms
from recblocks.core.errors import ConfigError, DataError, ShapeError
from recblocks.training.errors import NonFiniteLossError

__all__ = ["check_extras", "check_first_loss", "has_batch_norm", "check_batch_norm_rows", "non_finite_rows"]

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def check_extras(batch: Any, names: Sequence[str], where: str) -> None:
    """Every column in ``names`` is in ``batch.extras``."""
    for name in names:
        if name not in batch.extras:
            raise DataError(where, f"extras column '{name}' missing from the batch",
                            f"one of {sorted(batch.extras)}", repr(name), choices=list(batch.extras))


def check_first_loss(terms: Any, step: int, epoch: int, batch: Any = None,
                     predictions: Callable[[], Mapping[str, torch.Tensor]] | None = None) -> float:
    """The first step's :class:`LossTerms` hold scalar tensors and a finite total that depends
    on trainable parameters; returns the total's value.

    When the total is not finite, the error names the first cause found: a feature of
    ``batch`` whose inputs are NaN/inf (with the count and the first row of the batch), a
    model output that is NaN/inf (``predictions()`` is called only then), or a loss term that
    is not finite.
    """
    if not isinstance(terms, LossTerms):
        raise ConfigError("model.loss()", "the model's loss must return LossTerms", "a recblocks.core.context."
                          "LossTerms (total plus named terms)", type(terms).__name__)
    for name, value in [("total", terms.total), *terms.named().items()]:
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            shape = str(tuple(value.shape)) if isinstance(value, torch.Tensor) else type(value).__name__
            where = "training loss" if name == "total" else f"loss term '{name}'"
            raise ShapeError(where, "the loss must be a scalar", "shape ()", shape)
    loss = terms.total
    value = float(loss.detach())
    if not math.isfinite(value):
        raise NonFiniteLossError(step, epoch, value, _non_finite_cause(batch, predictions, terms))
    if not loss.requires_grad:
        raise ConfigError("model.loss()", "the training loss does not depend on any trainable parameter",
                          "a total computed from the model's outputs", "a constant")
    return value


def _non_finite_cause(batch: Any, predictions: Callable[[], Mapping[str, torch.Tensor]] | None,
                      terms: LossTerms) -> str | None:
    for name, tensor in (getattr(batch, "features", None) or {}).items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
            count, first = non_finite_rows(tensor)
            if count:
                return f"feature '{name}' has NaN/inf inputs in {count} rows of the batch, first at batch row {first}"
    try:
        with torch.no_grad():
            outputs = predictions() if predictions is not None else {}
    except Exception:  # noqa: BLE001 - only looking for a cause; the loss error is what is raised
        outputs = {}
    for name, tensor in outputs.items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and tensor.dim() > 0:
            count, first = non_finite_rows(tensor.detach())
            if count:
                return (f"model output '{name}' is NaN/inf for {count} rows of the batch (first at batch row {first}) "
                        "although every input is finite")
    for name, tensor in terms.named().items():
        if not bool(torch.isfinite(tensor.detach()).all()):
            return "the regularization loss is not finite" if name == "regularization" else \
                f"the loss term '{name}' is not finite"
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
