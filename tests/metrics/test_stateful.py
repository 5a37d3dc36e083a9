import math

import numpy as np
import pytest
import torch

from recblocks.core import ConfigError, DataError
from recblocks.metrics import METRICS, MetricCollection, auc, gauc, get_metric, logloss, metric_mode


def test_batches_give_the_same_values_as_one_array():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200).astype(np.float32)
    probs = rng.random(200).astype(np.float32)
    groups = rng.integers(0, 10, 200)
    m = MetricCollection(["auc", "logloss", "accuracy", "gauc"], "binary", group_key="user_id")
    for start in range(0, 200, 64):
        sl = slice(start, start + 64)
        m.update(torch.from_numpy(probs[sl]), torch.from_numpy(labels[sl]), torch.from_numpy(groups[sl]))
    values = m.compute()
    assert list(values) == ["auc", "logloss", "accuracy", "gauc"]
    assert values["auc"] == pytest.approx(auc(labels, probs))
    assert values["logloss"] == pytest.approx(logloss(labels, probs))
    assert values["gauc"] == pytest.approx(gauc(labels, probs, groups))
    assert len(m) == 200
    m.reset()
    with pytest.raises(DataError, match="no predictions"):
        m.compute()


def test_unknown_metric_suggests_the_nearest_name():
    with pytest.raises(ConfigError) as err:
        MetricCollection(["acu"], "binary", where="tasks[0].metrics")
    assert "tasks[0].metrics[0]" in str(err.value)
    assert "did you mean 'auc'" in str(err.value)
    with pytest.raises(ConfigError, match="did you mean 'rmse'"):
        get_metric("rmes")


def test_metric_must_fit_the_task_kind():
    with pytest.raises(ConfigError, match="does not apply to a regression task"):
        MetricCollection(["auc"], "regression")
    with pytest.raises(ConfigError, match="unknown task kind"):
        MetricCollection(["auc"], "ranking")


def test_gauc_needs_groups():
    with pytest.raises(ConfigError, match="group column"):
        MetricCollection(["gauc"], "binary")
    m = MetricCollection(["gauc"], "binary", group_key="user_id")
    with pytest.raises(DataError, match="user_id"):
        m.update(torch.tensor([0.1]), torch.tensor([1.0]))


def test_aliases_report_canonical_names_and_duplicates_drop():
    m = MetricCollection(["root_mean_squared_error", "mean_absolute_error", "rmse"], "regression")
    assert m.names == ["rmse", "mae"]
    m.update(np.array([1.0, 3.0]), np.array([1.0, 1.0]))
    assert m.compute() == {"rmse": pytest.approx(math.sqrt(2.0)), "mae": pytest.approx(1.0)}


def test_multiclass_collection():
    m = MetricCollection(["accuracy", "logloss"], "multiclass")
    m.update(torch.tensor([[0.7, 0.2, 0.1], [0.2, 0.2, 0.6]]), torch.tensor([0, 1]))
    values = m.compute()
    assert values["accuracy"] == 0.5
    assert values["logloss"] == pytest.approx(-(math.log(0.7) + math.log(0.2)) / 2, rel=1e-6)


def test_two_class_multiclass_reads_binary_metrics_on_the_second_class():
    probs = torch.tensor([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.2, 0.8]])
    labels = torch.tensor([0, 1, 1, 0])
    m = MetricCollection(["auc", "accuracy", "gauc"], "multiclass", group_key="u", num_classes=2)
    m.update(probs, labels, torch.tensor([1, 1, 2, 2]))
    values = m.compute()
    assert values["auc"] == pytest.approx(auc([0, 1, 1, 0], [0.1, 0.7, 0.4, 0.8]))
    assert values["gauc"] == pytest.approx(gauc([0, 1, 1, 0], [0.1, 0.7, 0.4, 0.8], [1, 1, 2, 2]))
    assert values["accuracy"] == 0.5  # a multiclass metric still reads the arg-max
    with pytest.raises(ConfigError, match="metric 'auc' does not apply to a multiclass task"):
        MetricCollection(["auc"], "multiclass", num_classes=3)


def test_single_class_auc_is_nan_not_an_error():
    m = MetricCollection(["auc"], "binary")
    m.update(torch.tensor([0.2, 0.3]), torch.tensor([1.0, 1.0]))
    assert math.isnan(m.compute()["auc"])


def test_metric_mode():
    assert metric_mode("auc") == "max"
    assert metric_mode("ctr/logloss") == "min"
    assert metric_mode("rating/loss") == "min"
    assert {spec.name: spec.mode for spec in METRICS.entries()}["gauc"] == "max"
    with pytest.raises(ConfigError):
        metric_mode("f2")


def test_two_class_auc_reads_the_positive_column() -> None:
    # EasyRec's num_class: 2 with auc: softmax probabilities, AUC of probs[:, 1]
    probs = torch.tensor([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3], [0.2, 0.8]])
    labels = torch.tensor([0, 1, 1, 0])
    m = MetricCollection(["auc", "max_f1", "logloss", "accuracy"], "two_class")
    m.update(probs, labels)
    got = m.compute()
    from recblocks.metrics import functional as F
    assert got["auc"] == F.auc([0, 1, 1, 0], [0.1, 0.6, 0.3, 0.8]) == 0.5
    assert got["logloss"] == pytest.approx(F.multiclass_logloss(labels.numpy(), probs.numpy()))
    assert got["accuracy"] == 0.5  # arg-max: [0, 1, 0, 1] vs [0, 1, 1, 0]
    with pytest.raises(ConfigError, match="does not apply to a multiclass task"):
        MetricCollection(["auc"], "multiclass")
