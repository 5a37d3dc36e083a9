"""Merlin-style retrieval tasks: ``ItemRetrievalTask`` and ``NextItemPredictionTask``.

Neither is a per-row head: each stands for the ``model_params`` of ``model_class: MatchModel``
(EasyRec's DSSM field names) and for how the two towers are put together, so
``Model(body, ItemRetrievalTask(...))`` or ``TwoTower(query, item, task=...)`` holds the same
typed config a MatchModel YAML parses into, and ``to_config()`` writes that YAML.

* :class:`ItemRetrievalTask` — a query (user) tower and an item tower scored by cosine or
  inner product; trained with a softmax over the batch's items (``sampler='in_batch'``) or
  with extra items drawn by training frequency (``sampler='popularity'``), logQ-corrected;
  evaluated by Recall/NDCG/HitRate@K over the whole catalogue.
* :class:`NextItemPredictionTask` — the query tower reads what came before (a history) and its
  output is scored against every item; the label is the next item (the ``item_id`` column).
  With ``weight_tying`` (default) the item vectors are the rows of the item-id embedding
  table (the item tower is that feature's embedding alone), otherwise the given item tower;
  the softmax runs over the whole catalogue by default (``sampler='full'``).

Example:
    >>> task = NextItemPredictionTask("item_id", top_k=[5])
    >>> task.model_params()["loss_type"], task.model_params()["simi_func"]
    ('FULL_SOFTMAX', 'INNER_PRODUCT')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from recblocks.blocks.compose import BackboneBlock, Block, InputBlock, ParallelBlock
from recblocks.core.errors import ConfigError
from recblocks.models.config import parse_model_params

__all__ = ["ItemRetrievalTask", "NextItemPredictionTask", "RetrievalTask", "TOWER_NAMES"]

#: The backbone block names of the two towers a retrieval task composes (``output_blocks`` order).
TOWER_NAMES = ("user_tower", "item_tower")

_SAMPLERS = {"in_batch": "SOFTMAX_CROSS_ENTROPY", "popularity": "SAMPLED_SOFTMAX", "full": "FULL_SOFTMAX"}


class RetrievalTask:
    """What the retrieval tasks share: the MatchModel params they stand for, checked at once.

    Args:
        item_id: the item id feature (catalogue rows, targets).
        user_id: the user id feature whose training items are excluded when ranking (None: none).
        sampler: ``'in_batch'``, ``'popularity'`` (in-batch plus ``num_negatives`` items drawn by
            training frequency) or ``'full'`` (the whole catalogue).
        num_negatives: extra sampled items per batch (``sampler='popularity'``).
        logq_correction: subtract ``log q(item)`` from sampled candidates' logits.
        simi_func: ``'COSINE'`` or ``'INNER_PRODUCT'``.
        temperature: divides cosine scores.
        scale_simi: learn ``|w| s + b`` on the score.
        top_k: the Ks of Recall/NDCG/HitRate@K.
        exclude_seen: drop each user's training items from the ranked candidates.
    """

    samplers: tuple[str, ...] = tuple(_SAMPLERS)

    def __init__(self, item_id: str, user_id: str | None = None, *, sampler: str = "in_batch",
                 num_negatives: int = 0, logq_correction: bool = True, simi_func: str = "COSINE",
                 temperature: float = 1.0, scale_simi: bool = False, top_k: Sequence[int] = (10,),
                 exclude_seen: bool = True) -> None:
        where = type(self).__name__
        if sampler not in self.samplers:
            raise ConfigError(f"{where}.sampler", "unknown sampler", f"one of {list(self.samplers)}", repr(sampler),
                              choices=list(self.samplers))
        if num_negatives and sampler != "popularity":
            raise ConfigError(f"{where}.num_negatives", "sampled negatives need sampler='popularity'",
                              "num_negatives=0, or sampler='popularity'", num_negatives)
        params: dict[str, Any] = {"item_id": item_id, **({"user_id": user_id} if user_id else {}),
                                  "loss_type": _SAMPLERS[sampler], "simi_func": simi_func,
                                  "temperature": temperature, "top_k": list(top_k)}
        if sampler == "popularity":
            params.update(num_negatives=num_negatives, logq_correction=logq_correction)
        if scale_simi:
            params["scale_simi"] = True
        if not exclude_seen:
            params["exclude_seen"] = False
        self._params = parse_model_params("MatchModel", params, where).model_dump(mode="json", exclude_unset=True)
        self.item_id, self.user_id, self.sampler = item_id, user_id, sampler

    @classmethod
    def from_model_params(cls, params: Mapping[str, Any], where: str = "model_params") -> "RetrievalTask":
        """A task holding EasyRec's ``model_params`` as they are (the towers at indices 0 and 1)."""
        parsed = parse_model_params("MatchModel", dict(params), where)
        for field, index in (("user_tower_idx_in_output", 0), ("item_tower_idx_in_output", 1)):
            if getattr(parsed, field) != index:
                raise ConfigError(f"{where}.{field}", f"the towers are output_blocks {list(TOWER_NAMES)}",
                                  index, getattr(parsed, field))
        task = cls.__new__(cls)
        task._params = parsed.model_dump(mode="json", exclude_unset=True)
        task.item_id, task.user_id, task.sampler = parsed.item_id, parsed.user_id, parsed.loss_type.lower()
        return task

    def model_params(self) -> dict[str, Any]:
        """The ``model_params`` of ``model_class: MatchModel`` this task stands for (plain data)."""
        return {"user_tower_idx_in_output": 0, "item_tower_idx_in_output": 1, **self._params}

    def two_tower_body(self, body: Block, item_tower: Block | None = None) -> Block:
        """The body with the towers as entries :data:`TOWER_NAMES` (``output_blocks`` in that order).

        ``body`` alone is a two-tower body already (a loaded backbone, or a ParallelBlock keyed by
        :data:`TOWER_NAMES`); with ``item_tower`` it is the query tower.
        """
        if item_tower is not None:
            return ParallelBlock({TOWER_NAMES[0]: body, TOWER_NAMES[1]: item_tower})
        if isinstance(body, BackboneBlock) or (isinstance(body, ParallelBlock) and set(TOWER_NAMES) <= set(body.branches)):
            return body
        raise ConfigError(f"{type(self).__name__} body", "an item retrieval body has two towers",
                          f"TwoTower(query_tower, item_tower) or a ParallelBlock keyed {list(TOWER_NAMES)}",
                          f"{body!r}"[:120])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.item_id!r}, sampler={self.sampler!r})"


class ItemRetrievalTask(RetrievalTask):
    """Two towers, in-batch (or popularity-sampled, logQ-corrected) softmax, catalogue metrics.

    Args: as :class:`RetrievalTask` (default ``sampler='in_batch'``, cosine, ``temperature`` 1).
    """

    samplers = ("in_batch", "popularity")


class NextItemPredictionTask(RetrievalTask):
    """The query tower's output scored against every item; the next item is the label.

    Args:
        item_id: the next item's id feature (the label; its embedding table is the output layer
            with ``weight_tying``).
        weight_tying: the item vectors are the rows of ``item_id``'s embedding table (the item
            tower is that embedding alone); False: pass an item tower.
        sampler: ``'full'`` (default: softmax over the whole catalogue), ``'in_batch'`` or
            ``'popularity'``.
        simi_func: default ``'INNER_PRODUCT'`` (the logits are dot products with the table rows).
        **others: as :class:`RetrievalTask`.
    """

    def __init__(self, item_id: str, user_id: str | None = None, *, weight_tying: bool = True,
                 sampler: str = "full", simi_func: str = "INNER_PRODUCT", **others: Any) -> None:
        super().__init__(item_id, user_id, sampler=sampler, simi_func=simi_func, **others)
        self.weight_tying = weight_tying

    def two_tower_body(self, body: Block, item_tower: Block | None = None) -> Block:
        """With ``weight_tying`` the item tower is the item id's embedding (an ``input_layer`` of it)."""
        if self.weight_tying and item_tower is not None:
            raise ConfigError("NextItemPredictionTask.weight_tying", "with weight tying the item vectors are the "
                              "item id's embedding table rows", "no item tower, or weight_tying=False",
                              f"{item_tower!r}"[:120])
        if self.weight_tying and not isinstance(body, BackboneBlock) and not (
                isinstance(body, ParallelBlock) and set(TOWER_NAMES) <= set(body.branches)):
            item_tower = InputBlock([self.item_id])
        return super().two_tower_body(body, item_tower)


def retrieval_options(task: RetrievalTask, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` (other ``model`` keys) with the task's ``model_class`` and ``model_params``.

    ``model_params`` given in ``options`` may add ``l2_regularization`` only.
    """
    merged = dict(options)
    extra = dict(merged.pop("model_params", None) or {})
    if "l2_regularization" in merged:
        extra["l2_regularization"] = merged.pop("l2_regularization")
    clash = sorted(set(extra) - {"l2_regularization"})
    if clash:
        raise ConfigError(f"{type(task).__name__} model_params", "the task sets the MatchModel params",
                          "only l2_regularization besides the task", clash)
    if merged.get("model_class", "MatchModel") != "MatchModel":
        raise ConfigError("model_class", "a retrieval task builds a MatchModel", "MatchModel",
                          merged["model_class"], choices=["MatchModel"])
    merged["model_class"] = "MatchModel"
    merged["model_params"] = {**task.model_params(), **extra}
    return merged
