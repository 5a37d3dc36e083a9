"""RankModel = fused embeddings + input layers + compiled backbone + task heads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from recblocks.blocks.backbone.builder import (
    build_backbone,
    referenced_groups,
    wide_output_dim,
)
from recblocks.core.context import ForwardContext, LossTerms
from recblocks.core.errors import ConfigError, SchemaError, ShapeError
from recblocks.core.params import join_path
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.features.batch import Batch
from recblocks.features.groups import FeatureGroups
from recblocks.features.schema import Schema
from recblocks.layers.base import Component
from recblocks.layers.embedding import EmbeddingCollection, EmbeddingSlot
from recblocks.layers.input_layer import GroupInput, InputLayerConfig
from recblocks.models.config import ModelConfig
from recblocks.models.evaluation import TaskEvaluator
from recblocks.models.l2 import l2_kernels, weight_penalty
from recblocks.models.outputs import ModelOutput, TaskHeads
from recblocks.models.parameter_groups import EmbeddingAndDenseParameters
from recblocks.models.registry import MODEL_CLASSES
from recblocks.tasks import build_task

__all__ = ["RankModel", "build_slots"]


def build_slots(schema: Schema, groups: FeatureGroups, used: list[str], vocab_sizes: Mapping[str, int],
                default_dim: int, wide_dim: int) -> dict[tuple[str, str], EmbeddingSlot]:
    """One embedding slot per (namespace, feature) read by the used groups."""
    slots: dict[tuple[str, str], EmbeddingSlot] = {}
    for group_name in used:
        group = groups[group_name]
        namespace = "wide" if group.wide_deep == "WIDE" else "deep"
        for name in group.feature_names:
            if (namespace, name) in slots:
                continue
            feature = schema[name]
            if feature.kind == "dense":
                dim = wide_dim if namespace == "wide" else (feature.embedding_dim or feature.dim)
                project = namespace == "wide" or feature.embedding_dim is not None
                slots[(namespace, name)] = EmbeddingSlot(name, namespace, "dense", dim, project=project,
                                                         width=feature.dim)
                continue
            if getattr(feature, "is_numeric", False):
                dim = wide_dim if namespace == "wide" else (feature.embedding_dim or feature.dim)
                project = namespace == "wide" or feature.embedding_dim is not None
                slots[(namespace, name)] = EmbeddingSlot(name, namespace, "sequence", dim, pooling=feature.pooling,
                                                         project=project, max_len=feature.max_len,
                                                         width=feature.dim, numeric=True)
                continue
            if name not in vocab_sizes:
                raise SchemaError(f"feature '{name}'", "no fitted table size", "a fitted preprocessor entry",
                                  "none")
            dim = wide_dim if namespace == "wide" else (feature.embedding_dim or default_dim)
            slots[(namespace, name)] = EmbeddingSlot(
                name, namespace, feature.kind, dim, table=feature.table_name,
                num_embeddings=int(vocab_sizes[name]), pooling=getattr(feature, "pooling", "mean"),
                max_len=getattr(feature, "max_len", 0),
                element_len=feature.element_len if getattr(feature, "multi_bucket", False) else 0,
                weighted=getattr(feature, "weight_separator", None) is not None,
                vocabulary=getattr(feature, "vocabulary", None))
    return slots


class _GroupInputs:
    """Builds input-layer modules for the backbone from the model's slots."""

    def __init__(self, groups: FeatureGroups, slots: dict[tuple[str, str], EmbeddingSlot], used: list[str]):
        self.groups = groups
        self.slots = slots
        self.group_names = groups.names()
        self.used = used

    def slots_of(self, group: str) -> list[EmbeddingSlot]:
        """The embedding slots of the group's features, in the group's order."""
        config = self.groups[group]
        namespace = "wide" if config.wide_deep == "WIDE" else "deep"
        return [self.slots[(namespace, f)] for f in config.feature_names]

    def build(self, group: str, options: InputLayerConfig) -> GroupInput:
        return GroupInput(group, self.slots_of(group), options)


@MODEL_CLASSES.register("RankModel")
class RankModel(EmbeddingAndDenseParameters, nn.Module):
    """A ranking model built from a config: embeddings -> backbone -> one head per task.

    Args:
        schema: the feature schema.
        config: the parsed model section (:func:`~recblocks.models.config.parse_model_config`
            of a mapping, or built by the Python API).
        vocab_sizes: table rows per id feature (from the fitted preprocessor).

    It follows the trainer's model contract (:class:`~recblocks.training.TrainableModel`):
    ``forward(batch)`` returns a :class:`ModelOutput`, ``loss(outputs, batch)`` the
    :class:`~recblocks.core.context.LossTerms`, ``evaluator()`` the per-task metrics,
    ``predictions(outputs)`` the activated outputs. Blocks whose component declares
    ``uses_context`` receive the forward's :class:`~recblocks.core.context.ForwardContext`:
    their losses join the total (weighted), their outputs are predicted as extra columns.

    Shape:
        - Input: a :class:`Batch` (or its ``features``): ids ``(B,)``/``(B, L)``, dense ``(B,)``/``(B, N)``.
        - Output: :class:`ModelOutput`: logits ``(B,)`` for binary/regression, ``(B, C)``
          multi-class, per task; extra outputs ``(B, ...)``.
    """

    def __init__(self, schema: Schema, config: ModelConfig, vocab_sizes: Mapping[str, int],
                 where: str = "model") -> None:
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise ConfigError(where, "the model section must be parsed first",
                              "a ModelConfig (parse_model_config)", type(config).__name__)
        cfg = config
        self.config = cfg
        self.schema = schema
        self.groups = FeatureGroups(cfg.feature_groups, schema, join_path(where, "feature_groups"))
        backbone_cfg = cfg.backbone
        used = [g for g in referenced_groups(backbone_cfg) if g in self.groups]
        wide_dim = wide_output_dim(backbone_cfg, join_path(where, "backbone"))
        wide_used = [g for g in used if self.groups[g].wide_deep == "WIDE"]
        if wide_used and wide_dim is None:  # EasyRec: "wide_output_dim is not set"
            raise ConfigError(join_path(where, "backbone"), f"feature group '{wide_used[0]}' is WIDE, but no input_layer "
                              "block sets wide_output_dim", "wide_output_dim: N on an input_layer block (1: one "
                              "weight per value, as in Wide & Deep)", "unset")
        slots = build_slots(schema, self.groups, used, vocab_sizes, cfg.embedding_dim, wide_dim or 1)
        self.embeddings = EmbeddingCollection(list(slots.values()), sparse=cfg.sparse_embeddings,
                                              init_std=cfg.embedding_init_std)
        self.backbone = build_backbone(backbone_cfg, _GroupInputs(self.groups, slots, used),
                                       join_path(where, "backbone"))
        self.tasks = nn.ModuleList([build_task(t, path) for t, path in self.task_configs(cfg, where)])
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            raise ConfigError(join_path(where, "tasks"), "task names must be unique", "unique names", names)
        self.heads = nn.ModuleDict()
        self._task_inputs = self._plan_heads(where)
        self._l2 = cfg.model_params.l2_regularization
        self._emb_reg = cfg.embedding_regularization
        self._kernels = l2_kernels(self, cfg.model_params.l2_scope)
        self._penalized = [m for m in self.modules() if isinstance(m, Component) and m.regularization_loss() is not None]
        self._heads = TaskHeads(self.tasks)

    def task_configs(self, config: ModelConfig, where: str) -> list[tuple[Any, str]]:
        """The task configs this model scores, each with its config path (``model.tasks[i]``)."""
        if not config.tasks:
            raise ConfigError(join_path(where, "tasks"), "the model has no task", "at least one task", "none")
        return [(task, join_path(where, "tasks", i)) for i, task in enumerate(config.tasks)]

    def _plan_heads(self, where: str) -> list[int | None]:
        """Attach a Linear head where the backbone width differs from the task's output width."""
        spec = self.backbone.output_spec
        per_task: list[Any]
        index: list[int | None]
        if isinstance(spec, list):
            if len(spec) == len(self.tasks):
                per_task, index = spec, list(range(len(spec)))
            elif len(self.tasks) == 1:
                raise ShapeError(join_path(where, "backbone.output_blocks"),
                                 "a single task needs one backbone output", "one output (use concat_blocks)",
                                 describe_spec(spec))
            else:
                raise ShapeError(join_path(where, "backbone.output_blocks"),
                                 "the number of backbone outputs and tasks must be equal",
                                 f"{len(self.tasks)} outputs", len(spec))
        else:
            per_task, index = [spec] * len(self.tasks), [None] * len(self.tasks)
        for task, out in zip(self.tasks, per_task):
            if not isinstance(out, TensorSpec) or out.rank != 2:
                raise ShapeError(join_path(where, "backbone"), f"task '{task.name}' needs a (B, D) backbone output",
                                 "(B, D)", describe_spec(out))
            if out.last_dim != task.output_dim:
                self.heads[task.name] = nn.Linear(out.last_dim, task.output_dim)
        return index

    # ------------------------------------------------------------------ the model contract
    def forward(self, batch: Batch | Mapping[str, torch.Tensor]) -> ModelOutput:
        """Logits per task, extra outputs and auxiliary losses of the blocks, embedding lookups.

        ``batch`` is a :class:`Batch` (its labels reach blocks through the forward context) or
        a mapping of feature tensors (no labels: prediction).
        """
        out, context, emb = self._run_backbone(batch)
        logits = {}
        for task, idx in zip(self.tasks, self._task_inputs):
            x = out[idx] if idx is not None else out
            if task.name in self.heads:
                x = self.heads[task.name](x)
            logits[task.name] = x.squeeze(-1) if task.output_dim == 1 else x
        return ModelOutput(logits, context.outputs, context.losses, emb.looked_up)

    def _run_backbone(self, batch: Batch | Mapping[str, torch.Tensor]) -> tuple[Any, ForwardContext, Any]:
        """Embed the features and run the backbone: ``(backbone output, forward context, embeddings)``.

        ``batch`` is a :class:`Batch` (its labels reach blocks through the context) or a mapping
        of feature tensors (no labels: prediction).
        """
        if isinstance(batch, Batch):
            features, labels = batch.features, batch.labels
        else:
            features, labels = batch, {}
        context = ForwardContext(self.training, labels)
        emb = self.embeddings(features)
        return self.backbone(emb, context), context, emb

    @staticmethod
    def _with_auxiliary(total: torch.Tensor, tasks: dict[str, torch.Tensor], regularization: torch.Tensor,
                        outputs: ModelOutput) -> LossTerms:
        """The loss terms with the blocks' weighted auxiliary losses added to ``total``."""
        auxiliary = {}
        for name, (value, weight) in outputs.auxiliary.items():
            auxiliary[name] = value
            total = total + value if weight == 1.0 else total + weight * value
        return LossTerms(total, tasks, auxiliary, regularization)

    def loss(self, outputs: ModelOutput, batch: Batch) -> LossTerms:
        """Per-task losses (after ``pre``), block losses and regularization; the total is
        ``regularization + sum(task weight * task loss) + sum(loss weight * block loss)``."""
        regularization = self.regularization_loss(outputs)
        tasks, total = self._heads.terms(outputs.logits, batch.labels, regularization)
        return self._with_auxiliary(total, tasks, regularization, outputs)

    def evaluator(self, gauc_group: str | None = None) -> TaskEvaluator:
        """A fresh evaluator of every task's metrics and loss (see :class:`TaskEvaluator` for the keys)."""
        return TaskEvaluator(self.tasks, gauc_group)

    def predictions(self, outputs: ModelOutput) -> dict[str, torch.Tensor]:
        """Activated outputs per task (probabilities / values / class probabilities; no ``pre``)
        followed by the blocks' extra outputs."""
        return {**self._heads.activate(outputs.logits), **outputs.extra}

    def check_batch(self, batch: Batch, where: str = "train batch") -> None:
        """First-batch checks: features present, every task's label column present and valid."""
        self._heads.check_batch(batch, where)

    def check_outputs(self, outputs: ModelOutput, batch: Batch, where: str = "train batch") -> None:
        """First-batch checks of the outputs: logits shapes per task, extra outputs' rows and names."""
        self._heads.check_logits(outputs.logits, len(batch))
        self._heads.check_extra(outputs.extra, len(batch))

    def predict(self, features: Batch | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Activated outputs per task plus extra outputs (see :meth:`predictions`)."""
        return self.predictions(self.forward(features))

    def regularization_loss(self, outputs: ModelOutput) -> torch.Tensor:
        """l2 on dense kernels, the components' own penalties (Keras ``kernel_regularizer``...)
        and embedding regularization of the lookups of ``outputs``."""
        total = weight_penalty(self._kernels, self._l2, outputs.lookups, self._emb_reg)
        for module in self._penalized:
            total = total + module.regularization_loss()
        return total

    def summary_rows(self) -> list[dict[str, Any]]:
        """Plan rows (block, body, inputs, output shape, parameters) plus embeddings and heads."""
        rows = [{"scope": "model", "block": "embeddings", "body": "fused lookup",
                 "inputs": [f"{len(self.embeddings.slots)} slots"], "output": "per feature (B, D)",
                 "params": sum(p.numel() for p in self.embeddings.parameters())}]
        rows += self.backbone.describe()
        for name, head in self.heads.items():
            rows.append({"scope": "model", "block": f"head:{name}", "body": "Linear", "inputs": ["backbone"],
                         "output": f"(B, {head.out_features})", "params": sum(p.numel() for p in head.parameters())})
        return rows
