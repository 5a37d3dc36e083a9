"""Accumulators: collect predictions batch by batch, compute the configured metrics once.

Updates only keep references to the (detached) batch tensors; the conversion to numpy and
every metric computation happen in :meth:`MetricCollection.compute`, so evaluation loops
stay cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from recblocks.core.errors import ConfigError, DataError
from recblocks.metrics.catalog import (
    TWO_VIEW_KINDS,
    MetricSpec,
    reads_value_view,
    resolve_metrics,
    scores_positive_class,
)

__all__ = ["MetricCollection", "positive_class"]


def positive_class(preds: Any) -> Any:
    """Class 1's probability ``(N,)`` of 2-class probabilities ``(N, 2)`` (EasyRec's ``probs[:, 1]``).

    Example:
        >>> positive_class(np.array([[0.8, 0.2], [0.1, 0.9]])).tolist()
        [0.2, 0.9]
    """
    return preds[:, 1]


def _to_numpy(parts: list[Any]) -> np.ndarray:
    if all(isinstance(p, torch.Tensor) for p in parts):
        joined = torch.cat([p.reshape(p.shape[0], -1) if p.dim() > 1 else p for p in parts])
        if joined.dtype in (torch.bfloat16, torch.float16):
            joined = joined.float()
        return joined.cpu().numpy()
    arrays = [p.detach().cpu().numpy() if isinstance(p, torch.Tensor) else np.asarray(p) for p in parts]
    return np.concatenate(arrays)


class MetricCollection:
    """The metrics of one task, accumulated over batches.

    Args:
        names: metric names (canonical or alias, see :data:`recblocks.metrics.METRICS`).
        task_kind: ``"binary"``, ``"regression"`` or ``"multiclass"``; decides which metrics fit.
        group_key: name of the column that holds the group ids (needed by ``gauc``; used in
            messages only — the caller passes the ids to :meth:`update`).
        where: config path used in error messages.
        num_classes: the classes of a multiclass task; with 2, binary metrics (``auc``...) are
            also accepted and read on the probability of class 1.

    Raises:
        ConfigError: unknown metric (with a did-you-mean), a metric that does not fit the task
            kind, or ``gauc`` without a ``group_key``.

    Example:
        >>> m = MetricCollection(["auc", "logloss"], "binary")
        >>> m.update(torch.tensor([0.1, 0.4]), torch.tensor([0.0, 0.0]))
        >>> m.update(torch.tensor([0.35, 0.8]), torch.tensor([1.0, 1.0]))
        >>> m.compute()["auc"]
        0.75
    """

    def __init__(self, names: Sequence[str], task_kind: str, group_key: str | None = None,
                 where: str = "metrics", num_classes: int | None = None) -> None:
        if isinstance(names, str):
            names = [names]
        self.task_kind = task_kind
        self.group_key = group_key
        self.where = where
        self.specs: list[MetricSpec] = resolve_metrics(names, task_kind, where, num_classes)
        self.num_classes = num_classes
        self.needs_groups = any(s.needs_groups for s in self.specs)
        if self.needs_groups and not group_key:
            raise ConfigError(where, "gauc needs a group column", "a group key (train.gauc_group)", "none")
        self._preds: list[Any] = []
        self._labels: list[Any] = []
        self._groups: list[Any] = []

    @property
    def names(self) -> list[str]:
        """Canonical metric names, in the order they are reported."""
        return [s.name for s in self.specs]

    def __len__(self) -> int:
        return sum(int(p.shape[0]) for p in self._preds)

    def reset(self) -> None:
        """Forget everything collected so far."""
        self._preds.clear()
        self._labels.clear()
        self._groups.clear()

    def update(self, preds: Any, labels: Any, groups: Any | None = None) -> None:
        """Add one batch: activated predictions, labels and (for gauc) group ids."""
        if isinstance(preds, torch.Tensor):
            preds = preds.detach()
        if isinstance(labels, torch.Tensor):
            labels = labels.detach()
        if self.needs_groups:
            if groups is None:
                raise DataError(self.where, f"gauc needs the group ids of column '{self.group_key}'",
                                "group ids with every batch", "none")
            self._groups.append(groups.detach() if isinstance(groups, torch.Tensor) else groups)
        self._preds.append(preds)
        self._labels.append(labels)

    def gather(self, gather_rows: Callable[[Any], Any]) -> None:
        """Replace what was collected by the rows of every process (data-parallel evaluation):
        ``gather_rows(tensor or None)`` returns the processes' rows concatenated (e.g.
        :func:`recblocks.training.distributed.all_gather_rows`). The metrics computed afterwards
        are those of the union, exactly, not an average of per-process metrics."""
        for parts in (self._preds, self._labels, *([self._groups] if self.needs_groups else [])):
            local = [p if isinstance(p, torch.Tensor) else torch.as_tensor(np.asarray(p)) for p in parts]
            joined = gather_rows(torch.cat(local) if local else None)
            parts[:] = [] if joined is None or not len(joined) else [joined]

    def compute(self) -> dict[str, float]:
        """``{name: value}`` over everything collected since the last :meth:`reset`.

        Undefined values (AUC with one class only) come back as ``nan``.
        """
        if not self._preds:
            raise DataError(self.where, "no predictions were collected", "update() before compute()", "nothing")
        preds = _to_numpy(self._preds)
        labels = _to_numpy(self._labels)
        if self.task_kind != "multiclass" and preds.ndim == 2 and preds.shape[1] == 1:
            preds = preds[:, 0]
        groups = _to_numpy(self._groups) if self.needs_groups else None
        results: dict[str, float] = {}
        for spec in self.specs:
            scores, targets = preds, labels
            if (self.task_kind == "two_class" and "multiclass" not in spec.task_kinds) or \
                    scores_positive_class(spec, self.task_kind, self.num_classes):
                scores = positive_class(preds)
            elif self.task_kind in TWO_VIEW_KINDS:  # (B, 2): probability of a positive value, the value
                scores, targets = (preds[:, 1], labels) if reads_value_view(spec) else (preds[:, 0], labels > 0)
            if spec.needs_groups:
                results[spec.name] = float(spec.fn(targets, scores, groups))
            else:
                results[spec.name] = float(spec.fn(targets, scores))
        return results

    def __repr__(self) -> str:
        return f"MetricCollection({self.names}, task_kind={self.task_kind!r}, group_key={self.group_key!r})"
