"""The model section of a config: feature groups, backbone, tasks and regularization."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SerializeAsAny, ValidationInfo, field_validator, model_validator

from recblocks.core.limits import MAX_EMBEDDING_DIM
from recblocks.core.params import Params, join_path
from recblocks.models.registry import MODEL_CLASSES
from recblocks.tasks.config import TaskConfig, parse_task_config

__all__ = ["ModelParams", "ModelConfig"]


class ModelParams(Params):
    """EasyRec ``model_params``: ``l2_regularization`` on dense kernels."""

    l2_regularization: float = Field(default=0.0, ge=0.0)


class ModelConfig(Params):
    """Everything that defines a model apart from the feature schema.

    ``tasks`` lists prediction heads, each parsed into its type's registered config class
    (:func:`~recblocks.tasks.parse_task_config`); ``task`` is accepted as a shorthand for one task.
    ``model_class`` names a registered model class (``MODEL_CLASSES``; ``RankModel`` today).
    ``embedding_dim`` is the width of id features that do not set their own.
    ``embedding_regularization`` is EasyRec's: ``coef * sum(e^2) / 2`` over the embeddings
    looked up in the batch; ``model_params.l2_regularization`` is ``coef * sum(W^2) / 2`` over
    dense kernels (weights of rank >= 2 outside the embedding tables).
    """

    model_class: str = "RankModel"
    model_name: str | None = None
    feature_groups: list[dict[str, Any]]
    backbone: dict[str, Any]
    tasks: list[SerializeAsAny[TaskConfig]] = Field(default_factory=list)
    model_params: ModelParams = Field(default_factory=ModelParams)
    embedding_regularization: float = Field(default=0.0, ge=0.0)
    embedding_dim: int = Field(default=16, gt=0, le=MAX_EMBEDDING_DIM,
                               description=f"default width of id features, at most {MAX_EMBEDDING_DIM:,}")
    embedding_init_std: float = Field(default=0.01, gt=0.0)
    sparse_embeddings: bool = True

    @model_validator(mode="before")
    @classmethod
    def _single_task(cls, data: Any) -> Any:
        if isinstance(data, dict) and "task" in data:
            data = dict(data)
            task = data.pop("task")
            if data.get("tasks"):
                raise ValueError("set either 'task' or 'tasks', not both")
            data["tasks"] = [task]
        return data

    @field_validator("model_class", mode="before")
    @classmethod
    def _registered_model_class(cls, value: Any, info: ValidationInfo) -> Any:
        return MODEL_CLASSES.get(value, join_path(_where(info), "model_class")).name

    @field_validator("tasks", mode="before")
    @classmethod
    def _typed_tasks(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, (list, tuple)):
            return value
        where = join_path(_where(info), "tasks")
        return [parse_task_config(task, join_path(where, i)) for i, task in enumerate(value)]


def _where(info: ValidationInfo) -> str:
    """The config path of the model section (``model`` unless the caller passes another)."""
    context = info.context if isinstance(info.context, dict) else {}
    return str(context.get("where") or "model")
