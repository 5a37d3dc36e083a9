"""Statistics the preprocessor fits on train (vocabularies, moments, quantiles) and counts
while transforming (unseen ids, missing values, dropped rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recblocks.features.columns import FLOAT32_MAX

__all__ = [
    "fit_vocabulary",
    "vocabulary_from_counts",
    "fit_moments",
    "fit_range",
    "fit_quantiles",
    "FeatureCounts",
    "TransformReport",
]


def fit_vocabulary(arrays: Sequence[pa.Array], min_count: int = 1, max_vocab_size: int | None = None) -> list[str]:
    """Values seen at least ``min_count`` times over the string ``arrays`` (null and ``""`` ignored).

    Ordered by descending frequency, then by value; capped at ``max_vocab_size``.

    Example:
        >>> fit_vocabulary([pa.array(["b", "a", "b", None, "", "c", "a", "b"])], min_count=2)
        ['b', 'a']
    """
    arrays = [a for a in arrays if len(a)]
    if not arrays:
        return []
    values = pa.concat_arrays(arrays) if len(arrays) > 1 else arrays[0]
    counted = pc.value_counts(values)
    return vocabulary_from_counts(pa.table({"value": counted.field("values"), "count": counted.field("counts")}),
                                  min_count, max_vocab_size)


def vocabulary_from_counts(table: pa.Table, min_count: int = 1, max_vocab_size: int | None = None) -> list[str]:
    """:func:`fit_vocabulary` from a table of distinct ``value``s and their ``count``s (counts
    merged over chunks by a streaming fit give the same vocabulary as the whole column)."""
    table = table.filter(pc.and_(pc.is_valid(table["value"]), pc.greater(pc.utf8_length(table["value"]), 0)))
    table = table.filter(pc.greater_equal(table["count"], min_count))
    order = pc.sort_indices(table, sort_keys=[("count", "descending"), ("value", "ascending")])
    if max_vocab_size is not None:
        order = order[:max_vocab_size]
    return table["value"].take(order).to_pylist()


def _finite(values: np.ndarray) -> np.ndarray:
    """The values a float32 tensor can hold: finite and within float32's range (see FLOAT32_MAX)."""
    with np.errstate(invalid="ignore"):
        return values[np.abs(values) <= FLOAT32_MAX]


def fit_moments(values: np.ndarray) -> tuple[float, float]:
    """Mean and population std of the finite float32-range values (0, 1 when there are none)."""
    finite = _finite(values)
    if finite.size == 0:
        return 0.0, 1.0
    return float(finite.mean()), float(finite.std())


def fit_range(values: np.ndarray) -> tuple[float, float]:
    """Min and max of the finite values (0, 0 when there are none)."""
    finite = _finite(values)
    if finite.size == 0:
        return 0.0, 0.0
    return float(finite.min()), float(finite.max())


def fit_quantiles(values: np.ndarray, num_buckets: int) -> list[float]:
    """Inner quantile boundaries cutting the finite values into ``num_buckets`` (duplicates removed).

    Example:
        >>> fit_quantiles(np.arange(1.0, 9.0), 4)
        [2.75, 4.5, 6.25]
    """
    finite = _finite(values)
    if finite.size == 0:
        return []
    qs = np.quantile(finite, np.linspace(0.0, 1.0, num_buckets + 1)[1:-1])
    return [float(q) for q in np.unique(qs)]


@dataclass
class FeatureCounts:
    """What one feature met while transforming.

    ``rows``: rows transformed; ``values``: ids looked up (list elements for multi/sequence,
    else rows); ``oov``: ids absent from the vocabulary; ``missing``: null/empty/NaN/inf or
    unparseable cells (rows without any element for lists); ``unparseable``: the part of
    ``missing`` that was text but not a number; ``out_of_range``: the part of ``missing`` that
    was ±inf or beyond float32's range (|x| > 3.4e38), treated like a missing value;
    ``truncated``: multi/sequence rows longer than ``max_len`` (cut to ``max_len``);
    ``wrong_length``: rows of a vector feature (``dim: N``) with another number of values,
    dropped as bad rows (counted in the report's ``bad_rows``, not in ``rows``).
    """

    rows: int = 0
    values: int = 0
    oov: int = 0
    missing: int = 0
    unparseable: int = 0
    out_of_range: int = 0
    truncated: int = 0
    wrong_length: int = 0

    def merge(self, other: "FeatureCounts") -> "FeatureCounts":
        """Sum of both counters."""
        return FeatureCounts(**{name: getattr(self, name) + getattr(other, name) for name in vars(self)})


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.2f}%" if whole else "n/a"


def _add(into: dict[str, int], other: dict[str, int]) -> dict[str, int]:
    out = dict(into)
    for key, count in other.items():
        out[key] = out.get(key, 0) + count
    return out


_REASON_TEXT = {"missing": "missing", "not_a_number": "not a number", "out_of_range": "out of range",
                "not_integer": "not an integer"}


@dataclass
class TransformReport:
    """Counters of one or more transform calls; merge the reports of chunks with :meth:`merge`.

    ``rows``: rows read; ``bad_rows``: rows dropped because a label was not valid for its
    task (a row bad in two labels counts once); ``bad_rows_by_label``: those rows per label
    column; ``bad_labels``: label column -> reason (``missing``, ``not_a_number``,
    ``out_of_range``, ``not_integer``; see :mod:`recblocks.features.labels`) -> count;
    ``soft_labels``: label column -> fractional labels accepted as soft labels;
    ``features``: :class:`FeatureCounts` by feature name.

    Example:
        >>> r = TransformReport(rows=100, features={"user_id": FeatureCounts(rows=100, values=100, oov=3)})
        >>> r.merge(r).summary_lines()
        ['200 rows read, 0 bad rows dropped (0.00%)', 'user_id: 6 unseen ids (3.00%)']
    """

    rows: int = 0
    bad_rows: int = 0
    bad_rows_by_label: dict[str, int] = field(default_factory=dict)
    features: dict[str, FeatureCounts] = field(default_factory=dict)
    bad_labels: dict[str, dict[str, int]] = field(default_factory=dict)
    soft_labels: dict[str, int] = field(default_factory=dict)

    @property
    def kept_rows(self) -> int:
        """Rows that reached the batch."""
        return self.rows - self.bad_rows

    def merge(self, other: "TransformReport") -> "TransformReport":
        """A new report with the counters of both (neither input is changed)."""
        features = dict(self.features)
        for name, counts in other.features.items():
            features[name] = features[name].merge(counts) if name in features else counts
        reasons = {name: dict(r) for name, r in self.bad_labels.items()}
        for name, r in other.bad_labels.items():
            reasons[name] = _add(reasons.get(name, {}), r)
        return TransformReport(self.rows + other.rows, self.bad_rows + other.bad_rows,
                               _add(self.bad_rows_by_label, other.bad_rows_by_label), features, reasons,
                               _add(self.soft_labels, other.soft_labels))

    def bad_reasons(self) -> str:
        """The bad label values by reason in words, e.g. ``3 missing, 2 out of range``."""
        totals: dict[str, int] = {}
        for reasons in self.bad_labels.values():
            totals = _add(totals, reasons)
        for name, c in self.features.items():
            if c.wrong_length:
                totals[f"with a wrong number of values in '{name}'"] = c.wrong_length
        return ", ".join(f"{count} {_REASON_TEXT.get(reason, reason)}" for reason, count in totals.items() if count)

    def summary_lines(self) -> list[str]:
        """Human-readable lines: rows read and dropped, then each label and feature with something to report."""
        lines = [f"{self.rows} rows read, {self.bad_rows} bad rows dropped ({_pct(self.bad_rows, self.rows)})"]
        for label, count in self.bad_rows_by_label.items():
            if count:
                reasons = self.bad_labels.get(label, {})
                detail = ", ".join(f"{n} {_REASON_TEXT.get(r, r)}" for r, n in reasons.items() if n)
                lines.append(f"label '{label}': {count} rows dropped for a bad label ({_pct(count, self.rows)})"
                             + (f": {detail}" if detail else ""))
        for label, count in self.soft_labels.items():
            if count:
                lines.append(f"label '{label}': {count} fractional (soft) labels kept ({_pct(count, self.rows)}); "
                             "ranking metrics count labels >= 0.5 as positive")
        for name, c in self.features.items():
            if c.oov:
                lines.append(f"{name}: {c.oov} unseen ids ({_pct(c.oov, c.values)})")
            if c.missing:
                parts = [f"{c.unparseable} of them not numbers" if c.unparseable else "",
                         f"{c.out_of_range} of them inf or beyond float32 range" if c.out_of_range else ""]
                extra = "".join(f", {p}" for p in parts if p)
                lines.append(f"{name}: {c.missing} missing values ({_pct(c.missing, c.rows)}{extra})")
            if c.wrong_length:
                lines.append(f"{name}: {c.wrong_length} rows with a wrong number of values, dropped "
                             f"({_pct(c.wrong_length, self.rows)})")
            if c.truncated:
                lines.append(f"{name}: {c.truncated} rows longer than max_len, truncated ({_pct(c.truncated, c.rows)})")
        return lines

    def to_dict(self) -> dict:
        """Plain-data form (JSON-serializable)."""
        return {
            "rows": self.rows,
            "bad_rows": self.bad_rows,
            "bad_rows_by_label": dict(self.bad_rows_by_label),
            "bad_labels": {n: dict(r) for n, r in self.bad_labels.items()},
            "soft_labels": dict(self.soft_labels),
            "features": {n: vars(c).copy() for n, c in self.features.items()},
        }
