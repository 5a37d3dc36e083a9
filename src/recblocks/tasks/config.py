"""Task configs: one typed config class per task type, dispatched on ``type`` through ``TASKS``.

``TaskConfig`` holds the fields every task shares; each task type registers its own subclass
(``BinaryTaskConfig``, ``RegressionTaskConfig``, ``MultiClassTaskConfig``: only the last has
``num_classes``). :func:`parse_task_config` reads one task section into the right class.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import AliasChoices, Field, SerializationInfo, field_validator, model_serializer, model_validator
from pydantic_core import PydanticCustomError

from recblocks.core.errors import ConfigError
from recblocks.core.params import Params, join_path, parse_params
from recblocks.metrics.catalog import resolve_metrics
from recblocks.tasks.losses import LossTermConfig
from recblocks.tasks.registry import TASKS

__all__ = ["TaskConfig", "BinaryTaskConfig", "RegressionTaskConfig", "MultiClassTaskConfig", "parse_task_config"]

#: The type a task section without ``type`` gets.
DEFAULT_TASK_TYPE = "binary"


class TaskConfig(Params):
    """The fields every task type shares (each type registers a subclass).

    Args:
        name: output name (the key of the model's output dict and of predictions).
        type: the registered task type (``recblocks.tasks.TASKS``): ``binary`` (sigmoid + BCE),
            ``regression`` (identity + MSE), ``multiclass`` (softmax + cross-entropy); aliases
            such as EasyRec's ``classification`` or ``l2_loss`` are accepted.
        label: the label column of the batch.
        weight: weight of this task's loss in the total loss.
        metrics: metric names; None means the defaults of the type (on its registration).
        logits_temperature: divide the logits by this before loss and metrics (train/eval only;
            predictions are not scaled); 1.0 means off.
        losses: several weighted losses (``LOSSES``) trained instead of the type's own loss,
            summed (EasyRec's ``losses`` list); pairwise and listwise ones compare the rows of
            the whole batch. Empty: the type's loss.
    """

    name: str = "ctr"
    type: str
    label: str
    weight: float = Field(default=1.0, ge=0.0)
    metrics: list[str] | None = None
    logits_temperature: float = Field(default=1.0, gt=0.0)
    losses: list[LossTermConfig] = Field(default_factory=list)

    @field_validator("type", mode="before")
    @classmethod
    def _canonical_type(cls, value: Any) -> Any:
        return TASKS.canonical(value) or value

    @model_validator(mode="before")
    @classmethod
    def _num_classes_only_where_declared(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or "num_classes" in cls.model_fields:
            return data
        keys = [k for k in ("num_classes", "num_class") if k in data]
        if not keys:
            return data
        value = data[keys[0]]
        if value in (None, 1):  # one output: what every other type has (EasyRec writes num_class: 1)
            return {k: v for k, v in data.items() if k not in keys}
        kind = cls.model_fields["type"].get_default() or data.get("type")
        raise PydanticCustomError(
            "num_classes", "num_classes is only for multiclass tasks; a {kind} task has one output, got {got}",
            {"kind": kind, "got": value})

    @field_validator("name", "label")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("empty_name", "must not be empty")
        return value

    @model_serializer(mode="wrap")
    def _name_type_label_always(self, handler: Any, info: SerializationInfo) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            return {"name": self.name, "type": self.type, "label": self.label, **data}
        return data

    @property
    def output_dim(self) -> int:
        """Width of the logits (1; a multiclass task has ``num_classes``)."""
        return 1

    @property
    def metric_kind(self) -> str:
        """The kind of predictions its metrics see: the type's registered ``metric_kind``."""
        return TASKS.get(self.type).metric_kind

    @property
    def resolved_metrics(self) -> list[str]:
        """``metrics`` or the default metrics of the type's registration."""
        return list(self.metrics) if self.metrics is not None else list(TASKS.get(self.type).default_metrics)

    def to_dict(self) -> dict[str, Any]:
        """Plain data that rebuilds this config; ``name``, ``type`` and ``label`` always present."""
        return super().to_dict()


class BinaryTaskConfig(TaskConfig):
    """A binary classification task (see :class:`TaskConfig` for the fields)."""

    type: Literal["binary"] = "binary"


class RegressionTaskConfig(TaskConfig):
    """A regression task (see :class:`TaskConfig` for the fields)."""

    type: Literal["regression"] = "regression"


class MultiClassTaskConfig(TaskConfig):
    """A multi-class classification task.

    Args:
        num_classes: number of classes C >= 2 (``num_class`` accepted, EasyRec's spelling).
        Other fields: see :class:`TaskConfig`.
    """

    type: Literal["multiclass"] = "multiclass"
    num_classes: int = Field(ge=2, validation_alias=AliasChoices("num_classes", "num_class"))

    @property
    def output_dim(self) -> int:
        return int(self.num_classes)

    @property
    def metric_kind(self) -> str:
        """``two_class`` for 2 classes (EasyRec's ``num_class: 2``: AUC on class 1's probability), else ``multiclass``."""
        return "two_class" if self.num_classes == 2 else "multiclass"


def parse_task_config(raw: TaskConfig | Mapping[str, Any], where: str = "task") -> TaskConfig:
    """The registered config class of the task's ``type`` (default ``binary``), validated.

    An unknown type is a ConfigError naming ``<where>.type`` with the nearest registered type; an
    unknown metric, or one that does not fit the type's ``metric_kind``, names ``<where>.metrics[i]``.

    Example:
        >>> parse_task_config({"type": "classification", "label": "click"})
        BinaryTaskConfig(name='ctr', type='binary', label='click', weight=1.0, metrics=None, logits_temperature=1.0, losses=[])
        >>> parse_task_config({"type": "binay", "label": "y"}, "model.tasks[0]")
        Traceback (most recent call last):
        ...
        recblocks.core.errors.ConfigError: model.tasks[0].type: unknown task type; expected one of ['binary', 'multiclass', 'regression', 'ziln'], got 'binay'; did you mean 'binary'?
    """
    if isinstance(raw, TaskConfig):
        return raw
    if not isinstance(raw, Mapping):
        raise ConfigError(where, "a task must be a mapping", "e.g. {type: binary, label: click}", type(raw).__name__)
    entry = TASKS.get(raw.get("type", DEFAULT_TASK_TYPE), join_path(where, "type"))
    config = parse_params(entry.config, {**raw, "type": entry.name}, where)
    for i, loss in enumerate(config.losses):
        loss.check(config.type, join_path(where, "losses", i))
    resolve_metrics(config.resolved_metrics, config.metric_kind, join_path(where, "metrics"),  # names and kinds, now
                    getattr(config, "num_classes", None))
    return config
