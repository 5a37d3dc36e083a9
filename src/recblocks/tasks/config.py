"""``TaskConfig``: the typed description of one prediction task (head + loss + metrics)."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from recblocks.core.errors import did_you_mean
from recblocks.core.params import Params

__all__ = ["TaskConfig", "TASK_TYPES", "TASK_TYPE_ALIASES", "DEFAULT_METRICS", "canonical_task_type"]

#: Canonical task types.
TASK_TYPES = ("binary", "regression", "multiclass")

#: Other spellings accepted for ``type`` (EasyRec loss/head names, Merlin class names).
TASK_TYPE_ALIASES = {
    "classification": "binary",
    "binary_classification": "binary",
    "multi_class": "multiclass",
    "multiclass_classification": "multiclass",
    "l2_loss": "regression",
}

#: Metrics reported when ``metrics`` is not set (the trainer adds ``gauc`` for binary tasks
#: when ``train.gauc_group`` is set).
DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("auc", "logloss", "accuracy"),
    "regression": ("rmse", "mae", "mse"),
    "multiclass": ("accuracy", "logloss"),
}


def canonical_task_type(name: str) -> str | None:
    """Canonical type for ``name`` or an alias (case-insensitive); None when unknown."""
    key = str(name).strip().lower()
    if key in TASK_TYPES:
        return key
    return TASK_TYPE_ALIASES.get(key)


class TaskConfig(Params):
    """One prediction task.

    Args:
        name: output name (the key of the model's output dict and of predictions).
        type: ``binary`` (sigmoid + BCE), ``regression`` (identity + MSE) or ``multiclass``
            (softmax + cross-entropy); EasyRec's ``classification`` is accepted for ``binary``.
        label: the label column of the batch.
        num_classes: number of classes, multiclass only (>= 2). ``num_class`` is accepted.
        weight: weight of this task's loss in the total loss.
        metrics: metric names; None means the defaults of the type (:data:`DEFAULT_METRICS`).
        logits_temperature: divide the logits by this before loss and metrics (train/eval only;
            predictions are not scaled); 1.0 means off.
    """

    name: str = "ctr"
    type: str = "binary"
    label: str
    num_classes: int | None = Field(default=None, validation_alias=AliasChoices("num_classes", "num_class"))
    weight: float = Field(default=1.0, ge=0.0)
    metrics: list[str] | None = None
    logits_temperature: float = Field(default=1.0, gt=0.0)

    @field_validator("type", mode="before")
    @classmethod
    def _check_type(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        canonical = canonical_task_type(value)
        if canonical is None:
            suggestion = did_you_mean(value, [*TASK_TYPES, *TASK_TYPE_ALIASES])
            hint = f"; did you mean '{suggestion}'?" if suggestion else ""
            raise PydanticCustomError("task_type", f"unknown task type; expected one of {list(TASK_TYPES)}{hint}")
        return canonical

    @field_validator("name", "label")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("empty_name", "must not be empty")
        return value

    @model_validator(mode="after")
    def _check_classes(self) -> "TaskConfig":
        if self.type == "multiclass":
            if self.num_classes is None or self.num_classes < 2:
                raise PydanticCustomError(
                    "num_classes", "a multiclass task needs num_classes >= 2; got {got}", {"got": self.num_classes})
        elif self.num_classes not in (None, 1):
            raise PydanticCustomError(
                "num_classes", "num_classes is only for multiclass tasks; a {kind} task has one output, got {got}",
                {"kind": self.type, "got": self.num_classes})
        return self

    @property
    def output_dim(self) -> int:
        """Width of the logits: ``num_classes`` for multiclass, else 1."""
        return int(self.num_classes) if self.type == "multiclass" and self.num_classes else 1

    @property
    def resolved_metrics(self) -> list[str]:
        """``metrics`` or the defaults of the type."""
        return list(self.metrics) if self.metrics is not None else list(DEFAULT_METRICS[self.type])

    def to_dict(self) -> dict[str, Any]:
        """Plain data that rebuilds this config; ``name``, ``type`` and ``label`` always present."""
        data = super().to_dict()
        return {"name": self.name, "type": self.type, "label": self.label, **data}
