"""The metric names recblocks knows, which task kinds they fit, and which direction is better.

Names are canonical short names (``auc``, ``logloss``...); EasyRec's ``eval_config`` spellings
(``root_mean_squared_error``, ``mean_absolute_error``...) are accepted as aliases and resolve to
the canonical name, which is also the key under which the value is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from recblocks.core.errors import ConfigError
from recblocks.metrics import functional as F

__all__ = ["MetricSpec", "METRICS", "METRIC_ALIASES", "TASK_KINDS", "get_metric", "metric_mode", "resolve_metrics"]

#: The task kinds metrics are defined for (the ``type`` of a task).
TASK_KINDS = ("binary", "regression", "multiclass")


def _logloss_any(labels: Any, preds: Any) -> float:
    return F.multiclass_logloss(labels, preds) if np.ndim(preds) == 2 else F.logloss(labels, preds)


@dataclass(frozen=True)
class MetricSpec:
    """One metric: its function ``fn(labels, preds[, groups])`` and how to read it.

    ``preds`` are *activated* outputs: probabilities (binary ``(N,)``, multi-class ``(N, C)``)
    or predicted values (regression).
    """

    name: str
    fn: Callable[..., float]
    task_kinds: tuple[str, ...]
    higher_is_better: bool
    needs_groups: bool = False
    summary: str = ""

    @property
    def mode(self) -> str:
        """``"max"`` when larger is better, else ``"min"``."""
        return "max" if self.higher_is_better else "min"


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec("auc", F.auc, ("binary",), True, summary="ROC AUC (ties count one half)"),
        MetricSpec("gauc", F.gauc, ("binary",), True, needs_groups=True,
                   summary="AUC per group weighted by group size; single-class groups skipped"),
        MetricSpec("logloss", _logloss_any, ("binary", "multiclass"), False,
                   summary="binary or categorical cross-entropy of the probabilities"),
        MetricSpec("accuracy", F.accuracy, ("binary", "multiclass"), True,
                   summary="binary: prob > 0.5 vs label; multi-class: arg-max vs label"),
        MetricSpec("max_f1", F.max_f1, ("binary",), True, summary="best F1 over score thresholds"),
        MetricSpec("mse", F.mse, ("regression", "binary"), False, summary="mean squared error"),
        MetricSpec("rmse", F.rmse, ("regression", "binary"), False, summary="root mean squared error"),
        MetricSpec("mae", F.mae, ("regression", "binary"), False, summary="mean absolute error"),
    )
}

#: Other spellings (EasyRec ``eval_config``, Keras) -> canonical name.
METRIC_ALIASES: dict[str, str] = {
    "group_auc": "gauc",
    "log_loss": "logloss",
    "cross_entropy": "logloss",
    "binary_crossentropy": "logloss",
    "binary_accuracy": "accuracy",
    "mean_squared_error": "mse",
    "root_mean_squared_error": "rmse",
    "mean_absolute_error": "mae",
}


def get_metric(name: str, where: str = "metrics") -> MetricSpec:
    """The spec for ``name`` or an alias; ConfigError with a did-you-mean when unknown.

    Example:
        >>> get_metric("root_mean_squared_error").name
        'rmse'
    """
    canonical = METRIC_ALIASES.get(name, name)
    spec = METRICS.get(canonical)
    if spec is None:
        raise ConfigError(where, "unknown metric", f"one of {sorted(METRICS)}", repr(name),
                          choices=[*METRICS, *METRIC_ALIASES])
    return spec


def resolve_metrics(names: Iterable[str], task_kind: str, where: str = "metrics") -> list[MetricSpec]:
    """Specs for ``names`` (duplicates dropped, order kept), each checked against ``task_kind``."""
    if task_kind not in TASK_KINDS:
        raise ConfigError(where, "unknown task kind", f"one of {list(TASK_KINDS)}", repr(task_kind),
                          choices=TASK_KINDS)
    specs: list[MetricSpec] = []
    for index, name in enumerate(names):
        spec = get_metric(name, f"{where}[{index}]")
        if task_kind not in spec.task_kinds:
            fitting = sorted(n for n, s in METRICS.items() if task_kind in s.task_kinds)
            raise ConfigError(f"{where}[{index}]", f"metric '{spec.name}' does not apply to a {task_kind} task",
                              f"one of {fitting}", repr(name))
        if spec not in specs:
            specs.append(spec)
    return specs


def metric_mode(name: str, where: str = "metric") -> str:
    """``"max"`` or ``"min"`` for a reported key: ``auc``, ``ctr/auc``, ``loss``, ``ctr/loss``.

    Example:
        >>> metric_mode("ctr/auc"), metric_mode("loss"), metric_mode("rmse")
        ('max', 'min', 'min')
    """
    base = name.rsplit("/", 1)[-1]
    if base == "loss":
        return "min"
    return get_metric(base, where).mode
