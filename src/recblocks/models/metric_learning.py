"""CoMetricLearningI2I: one embedding per row, trained by pairing the rows of a batch (EasyRec's).

The backbone ends in one ``(B, D)`` output, the row's (item's) embedding. Rows of one batch
with the same session and the same label are positives of each other, every other pair a
negative; the pairs train a circle loss or a multi-similarity loss
(:mod:`recblocks.tasks.metric_losses`, chosen by ``model_params.loss_type``). Evaluation is
in-batch too: each evaluation batch's rows are ranked against each other by cosine and scored
with EasyRec's ``recall@K`` and ``map@K`` (:class:`~recblocks.metrics.in_batch.InBatchMetrics`),
so the figures depend on the evaluation batch size and on which rows share a batch (the
evaluation data is read in file order). Predictions are the embedding ``float_emb`` and, with
``output_l2_normalized_emb``, the unit-length ``norm_emb``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from recblocks.blocks.backbone.builder import build_backbone, referenced_groups
from recblocks.core.context import ForwardContext, LossTerms
from recblocks.core.errors import ConfigError, DataError
from recblocks.core.params import join_path
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.features.batch import Batch
from recblocks.features.groups import FeatureGroups
from recblocks.features.schema import Schema
from recblocks.layers.embedding import EmbeddingCollection
from recblocks.metrics.in_batch import InBatchMetrics
from recblocks.models.config import ModelConfig
from recblocks.models.l2 import l2_kernels, weight_penalty
from recblocks.models.metric_learning_config import CoMetricLearningParams
from recblocks.models.outputs import check_extras
from recblocks.models.parameter_groups import EmbeddingAndDenseParameters
from recblocks.models.rank_model import _GroupInputs, build_slots
from recblocks.models.registry import MODEL_CLASSES
from recblocks.tasks.losses import LOSSES

__all__ = ["CoMetricLearningI2I", "InBatchEvaluator", "MetricLearningOutput"]


class MetricLearningOutput(NamedTuple):
    """One forward pass: the embedding ``(B, D)``, its unit-length form (None unless
    ``output_l2_normalized_emb``), the blocks' extra outputs and losses, the embedding lookups."""

    embedding: torch.Tensor
    normalized: torch.Tensor | None
    extra: dict[str, torch.Tensor]
    auxiliary: dict[str, tuple[torch.Tensor, float]]
    lookups: list[torch.Tensor]


@MODEL_CLASSES.register("CoMetricLearningI2I", params=CoMetricLearningParams, scores_tasks=False)
class CoMetricLearningI2I(EmbeddingAndDenseParameters, nn.Module):
    """An item embedding trained with a circle or multi-similarity loss over same-session pairs.

    Args:
        schema: the feature schema.
        config: the parsed model section (``model_params`` a :class:`CoMetricLearningParams`).
        vocab_sizes: table rows per id feature.

    Raises:
        ConfigError: a backbone without exactly one ``(B, D)`` output; a ``label`` or ``session_id``
            that is also a feature the model reads.

    Shape:
        - Input: a :class:`Batch` (labels: ``label``; extras: ``session_id`` as int64 ids).
        - Output: :class:`MetricLearningOutput`: the embedding ``(B, D)``.
    """

    def __init__(self, schema: Schema, config: ModelConfig, vocab_sizes: Mapping[str, int],
                 where: str = "model") -> None:
        super().__init__()
        params = config.model_params
        if not isinstance(params, CoMetricLearningParams):
            params = CoMetricLearningParams.model_validate(params.model_dump())
        self.config, self.schema, self.params = config, schema, params
        self.groups = FeatureGroups(config.feature_groups, schema, join_path(where, "feature_groups"))
        used = [g for g in referenced_groups(config.backbone) if g in self.groups]
        slots = build_slots(schema, self.groups, used, vocab_sizes, config.embedding_dim, 1)
        self.embeddings = EmbeddingCollection(list(slots.values()), sparse=config.sparse_embeddings,
                                              init_std=config.embedding_init_std)
        self.backbone = build_backbone(config.backbone, _GroupInputs(self.groups, slots, used),
                                       join_path(where, "backbone"))
        spec = self.backbone.output_spec
        if isinstance(spec, list):
            if len(spec) != 1:
                raise ConfigError(join_path(where, "backbone.output_blocks"), "the model reads one embedding per row",
                                  "one output block (or concat_blocks)", describe_spec(spec))
            spec, self._output_index = spec[0], 0
        else:
            self._output_index = None
        if not (isinstance(spec, TensorSpec) and spec.rank == 2):
            raise ConfigError(join_path(where, "backbone"), "the model reads one embedding per row",
                              "a (B, D) backbone output", describe_spec(spec))
        self.dim = spec.last_dim
        read = {f for g in used for f in self.groups[g].feature_names}
        for field in ("label", "session_id"):
            column = getattr(params, field)
            if column in read:
                raise ConfigError(join_path(where, "model_params", field), "the column is a feature the embedding "
                                  "reads: rows would be paired by what the model sees", "a column no group reads",
                                  repr(column))
        name, self.loss_name = params.loss_entry()
        self._loss_fn = LOSSES.get(name).fn
        self._l2, self._emb_reg = params.l2_regularization, config.embedding_regularization
        self._kernels = l2_kernels(self, params.l2_scope)

    # ------------------------------------------------------------------ the model contract
    def forward(self, batch: Batch | Mapping[str, torch.Tensor]) -> MetricLearningOutput:
        """The embedding of each row (and its unit-length form)."""
        features, labels = (batch.features, batch.labels) if isinstance(batch, Batch) else (batch, {})
        context = ForwardContext(self.training, labels)
        emb = self.embeddings(features)
        out = self.backbone(emb, context)
        embedding = out[self._output_index] if self._output_index is not None else out
        normalized = F.normalize(embedding, dim=-1) if self.params.output_l2_normalized_emb else None
        return MetricLearningOutput(embedding, normalized, context.outputs, context.losses, emb.looked_up)

    def pairing(self, batch: Batch) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The batch's label and session columns (None where the params name none)."""
        labels = batch.labels[self.params.label] if self.params.label else None
        sessions = batch.extras[self.params.session_id] if self.params.session_id else None
        return labels, sessions

    def pair_loss(self, outputs: MetricLearningOutput, batch: Batch) -> torch.Tensor:
        """The circle / multi-similarity loss of the batch's pairs."""
        labels, sessions = self.pairing(batch)
        embedding = outputs.normalized if outputs.normalized is not None else outputs.embedding
        return self._loss_fn(embedding, labels, None, sessions, self.params.loss_params())

    def loss(self, outputs: MetricLearningOutput, batch: Batch) -> LossTerms:
        """The pair loss plus the blocks' weighted auxiliary losses and regularization."""
        pairs = self.pair_loss(outputs, batch)
        regularization = self.regularization_loss(outputs)
        total = pairs + regularization
        auxiliary = {}
        for name, (value, weight) in outputs.auxiliary.items():
            auxiliary[name] = value
            total = total + weight * value
        return LossTerms(total, {self.loss_name: pairs}, auxiliary, regularization)

    def regularization_loss(self, outputs: MetricLearningOutput) -> torch.Tensor:
        """``l2_regularization`` on dense kernels and embedding regularization of the lookups."""
        return weight_penalty(self._kernels, self._l2, outputs.lookups, self._emb_reg, outputs.embedding.device)

    def evaluator(self, gauc_group: str | None = None) -> "InBatchEvaluator":
        """In-batch ``recall@K`` / ``map@K`` and the pair loss over the evaluation batches."""
        return InBatchEvaluator(self)

    def predictions(self, outputs: MetricLearningOutput) -> dict[str, torch.Tensor]:
        """``float_emb`` ``(B, D)``, ``norm_emb`` with ``output_l2_normalized_emb``, then extra outputs."""
        out = {"float_emb": outputs.embedding}
        if outputs.normalized is not None:
            out["norm_emb"] = outputs.normalized
        return {**out, **outputs.extra}

    def check_batch(self, batch: Batch, where: str = "train batch") -> None:
        """The label column is among the labels, the session column among the extras."""
        label = self.params.label
        if label and label not in batch.labels:
            raise DataError(where, f"label '{label}' missing from the batch", f"one of {sorted(batch.labels)}",
                            repr(label))
        check_extras(batch, self.config.extra_columns(), "model.model_params.session_id")

    def summary_rows(self) -> list[dict[str, Any]]:
        """Plan rows: embeddings, the backbone's blocks, the pair loss."""
        rows = [{"scope": "model", "block": "embeddings", "body": "fused lookup",
                 "inputs": [f"{len(self.embeddings.slots)} slots"], "output": "per feature (B, D)",
                 "params": sum(p.numel() for p in self.embeddings.parameters())}]
        rows += self.backbone.describe()
        rows.append({"scope": "model", "block": "pairs", "body": self.params.loss_type,
                     "inputs": ["backbone"], "output": f"(B, B) from (B, {self.dim})", "params": 0})
        return rows


class InBatchEvaluator:
    """The evaluator of :class:`CoMetricLearningI2I`: in-batch ``recall@K``, ``map@K`` and ``loss``.

    ``loss`` is the pair loss averaged over rows (each batch's loss weighted by its rows). The
    default monitor is the first metric (the loss when the params ask for none).
    """

    def __init__(self, model: CoMetricLearningI2I) -> None:
        self.model = model
        self.metrics = InBatchMetrics(model.params.recall_top_k, model.params.map_top_k)
        self.keys = [*self.metrics.keys, "loss"]
        self.default_monitor = (self.keys[0], "max") if self.metrics.keys else ("loss", "min")
        self._loss_sum, self._rows = 0.0, 0

    def resolve(self, name: str) -> str:
        """EasyRec's spellings: ``MAP@10`` and ``map@10``, ``Recall@5`` and ``recall@5`` are one key."""
        return name.lower()

    def check_batch(self, batch: Batch, where: str) -> None:
        self.model.check_batch(batch, where)

    @torch.no_grad()
    def update(self, outputs: MetricLearningOutput, batch: Batch) -> None:
        """Rank the batch's rows against each other; add its pair loss."""
        labels, sessions = self.model.pairing(batch)
        self.metrics.update(outputs.embedding, labels, sessions)
        rows = outputs.embedding.shape[0]
        self._loss_sum += float(self.model.pair_loss(outputs, batch)) * rows
        self._rows += rows

    def compute(self) -> dict[str, float]:
        """Every key of :attr:`keys` over the batches added."""
        return {**self.metrics.compute(), "loss": self._loss_sum / self._rows if self._rows else 0.0}
