"""Label columns: what values each task accepts, and which rows are dropped as bad.

A label kind (the value of ``transform(labels={column: kind})``) says what a valid label is:

* ``float``       — any finite number (regression).
* ``long``        — a finite integer.
* ``binary``      — 0 or 1 (ints, 0.0/1.0 floats, booleans, ``"0"``/``"1"`` text).
* ``soft_binary`` — any number in ``[0, 1]`` (soft labels for logloss; AUC and other ranking
  metrics count a label ``>= 0.5`` as positive).
* ``classes:N``   — an integer class id in ``[0, N)`` (multiclass with N classes).

A row whose label is not valid is **dropped and counted** by reason (``missing``: null, empty,
NaN; ``not_a_number``: text that is no number; ``out_of_range``: ±inf, or outside the kind's
range such as 2 or -1 for ``binary``; ``not_integer``: 2.5 for ``long``/``classes``).

One exception is refused instead of dropped: a **fractional** value strictly between 0 and 1
in a ``binary`` column (e.g. 0.3). Such values are not corrupt rows but another label
convention (soft labels); dropping them would silently change what the model learns, so
:func:`encode_labels` raises :class:`DataError` naming the column, the count and the first
data row. Soft labels are trained on (and evaluated) only when asked for with the
``soft_binary`` kind (``data.soft_labels: true`` in a run config); their count is then
reported as a note.

Rows are named as **data rows**: 1-based, the header line not counted, in the order of the
table given (plus ``row_offset``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import torch

from recblocks.core.errors import ConfigError, DataError
from recblocks.features.columns import as_array, parse_numbers

__all__ = ["LABEL_TYPES", "BAD_LABEL_REASONS", "LabelKind", "LabelCounts", "parse_label_kind", "label_dtype",
           "encode_labels"]

#: Label kinds (besides ``classes:N``) and their tensor dtypes.
LABEL_TYPES = {"float": torch.float32, "long": torch.int64, "binary": torch.float32, "soft_binary": torch.float32}

#: Why a label value made its row bad, in report order.
BAD_LABEL_REASONS = ("missing", "not_a_number", "out_of_range", "not_integer")


@dataclass(frozen=True)
class LabelKind:
    """A parsed label kind: tensor dtype, valid range (inclusive low, exclusive-or-inclusive
    high as ``high_inclusive`` says) and whether values must be integers."""

    name: str
    dtype: torch.dtype
    integer: bool = False
    low: float = -np.inf
    high: float = np.inf
    high_inclusive: bool = True
    hard_binary: bool = False

    def describe(self) -> str:
        """The valid values in words, e.g. ``0 or 1`` or ``integers in [0, 5)``."""
        if self.hard_binary:
            return "0 or 1"
        if self.name == "soft_binary":
            return "numbers in [0, 1]"
        if self.integer and np.isfinite(self.high):
            return f"integers in [0, {int(self.high)})"
        return "finite integers" if self.integer else "finite numbers"


def parse_label_kind(kind: str, where: str = "labels") -> LabelKind:
    """The :class:`LabelKind` of a kind string (see the module docstring); ConfigError otherwise.

    Example:
        >>> parse_label_kind("classes:3").describe()
        'integers in [0, 3)'
    """
    if kind == "float":
        return LabelKind("float", torch.float32)
    if kind == "long":
        return LabelKind("long", torch.int64, integer=True)
    if kind == "binary":
        return LabelKind("binary", torch.float32, low=0.0, high=1.0, hard_binary=True)
    if kind == "soft_binary":
        return LabelKind("soft_binary", torch.float32, low=0.0, high=1.0)
    if isinstance(kind, str) and kind.startswith("classes:"):
        count = kind.split(":", 1)[1]
        if count.isdigit() and int(count) >= 2:
            return LabelKind(kind, torch.int64, integer=True, low=0.0, high=float(count), high_inclusive=False)
    choices = [*LABEL_TYPES, "classes:N"]
    raise ConfigError(where, "unknown label type", f"one of {choices}", repr(kind), choices=choices)


@dataclass
class LabelCounts:
    """Bad values of one label column by reason, plus accepted soft (fractional) labels."""

    reasons: dict[str, int] = field(default_factory=dict)
    soft: int = 0

    @property
    def bad(self) -> int:
        return sum(self.reasons.values())


def _first_row(mask: np.ndarray, row_offset: int) -> int:
    return row_offset + int(np.flatnonzero(mask)[0]) + 1


def _check_one(name: str, column: pa.Array, kind: LabelKind,
               row_offset: int) -> tuple[np.ndarray, np.ndarray, LabelCounts]:
    where = f"label '{name}'"
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type) or pa.types.is_struct(column.type):
        raise DataError(where, "a label column must hold one number per row", "a numeric column",
                        f"arrow type {column.type}")
    values, unparseable = parse_numbers(column, where)
    nan = np.isnan(values)
    reasons = {"missing": nan & ~unparseable, "not_a_number": unparseable}
    finite = np.where(nan, 0.0, values)
    above = finite >= kind.high if not kind.high_inclusive else finite > kind.high
    reasons["out_of_range"] = ~nan & (np.isinf(values) | (finite < kind.low) | above)
    bad = reasons["missing"] | reasons["not_a_number"] | reasons["out_of_range"]
    fractional = ~bad & (finite != np.round(finite))
    counts = LabelCounts()
    if kind.integer:
        reasons["not_integer"] = fractional
        bad = bad | fractional
    elif kind.hard_binary and fractional.any():
        count = int(np.count_nonzero(fractional))
        first = _first_row(fractional, row_offset)
        raise DataError(where, f"{count} fractional binary labels (first at data row {first}, value "
                        f"{float(values[first - row_offset - 1]):g}); to train and evaluate on soft labels set "
                        "data.soft_labels: true in the run's config", "labels 0 or 1",
                        f"{count} of {len(values)} rows")
    elif kind.name == "soft_binary":
        counts.soft = int(np.count_nonzero(fractional))
    counts.reasons = {reason: int(np.count_nonzero(mask)) for reason, mask in reasons.items() if mask.any()}
    return values, bad, counts


def encode_labels(table: pa.Table, labels: Mapping[str, str],
                  row_offset: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, LabelCounts]]:
    """Parse and check every label column of ``table``.

    Returns ``(values by column (float64, every row), bad-row mask, counts by column)``.
    Raises DataError for a missing or non-scalar label column, a column none of whose values
    is a number, or fractional ``binary`` labels (see the module docstring).
    """
    values: dict[str, np.ndarray] = {}
    counts: dict[str, LabelCounts] = {}
    bad = np.zeros(table.num_rows, dtype=bool)
    for name, kind_name in labels.items():
        kind = parse_label_kind(kind_name, f"labels.{name}")
        if name not in table.column_names:
            shown = table.column_names if len(table.column_names) <= 12 else table.column_names[:12]
            raise DataError(f"label '{name}'", f"column '{name}' is missing from the data", f"one of {shown}",
                            repr(name), choices=table.column_names)
        values[name], mask, counts[name] = _check_one(name, as_array(table.column(name)), kind, row_offset)
        bad |= mask
    return values, bad, counts


def label_dtype(kind: str) -> torch.dtype:
    """The tensor dtype of a label kind."""
    return parse_label_kind(kind).dtype
