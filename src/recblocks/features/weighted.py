"""Weighted multi-valued ids (``kind: multi`` with ``weight_separator``): ``id<sep>weight`` elements.

EasyRec's ``TagFeature`` with ``kv_separator``: each element of a row is an id and its weight
(``"a:0.5|b:2"``). The ids go through the feature's table as usual (vocabulary or hash, fitted
on the ids alone); the weights become a float tensor of the same ``(B, L)`` layout, stored
beside the ids under :func:`weight_key`, and the embedding pools ``sum_i w_i e_i`` (``sum``)
or ``sum_i w_i e_i / sum_i w_i`` (``mean``), TensorFlow's weighted embedding lookup. An element
without a weight (no separator, or an unparseable number) weighs 1 and is counted as unparseable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from recblocks.features.columns import FLOAT32_MAX, parse_numbers, present_elements
from recblocks.features.stats import FeatureCounts

__all__ = ["weight_key", "weighted_keys", "encode_weighted_multi"]


def weight_key(name: str) -> str:
    """The batch key of a weighted feature's weights (``Batch.features``)."""
    return f"{name}:weight"


def _split(flat: pa.Array, separator: str, where: str) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """``(ids, weights, unparseable)`` of ``id<separator>weight`` strings."""
    if not len(flat):
        return pa.array([], type=pa.string()), np.zeros(0), np.zeros(0, dtype=bool)
    parts = pc.split_pattern(pc.cast(flat, pa.string()), pattern=separator, max_splits=1)
    pieces = pc.list_flatten(parts)
    offsets = np.asarray(pc.list_parent_indices(parts).to_numpy(zero_copy_only=False), dtype=np.int64)
    starts = np.searchsorted(offsets, np.arange(len(flat)))  # the first piece of each element
    lengths = np.bincount(offsets, minlength=len(flat))
    ids = pieces.take(pa.array(starts))
    has = lengths > 1
    weights = np.full(len(flat), np.nan)
    if has.any():
        weights[has] = parse_numbers(pieces.take(pa.array(starts[has] + 1)), where)[0]
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(weights) <= FLOAT32_MAX)
    return ids, np.where(bad, 1.0, weights), bad


def weighted_keys(column: pa.Array, feature: Any, where: str) -> pa.Array:
    """The ids of every element of the column (for fitting the vocabulary)."""
    flat, _ = present_elements(column, feature.separator, where)
    return _split(flat, feature.weight_separator, where)[0]


def encode_weighted_multi(feature: Any, column: pa.Array,
                          element_ids: Callable[[pa.Array], tuple[np.ndarray, int]],
                          ) -> tuple[torch.Tensor, torch.Tensor, FeatureCounts]:
    """``(ids (B, L) int64, weights (B, L) float32, counts)``: the first ``max_len`` elements of each row,
    padding id ``0`` with weight 0; a row without elements is one missing id ``1`` of weight 1."""
    where, n, max_len = f"feature '{feature.name}'", len(column), feature.max_len
    flat, parents = present_elements(column, feature.separator, where)
    keys, weights, unparseable = _split(flat, feature.weight_separator, where)
    ids, oov = element_ids(keys) if len(keys) else (np.zeros(0, dtype=np.int64), 0)
    counts = np.bincount(parents, minlength=n)
    pos = np.arange(len(parents), dtype=np.int64) - (np.cumsum(counts) - counts)[parents]
    keep = pos < max_len
    out_ids = np.zeros((n, max_len), dtype=np.int64)
    out_weights = np.zeros((n, max_len), dtype=np.float32)
    out_ids[parents[keep], pos[keep]] = ids[keep]
    out_weights[parents[keep], pos[keep]] = weights[keep]
    empty = counts == 0
    out_ids[empty, 0], out_weights[empty, 0] = 1, 1.0
    stats = FeatureCounts(n, int(len(parents)), oov, int(np.count_nonzero(empty)),
                          int(np.count_nonzero(unparseable)), 0, int(np.count_nonzero(counts > max_len)))
    return torch.from_numpy(out_ids), torch.from_numpy(out_weights), stats
