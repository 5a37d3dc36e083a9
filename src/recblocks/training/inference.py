"""Evaluation and prediction loops over a model that follows the trainer contract.

Both run in eval mode without gradients (the model's mode is restored afterwards), check the
first batch with the model's own checks, and refuse NaN/inf predictions
(:class:`~recblocks.training.errors.NonFiniteScoresError`, naming the place, the output, the
count and the first data row).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from recblocks.core.errors import ConfigError, DataError
from recblocks.training.checks import check_extras, non_finite_rows
from recblocks.training.errors import NonFiniteScoresError

__all__ = ["evaluate_model", "predict_model", "model_device"]


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU without parameters)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))


class _NonFinite:
    """Rows with NaN/inf predictions, per output, counted over a whole pass."""

    def __init__(self) -> None:
        self.bad: dict[str, tuple[int, int]] = {}  # output -> (rows, first data row, 1-based)

    def add(self, predictions: dict[str, torch.Tensor], rows_before: int) -> None:
        for name, values in predictions.items():
            count, first = non_finite_rows(values)
            if count:
                seen, earlier = self.bad.get(name, (0, 0))
                self.bad[name] = (seen + count, earlier or rows_before + first)

    def raise_any(self, where: str, rows: int) -> None:
        for name, (count, first) in self.bad.items():
            raise NonFiniteScoresError(where, name, count, rows, first)


def _checked_batches(model: nn.Module, loader: Iterable[Any], where: str,
                     check_input: bool = True) -> Iterator[tuple[int, Any, Any]]:
    """``(index, batch, outputs)`` for every batch of ``loader``, on the model's device, in eval
    mode without gradients; the first batch goes through the model's ``check_batch`` (when
    ``check_input``) before its forward and ``check_outputs`` after it. The model's mode is
    restored when the iteration ends or stops."""
    device = model_device(model)
    check_outputs = getattr(model, "check_outputs", None)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for index, batch in enumerate(loader):
                if device.type != "cpu":
                    batch = batch.to(device)
                if index == 0 and check_input:
                    model.check_batch(batch, where)  # type: ignore[operator]
                outputs = model(batch)
                if index == 0 and check_outputs is not None:
                    check_outputs(outputs, batch, where)
                yield index, batch, outputs
    finally:
        model.train(was_training)


def evaluate_model(model: nn.Module, evaluator: Any, loader: Iterable[Any], where: str = "evaluation") -> dict[str, float]:
    """Feed every batch of ``loader`` to ``evaluator`` and return its ``compute()``."""
    check_evaluated = getattr(evaluator, "check_batch", None)
    non_finite = _NonFinite()
    rows = 0
    for index, batch, outputs in _checked_batches(model, loader, "evaluation batch"):
        if index == 0 and check_evaluated is not None:
            check_evaluated(batch, "evaluation batch")
        non_finite.add(model.predictions(outputs), rows)  # type: ignore[operator]
        evaluator.update(outputs, batch)
        rows += len(batch)
    if rows == 0:
        raise DataError("evaluation", "the loader produced no batches", "at least one batch", "none")
    non_finite.raise_any(where, rows)
    return evaluator.compute()


def predict_model(model: nn.Module, loader: Iterable[Any], extras: Sequence[str] = (),
                  where: str = "prediction") -> dict[str, np.ndarray]:
    """``model.predictions`` of every batch (activated outputs and extra outputs) plus the
    ``extras`` columns of the batches, as numpy arrays in loader order."""
    non_finite = _NonFinite()
    parts: dict[str, list[torch.Tensor]] = {name: [] for name in extras}
    rows = 0
    for index, batch, outputs in _checked_batches(model, loader, "prediction batch", check_input=False):
        predictions = model.predictions(outputs)  # type: ignore[operator]
        if index == 0:
            clash = sorted(set(extras) & set(predictions))
            if clash:
                raise ConfigError("predict.extras", "an extras column has the name of a model output",
                                  f"names distinct from the outputs {list(predictions)}", clash)
            check_extras(batch, list(extras), "predict.extras")
            parts = {**{name: [] for name in predictions}, **parts}
        non_finite.add(predictions, rows)
        for name, values in predictions.items():
            parts[name].append(values.detach().cpu())
        for name in extras:
            parts[name].append(batch.extras[name].cpu())
        rows += len(batch)
    non_finite.raise_any(where, rows)
    return {name: torch.cat(chunks).numpy() if chunks else np.empty(0) for name, chunks in parts.items()}
