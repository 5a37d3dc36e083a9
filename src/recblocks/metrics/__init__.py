"""Metrics: a pure functional core on numpy arrays and stateful per-task accumulators.

Imports only :mod:`recblocks.core`, numpy and torch.
"""

from recblocks.metrics.catalog import (
    METRIC_ALIASES,
    METRICS,
    TASK_KINDS,
    MetricSpec,
    get_metric,
    metric_mode,
    resolve_metrics,
)
from recblocks.metrics.functional import (
    accuracy,
    auc,
    gauc,
    logloss,
    mae,
    max_f1,
    mse,
    multiclass_accuracy,
    multiclass_logloss,
    rmse,
)
from recblocks.metrics.stateful import MetricCollection

__all__ = [
    "METRICS",
    "METRIC_ALIASES",
    "TASK_KINDS",
    "MetricCollection",
    "MetricSpec",
    "accuracy",
    "auc",
    "gauc",
    "get_metric",
    "logloss",
    "mae",
    "max_f1",
    "metric_mode",
    "mse",
    "multiclass_accuracy",
    "multiclass_logloss",
    "resolve_metrics",
    "rmse",
]
