"""Crossed features: the values of several columns joined into one id (EasyRec's ``ComboFeature``).

A feature with ``cross: {columns: [a, b, ...]}`` reads those columns instead of its own. Each
row's values are joined with ``join`` into one string, then hashed (or looked up) like any id:

* single-valued inputs (no ``separators``) give one crossed value per row; a row where any
  input is null or empty has no value (missing, id 1);
* an input with a separator is split into several values, and the row's crossed values are the
  cartesian product of every input's values (``a`` x ``b1, b2`` -> ``a<join>b1, a<join>b2``);
  a row where any input has no value has none (an empty list). Several values need a list kind
  (``multi``).

Everything is columnar (pyarrow.compute and numpy index arithmetic); no Python runs per row.

Example:
    >>> import pyarrow as pa
    >>> cross_values([pa.array(["a", "b", None]), pa.array([1, 2, 3])], [None, None], "_", "x").to_pylist()
    ['a_1', 'b_2', None]
    >>> cross_values([pa.array(["a", "b"]), pa.array(["1,2", ""])], [None, ","], "_", "x").to_pylist()
    [['a_1', 'a_2'], []]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from recblocks.core.errors import DataError
from recblocks.core.params import Params
from recblocks.features.columns import to_lists, to_strings

__all__ = ["CrossSpec", "cross_values", "DEFAULT_JOIN"]

#: the ASCII unit separator: a character that does not occur in ordinary values, so two different
#: tuples of values never join to the same string
DEFAULT_JOIN = "\x1f"


class CrossSpec(Params):
    """Which columns a crossed feature reads (``features[i].cross``).

    Args:
        columns: the input columns, at least two, in order.
        separators: per column, the separator that splits it into several values, or null for a
            single value (default: every column single-valued).
        join: what joins one value of each column into the crossed value.
    """

    columns: list[str] = Field(min_length=2)
    separators: list[str | None] | None = None
    join: str = Field(default=DEFAULT_JOIN, min_length=1)

    @model_validator(mode="after")
    def _check(self) -> "CrossSpec":
        if self.separators is not None and len(self.separators) != len(self.columns):
            raise ValueError(f"separators must give one entry (a separator or null) per column: "
                             f"{len(self.columns)} columns, {len(self.separators)} separators")
        if self.separators is not None and any(s == "" for s in self.separators):
            raise ValueError("a separator cannot be empty; write null for a single-valued column")
        return self

    @property
    def multi_valued(self) -> bool:
        """Whether some input is split into several values (the feature then needs a list kind)."""
        return self.separators is not None and any(s is not None for s in self.separators)

    def column_separators(self) -> list[str | None]:
        """The separator of each column (None: single-valued)."""
        return list(self.separators) if self.separators is not None else [None] * len(self.columns)


def _null_if_empty(strings: pa.Array) -> pa.Array:
    empty = pc.fill_null(pc.equal(pc.utf8_length(strings), 0), True)
    return pc.if_else(empty, pa.scalar(None, pa.string()), strings)


def _as_lists(column: pa.Array, separator: str | None, where: str) -> tuple[np.ndarray, pa.Array]:
    """``(offsets (N+1,), values)`` of the non-empty values of each row."""
    if separator is None:
        strings = _null_if_empty(to_strings(column, where))
        lists = pa.ListArray.from_arrays(pa.array(np.arange(len(strings) + 1, dtype=np.int32)), strings)
    else:
        lists = to_lists(column, separator, where)
    flat = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    keep = ~np.asarray(pc.fill_null(pc.equal(pc.utf8_length(flat), 0), True).to_numpy(zero_copy_only=False),
                       dtype=bool)
    counts = np.bincount(parents[keep], minlength=len(column)) if len(parents) else np.zeros(len(column), np.int64)
    offsets = np.zeros(len(column) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets, flat.filter(pa.array(keep))


def _cross_two(left: tuple[np.ndarray, pa.Array], right: tuple[np.ndarray, pa.Array],
               join: str) -> tuple[np.ndarray, pa.Array]:
    """The row-wise cartesian product of two list columns, each pair joined (left values outer)."""
    (lo, lv), (ro, rv) = left, right
    n_left, n_right = np.diff(lo), np.diff(ro)
    counts = n_left * n_right
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    rows = np.repeat(np.arange(len(counts)), counts)
    position = np.arange(offsets[-1]) - offsets[rows]
    width = n_right[rows]
    left_index = lo[rows] + position // np.maximum(width, 1)
    right_index = ro[rows] + position % np.maximum(width, 1)
    joined = pc.binary_join_element_wise(lv.take(pa.array(left_index)), rv.take(pa.array(right_index)), join)
    return offsets, joined


def cross_values(columns: Sequence[pa.Array], separators: Sequence[str | None], join: str, where: str) -> pa.Array:
    """The crossed values of ``columns`` (see the module docstring).

    A string array (null where a row has no crossed value) when every separator is None, else a
    list-of-strings array (an empty list where a row has none). ``where`` names the feature in errors.
    """
    if all(s is None for s in separators):
        strings = [_null_if_empty(to_strings(c, where)) for c in columns]
        return pc.binary_join_element_wise(*strings, join, null_handling="emit_null")
    crossed = _as_lists(columns[0], separators[0], where)
    for column, separator in zip(columns[1:], separators[1:]):
        crossed = _cross_two(crossed, _as_lists(column, separator, where), join)
    offsets, values = crossed
    if offsets[-1] >= 2**31:
        raise DataError(where, "too many crossed values in one chunk", "< 2**31", int(offsets[-1]))
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values)
