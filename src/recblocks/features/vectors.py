"""Vector-valued dense features (``kind: dense`` with ``dim: N > 1``): fit, check and encode.

A row holds N numbers (a list column or a ``separator``-joined string, read whole by
:func:`~recblocks.features.columns.parse_vectors`). Statistics are fitted per position on the
finite values; missing, unparseable and out-of-range elements are filled with ``fill_value``
before normalising; a row with another number of values than N is a bad row, found by
:func:`wrong_length_rows` before any feature is encoded so that the preprocessor drops it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import torch

from recblocks.core.errors import DataError
from recblocks.features.columns import FLOAT32_MAX, parse_vectors
from recblocks.features.stats import FeatureCounts, fit_moments, fit_range

__all__ = ["is_vector", "fit_vector_stats", "wrong_length_rows", "encode_vector"]


def is_vector(feature: Any) -> bool:
    """True for a dense feature with more than one number per row."""
    return feature.kind == "dense" and feature.dim > 1


def _where(feature: Any) -> str:
    return f"feature '{feature.name}'"


def fit_vector_stats(feature: Any, column: pa.Array) -> dict[str, list[float]] | None:
    """Per-position ``{"mean", "std"}`` or ``{"min", "max"}`` (lists of N), or None without normalisation.

    Example:
        >>> from recblocks.features.schema import DenseFeature
        >>> f = DenseFeature(name="v", dim=2, separator="|", normalization="minmax")
        >>> fit_vector_stats(f, pa.array(["1|10", "3|30", "5"]))
        {'min': [1.0, 10.0], 'max': [3.0, 30.0]}
    """
    if feature.normalization not in ("standard", "minmax"):
        return None
    values, _, _ = parse_vectors(column, feature.separator, feature.dim, _where(feature))
    fit = fit_moments if feature.normalization == "standard" else fit_range
    pairs = [fit(values[:, j]) for j in range(feature.dim)]
    keys = ("mean", "std") if feature.normalization == "standard" else ("min", "max")
    return {keys[0]: [p[0] for p in pairs], keys[1]: [p[1] for p in pairs]}


def wrong_length_rows(feature: Any, column: pa.Array) -> np.ndarray:
    """Boolean mask of the rows whose number of values is not ``feature.dim`` (empty rows are missing)."""
    return parse_vectors(column, feature.separator, feature.dim, _where(feature))[2]


def _normalize(feature: Any, values: np.ndarray, stats: dict[str, list[float]] | None) -> np.ndarray:
    kind = feature.normalization
    if kind == "standard":
        std = np.asarray(stats["std"])  # type: ignore[index]
        return (values - np.asarray(stats["mean"])) / np.where(std == 0, 1.0, std)  # type: ignore[index]
    if kind == "minmax":
        low, high = np.asarray(stats["min"]), np.asarray(stats["max"])  # type: ignore[index]
        return (values - low) / np.where(high == low, 1.0, high - low)
    if kind == "log1p":
        return np.sign(values) * np.log1p(np.abs(values))
    return values


def encode_vector(feature: Any, column: pa.Array, stats: dict[str, list[float]] | None, row_offset: int = 0,
                  kept_rows: np.ndarray | None = None) -> tuple[torch.Tensor, FeatureCounts]:
    """``(B, N)`` float32 values and the counts (per row: missing = a row with any filled element).

    ``column`` holds no wrong-length rows any more (the preprocessor dropped them); ``kept_rows``
    maps its rows to the table's when rows were dropped, so an error names the file's data row.
    """
    values, unparseable, _ = parse_vectors(column, feature.separator, feature.dim, _where(feature))
    missing = np.isnan(values)
    with np.errstate(invalid="ignore", over="ignore"):
        out_of_range = ~missing & ~(np.abs(values) <= FLOAT32_MAX)
        filled = np.where(missing | out_of_range, feature.fill_value, values)
        out = _normalize(feature, filled, stats)
        overflow = ~(np.abs(out) <= FLOAT32_MAX)
        if overflow.any():
            out_of_range |= overflow
            out = _normalize(feature, np.where(overflow, feature.fill_value, filled), stats)
    bad_rows = (missing | out_of_range).any(axis=1)
    n = len(column)
    counts = FeatureCounts(n, n, 0, int(np.count_nonzero(bad_rows)), int(np.count_nonzero(unparseable)),
                           int(np.count_nonzero(out_of_range.any(axis=1))))
    if counts.missing and not feature.allow_missing:
        first = int(np.flatnonzero(bad_rows)[0])
        row = row_offset + (first if kept_rows is None else int(kept_rows[first])) + 1
        raise DataError(_where(feature), f"{counts.missing} rows with missing values (null, NaN, not a number, inf "
                        f"or beyond float32 range; first at data row {row}) while allow_missing is false",
                        f"{feature.dim} finite numbers per row", f"{counts.missing} of {n} rows")
    array = np.ascontiguousarray(out, dtype=np.float32)
    return torch.from_numpy(array), counts
