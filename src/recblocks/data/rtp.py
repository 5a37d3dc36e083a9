"""Read RTP feature-generation output ("CSV in CSV", EasyRec's ``RTPInput``) into columnar tables.

One line per sample. The line is cut into columns by ``delimiter`` (EasyRec's
``rtp_separator``, ``;`` by default); some columns hold labels, one column holds every
feature, cut again by ``feature_separator`` (EasyRec's ``separator``, usually ``\\x02``) into
one cell per feature, in the order of ``feature_names``. A multi-valued feature keeps its own
separator inside its cell (``\\x03`` in RTP output), split later by the feature's schema.

The key/value form (EasyRec's ``RTPInputV2``, ``format: rtp_kv``) holds one sample per line as
``key\x03value`` pairs separated by ``\x02``; the values of a key given several times are joined
by ``,`` and a key absent from a line is null (:func:`rtp_kv_table`).

The result is the table the CSV reader gives for the same data: one string column per label
and per feature (empty cells are null). A row whose feature column does not hold exactly
``len(feature_names)`` cells is a DataError naming the file, the first such row (row 1 is
the file's first line), how many rows of the file are bad and how many cells were expected,
as the CSV reader reports a ragged row.

Example:
    >>> layout = RtpLayout(label_columns=[0], feature_column=2, label_names=["clk"],
    ...                    feature_names=["user", "tags"], feature_separator="|")
    >>> table = rtp_table(pa.table({"f0": ["1", "0"], "f1": ["x", "y"], "f2": ["u1|a,b", "u2|"]}), layout, "t.txt")
    >>> table.to_pydict()
    {'clk': ['1', '0'], 'user': ['u1', 'u2'], 'tags': ['a,b', None]}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from pydantic import Field, model_validator

from recblocks.core.errors import DataError
from recblocks.core.params import Params
from recblocks.features.columns import short_repr

__all__ = ["RtpLayout", "rtp_table", "rtp_read_columns", "rtp_kv_table", "rtp_options", "line_options",
           "KV_PAIR_SEPARATOR", "KV_SEPARATOR"]

#: what separates the pairs of a key/value RTP line, and the key from the value (EasyRec's RTPInputV2)
KV_PAIR_SEPARATOR, KV_SEPARATOR = "\x02", "\x03"


class RtpLayout(Params):
    """Where labels and features sit in an RTP line (``data.<split>.rtp``).

    Args:
        label_columns: 0-based column indices of the labels (EasyRec: ``selected_cols`` but the last).
        feature_column: 0-based index of the column holding every feature (EasyRec: the last
            of ``selected_cols``).
        label_names: the names of the label columns, one per index of ``label_columns``.
        feature_names: the names of the features, in the order of their cells in the feature column.
        feature_separator: what cuts the feature column into cells (EasyRec: ``separator``).
    """

    label_columns: list[int] = Field(default_factory=list)
    feature_column: int = Field(ge=0)
    label_names: list[str] = Field(default_factory=list)
    feature_names: list[str] = Field(min_length=1)
    feature_separator: str = Field(default="\x02", min_length=1)

    @model_validator(mode="after")
    def _check(self) -> "RtpLayout":
        if len(self.label_names) != len(self.label_columns):
            raise ValueError(f"label_names must name each of the {len(self.label_columns)} label_columns, "
                             f"got {len(self.label_names)} names")
        if any(i < 0 for i in self.label_columns) or self.feature_column in self.label_columns:
            raise ValueError("label_columns must be distinct non-negative indices other than feature_column")
        names = [*self.label_names, *self.feature_names]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"a column name appears twice among label_names and feature_names: {twice}")
        return self

    @property
    def columns(self) -> list[str]:
        """The names of the table's columns: the labels, then the features."""
        return [*self.label_names, *self.feature_names]

    def raw_columns(self) -> list[int]:
        """Indices of the line's columns that are read."""
        return sorted({*self.label_columns, self.feature_column})


def rtp_read_columns(layout: RtpLayout, columns: Sequence[str] | None) -> list[int]:
    """The raw column indices needed for the named table ``columns`` (all when None)."""
    if columns is None:
        return layout.raw_columns()
    wanted = set(columns)
    needed = {i for i, name in zip(layout.label_columns, layout.label_names) if name in wanted}
    if wanted & set(layout.feature_names):
        needed.add(layout.feature_column)
    return sorted(needed)


def rtp_options(layout: RtpLayout, block_size: int, delimiter: str, columns: Sequence[str] | None):
    """pyarrow CSV options for RTP lines: header-less, no quoting, every read column a string
    (``f<i>`` for column ``i``)."""
    read = pacsv.ReadOptions(autogenerate_column_names=True, block_size=block_size)
    parse = pacsv.ParseOptions(delimiter=delimiter, quote_char=False)
    raw = [f"f{i}" for i in rtp_read_columns(layout, columns)]
    convert = pacsv.ConvertOptions(column_types={name: pa.string() for name in raw}, include_columns=raw,
                                   strings_can_be_null=False)
    return read, parse, convert


def line_options(block_size: int):
    """pyarrow CSV options reading each line as one string cell (``line``): the record separator
    ``\\x1e`` does not occur in RTP text (a line holding it is a ragged-row DataError)."""
    read = pacsv.ReadOptions(column_names=["line"], block_size=block_size)
    parse = pacsv.ParseOptions(delimiter="\x1e", quote_char=False, double_quote=False, escape_char=False)
    return read, parse, pacsv.ConvertOptions(column_types={"line": pa.string()}, strings_can_be_null=False)


def _null_if_empty(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def rtp_table(raw: pa.Table, layout: RtpLayout, path: str, row_offset: int = 0,
              columns: Sequence[str] | None = None) -> pa.Table:
    """The labels and features of ``raw`` (columns ``f<i>`` as read from the file, as strings).

    ``row_offset``: lines of the file before ``raw`` (for the row named in errors);
    ``columns``: the output columns wanted (all when None).
    """
    wanted = layout.columns if columns is None else [c for c in layout.columns if c in set(columns)]
    out: dict[str, pa.Array] = {}
    for index, name in zip(layout.label_columns, layout.label_names):
        if name in wanted:
            out[name] = _null_if_empty(pc.cast(raw.column(f"f{index}").combine_chunks(), pa.string()))
    features = [name for name in layout.feature_names if name in wanted]
    if features:
        cells = pc.split_pattern(pc.fill_null(pc.cast(raw.column(f"f{layout.feature_column}").combine_chunks(),
                                                      pa.string()), ""), layout.feature_separator)
        count = len(layout.feature_names)
        lengths = pc.list_value_length(cells).to_numpy(zero_copy_only=False)
        bad = lengths != count
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise DataError(f"{path}, row {row_offset + first + 1}",
                            f"the feature column (column {layout.feature_column}) has {int(lengths[first])} cells "
                            f"separated by {layout.feature_separator!r} ({int(bad.sum())} of {len(bad)} rows read "
                            "are bad; row 1 is the file's first line)",
                            f"{count} cells, one per feature", short_repr(cells[first].as_py(), 120))
        flat = cells.flatten()
        positions = {name: j for j, name in enumerate(layout.feature_names)}
        for name in features:
            taken = flat.take(pa.array(np.arange(positions[name], len(flat), count, dtype=np.int64)))
            out[name] = _null_if_empty(taken)
    return pa.table({name: out[name] for name in wanted})


def rtp_kv_table(lines: pa.Array, columns: Sequence[str], path: str, row_offset: int = 0) -> pa.Table:
    """The ``columns`` (keys) of key/value RTP ``lines`` as string columns (see the module docstring).

    Example:
        >>> rtp_kv_table(pa.array(["clk\x031\x02tag\x03a\x02tag\x03b", "clk\x030"]), ["clk", "tag"], "t").to_pydict()
        {'clk': ['1', '0'], 'tag': ['a,b', None]}
    """
    rows = len(lines)
    pairs = pc.split_pattern(pc.fill_null(lines, ""), KV_PAIR_SEPARATOR)
    flat = pc.list_flatten(pairs)
    parents = pc.list_parent_indices(pairs).to_numpy(zero_copy_only=False)
    present = np.asarray(pc.greater(pc.utf8_length(flat), 0).to_numpy(zero_copy_only=False), dtype=bool)
    flat, parents = flat.filter(pa.array(present)), parents[present]
    parts = pc.split_pattern(flat, KV_SEPARATOR, max_splits=1)
    broken = np.asarray(pc.not_equal(pc.list_value_length(parts), 2).to_numpy(zero_copy_only=False), dtype=bool)
    if broken.any():
        first = int(np.flatnonzero(broken)[0])
        raise DataError(f"{path}, row {row_offset + int(parents[first]) + 1}",
                        f"a pair without the key/value separator {KV_SEPARATOR!r} ({int(broken.sum())} such pairs in "
                        "the rows read; row 1 is the file's first line)",
                        f"key{KV_SEPARATOR!r}value pairs separated by {KV_PAIR_SEPARATOR!r}",
                        short_repr(flat[first].as_py(), 120))
    keys, values = pc.list_element(parts, 0), pc.list_element(parts, 1)
    out = {}
    for name in columns:
        mask = np.asarray(pc.equal(keys, name).to_numpy(zero_copy_only=False), dtype=bool)
        counts = np.bincount(parents[mask], minlength=rows) if mask.any() else np.zeros(rows, dtype=np.int64)
        offsets = np.zeros(rows + 1, dtype=np.int32)
        np.cumsum(counts, out=offsets[1:])
        grouped = pa.ListArray.from_arrays(pa.array(offsets), values.filter(pa.array(mask)))
        joined = pc.binary_join(grouped, ",")
        out[name] = pc.if_else(pa.array(counts > 0), joined, pa.scalar(None, pa.string()))
    return pa.table({name: out[name] for name in columns})
