"""The model section of a config, typed: feature groups, backbone, tasks and regularization.

:func:`parse_model_config` is the one place a ``model`` mapping becomes a :class:`ModelConfig`
(pydantic validation, then one binding pass that validates every component's params against
its registration). The Python composition API builds the same objects directly; the model
classes receive them as they are, and :meth:`ModelConfig.to_dict` writes them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, SerializeAsAny, ValidationInfo, field_validator, model_validator

from recblocks.blocks.backbone.config import BackboneConfig, ConfigNode, bind_backbone
from recblocks.core.errors import ConfigError
from recblocks.core.limits import MAX_EMBEDDING_DIM
from recblocks.core.params import Params, join_path, parse_params
from recblocks.features.groups import FeatureGroupConfig
from recblocks.models.registry import MODEL_CLASSES
from recblocks.tasks.config import TaskConfig, parse_task_config

__all__ = ["ModelParams", "ModelConfig", "parse_model_config", "parse_model_params"]


class ModelParams(Params):
    """EasyRec ``model_params``: ``l2_regularization`` on dense kernels.

    ``l2_scope`` says which kernels (weights of two or more dimensions outside the embedding
    tables): ``all_kernels`` (recblocks' default) every one of them; ``easyrec`` only those EasyRec
    passes its ``l2_regularizer`` to: MLPs (top MLP, towers, the MLPs inside other components),
    DIN, BST, MaskNet's blocks, MMoE, PPNet and multi-task towers with their output layer, and not
    the rank model's output layer, Cross, FM, CIN, SENet, AutoInt and the other interaction
    layers (EasyRec configs are translated with it).
    """

    l2_regularization: float = Field(default=0.0, ge=0.0)
    l2_scope: Literal["all_kernels", "easyrec"] = "all_kernels"


class ModelConfig(ConfigNode):
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
    feature_groups: list[FeatureGroupConfig]
    backbone: BackboneConfig
    tasks: list[SerializeAsAny[TaskConfig]] = Field(default_factory=list)
    model_params: SerializeAsAny[ModelParams] = Field(default_factory=ModelParams)
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

    @field_validator("model_params", mode="before")
    @classmethod
    def _class_params(cls, value: Any, info: ValidationInfo) -> Any:
        return parse_model_params(info.data.get("model_class"), value, join_path(_where(info), "model_params"))

    @model_validator(mode="after")
    def _params_of_class(self) -> "ModelConfig":
        if type(self.model_params) is ModelParams and _params_class(self.model_class) is not ModelParams:
            self.model_params = parse_model_params(self.model_class, self.model_params, "model.model_params")
        if self.tasks and not MODEL_CLASSES.get(self.model_class).scores_tasks:
            raise ConfigError("model.tasks", f"a {self.model_class} defines its own loss and scores no per-row task",
                              "no tasks section (its model_params say what it learns)",
                              f"{len(self.tasks)} task(s)")
        return self

    @field_validator("tasks", mode="before")
    @classmethod
    def _typed_tasks(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, (list, tuple)):
            return value
        where = join_path(_where(info), "tasks")
        return [parse_task_config(task, join_path(where, i)) for i, task in enumerate(value)]

    def task_configs(self) -> list[TaskConfig]:
        """Every task the model scores: ``tasks`` and those its ``model_params`` define (task towers)."""
        defined = getattr(self.model_params, "task_configs", None)
        return [*self.tasks, *(defined() if defined is not None else [])]

    def extra_columns(self) -> list[str]:
        """Columns the model reads besides features and labels (sample weights, loss groups)."""
        columns = getattr(self.model_params, "extra_columns", None)
        return list(columns()) if columns is not None else []

    def weight_columns(self) -> list[str]:
        """Numeric columns the loss reads per row, read like labels (sample weights, task-space indicators)."""
        columns = getattr(self.model_params, "weight_columns", None)
        return list(columns()) if columns is not None else []

    def to_dict(self) -> dict[str, Any]:
        """The ``model`` section as plain data: what was set, canonical spellings, field order.

        Each task writes itself (``TaskConfig.to_dict``); everything else is the IR's own
        serialisation, so ``parse_model_config(cfg.to_dict()) == cfg``.
        """
        data = self.model_dump(mode="json", exclude_unset=True, by_alias=True, exclude={"tasks"})
        if "tasks" in self.model_fields_set or self.tasks:
            data["tasks"] = [task.to_dict() for task in self.tasks]
        return {key: data[key] for key in type(self).model_fields if key in data}


def parse_model_config(raw: Mapping[str, Any] | ModelConfig, where: str = "model") -> ModelConfig:
    """The typed model section for ``raw``; every error names its dotted path under ``where``.

    Pieces that are already typed (a ``BackboneConfig``, ``FeatureGroupConfig`` or task config
    built by the Python API) are taken as they are; components not bound yet are bound here.

    Example:
        >>> raw = {"feature_groups": [{"group_name": "all", "feature_names": ["a"]}],
        ...        "backbone": {"blocks": [{"name": "x", "inputs": [{"feature_group_name": "all"}],
        ...                                 "component": {"class_name": "MLP", "params": {"hiden_units": [4]}}}]},
        ...        "task": {"type": "binary", "label": "y"}}
        >>> parse_model_config(raw)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        recblocks.core.errors.ConfigError: model.backbone.blocks[0].component.params.hiden_units: unknown ...; did you mean 'hidden_units'?
        >>> raw["backbone"]["blocks"][0]["component"]["params"] = {"hidden_units": [4]}
        >>> config = parse_model_config(raw)
        >>> config.backbone.blocks[0].component.typed_params.hidden_units
        [4]
        >>> parse_model_config(config.to_dict()) == config
        True
    """
    if isinstance(raw, ModelConfig):
        config = raw
    elif isinstance(raw, Mapping):
        config = parse_params(ModelConfig, raw, where)
    else:
        raise ConfigError(where, "the model section must be a mapping", "a mapping", type(raw).__name__)
    bind_backbone(config.backbone, join_path(where, "backbone"))
    return config


def _params_class(model_class: Any) -> type[ModelParams]:
    name = MODEL_CLASSES.canonical(model_class)
    return (MODEL_CLASSES.get(name).params if name is not None else None) or ModelParams


def parse_model_params(model_class: Any, value: Any, where: str) -> Any:
    """``value`` as the ``model_params`` model of ``model_class`` (registered on its entry), checked."""
    params_cls = _params_class(model_class)
    if isinstance(value, params_cls):
        return value
    if isinstance(value, ModelParams):
        value = value.model_dump(exclude_unset=True)
    if params_cls is ModelParams and isinstance(value, Mapping) and "task_towers" in value:
        # EasyRec's RankModel never reads task_towers (rank_model.py: one output, one label): the towers would be
        # silently dropped, and a backbone ending in MMoE (a list) fails there; EasyRec's docs spell that case
        # MultiTaskModel.
        raise ConfigError(join_path(where, "task_towers"), f"a {model_class} has no task towers (EasyRec's RankModel "
                          "ignores them)", "model_class: MultiTaskModel (or tasks: for a RankModel)",
                          f"model_class: {model_class}", choices=["MultiTaskModel"])
    params = parse_params(params_cls, value if value is not None else {}, where)
    check = getattr(params, "check", None)
    if check is not None:
        check(where)
    return params


def _where(info: ValidationInfo) -> str:
    """The config path of the model section (``model`` unless the caller passes another)."""
    context = info.context if isinstance(info.context, dict) else {}
    return str(context.get("where") or "model")
