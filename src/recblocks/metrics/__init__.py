"""Metrics: a pure functional core on numpy arrays and stateful per-task accumulators.

Imports only :mod:`recblocks.core`, numpy and torch.
"""

from recblocks.metrics.catalog import (
    METRIC_ALIASES,
    METRICS,
    MetricSpec,
    get_metric,
    metric_mode,
    metric_task_kinds,
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
from recblocks.metrics.in_batch import (
    InBatchMetrics,
    in_batch_average_precisions,
    in_batch_recall_hits,
    same_label_and_session,
)
from recblocks.metrics.retrieval import retrieval_metric_keys, retrieval_metrics
from recblocks.metrics.stateful import MetricCollection

__all__ = [
    "InBatchMetrics",
    "METRICS",
    "METRIC_ALIASES",
    "MetricCollection",
    "MetricSpec",
    "accuracy",
    "auc",
    "gauc",
    "get_metric",
    "in_batch_average_precisions",
    "in_batch_recall_hits",
    "logloss",
    "mae",
    "retrieval_metric_keys",
    "retrieval_metrics",
    "max_f1",
    "metric_mode",
    "metric_task_kinds",
    "mse",
    "multiclass_accuracy",
    "multiclass_logloss",
    "resolve_metrics",
    "rmse",
    "same_label_and_session",
]
