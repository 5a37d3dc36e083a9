"""``TASKS``: every task type, with its task class, its config class, aliases and default metrics.

A task type is one registration on its task class::

    @TASKS.register("binary", config=BinaryTaskConfig, aliases=("classification",),
                    default_metrics=("auc", "logloss", "accuracy"))
    class BinaryClassificationTask(Task): ...

:func:`~recblocks.tasks.config.parse_task_config` dispatches a config's ``type`` through this
registry (an unknown type is a ConfigError with a suggestion) and
:func:`~recblocks.tasks.heads.build_task` builds the registered class; no other table names
task types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import Params
from recblocks.core.registry import ClassEntry, Registry, describe_params

__all__ = ["TASKS", "TaskSpec"]


@dataclass(frozen=True, kw_only=True)
class TaskSpec(ClassEntry):
    """Every fact about one task type.

    Args:
        cls: the task class (a :class:`~recblocks.tasks.heads.Task`); it gets ``task_type``.
        config: its config class (a :class:`~recblocks.tasks.config.TaskConfig` subclass whose
            ``type`` defaults to the registered name).
        default_metrics: metrics reported when a task's ``metrics`` is not set.
        metric_kind: the kind of predictions metrics see (``binary`` probabilities,
            ``multiclass`` probability rows, ``regression`` values; see
            :data:`recblocks.metrics.METRICS`); default: the type's name.
        aliases: other spellings of the type (EasyRec loss/head names, Merlin names).
    """

    config: type[Params]
    default_metrics: tuple[str, ...] = ()
    metric_kind: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        where = f"task type '{self.name}'"
        field = getattr(self.config, "model_fields", {}).get("type")
        if field is None or field.get_default() != self.name:
            raise ConfigError(f"{where}.config", "the config class must default its 'type' to the registered name",
                              repr(self.name), None if field is None else repr(field.get_default()))
        object.__setattr__(self, "default_metrics", tuple(self.default_metrics))
        object.__setattr__(self, "metric_kind", self.metric_kind or self.name)

    def attach(self) -> None:
        super().attach()
        self.cls.task_type = self.name  # type: ignore[attr-defined]
        self.cls.config_cls = self.config  # type: ignore[attr-defined]
        self.cls.default_metrics = self.default_metrics  # type: ignore[attr-defined]
        self.cls.metric_kind = self.metric_kind  # type: ignore[attr-defined]

    def facts(self) -> dict[str, Any]:
        return {"config": self.config.__name__, "default_metrics": list(self.default_metrics),
                "metric_kind": self.metric_kind,
                "label_dtype": getattr(self.cls, "label_dtype", "float"),
                "params": [p for p in describe_params(self.config) if p["name"] != "type"]}


TASKS: Registry[TaskSpec] = Registry("task type", TaskSpec, case_sensitive=False)
"""Task types; importing :mod:`recblocks.tasks` registers the built-in ones."""
