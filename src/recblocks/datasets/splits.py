"""Split a table into train/valid/test by a seeded permutation or by time."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recblocks.core.errors import ConfigError, DataError

__all__ = ["split_sizes", "random_split", "temporal_split"]


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
    if time_column not in table.column_names:
        raise DataError(f"column '{time_column}'", "time column is missing", f"one of {table.column_names}",
                        repr(time_column), choices=table.column_names)
    order = pc.sort_indices(table.select([time_column]), sort_keys=[(time_column, "ascending")]).to_numpy()
    return _cut(table, order, fractions, keep_order=False)
