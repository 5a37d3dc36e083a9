"""The ``model_params`` of ``model_class: CoMetricLearningI2I`` (EasyRec's ``metric_learning`` fields).

EasyRec's collaborative metric learning model learns one embedding per row (an item) so that
the items of one session that share a label lie close together: the rows of a batch are paired
by a session column and the label (a string session id is read as int64 ids, as any extra
column), and the pairs train a circle loss or a multi-similarity loss
(:mod:`recblocks.tasks.metric_losses`). Evaluation ranks the rows of each evaluation batch
against each other (:mod:`recblocks.metrics.in_batch`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from recblocks.models.config import ModelParams

__all__ = ["CoMetricLearningParams", "METRIC_LEARNING_LOSSES"]

#: ``loss_type`` -> (the ``LOSSES`` entry, the name of its loss term; EasyRec's loss dictionary keys).
METRIC_LEARNING_LOSSES = {"CIRCLE_LOSS": ("circle_loss", "circle_loss"),
                          "MULTI_SIMILARITY_LOSS": ("multi_similarity_loss", "ms_loss")}


class CoMetricLearningParams(ModelParams):
    """Parameters of :class:`~recblocks.models.metric_learning.CoMetricLearningI2I`.

    Args:
        label: the label column whose equal values (with equal sessions) make rows positives of
            each other (EasyRec: the label field that is not the session id, e.g. ``clk``);
            None: rows pair by session alone.
        session_id: the column grouping rows into sessions (EasyRec ``session_id``; any column
            type, read as int64 ids: integers keep their value, other values a stable hash);
            None: rows pair by label alone.
        loss_type: ``CIRCLE_LOSS`` or ``MULTI_SIMILARITY_LOSS``.
        margin: circle loss margin ``m``.
        gamma: circle loss scale.
        alpha: multi-similarity loss weight of the positive pairs.
        beta: multi-similarity loss weight of the negative pairs.
        lamb: multi-similarity loss similarity offset ``lambda``.
        output_l2_normalized_emb: also output the unit-length embedding ``norm_emb`` (EasyRec's
            default; the losses and metrics read cosines either way).
        recall_top_k: the K of each in-batch ``recall@K`` (EasyRec ``recall_at_topk``).
        map_top_k: the K of each in-batch ``map@K`` (EasyRec ``precision_at_topk``, which
            computes a MAP@K).
    """

    label: str | None = None
    session_id: str | None = None
    loss_type: Literal["CIRCLE_LOSS", "MULTI_SIMILARITY_LOSS"] = "CIRCLE_LOSS"
    margin: float = Field(default=0.25, ge=-1.0, le=2.0)
    gamma: float = Field(default=32.0, gt=0.0, le=1e4)
    alpha: float = Field(default=2.0, gt=0.0, le=1e4)
    beta: float = Field(default=50.0, gt=0.0, le=1e4)
    lamb: float = Field(default=1.0, ge=-1.0, le=2.0)
    output_l2_normalized_emb: bool = True
    recall_top_k: list[int] = Field(default_factory=lambda: [10])
    map_top_k: list[int] = Field(default_factory=list)

    @field_validator("loss_type", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("recall_top_k", "map_top_k")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(k <= 0 for k in value) or len(set(value)) != len(value):
            raise ValueError(f"expected distinct positive integers, got {value}")
        return value

    def extra_columns(self) -> list[str]:
        """The session column, carried beside the features (read as int64 ids)."""
        return [self.session_id] if self.session_id else []

    def weight_columns(self) -> list[str]:
        """The label column, read like a numeric label."""
        return [self.label] if self.label else []

    def loss_entry(self) -> tuple[str, str]:
        """(registered loss name, loss term name) of ``loss_type``."""
        return METRIC_LEARNING_LOSSES[self.loss_type]

    def loss_params(self) -> dict[str, float]:
        """The ``params`` the loss function reads."""
        if self.loss_type == "CIRCLE_LOSS":
            return {"margin": self.margin, "gamma": self.gamma}
        return {"alpha": self.alpha, "beta": self.beta, "lamb": self.lamb}
