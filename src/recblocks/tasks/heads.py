"""Prediction tasks: what a model's logits mean, how they are scored and how they are activated.

A task does not own the output layer (the model sizes it from :attr:`Task.output_dim`); it owns
the loss, the activation, the label column, the loss weight, the metric names and an optional
``pre`` transform applied to logits before loss and metrics in training and evaluation (never
in prediction), e.g. :class:`~recblocks.tasks.LogitsTemperatureScaler`.

Logits are ``(B,)`` for binary and regression tasks and ``(B, C)`` for multiclass tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from recblocks.core.errors import ConfigError, DataError, ShapeError
from recblocks.core.params import join_path
from recblocks.tasks.config import (
    BinaryTaskConfig,
    MultiClassTaskConfig,
    RegressionTaskConfig,
    TaskConfig,
    parse_task_config,
)
from recblocks.tasks.losses import LOSSES
from recblocks.tasks.registry import TASKS
from recblocks.tasks.transforms import LogitsTemperatureScaler

__all__ = [
    "Task",
    "BinaryClassificationTask",
    "RegressionTask",
    "MultiClassClassificationTask",
    "build_task",
    "build_tasks",
]

Pre = Callable[[torch.Tensor], torch.Tensor]


class Task(nn.Module):
    """Base of the task classes; build one with a subclass or :func:`build_task`.

    A task type is a subclass registered in ``TASKS`` (``@TASKS.register("binary", config=...,
    default_metrics=...)``), which sets ``task_type``, ``config_cls``, ``default_metrics`` and
    ``metric_kind``.

    Attributes:
        name, label, weight: from the config.
        metrics: metric names to report (config or the type's defaults).
        output_dim: width of the logits the model must produce.
        label_dtype: ``"float"`` or ``"long"``.
        pre: optional callable (or ``nn.Module``) applied by :meth:`prepare`.
    """

    task_type: ClassVar[str]
    config_cls: ClassVar[type[TaskConfig]]
    metric_kind: ClassVar[str]
    label_dtype: ClassVar[str] = "float"
    default_metrics: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: TaskConfig, pre: Pre | None = None) -> None:
        super().__init__()
        if config.type != self.task_type:
            raise ConfigError("task.type", f"{type(self).__name__} is a {self.task_type} task", self.task_type,
                              config.type)
        if pre is not None and config.logits_temperature != 1.0:
            raise ConfigError(f"task '{config.name}'", "give either pre or logits_temperature, not both",
                              "one logits transform", "both")
        if pre is None and config.logits_temperature != 1.0:
            pre = LogitsTemperatureScaler(config.logits_temperature)
        if pre is not None and not callable(pre):
            raise ConfigError(f"task '{config.name}'.pre", "pre must be callable", "a callable or nn.Module",
                              type(pre).__name__)
        self.config = config
        self.pre = pre
        self.metric_kind = config.metric_kind  # type: ignore[misc]  (a 2-class multiclass task: two_class)

    # -- config -----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.config.name

    @property
    def label(self) -> str:
        return self.config.label

    @property
    def weight(self) -> float:
        return self.config.weight

    @property
    def metrics(self) -> list[str]:
        return self.config.resolved_metrics

    @property
    def output_dim(self) -> int:
        return self.config.output_dim

    @classmethod
    def from_config(cls, config: TaskConfig | Mapping[str, Any], where: str = "task", pre: Pre | None = None) -> "Task":
        """Build from a config (dict or :class:`TaskConfig`); the base class dispatches on ``type``."""
        if cls is Task:
            return build_task(config, where, pre=pre)
        if isinstance(config, Mapping) and "type" not in config:
            config = {**config, "type": cls.task_type}
        cfg = parse_task_config(config, where)
        if cfg.type != cls.task_type:
            raise ConfigError(join_path(where, "type"), f"{cls.__name__} needs a {cls.task_type} task",
                              cls.task_type, cfg.type)
        return cls(cfg, pre=pre)

    def to_config(self) -> dict[str, Any]:
        """Plain data that rebuilds this task with :func:`build_task` (``pre`` callables excluded)."""
        return self.config.to_dict()

    def label_kind(self, soft_labels: bool = False) -> str:
        """What the label column must hold, for the data checks: the label dtype (``float``/``long``)."""
        return self.label_dtype

    # -- math -------------------------------------------------------------------------------
    def objective(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The trained loss: :meth:`loss`, or the weighted sum of ``config.losses`` when set.

        Example:
            >>> task = BinaryClassificationTask.from_config({"label": "y", "losses": [
            ...     {"loss_type": "CLASSIFICATION"}, {"loss_type": "PAIR_WISE_LOSS", "weight": 0.5}]})
            >>> z, y = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 0.0])
            >>> # mean BCE (0.1269 + 0.6931) / 2 + 0.5 * log(1 + e^-2)
            >>> round(float(task.objective(z, y)), 4)
            0.4735
        """
        if not self.config.losses:
            return self.loss(logits, labels)
        total: torch.Tensor | None = None
        for loss in self.config.losses:
            value = LOSSES.get(loss.loss_type).fn(logits, labels, None, None, loss.fn_params())
            value = value if loss.weight == 1.0 else loss.weight * value
            total = value if total is None else total + value
        return total  # type: ignore[return-value]

    def prepare(self, logits: torch.Tensor) -> torch.Tensor:
        """Apply ``pre`` (train/eval only); identity when there is none."""
        return logits if self.pre is None else self.pre(logits)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean loss of a batch (scalar)."""
        raise NotImplementedError

    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits -> predictions (probabilities or values)."""
        raise NotImplementedError

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return self.activate(logits)

    def metric_predictions(self, logits: torch.Tensor) -> torch.Tensor:
        """What the metrics read (the activated predictions; a type may give more, e.g. ziln)."""
        return self.activate(logits)

    # -- checks (run once, before the first step) ------------------------------------------
    def check_logits(self, logits: Any, batch_size: int, where: str = "") -> None:
        """Raise ShapeError unless ``logits`` is ``(B,)`` (or ``(B, C)`` for multiclass)."""
        where = where or f"output '{self.name}'"
        expected = (batch_size, self.output_dim) if self.task_type == "multiclass" else (batch_size,)
        if not isinstance(logits, torch.Tensor):
            raise ShapeError(where, "the model output must be a tensor", f"a tensor of shape {expected}",
                             type(logits).__name__)
        if tuple(logits.shape) != expected:
            hint = " (squeeze the last axis)" if tuple(logits.shape) == (batch_size, 1) else ""
            raise ShapeError(where, f"logits of a {self.task_type} task have the wrong shape{hint}",
                             str(expected), str(tuple(logits.shape)))
        if not logits.dtype.is_floating_point:
            raise ShapeError(where, "logits must be floating point", "a float tensor", str(logits.dtype))

    def check_labels(self, labels: torch.Tensor, where: str = "") -> None:
        """Raise DataError when ``labels`` cannot be this task's labels (shape, dtype, range)."""
        where = where or f"label '{self.label}'"
        if labels.dim() != 1:
            raise DataError(where, "labels must be one value per row", "shape (B,)", f"shape {tuple(labels.shape)}")
        if labels.dtype.is_floating_point and labels.numel() and not bool(torch.isfinite(labels).all()):
            raise DataError(where, "labels contain NaN or inf", "finite labels", "non-finite values")

    def extra_repr(self) -> str:
        return f"name={self.name!r}, label={self.label!r}, weight={self.weight}, metrics={self.metrics}"


@TASKS.register("binary", config=BinaryTaskConfig, aliases=("classification", "binary_classification"),
                default_metrics=("auc", "logloss", "accuracy"))
class BinaryClassificationTask(Task):
    """Binary classification: sigmoid of one logit, binary cross-entropy loss.

    ``loss = -mean(y·log σ(z) + (1-y)·log(1-σ(z)))`` (computed stably from logits).

    Args:
        label: label column (0/1, float or int; soft labels in [0, 1] work too).
        name: output name. weight, metrics, logits_temperature, pre: see :class:`TaskConfig`.

    Shape:
        logits (B,), labels (B,) -> loss scalar; activate (B,) -> (B,) probabilities.

    Example:
        >>> task = BinaryClassificationTask("click")
        >>> round(float(task.loss(torch.tensor([0.0]), torch.tensor([1.0]))), 4)  # ln 2
        0.6931
    """

    label_dtype = "float"

    def __init__(self, label: str | TaskConfig, name: str = "ctr", *, weight: float = 1.0,
                 metrics: Sequence[str] | None = None, logits_temperature: float = 1.0, pre: Pre | None = None) -> None:
        super().__init__(_config(label, "binary", name, weight, metrics, logits_temperature), pre)

    def label_kind(self, soft_labels: bool = False) -> str:
        """``binary`` (0/1 labels), or ``soft_binary`` (any value in [0, 1]) with ``soft_labels``."""
        return "soft_binary" if soft_labels else "binary"

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))

    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)

    def check_labels(self, labels: torch.Tensor, where: str = "") -> None:
        super().check_labels(labels, where)
        if labels.numel():
            low, high = float(labels.min()), float(labels.max())
            if low < 0.0 or high > 1.0:
                raise DataError(where or f"label '{self.label}'", "binary labels must lie in [0, 1]",
                                "values in [0, 1]", f"values in [{low:g}, {high:g}]")


@TASKS.register("regression", config=RegressionTaskConfig, aliases=("l2_loss",),
                default_metrics=("rmse", "mae", "mse"))
class RegressionTask(Task):
    """Regression (e.g. rating prediction): identity activation, mean squared error loss.

    ``loss = mean((z - y)²)``.

    Shape:
        logits (B,), labels (B,) float -> loss scalar; activate (B,) -> (B,).

    Example:
        >>> float(RegressionTask("rating").loss(torch.tensor([3.0, 5.0]), torch.tensor([4.0, 4.0])))
        1.0
    """

    label_dtype = "float"

    def __init__(self, label: str | TaskConfig, name: str = "ctr", *, weight: float = 1.0,
                 metrics: Sequence[str] | None = None, logits_temperature: float = 1.0, pre: Pre | None = None) -> None:
        super().__init__(_config(label, "regression", name, weight, metrics, logits_temperature), pre)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(logits, labels.to(logits.dtype))

    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        return logits


@TASKS.register("multiclass", config=MultiClassTaskConfig,
                aliases=("multi_class", "multiclass_classification"), default_metrics=("accuracy", "logloss"))
class MultiClassClassificationTask(Task):
    """Multi-class classification: softmax over C logits, categorical cross-entropy loss.

    ``loss = -mean(log softmax(z)[y])``.

    Args:
        label: label column of int64 class ids in ``[0, C)``.
        num_classes: C >= 2.

    Shape:
        logits (B, C), labels (B,) int64 -> loss scalar; activate (B, C) -> (B, C) probabilities.

    Example:
        >>> task = MultiClassClassificationTask("genre", num_classes=3)
        >>> round(float(task.loss(torch.zeros(1, 3), torch.tensor([2]))), 4)  # ln 3
        1.0986
    """

    label_dtype = "long"

    def __init__(self, label: str | TaskConfig, name: str = "ctr", *, num_classes: int | None = None,
                 weight: float = 1.0, metrics: Sequence[str] | None = None, logits_temperature: float = 1.0,
                 pre: Pre | None = None) -> None:
        super().__init__(_config(label, "multiclass", name, weight, metrics, logits_temperature, num_classes), pre)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, labels if labels.dtype == torch.long else labels.long())

    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits, dim=-1)

    def label_kind(self, soft_labels: bool = False) -> str:
        """``classes:C``: integer class ids in ``[0, C)``."""
        return f"classes:{self.output_dim}"

    def check_labels(self, labels: torch.Tensor, where: str = "") -> None:
        super().check_labels(labels, where)
        where = where or f"label '{self.label}'"
        if labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise DataError(where, "multiclass labels must be integer class ids", "int64", str(labels.dtype))
        if labels.numel():
            low, high = int(labels.min()), int(labels.max())
            if low < 0 or high >= self.output_dim:
                raise DataError(where, "class id out of range", f"ids in [0, {self.output_dim})",
                                f"ids in [{low}, {high}]")


def _config(label: str | TaskConfig, kind: str, name: str, weight: float, metrics: Sequence[str] | None,
            logits_temperature: float, num_classes: int | None = None) -> TaskConfig:
    if isinstance(label, TaskConfig):
        return label
    data: dict[str, Any] = {"name": name, "type": kind, "label": label, "weight": weight,
                            "logits_temperature": logits_temperature}
    if metrics is not None:
        data["metrics"] = list(metrics)
    if num_classes is not None:
        data["num_classes"] = num_classes
    return parse_task_config(data, "task")


def build_task(config: TaskConfig | Mapping[str, Any] | Task, where: str = "task", pre: Pre | None = None) -> Task:
    """The registered task class of the config's ``type``, built (a Task is returned as is).

    Example:
        >>> build_task({"type": "multiclass", "label": "y", "num_classes": 4}).output_dim
        4
    """
    if isinstance(config, Task):
        return config
    cfg = parse_task_config(config, where)
    return TASKS.get(cfg.type, join_path(where, "type")).cls(cfg, pre=pre)


def build_tasks(configs: Sequence[TaskConfig | Mapping[str, Any] | Task], where: str = "tasks") -> list[Task]:
    """Tasks for a list of configs; names must be unique and the list non-empty."""
    if isinstance(configs, (Mapping, TaskConfig, Task)):
        configs = [configs]
    if not configs:
        raise ConfigError(where, "at least one task is needed", "a non-empty list", "[]")
    tasks = [build_task(c, f"{where}[{i}]") for i, c in enumerate(configs)]
    seen: dict[str, int] = {}
    for index, task in enumerate(tasks):
        if task.name in seen:
            raise ConfigError(join_path(where, index, "name"), "task names must be unique",
                              "a name not used by another task", repr(task.name))
        seen[task.name] = index
    return tasks
