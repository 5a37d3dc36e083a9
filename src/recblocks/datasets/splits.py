"""Split a table into train/valid/test: seeded permutations, global time, per-user time, by user.

The four evaluation regimes of :mod:`recblocks.datasets.movielens_ctr` are built from these:
``random`` (:func:`permutation_split`), ``temporal`` (:func:`temporal_split`), ``leave_last_out``
(:func:`leave_last_out_split`) and ``unseen_users`` (:func:`group_split`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recblocks.core.errors import ConfigError, DataError

__all__ = ["split_sizes", "random_split", "permutation_split", "temporal_split", "leave_last_out_split",
           "group_split"]


def split_sizes(num_rows: int, fractions: Sequence[float]) -> list[int]:
    """Row counts for each fraction (they must be >= 0 and sum to 1); rounding goes to the last part.

    Example:
        >>> split_sizes(10, (0.8, 0.1, 0.1))
        [8, 1, 1]
    """
    fractions = [float(f) for f in fractions]
    if not fractions or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ConfigError("fractions", "split fractions must be non-negative and sum to 1",
                          "e.g. (0.8, 0.1, 0.1)", tuple(fractions))
    bounds = np.floor(np.cumsum(fractions) * num_rows + 1e-9).astype(np.int64)
    bounds[-1] = num_rows
    return np.diff(np.concatenate([[0], bounds])).tolist()


def _require(table: pa.Table, column: str, what: str) -> None:
    if column not in table.column_names:
        raise DataError(f"column '{column}'", f"{what} column is missing", f"one of {table.column_names}",
                        repr(column), choices=table.column_names)


def _cut(table: pa.Table, order: np.ndarray, fractions: Sequence[float], keep_order: bool) -> tuple[pa.Table, ...]:
    parts = []
    start = 0
    for size in split_sizes(table.num_rows, fractions):
        index = order[start:start + size]
        parts.append(table.take(pa.array(np.sort(index) if keep_order else index)))
        start += size
    return tuple(parts)


def random_split(table: pa.Table, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> tuple[pa.Table, ...]:
    """Random parts of ``table`` (numpy ``default_rng(seed)`` permutation); rows keep their order in each part."""
    order = np.random.default_rng(seed).permutation(table.num_rows)
    return _cut(table, order, fractions, keep_order=True)


def temporal_split(table: pa.Table, fractions: Sequence[float] = (0.8, 0.1, 0.1),
                   time_column: str = "timestamp") -> tuple[pa.Table, ...]:
    """Parts by increasing ``time_column`` (oldest first, nulls last; ties keep the input order)."""
    _require(table, time_column, "time")
    order = pc.sort_indices(table.select([time_column]), sort_keys=[(time_column, "ascending")]).to_numpy()
    return _cut(table, order, fractions, keep_order=False)


def permutation_split(table: pa.Table, fractions: Sequence[float] = (0.8, 0.1, 0.1),
                      seed: int = 0) -> tuple[pa.Table, ...]:
    """Random parts in permuted order: ``np.random.RandomState(seed).permutation`` cut by ``fractions``.

    This is the construction of the fixed ``ml-100k-ctr`` split (ratings sorted by user and
    movie, seed 2024); :func:`random_split` is the same idea with numpy's newer generator and
    rows kept in input order.
    """
    order = np.random.RandomState(seed).permutation(table.num_rows)
    return _cut(table, order, fractions, keep_order=False)


def leave_last_out_split(table: pa.Table, user_column: str = "user_id", time_column: str = "timestamp",
                         min_rows: int = 3) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Per user by time: the latest row is test, the one before it valid, the rest train.

    Users with fewer than ``min_rows`` rows go to train whole. Ties in time keep the input order
    (the later row of the table counts as later), so sort the table first for an order that
    does not depend on the file. Rows keep their input order in every part.
    """
    _require(table, user_column, "user")
    _require(table, time_column, "time")
    if min_rows < 3:
        raise ConfigError("min_rows", "leave-last-out needs a train, a valid and a test row per user", ">= 3",
                          min_rows)
    n = table.num_rows
    order = pc.sort_indices(table.select([user_column, time_column]).append_column("row", pa.array(np.arange(n))),
                            sort_keys=[(user_column, "ascending"), (time_column, "ascending"),
                                       ("row", "ascending")]).to_numpy()
    users = table[user_column].take(pa.array(order)).combine_chunks()
    codes = pc.dictionary_encode(users).indices.to_numpy(zero_copy_only=False)
    last = np.ones(n, dtype=bool)
    last[:-1] = codes[1:] != codes[:-1]  # last row of each user's run (runs are contiguous after the sort)
    second = np.zeros(n, dtype=bool)
    second[:-1] = last[1:] & ~last[:-1]  # the row before a user's last, same user
    counts = np.bincount(codes)
    enough = counts[codes] >= min_rows
    part = np.zeros(n, dtype=np.int8)  # 0 train, 1 valid, 2 test, in sorted positions
    part[last & enough] = 2
    part[second & enough] = 1
    where = np.empty(n, dtype=np.int8)
    where[order] = part
    return tuple(table.filter(pa.array(where == k)) for k in range(3))  # type: ignore[return-value]


def group_split(table: pa.Table, column: str = "user_id", fractions: Sequence[float] = (0.8, 0.1, 0.1),
                seed: int = 0) -> tuple[pa.Table, ...]:
    """Parts that share no value of ``column``: its distinct values (sorted) are permuted with
    ``np.random.default_rng(seed)`` and cut by ``fractions``; each row follows its value.
    Rows keep their input order in every part.
    """
    _require(table, column, "group")
    values = table[column].combine_chunks()
    distinct = pc.unique(values)
    distinct = distinct.take(pc.sort_indices(distinct))
    order = np.random.default_rng(seed).permutation(len(distinct))
    index = pc.index_in(values, value_set=distinct).to_numpy(zero_copy_only=False)
    rank = np.empty(len(distinct), dtype=np.int64)
    rank[order] = np.arange(len(distinct))
    bounds = np.cumsum(split_sizes(len(distinct), fractions))
    part = np.searchsorted(bounds, rank[index], side="right")
    return tuple(table.filter(pa.array(part == k)) for k in range(len(bounds)))
