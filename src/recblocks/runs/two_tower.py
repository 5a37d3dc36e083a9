"""``TwoTower(query_tower, item_tower, task)``: a MatchModel composed in Python, held as its typed config.

The Python spelling of ``model_class: MatchModel`` (EasyRec's DSSM): the towers are composed
blocks, put side by side as backbone blocks ``user_tower`` and ``item_tower`` (the backbone's
``output_blocks``, indices 0 and 1); the task is an :class:`ItemRetrievalTask` (default), a
:class:`NextItemPredictionTask` (``item_tower`` may then be left out: weight tying), or EasyRec's
``model_params`` given as keywords (``item_id=..., simi_func=..., temperature=...``). It is a
:class:`~recblocks.runs.Model`, so ``fit``, ``evaluate``, ``predict``, ``to_config`` and
``save_config`` run as for any model, through the code ``recblocks train`` runs;
``Model.from_config`` of the saved config rebuilds the same network.

Example:
    >>> from recblocks.blocks.compose import InputBlock, MLPBlock
    >>> schema = [{"name": "user_id", "kind": "sparse"}, {"name": "item_id", "kind": "sparse"}]
    >>> model = TwoTower(InputBlock(["user_id"]).connect(MLPBlock([8])), InputBlock(["item_id"]).connect(MLPBlock([8])),
    ...                  schema=schema, item_id="item_id", user_id="user_id", temperature=0.1)
    >>> section = model.to_config()["model"]
    >>> section["backbone"]["output_blocks"], section["model_params"]["temperature"]
    (['user_tower', 'item_tower'], 0.1)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from recblocks.blocks.compose import Block
from recblocks.core.errors import ConfigError
from recblocks.features.schema import Schema
from recblocks.models.match_config import MatchModelParams
from recblocks.runs.model import Model
from recblocks.runs.retrieval_tasks import RetrievalTask

__all__ = ["TwoTower"]

#: Keywords of TwoTower that are EasyRec's MatchModel ``model_params`` (the rest are ``model`` keys).
_PARAM_NAMES = frozenset(MatchModelParams.model_fields) - {"l2_regularization"}


class TwoTower(Model):
    """A two-tower retrieval model (MatchModel) from a query tower, an item tower and a task.

    Args:
        query_tower: the user / query tower (a composed block ending in a ``(B, D)`` vector).
        item_tower: the item tower (ending in ``(B, D)``); None with a weight-tied
            :class:`NextItemPredictionTask`.
        task: an :class:`ItemRetrievalTask` or :class:`NextItemPredictionTask`; None: EasyRec's
            ``model_params`` keywords (``item_id``, ``user_id``, ``simi_func``, ``temperature``,
            ``scale_simi``, ``loss_type``, ``num_negatives``, ``logq_correction``, ``top_k``,
            ``exclude_seen``) or a ``model_params`` mapping.
        schema: the feature schema (default: the one of an input block built ``from_schema``).
        **options: other ``model`` keys (``embedding_dim``, ``l2_regularization``, ``model_name``...).
    """

    def __init__(self, query_tower: Block, item_tower: Block | None = None, task: RetrievalTask | None = None, *,
                 schema: Schema | Sequence[Mapping[str, Any]] | None = None, **options: Any) -> None:
        given = {k: options.pop(k) for k in list(options) if k in _PARAM_NAMES}
        if task is not None and (given or "model_params" in options):
            raise ConfigError("TwoTower", "the task sets the MatchModel params", "a task or params keywords, not "
                              "both", sorted(given) or ["model_params"])
        if task is None:
            params = {**dict(options.pop("model_params", None) or {}), **given}
            if "l2_regularization" in params:
                options["l2_regularization"] = params.pop("l2_regularization")
            task = RetrievalTask.from_model_params(params, "TwoTower.model_params")
        if not isinstance(task, RetrievalTask):
            raise ConfigError("TwoTower.task", "not a retrieval task", "ItemRetrievalTask(...) or "
                              "NextItemPredictionTask(...)", type(task).__name__)
        if item_tower is None and not getattr(task, "weight_tying", False):
            raise ConfigError("TwoTower.item_tower", "the model has no item tower", "an item tower block, or "
                              "NextItemPredictionTask(weight_tying=True)", None)
        super().__init__(task.two_tower_body(query_tower, item_tower), task, schema, **options)
