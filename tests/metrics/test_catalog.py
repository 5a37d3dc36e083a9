"""``METRICS`` is a registry: aliases resolve to canonical names, a metric added later is usable."""

from __future__ import annotations

import numpy as np
import pytest

from recblocks.core import ConfigError
from recblocks.metrics import METRIC_ALIASES, METRICS, MetricCollection, MetricSpec, get_metric, metric_task_kinds


def test_aliases_live_on_the_registrations():
    assert METRICS.canonical("root_mean_squared_error") == "rmse"
    assert METRIC_ALIASES["group_auc"] == "gauc" and dict(METRIC_ALIASES) == METRICS.aliases()
    assert get_metric("log_loss") is METRICS.get("logloss")
    assert metric_task_kinds() == ["binary", "multiclass", "regression", "two_class", "ziln"]  # ziln: two views
    rows = {row["name"]: row for row in METRICS.describe()}
    assert rows["auc"]["mode"] == "max" and rows["gauc"]["needs_groups"] is True
    assert rows["mae"]["aliases"] == ["mean_absolute_error"]


def test_unknown_metric_names_the_place():
    with pytest.raises(ConfigError, match=r"^tasks\[0\].metrics\[1\]: unknown metric.*did you mean 'rmse'"):
        MetricCollection(["mae", "rmes"], "regression", where="tasks[0].metrics")


def test_a_metric_registered_later_needs_no_table():
    def max_error(labels: np.ndarray, preds: np.ndarray) -> float:
        return float(np.max(np.abs(np.asarray(labels, dtype=float) - np.asarray(preds, dtype=float))))

    with METRICS.scoped():
        METRICS.add(MetricSpec(name="max_error", fn=max_error, task_kinds=("regression",), higher_is_better=False,
                               aliases=("maximum_error",)))
        collection = MetricCollection(["maximum_error", "mae"], "regression")
        collection.update(np.array([1.0, 4.0]), np.array([1.0, 1.0]))
        assert collection.compute() == {"max_error": 3.0, "mae": 1.5}
        assert METRIC_ALIASES["maximum_error"] == "max_error"
    assert "max_error" not in METRICS and "maximum_error" not in METRIC_ALIASES
