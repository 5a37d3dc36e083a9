"""The zero-inflated lognormal task: loss and prediction against torch's LogNormal, metric views, a run."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from recblocks.core.errors import ConfigError, DataError, ShapeError
from recblocks.datasets import synthetic_schema
from recblocks.datasets.synthetic import SyntheticConfig
from recblocks.metrics import MetricCollection, auc
from recblocks.runs import train_run
from recblocks.tasks import TASKS, ZilnTask, build_task, parse_task_config


def test_loss_and_prediction_match_their_definition():
    torch.manual_seed(0)
    z = torch.randn(8, 3) * 2
    y = torch.tensor([0.0, 2.5, 0.0, 0.3, 7.0, 0.0, 1.0, 0.0])
    task = build_task({"type": "ZILN_LOSS", "label": "ltv", "mu_regularization": 0.1, "sigma_regularization": 0.2,
                       "classification_weight": 0.7, "regression_weight": 1.5, "max_sigma": 3.0})
    sigma = torch.nn.functional.softplus(z[:, 2]).clamp(math.sqrt(1e-7), 3.0)
    positive = y > 0
    bce = torch.nn.functional.binary_cross_entropy_with_logits(z[:, 0], positive.float())
    log_prob = torch.distributions.LogNormal(z[positive, 1], sigma[positive]).log_prob(y[positive])
    want = 0.7 * bce - 1.5 * log_prob.sum() / positive.sum() + 0.1 * (z[:, 1] ** 2).mean() \
        + 0.2 * (z[:, 2] ** 2).mean()
    assert float(task.loss(z, y)) == pytest.approx(float(want), rel=1e-5)
    mean = torch.sigmoid(z[:, 0]) * torch.exp(z[:, 1] + sigma**2 / 2)
    assert torch.allclose(task.activate(z), mean.clamp(max=math.exp(20.0)), rtol=1e-5)
    views = task.metric_predictions(z)
    assert views.shape == (8, 2) and torch.allclose(views[:, 0], torch.sigmoid(z[:, 0]))


def test_metrics_read_the_probability_or_the_value():
    task = build_task({"type": "ziln", "label": "ltv"})
    assert task.metrics == ["auc", "rmse", "mae"] and TASKS.get("ziln").metric_kind == "ziln"
    z = torch.tensor([[2.0, 0.0, 0.5], [-1.0, 1.0, 0.5], [0.5, 2.0, 0.5], [-2.0, 0.0, 0.5]])
    y = torch.tensor([3.0, 0.0, 0.0, 1.0])
    metrics = MetricCollection(task.metrics, task.metric_kind)
    metrics.update(task.metric_predictions(z), y)
    values = metrics.compute()
    assert values["auc"] == pytest.approx(auc([1, 0, 0, 1], torch.sigmoid(z[:, 0]).tolist()))
    assert values["rmse"] == pytest.approx(float(((task.activate(z) - y) ** 2).mean().sqrt()), rel=1e-5)
    with pytest.raises(ConfigError, match=r"model\.task\.metrics\[0\]: unknown metric"):
        parse_task_config({"type": "ziln", "label": "ltv", "metrics": ["aucc"]}, "model.task")


def test_checks_name_the_problem():
    task = build_task({"type": "ziln", "label": "ltv"})
    with pytest.raises(ShapeError, match="a ziln task reads three logits per row"):
        task.check_logits(torch.zeros(4), 4)
    with pytest.raises(DataError, match="values >= 0"):
        task.check_labels(torch.tensor([1.0, -2.0]))
    with pytest.raises(ConfigError, match="max_sigma"):
        parse_task_config({"type": "ziln", "label": "ltv", "max_sigma": 0.0}, "model.task")
    assert isinstance(task, ZilnTask) and task.output_dim == 3


def test_a_rank_model_trains_a_ziln_task(tmp_path: Path):
    synthetic = SyntheticConfig(num_rows=400, num_dense=1, vocab_sizes=[20, 30], seed=0)
    features = synthetic_schema(synthetic)
    raw = {"data": {"synthetic": synthetic.model_dump()}, "features": features,
           "model": {"feature_groups": [{"group_name": "all", "feature_names": [f["name"] for f in features]}],
                     "backbone": {"blocks": [{"name": "mlp", "inputs": [{"feature_group_name": "all"}],
                                              "component": {"class_name": "MLP",
                                                            "params": {"hidden_units": [8]}}}]},
                     "task": {"type": "ziln", "label": "label"}},
           "train": {"epochs": 2, "batch_size": 64, "progress": False, "tensorboard": False}}
    result = train_run(raw, tmp_path / "run")
    assert set(result.valid_metrics) >= {"auc", "rmse", "mae"}
    losses = [epoch.train_loss for epoch in result.history.epochs]
    assert losses[-1] < losses[0], losses
