"""``Ranking``: TFRS's configurable DLRM/DCN ranking model as a composed :class:`Model`.

``tfrs.experimental.models.Ranking(embedding_layer, bottom_stack, feature_interaction,
top_stack, concat_dense, task)``; the graph is :class:`~recblocks.blocks.compose.RankingBody`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from recblocks.blocks.compose import Block, component_block
from recblocks.blocks.compose.ranking import TFRS_MLP, RankingBody
from recblocks.features.schema import Schema
from recblocks.runs.model import Model
from recblocks.tasks import BinaryClassificationTask, Task

__all__ = ["Ranking"]


class Ranking(Model):
    """A configurable ranking model (TFRS ``Ranking``); DLRM by default, DCN with a Cross interaction.

    Args:
        embedding_layer: the sparse embeddings, e.g. ``EmbeddingFeatures(embedding_dim=16)``.
        bottom_stack: applied to the dense features; default TFRS's ``MLP([256, 64, 16])``:
            ``MLPBlock([256, 64, 16], **TFRS_MLP)`` (bias, Glorot, ReLU on every layer, no batch
            norm). For DLRM its width must equal the embedding width.
        feature_interaction: default ``DotInteractionBlock()``; DCN:
            ``ConcatFeatures().connect(CrossBlock())``.
        top_stack: default ``MLPBlock([512, 256, 1], final_activation=None, **TFRS_MLP)``: TFRS
            ends with a sigmoid, here the last layer is linear because the task applies the
            sigmoid (and computes the loss from logits).
        concat_dense: concatenate the bottom output before the interaction output.
        task: default ``BinaryClassificationTask("label")`` (binary cross-entropy); e.g.
            ``RegressionTask("rating")`` for rating prediction.
        dense_layer: where the dense features come from; default ``ContinuousFeatures()`` (every
            dense feature) when the schema has any.
        schema, **options: as :class:`Model`.

    Attributes:
        embedding_trainable_variables: embedding tables of the built network.
        dense_trainable_variables: every other parameter. Training gives them different
            optimizers/learning rates with ``fit(..., embedding_optimizer={...})``.
    """

    def __init__(self, embedding_layer: Block, bottom_stack: Block | None = None,
                 feature_interaction: Block | None = None, top_stack: Block | None = None,
                 concat_dense: bool = True, task: Task | Sequence[Task] | Mapping[str, Any] | None = None, *,
                 dense_layer: Block | None = None, schema: Schema | Sequence[Mapping[str, Any]] | None = None,
                 **options: Any) -> None:
        mlp = component_block("MLP")
        body = RankingBody(
            embedding_layer, dense_layer,
            bottom_stack if bottom_stack is not None else mlp([256, 64, 16], **TFRS_MLP),
            feature_interaction if feature_interaction is not None else component_block("DotInteraction")(),
            top_stack if top_stack is not None else mlp([512, 256, 1], final_activation=None, **TFRS_MLP),
            concat_dense)
        super().__init__(body, task if task is not None else BinaryClassificationTask("label"), schema, **options)

    @property
    def embedding_trainable_variables(self) -> list[nn.Parameter]:
        """The embedding tables (built with placeholder sizes if the model is not built yet)."""
        return list(self._built().embedding_parameters())

    @property
    def dense_trainable_variables(self) -> list[nn.Parameter]:
        """Every trainable parameter that is not an embedding table."""
        return [p for p in self._built().dense_parameters() if p.requires_grad]
