"""Sequences of numbers (``kind: sequence`` with ``values: numbers``): padded and masked columnwise.

A row is a list column or a ``separator``-joined string; with ``dim: N`` > 1 each element is
``N`` numbers joined by ``element_separator`` (``"1;2|3;4"``: two elements of two numbers).
Like id sequences, the last ``max_len`` elements are kept (most recent), left-aligned; a row
without elements becomes one ``fill_value`` element (an id row becomes one missing id).

* with ``boundaries``: each number becomes a bucket id (``searchsorted(boundaries, x, right) + 2``,
  the layout of ``bucketized``), padding ``0``: ``(B, L)`` int64 through the id path;
* without: the numbers, padding NaN (the input layer masks it): ``(B, L)`` float32, or
  ``(B, L, N)`` with ``dim: N``.

Missing or unparseable numbers, and elements with another count than ``N``, are filled with
``fill_value``; ``missing`` counts the rows with such an element or without any element.

With ``boundaries`` and ``element_separator`` an element holds any number of numbers (EasyRec's
``seq_multi_sep``: a 3-D sparse input whose values its sequence column bucketizes one by one):
``(B, L, K)`` int64 bucket ids, ``K = element_len`` (the first ``K`` numbers of an element),
padding ``0``; an element without numbers is one missing id ``1``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import torch

from recblocks.features.columns import FLOAT32_MAX, parse_numbers, parse_vectors, present_elements
from recblocks.features.stats import FeatureCounts

__all__ = ["encode_numeric_sequence"]


def _layout(parents: np.ndarray, n: int, max_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(keep, rows, cols, counts)``: which elements stay (the last ``max_len``) and where they go."""
    counts = np.bincount(parents, minlength=n)
    starts = np.cumsum(counts) - counts
    pos = np.arange(len(parents), dtype=np.int64) - starts[parents]
    cols = pos - np.maximum(counts[parents] - max_len, 0)
    keep = cols >= 0
    return keep, parents[keep], cols[keep], counts


def encode_numeric_sequence(feature: Any, column: pa.Array,
                            boundaries: list[float] | None) -> tuple[torch.Tensor, FeatureCounts]:
    """The padded tensor of one numeric sequence feature and what it met (see the module docstring).

    Example:
        >>> from recblocks.features.schema import SequenceFeature
        >>> f = SequenceFeature(name="s", values="numbers", separator="|", max_len=3)
        >>> values, counts = encode_numeric_sequence(f, pa.array(["1|2", "", "4|x|6|7"]), None)
        >>> values.tolist(), counts.missing, counts.truncated
        ([[1.0, 2.0, nan], [0.0, nan, nan], [0.0, 6.0, 7.0]], 2, 1)
    """
    where, n, max_len = f"feature '{feature.name}'", len(column), feature.max_len
    flat, parents = present_elements(column, feature.separator, where)
    if getattr(feature, "multi_bucket", False):
        return _encode_multi_bucket(feature, flat, parents, n, np.asarray(boundaries, dtype=np.float64))
    if feature.dim > 1:
        values, unparseable, wrong = parse_vectors(flat, feature.element_separator, feature.dim, where)
        unparseable = unparseable | wrong
    else:
        values, unparseable = parse_numbers(flat, where) if len(flat) else (np.zeros(0), np.zeros(0, dtype=bool))
        values = values[:, None]
    with np.errstate(invalid="ignore"):
        unusable = ~(np.abs(values) <= FLOAT32_MAX)  # NaN (missing, unparseable), inf, beyond float32
    values = np.where(unusable, feature.fill_value, values)
    keep, rows, cols, counts = _layout(parents, n, max_len)
    empty = counts == 0
    missing_rows = empty.copy()
    missing_rows[parents[unusable.any(axis=1)]] = True
    counts_out = FeatureCounts(n, int(len(parents)), 0, int(np.count_nonzero(missing_rows)),
                               int(np.count_nonzero(unparseable)), 0, int(np.count_nonzero(counts > max_len)))
    if boundaries is not None:
        ids = np.zeros((n, max_len), dtype=np.int64)
        ids[rows, cols] = np.searchsorted(np.asarray(boundaries, dtype=np.float64), values[keep, 0], side="right") + 2
        ids[empty, 0] = 1
        return torch.from_numpy(ids), counts_out
    out = np.full((n, max_len, feature.dim), np.nan, dtype=np.float32)
    out[rows, cols] = values[keep]
    out[empty, 0] = feature.fill_value
    return torch.from_numpy(np.ascontiguousarray(out[:, :, 0]) if feature.dim == 1 else out), counts_out


def _encode_multi_bucket(feature: Any, flat: pa.Array, parents: np.ndarray, n: int,
                         boundaries: np.ndarray) -> tuple[torch.Tensor, FeatureCounts]:
    """``(B, L, K)`` bucket ids of elements holding several numbers (see the module docstring)."""
    where, max_len, width = f"feature '{feature.name}'", feature.max_len, feature.element_len
    numbers, owner = present_elements(flat, feature.element_separator, where)
    if len(numbers):
        values, unparseable = parse_numbers(numbers, where)
    else:
        values, unparseable = np.zeros(0), np.zeros(0, dtype=bool)
    with np.errstate(invalid="ignore"):
        unusable = ~(np.abs(values) <= FLOAT32_MAX)
    values = np.where(unusable, feature.fill_value, values)
    keep, rows, cols, counts = _layout(parents, n, max_len)
    element_row = np.full(len(parents), -1, dtype=np.int64)
    element_col = np.full(len(parents), -1, dtype=np.int64)
    element_row[keep], element_col[keep] = rows, cols
    per_element = np.bincount(owner, minlength=len(parents))
    starts = np.cumsum(per_element) - per_element
    slot = np.arange(len(owner), dtype=np.int64) - starts[owner]
    take = (element_row[owner] >= 0) & (slot < width)
    ids = np.zeros((n, max_len, width), dtype=np.int64)
    ids[element_row[owner[take]], element_col[owner[take]], slot[take]] = (
        np.searchsorted(boundaries, values[take], side="right") + 2)
    bare = keep & (per_element == 0)  # an element without numbers: one missing id
    ids[element_row[bare], element_col[bare], 0] = 1
    empty = counts == 0
    ids[empty, 0, 0] = 1
    missing_rows = empty.copy()
    missing_rows[parents[np.unique(owner[unusable])]] = True
    missing_rows[parents[per_element == 0]] = True
    truncated = counts > max_len
    truncated[parents[per_element > width]] = True
    return torch.from_numpy(ids), FeatureCounts(n, int(len(parents)), 0, int(np.count_nonzero(missing_rows)),
                                                int(np.count_nonzero(unparseable)), 0,
                                                int(np.count_nonzero(truncated)))
