"""The ``model_params`` of ``model_class: MatchModel`` (EasyRec's DSSM / backbone match fields).

EasyRec's backbone MatchModel reads a user vector and an item vector from the backbone's
``output_blocks`` (``user_tower_idx_in_output`` / ``item_tower_idx_in_output``), scores them with
``simi_func`` (cosine, divided by ``temperature``; inner product, not divided) and, with
``scale_simi``, maps the score through a learned ``|w| s + b``. Fields beyond EasyRec's
(``user_id``, ``loss_type: SAMPLED_SOFTMAX`` with ``num_negatives``, ``top_k``,
``exclude_seen``) are what catalogue evaluation and sampled softmax need.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from recblocks.models.config import ModelParams

__all__ = ["MatchModelParams"]


class MatchModelParams(ModelParams):
    """Parameters of :class:`~recblocks.models.match_model.MatchModel`.

    Args:
        user_tower_idx_in_output: index of the user vector among the backbone's ``output_blocks``.
        item_tower_idx_in_output: index of the item vector among the backbone's ``output_blocks``.
        simi_func: ``COSINE`` (vectors unit-normalised, score divided by ``temperature``) or
            ``INNER_PRODUCT`` (raw dot product; ``temperature`` is ignored, as in EasyRec).
        temperature: divides cosine scores (EasyRec's default 1.0; 0.05-0.2 is usual).
        scale_simi: learn ``score * |w| + b`` (``w`` starts at 1, ``b`` at 0).
        item_id: the item id feature: catalogue rows, in-batch duplicate masking, targets.
        user_id: the user id feature whose training items are excluded when ranking the catalogue.
        loss_type: ``SOFTMAX_CROSS_ENTROPY`` (in-batch negatives), ``SAMPLED_SOFTMAX``
            (in-batch plus ``num_negatives`` items drawn by training frequency, logQ-corrected) or
            ``FULL_SOFTMAX`` (every catalogue item is a candidate of every row: exact, no
            correction; the item tower runs over the whole catalogue each step, so it suits
            catalogues of thousands of items, e.g. next-item prediction with weight tying).
        num_negatives: extra sampled negatives per batch (``SAMPLED_SOFTMAX`` only).
        num_hard_negatives: the most hard negatives per row, read from the user's edges of
            ``data.hard_negatives`` (EasyRec's ``num_hard_sample``); 0: none. Needs ``user_id``;
            not with ``FULL_SOFTMAX`` (every item is a candidate already).
        in_batch_negatives: score each row against the other rows' items too (default). False
            (EasyRec's ``ignore_in_batch_neg_sam``): against its own item and the sampled
            negatives only; needs ``SAMPLED_SOFTMAX`` with ``num_negatives`` > 0.
        logq_correction: subtract ``log q(item)`` (training frequency share) from every
            candidate's logit in training, with either loss type (Yi et al., 2019): in-batch and
            frequency-sampled negatives over-represent popular items. Scoring and ranking use
            the uncorrected scores.
        user_interests_idx_in_output: index of a ``(B, K, D)`` output holding the user's interest
            vectors (MIND; all-zero rows are padding): evaluation scores a catalogue item by the
            best interest, ``max_k s(v_k, e)``, not by the user vector (MIND's label-aware user
            vector reads the row's own target item). None: the user vector.
        top_k: the K of Recall@K, NDCG@K and HitRate@K.
        exclude_seen: rank the catalogue without the items the user had in the training data.
    """

    user_tower_idx_in_output: int = Field(default=0, ge=0)
    item_tower_idx_in_output: int = Field(default=1, ge=0)
    user_interests_idx_in_output: int | None = Field(default=None, ge=0)
    simi_func: Literal["COSINE", "INNER_PRODUCT"] = "COSINE"
    temperature: float = Field(default=1.0, gt=0.0)
    scale_simi: bool = False
    item_id: str | None = None
    user_id: str | None = None
    loss_type: Literal["SOFTMAX_CROSS_ENTROPY", "SAMPLED_SOFTMAX", "FULL_SOFTMAX"] = "SOFTMAX_CROSS_ENTROPY"
    num_negatives: int = Field(default=0, ge=0, le=1_000_000)
    in_batch_negatives: bool = True
    num_hard_negatives: int = Field(default=0, ge=0, le=10_000)
    logq_correction: bool = True
    top_k: list[int] = Field(default_factory=lambda: [10], min_length=1)
    exclude_seen: bool = True

    @field_validator("simi_func", "loss_type", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _negatives_without_the_batch(self) -> "MatchModelParams":
        if not self.in_batch_negatives and (self.loss_type != "SAMPLED_SOFTMAX" or self.num_negatives == 0):
            raise ValueError("in_batch_negatives: false scores each row against sampled negatives only; it needs "
                             f"loss_type SAMPLED_SOFTMAX with num_negatives > 0, got {self.loss_type} with "
                             f"num_negatives {self.num_negatives}")
        if self.num_hard_negatives and self.loss_type == "FULL_SOFTMAX":
            raise ValueError("num_hard_negatives adds candidates to a sampled or in-batch softmax; FULL_SOFTMAX "
                             "scores every item already")
        return self

    @field_validator("top_k")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(k <= 0 for k in value) or len(set(value)) != len(value):
            raise ValueError(f"top_k needs distinct positive integers, got {value}")
        return value
