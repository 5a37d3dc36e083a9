import math

import pytest
import torch

from recblocks.core import ConfigError, DataError, ShapeError
from recblocks.tasks import (
    BinaryClassificationTask,
    LogitsTemperatureScaler,
    MultiClassClassificationTask,
    RegressionTask,
    Task,
    TaskConfig,
    build_task,
    build_tasks,
)


def test_binary_loss_and_activation_by_hand():
    task = BinaryClassificationTask("click")
    loss = task.loss(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 0.0]))
    # -log σ(0) = ln 2; -log(1 - σ(2)) = ln(1 + e²)
    assert float(loss) == pytest.approx((math.log(2) + math.log(1 + math.e ** 2)) / 2, rel=1e-6)
    assert torch.allclose(task.activate(torch.tensor([0.0, math.log(3)])), torch.tensor([0.5, 0.75]))
    assert float(task.loss(torch.tensor([0.0]), torch.tensor([1]))) == pytest.approx(math.log(2), rel=1e-6)
    assert (task.output_dim, task.label_dtype, task.name, task.weight) == (1, "float", "ctr", 1.0)
    assert task.metrics == ["auc", "logloss", "accuracy"]


def test_regression_loss_by_hand():
    task = RegressionTask("rating", name="rating")
    assert float(task.loss(torch.tensor([3.0, 5.0, 1.0]), torch.tensor([4.0, 4.0, 1.0]))) == pytest.approx(2 / 3)
    x = torch.tensor([1.5, -2.0])
    assert torch.equal(task.activate(x), x)
    assert task.metrics == ["rmse", "mae", "mse"]


def test_multiclass_loss_and_softmax_by_hand():
    task = MultiClassClassificationTask("genre", num_classes=3)
    logits = torch.tensor([[1.0, 2.0, 3.0]])
    expected = -math.log(math.e / (math.e + math.e ** 2 + math.e ** 3))
    assert float(task.loss(logits, torch.tensor([0]))) == pytest.approx(expected, rel=1e-6)
    probs = task.activate(torch.randn(4, 3))
    assert torch.allclose(probs.sum(dim=1), torch.ones(4))
    assert (task.output_dim, task.label_dtype) == (3, "long")
    assert task.metrics == ["accuracy", "logloss"]


@pytest.mark.parametrize("config", [
    {"type": "binary", "label": "click", "weight": 0.5, "metrics": ["auc", "gauc"]},
    {"type": "regression", "label": "rating", "name": "rating"},
    {"type": "multiclass", "label": "genre", "name": "genre", "num_classes": 5, "logits_temperature": 2.0},
])
def test_config_round_trip(config):
    task = build_task(config)
    again = build_task(task.to_config())
    assert type(again) is type(task)
    assert again.config == task.config
    assert again.to_config() == task.to_config()


def test_aliases_and_subclass_from_config():
    assert isinstance(build_task({"type": "classification", "label": "y"}), BinaryClassificationTask)
    task = build_task({"type": "multiclass", "label": "y", "num_class": 4})
    assert task.output_dim == 4
    reg = RegressionTask.from_config({"label": "y"})
    assert reg.task_type == "regression"
    assert isinstance(Task.from_config({"type": "regression", "label": "y"}), RegressionTask)
    with pytest.raises(ConfigError, match="needs a binary task"):
        BinaryClassificationTask.from_config({"type": "regression", "label": "y"})


def test_config_errors_name_the_path():
    with pytest.raises(ConfigError) as err:
        build_task({"type": "binay", "label": "y"}, "tasks[1]")
    assert str(err.value).startswith("tasks[1].type: unknown task type")
    assert "did you mean 'binary'" in str(err.value)
    with pytest.raises(ConfigError, match="num_classes >= 2"):
        build_task({"type": "multiclass", "label": "y"})
    with pytest.raises(ConfigError, match="only for multiclass"):
        build_task({"type": "binary", "label": "y", "num_classes": 3})
    with pytest.raises(ConfigError, match="did you mean 'weight'"):
        build_task({"label": "y", "wieght": 2.0})
    with pytest.raises(ConfigError, match="task.label: required parameter is missing"):
        build_task({"type": "binary"})
    with pytest.raises(ConfigError, match=r"tasks\[1\].name: task names must be unique"):
        build_tasks([{"label": "a"}, {"label": "b"}])


def test_pre_hook_scales_logits_in_prepare_only():
    task = BinaryClassificationTask("click", logits_temperature=2.0)
    assert isinstance(task.pre, LogitsTemperatureScaler)
    logits = torch.tensor([4.0, -2.0])
    assert torch.equal(task.prepare(logits), torch.tensor([2.0, -1.0]))
    assert torch.equal(task.activate(logits), torch.sigmoid(logits))
    plain = RegressionTask("y", pre=lambda z: z + 1.0)
    assert torch.equal(plain.prepare(torch.zeros(2)), torch.ones(2))
    assert torch.equal(RegressionTask("y").prepare(logits), logits)
    with pytest.raises(ConfigError, match="either pre or logits_temperature"):
        BinaryClassificationTask("y", logits_temperature=2.0, pre=lambda z: z)


def test_check_labels():
    BinaryClassificationTask("click").check_labels(torch.tensor([0.0, 1.0, 0.3]))
    with pytest.raises(DataError, match=r"label 'click': binary labels must lie in \[0, 1\]"):
        BinaryClassificationTask("click").check_labels(torch.tensor([0.0, 2.0]))
    with pytest.raises(DataError, match="NaN"):
        RegressionTask("r").check_labels(torch.tensor([1.0, float("nan")]))
    multi = MultiClassClassificationTask("genre", num_classes=3)
    multi.check_labels(torch.tensor([0, 2]))
    with pytest.raises(DataError, match="integer class ids"):
        multi.check_labels(torch.tensor([0.0, 1.0]))
    with pytest.raises(DataError, match="out of range"):
        multi.check_labels(torch.tensor([0, 3]))
    with pytest.raises(DataError, match="one value per row"):
        RegressionTask("r").check_labels(torch.zeros(2, 1))


def test_check_logits():
    BinaryClassificationTask("y").check_logits(torch.zeros(4), 4)
    with pytest.raises(ShapeError, match="squeeze the last axis"):
        BinaryClassificationTask("y").check_logits(torch.zeros(4, 1), 4)
    with pytest.raises(ShapeError, match=r"expected \(4, 3\), got \(4,\)"):
        MultiClassClassificationTask("y", num_classes=3).check_logits(torch.zeros(4), 4)


def test_task_config_defaults():
    cfg = TaskConfig(label="click")
    assert (cfg.name, cfg.type, cfg.weight, cfg.metrics, cfg.output_dim) == ("ctr", "binary", 1.0, None, 1)
    assert cfg.to_dict() == {"name": "ctr", "type": "binary", "label": "click"}
