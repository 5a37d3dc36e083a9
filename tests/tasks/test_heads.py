import math
from typing import Literal

import pytest
import torch

from recblocks.core import ConfigError, DataError, ShapeError
from recblocks.metrics import MetricCollection
from recblocks.tasks import (
    BinaryClassificationTask,
    LogitsTemperatureScaler,
    MultiClassClassificationTask,
    RegressionTask,
    Task,
    BinaryTaskConfig,
    MultiClassTaskConfig,
    RegressionTaskConfig,
    TASKS,
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
    with pytest.raises(ConfigError, match="task.num_classes: required parameter is missing"):
        build_task({"type": "multiclass", "label": "y"})
    with pytest.raises(ConfigError, match="task.num_classes: Input should be greater than or equal to 2"):
        build_task({"type": "multiclass", "label": "y", "num_classes": 1})
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
    cfg = BinaryTaskConfig(label="click")
    assert (cfg.name, cfg.type, cfg.weight, cfg.metrics, cfg.output_dim) == ("ctr", "binary", 1.0, None, 1)
    assert cfg.to_dict() == {"name": "ctr", "type": "binary", "label": "click"}
    assert cfg.resolved_metrics == ["auc", "logloss", "accuracy"]
    multi = MultiClassTaskConfig(label="genre", num_class=4)
    assert multi.to_dict() == {"name": "ctr", "type": "multiclass", "label": "genre", "num_classes": 4}
    assert multi.output_dim == 4 and isinstance(multi, TaskConfig)
    assert "num_classes" not in RegressionTaskConfig.model_fields


def test_tasks_registry_carries_every_fact():
    assert TASKS.names() == ["binary", "multiclass", "regression", "ziln"]
    assert TASKS.get("Classification").cls is BinaryClassificationTask  # aliases, any case
    assert TASKS.get("l2_loss").config is RegressionTaskConfig
    assert TASKS.get("multiclass").default_metrics == ("accuracy", "logloss")
    assert MultiClassClassificationTask.task_type == "multiclass"
    assert MultiClassClassificationTask.config_cls is MultiClassTaskConfig
    rows = {row["name"]: row for row in TASKS.describe()}
    assert rows["binary"]["aliases"] == ["classification", "binary_classification"]
    assert [p["name"] for p in rows["multiclass"]["params"]][-1] == "num_classes"
    assert "num_classes" not in [p["name"] for p in rows["binary"]["params"]]
    # EasyRec writes num_class: 1 on binary tasks; any other count is refused
    assert build_task({"type": "binary", "label": "y", "num_class": 1}).output_dim == 1


class _HingeTaskConfig(TaskConfig):
    """A test-only task type's config."""

    type: Literal["hinge"] = "hinge"
    margin: float = 1.0


class _HingeTask(Task):
    """Hinge loss on {0, 1} labels (test-only)."""

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        signs = labels.to(logits.dtype) * 2 - 1
        return torch.clamp(self.config.margin - signs * logits, min=0).mean()

    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)


def test_a_task_type_registered_later_needs_no_table():
    with TASKS.scoped():
        TASKS.register("hinge", config=_HingeTaskConfig, default_metrics=("auc",), aliases=("svm",),
                       metric_kind="binary")(_HingeTask)
        task = build_task({"type": "SVM", "label": "y", "margin": 2.0})
        assert isinstance(task, _HingeTask) and task.metrics == ["auc"] and task.task_type == "hinge"
        assert MetricCollection(task.metrics, task.metric_kind).names == ["auc"]
        assert float(task.loss(torch.tensor([1.0, 0.5]), torch.tensor([1, 0]))) == pytest.approx((1.0 + 2.5) / 2)
        assert build_task(task.to_config()).config == task.config
    with pytest.raises(ConfigError, match="unknown task type.*got 'hinge'"):
        build_task({"type": "hinge", "label": "y"})


def test_label_kind_comes_from_the_task_class():
    assert BinaryClassificationTask("y").label_kind() == "binary"
    assert BinaryClassificationTask("y").label_kind(soft_labels=True) == "soft_binary"
    assert MultiClassClassificationTask("y", num_classes=3).label_kind() == "classes:3"
    assert RegressionTask("y").label_kind() == "float"


def test_two_class_multiclass_task_takes_binary_score_metrics() -> None:
    from recblocks.tasks.config import parse_task_config
    config = parse_task_config({"type": "multiclass", "label": "y", "num_classes": 2, "metrics": ["auc"]})
    assert config.metric_kind == "two_class"
    assert build_task(config).metric_kind == "two_class"
    with pytest.raises(ConfigError, match=r"tasks\[0\].metrics\[0\]: metric 'auc' does not apply to a multiclass"):
        parse_task_config({"type": "multiclass", "label": "y", "num_classes": 3, "metrics": ["auc"]},
                          "tasks[0]")
