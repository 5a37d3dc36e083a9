"""The evaluator of task models: each task's metrics and loss over a whole data set.

Reported keys: with one task they are bare (``auc``, ``logloss``, ``loss``); with several they
are ``<task>/<metric>`` plus ``<task>/loss`` and the weighted total ``loss``. ``loss`` is the
task loss (after ``pre``) without regularization or auxiliary losses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from recblocks.core.errors import ConfigError
from recblocks.metrics import METRIC_ALIASES, MetricCollection, metric_mode
from recblocks.models.outputs import check_extras

__all__ = ["TaskEvaluator"]


class TaskEvaluator:
    """Per-task metric collections and losses, fed batch by batch (see module docstring).

    Args:
        tasks: the model's task objects (``name``, ``label``, ``weight``, ``loss``,
            ``activate``, ``metrics``, ``task_type``, optional ``pre``).
        gauc_group: extras column with group ids; adds ``gauc`` to binary tasks' metrics.
        where: config path of the tasks, for errors (``model.tasks``).

    Raises:
        ConfigError: unknown or unfitting metric names (with did-you-mean), a task without
            ``task_type``.

    Shape:
        update takes outputs with ``logits[task]`` ``(B,)``/``(B, C)`` and the batch's labels ``(B,)``.
    """

    def __init__(self, tasks: Sequence[Any], gauc_group: str | None = None, where: str = "model.tasks") -> None:
        self.tasks = list(tasks)
        self.gauc_group = gauc_group
        self.collections = [self._collection(i, task, where) for i, task in enumerate(self.tasks)]
        self._group_key = gauc_group if any(c.needs_groups for c in self.collections) else None
        self._single = len(self.tasks) == 1
        if self._single:
            self.keys = [*self.collections[0].names, "loss"]
        else:
            self.keys = [f"{t.name}/{m}" for t, c in zip(self.tasks, self.collections) for m in [*c.names, "loss"]]
            self.keys.append("loss")
        first = self.collections[0].names[0]
        self.default_monitor = (self.resolve(first), metric_mode(first))
        self._loss_sums = [torch.zeros((), dtype=torch.float64) for _ in self.tasks]
        self._rows = 0

    def _collection(self, index: int, task: Any, where: str) -> MetricCollection:
        kind = getattr(task, "metric_kind", None) or getattr(task, "task_type", None)
        if kind is None:
            raise ConfigError(f"{where}[{index}]", "the task has no metric_kind", "binary, regression or multiclass",
                              type(task).__name__)
        names = list(task.metrics)
        if self.gauc_group and kind == "binary" and not {"gauc", "group_auc"} & set(names):
            names.append("gauc")
        num_classes = getattr(getattr(task, "config", None), "num_classes", None)
        return MetricCollection(names, kind, self.gauc_group, where=f"tasks[{index}].metrics", num_classes=num_classes)

    def resolve(self, name: str) -> str:
        """The reported key a metric spelling refers to: aliases are resolved, a bare name means
        the first task's metric, and with one task a ``<task>/`` prefix is dropped."""
        prefix, _, base = name.rpartition("/")
        base = METRIC_ALIASES.get(base, base)
        if self._single:
            return base if prefix in ("", self.tasks[0].name) else name
        if base == "loss" and not prefix:
            return "loss"
        return f"{prefix or self.tasks[0].name}/{base}"

    def check_batch(self, batch: Any, where: str = "evaluation batch") -> None:
        """The group column ``gauc`` needs is in the batch's extras."""
        if self._group_key:
            check_extras(batch, [self._group_key], "train.gauc_group")

    def update(self, outputs: Any, batch: Any) -> None:
        """Add one batch: each task's loss (times the rows) and its activated scores."""
        count = len(batch)
        groups = batch.extras[self._group_key] if self._group_key else None
        logits_of = outputs.logits
        for j, task in enumerate(self.tasks):
            logits = logits_of[task.name]
            pre = getattr(task, "pre", None)
            if pre is not None:
                logits = pre(logits)
            labels = batch.labels[task.label]
            self._loss_sums[j] += getattr(task, "objective", task.loss)(logits, labels).double().cpu() * count
            self.collections[j].update(task.metric_predictions(logits), labels, groups)
        self._rows += count

    def gather(self, gather_rows: Any) -> None:
        """Collect every process's rows (data-parallel evaluation; see
        :meth:`MetricCollection.gather`): the loss sums and row counts are summed over the
        processes, the metric collections gather their predictions, labels and groups."""
        counts = torch.tensor([[*(float(s) for s in self._loss_sums), float(self._rows), *self._extra_counts()]],
                              dtype=torch.float64)
        summed = gather_rows(counts).sum(dim=0).tolist()
        tasks = len(self._loss_sums)
        self._loss_sums = [torch.tensor(value, dtype=torch.float64) for value in summed[:tasks]]
        self._rows = int(summed[tasks])
        self._set_extra_counts([int(value) for value in summed[tasks + 1:]])
        for collection in self.collections:
            collection.gather(gather_rows)

    def _extra_counts(self) -> list[float]:
        """Further per-process counters a subclass sums in :meth:`gather`."""
        return []

    def _set_extra_counts(self, values: list[int]) -> None:
        pass

    def compute(self) -> dict[str, float]:
        """Every key of :attr:`keys` over the batches given to :meth:`update`."""
        results: dict[str, float] = {}
        total = 0.0
        rows = max(self._rows, 1)
        for task, collection, loss_sum in zip(self.tasks, self.collections, self._loss_sums):
            task_loss = float(loss_sum) / rows
            total += float(task.weight) * task_loss
            prefix = "" if self._single else f"{task.name}/"
            results.update({f"{prefix}{k}": v for k, v in collection.compute().items()})
            results[f"{prefix}loss"] = task_loss
        if not self._single:
            results["loss"] = total
        return results
