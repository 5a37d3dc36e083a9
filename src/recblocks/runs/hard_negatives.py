"""``data.hard_negatives``: the edge table of a retrieval run's hard negatives, read once.

A MatchModel with ``model_params.num_hard_negatives`` scores each training row also against the
row's user's hard-negative items (:mod:`recblocks.models.hard_negatives`; EasyRec's
``hard_negative_sampler``). The edges come from a table beside the training data: one row per
(user, item) pair, the user's raw id in ``user_column`` and the item's in ``item_column`` (EasyRec's
graph-learn edge files: ``userid:int64<TAB>itemid:int64<TAB>weight:float``, read with
``column_names`` to rename that header). Both are encoded by the run's fitted preprocessing as
the model's ``user_id`` and ``item_id`` features; users and items the training data did not have
are left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import Field, field_validator

from recblocks.core.errors import ConfigError, DataError
from recblocks.core.params import Params
from recblocks.data.readers import DataSource, naming_source, read_table
from recblocks.features.preprocess import Preprocessor

__all__ = ["HardNegativeEdges", "fit_hard_negatives"]


class HardNegativeEdges(Params):
    """Where a retrieval run's hard-negative (user, item) edges are.

    Args:
        source: the edge table (a path or a :class:`~recblocks.data.readers.DataSource`).
        user_column: the column holding the user's raw id.
        item_column: the column holding the item's raw id.
    """

    source: DataSource
    user_column: str = Field(default="user_id", min_length=1)
    item_column: str = Field(default="item_id", min_length=1)

    @field_validator("source", mode="before")
    @classmethod
    def _path(cls, value: Any) -> Any:
        return {"path": str(value)} if isinstance(value, (str, Path)) else value


def fit_hard_negatives(model: Any, edges: HardNegativeEdges | None, preprocessor: Preprocessor,
                       where: str = "data.hard_negatives") -> None:
    """Read ``edges`` and hand their encoded (user, item) ids to ``model.fit_hard_negatives``.

    Raises:
        ConfigError: edges for a model that reads none, or a model that reads some and no edges.
        DataError: a missing column, or no edge left (every user or item unknown to training).
    """
    params = getattr(getattr(model, "config", None), "model_params", None)
    wanted = int(getattr(params, "num_hard_negatives", 0) or 0)
    if edges is None:
        if wanted:
            raise ConfigError(where, "model_params.num_hard_negatives reads each user's hard negatives from an "
                              "edge table", "data.hard_negatives {source, user_column, item_column}", "none")
        return
    if not wanted:
        raise ConfigError(where, "the model reads no hard negatives", "model_params.num_hard_negatives > 0 "
                          "(a MatchModel)", "an edge table")
    user_feature, item_feature = model.user_id, model.item_id
    with naming_source(edges.source.name):
        table = read_table(edges.source, [edges.user_column, edges.item_column],
                           string_columns=[edges.user_column, edges.item_column])
        users = _encode(preprocessor, user_feature, table, edges.user_column)
        items = _encode(preprocessor, item_feature, table, edges.item_column)
    model.fit_hard_negatives(users, items)
    if model.hard_negatives.items.numel() == 0:
        raise DataError(edges.source.name, "no hard-negative edge joins the training data", "edges whose user and "
                        "item the training data has", f"{table.num_rows} edges, none kept")


def _encode(preprocessor: Preprocessor, feature_name: str, table: pa.Table, column: str) -> Any:
    """The ids of ``feature_name`` for the values of ``column``."""
    feature = preprocessor.schema[feature_name]
    renamed = pa.table({name: table.column(column) for name in feature.source_columns})
    return preprocessor.encode_feature(feature_name, renamed)
