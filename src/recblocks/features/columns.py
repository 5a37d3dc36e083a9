"""Vectorized column operations on pyarrow arrays used by the preprocessor.

Every function here works on a whole column at once (pyarrow.compute and numpy); none
loops over rows in Python. Errors name the feature (``where``) and the arrow type.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recblocks.core.errors import DataError

__all__ = [
    "NUMBER_PATTERN",
    "FLOAT32_MAX",
    "HASH_KEY",
    "as_array",
    "to_strings",
    "is_missing_string",
    "parse_numbers",
    "to_numbers",
    "unusable_numbers",
    "short_repr",
    "to_lists",
    "present_elements",
    "parse_vectors",
    "stable_hash",
    "lookup_ids",
    "hash_ids",
    "pad_lists",
    "encode_extra",
]

#: What a numeric cell may look like once trimmed (the grammar arrow's float parser accepts).
NUMBER_PATTERN = r"^[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf|infinity|nan)$"

#: The largest finite float32 value; dense inputs beyond it cannot be held by the model's tensors.
FLOAT32_MAX = float(np.finfo(np.float32).max)

#: the 16-byte SipHash key of :func:`stable_hash` (written into export packages: docs/export.md)
HASH_KEY = "0123456789123456"
_INT_PATTERN = r"^[+-]?\d{1,18}$"


def as_array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array from a (possibly chunked) column."""
    if isinstance(column, pa.ChunkedArray):
        if column.num_chunks == 1:
            return column.chunk(0)
        if column.num_chunks == 0:
            return pa.array([], type=column.type)
        return column.combine_chunks()
    return column


def _is_textual(t: pa.DataType) -> bool:
    is_view = getattr(pa.types, "is_string_view", lambda _: False)
    return pa.types.is_string(t) or pa.types.is_large_string(t) or is_view(t)


def to_strings(array: pa.Array, where: str) -> pa.Array:
    """The string form of a scalar column (ints as ``"12"``, ``1.0`` as ``"1"``); lists are an error."""
    t = array.type
    if pa.types.is_dictionary(t):
        array = pc.cast(array, t.value_type) if _is_textual(t.value_type) else array.dictionary_decode()
        t = array.type
    if pa.types.is_string(t):
        return array
    if _is_textual(t) or pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) \
            or pa.types.is_decimal(t) or pa.types.is_null(t):
        return pc.cast(array, pa.string())
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        try:
            return pc.cast(array, pa.string())
        except pa.ArrowInvalid:
            example = next((v for v in (x.as_py() for x in array) if v is not None and not _is_utf8(v)), b"")
            raise DataError(where, "the column holds bytes that are not valid UTF-8 text", "UTF-8 text (ids)",
                            f"arrow type {t} (e.g. {short_repr(example)})") from None
    raise DataError(where, "column type cannot be read as ids", "strings or numbers", f"arrow type {t}")


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def is_missing_string(strings: pa.Array) -> np.ndarray:
    """Boolean mask of null or empty cells of a string array."""
    empty = pc.equal(pc.utf8_length(strings), 0)
    return np.asarray(pc.fill_null(empty, True).to_numpy(zero_copy_only=False), dtype=bool)


def _parse_strings(strings: pa.Array) -> np.ndarray:
    trimmed = pc.utf8_trim_whitespace(strings)
    valid = pc.fill_null(pc.match_substring_regex(trimmed, NUMBER_PATTERN, ignore_case=True), False)
    kept = pc.if_else(valid, trimmed, pa.scalar(None, pa.string()))
    try:
        values = pc.cast(kept, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a form arrow rejects: parse with pandas
        obj = kept.to_numpy(zero_copy_only=False)
        return pd.to_numeric(pd.Series(obj, dtype=object), errors="coerce").to_numpy(dtype=np.float64)
    return values.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def parse_numbers(array: pa.Array, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Float64 values of a scalar column (null and unparseable -> NaN) and the unparseable mask.

    Numeric and boolean columns are cast; string columns are parsed (empty cells are
    missing, not unparseable). Lists and other types, or a string column none of whose
    non-empty cells is a number, raise DataError naming ``where`` and the arrow type.
    """
    t = array.type
    if pa.types.is_dictionary(t):
        array = array.dictionary_decode()
        t = array.type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t) \
            or pa.types.is_null(t):
        values = pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)
        return np.asarray(values, dtype=np.float64), np.zeros(len(array), dtype=bool)
    if _is_textual(t):
        strings = pc.cast(array, pa.string())
        values = _parse_strings(strings)
        present = ~is_missing_string(strings)
        bad = present & np.isnan(values) & ~np.asarray(_nan_literal(strings), dtype=bool)
        if bad.any() and int(np.count_nonzero(bad)) == int(np.count_nonzero(present)):
            raise DataError(where, "no value of the column is a number", "numbers or numeric strings",
                            f"arrow type {t} (e.g. {short_repr(_first_present(strings, present))})")
        return values, bad
    raise DataError(where, "column type cannot be read as numbers", "a numeric or string column",
                    f"arrow type {t}")


def to_numbers(array: pa.Array, where: str) -> tuple[np.ndarray, int]:
    """Like :func:`parse_numbers`, with the count of unparseable cells instead of the mask."""
    values, unparseable = parse_numbers(array, where)
    return values, int(np.count_nonzero(unparseable))


def unusable_numbers(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(missing, out_of_range)`` masks of float64 values bound for float32 tensors.

    ``missing``: NaN (null, empty, unparseable, ``nan``); ``out_of_range``: ±inf and finite
    values whose magnitude exceeds float32's largest value (about 3.4e38), which would become
    inf in a float32 tensor.
    """
    missing = np.isnan(values)
    with np.errstate(invalid="ignore"):
        out_of_range = ~missing & ~(np.abs(values) <= FLOAT32_MAX)
    return missing, out_of_range


def short_repr(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to about ``limit`` characters (values quoted in error messages)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _nan_literal(strings: pa.Array) -> np.ndarray:
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(strings))
    return pc.fill_null(pc.match_substring_regex(lowered, r"^[+-]?nan$"), False).to_numpy(zero_copy_only=False)


def _first_present(strings: pa.Array, present: np.ndarray) -> str:
    return strings[int(np.flatnonzero(present)[0])].as_py()


def to_lists(array: pa.Array, separator: str | None, where: str) -> pa.Array:
    """A list-of-strings array from a list column or a ``separator``-joined string column."""
    t = array.type
    if pa.types.is_dictionary(t):
        array = array.dictionary_decode()
        t = array.type
    if pa.types.is_null(t):  # e.g. a CSV column empty in every row: every row has no element
        return pa.nulls(len(array), pa.list_(pa.string()))
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        values = to_strings(pc.list_flatten(array), where)
        offsets = _list_offsets(array)
        mask = pc.is_null(array) if array.null_count else None
        return pa.ListArray.from_arrays(offsets, values, mask=mask)
    if _is_textual(t):
        if separator is None:
            raise DataError(where, "a string column needs 'separator' to be split into ids",
                            "a list column or a feature with 'separator' set", f"arrow type {t}")
        return pc.split_pattern(pc.cast(array, pa.string()), pattern=separator)
    raise DataError(where, "column type cannot be read as a list of ids",
                    "a list column or a separator-joined string column", f"arrow type {t}")


def present_elements(array: pa.Array, separator: str | None, where: str) -> tuple[pa.Array, np.ndarray]:
    """``(elements (E,) strings, rows (E,) int64)``: every non-missing list element and its row.

    Example:
        >>> elements, rows = present_elements(pa.array(["a|b", "", "c"]), "|", "f")
        >>> elements.to_pylist(), rows.tolist()
        (['a', 'b', 'c'], [0, 0, 2])
    """
    lists = to_lists(array, separator, where)
    flat = pc.list_flatten(lists)
    parents = np.asarray(pc.list_parent_indices(lists).to_numpy(zero_copy_only=False), dtype=np.int64)
    present = ~is_missing_string(flat) if len(flat) else np.zeros(0, dtype=bool)
    return flat.filter(pa.array(present)), parents[present]


def parse_vectors(array: pa.Array, separator: str | None, dim: int,
                  where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(values (N, dim) float64, unparseable (N,), wrong_length (N,))`` of a vector-valued column.

    A row is a list of numbers (a list column) or a ``separator``-joined string (``"0.1|0.2"``).
    Null, empty and unparseable elements are NaN (``unparseable`` marks rows with an element that
    was text but not a number); a null or empty row is NaN throughout (missing, not wrong); a row
    with another number of elements than ``dim`` is NaN throughout and marked ``wrong_length``.

    Example:
        >>> values, bad, wrong = parse_vectors(pa.array(["1|2", "3|x", "4", None]), "|", 2, "f")
        >>> values.tolist()[:2], bad.tolist(), wrong.tolist()
        ([[1.0, 2.0], [3.0, nan]], [False, True, False, False], [False, False, True, False])
    """
    n = len(array)
    t = array.type
    if pa.types.is_dictionary(t):
        array = array.dictionary_decode()
        t = array.type
    if pa.types.is_null(t):
        return np.full((n, dim), np.nan), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        lists = array
    elif _is_textual(t):
        if separator is None:
            raise DataError(where, "a string column needs 'separator' to be split into numbers",
                            "a list column or a feature with 'separator' set", f"arrow type {t}")
        strings = pc.cast(array, pa.string())
        lists = pc.split_pattern(pc.if_else(pc.equal(pc.utf8_length(strings), 0), pa.scalar(None, pa.string()),
                                            strings), pattern=separator)
    elif dim == 1:
        values, bad = parse_numbers(array, where)
        return values[:, None], bad, np.zeros(n, dtype=bool)
    else:
        raise DataError(where, f"column type cannot be read as vectors of {dim} numbers",
                        "a list column or a separator-joined string column", f"arrow type {t}")
    flat = pc.list_flatten(lists)
    parents = np.asarray(pc.list_parent_indices(lists).to_numpy(zero_copy_only=False), dtype=np.int64)
    flat_values, flat_bad = parse_numbers(flat, where) if len(flat) else (np.zeros(0), np.zeros(0, dtype=bool))
    counts = np.bincount(parents, minlength=n)
    wrong = (counts != dim) & (counts > 0)
    ok = ~wrong[parents]
    positions = np.arange(len(parents), dtype=np.int64) - (np.cumsum(counts) - counts)[parents]
    values = np.full((n, dim), np.nan)
    values[parents[ok], positions[ok]] = flat_values[ok]
    bad = np.zeros(n, dtype=bool)
    bad[parents[flat_bad & ok]] = True
    return values, bad, wrong


def _list_offsets(array: pa.Array) -> pa.Array:
    """int32 offsets (length N+1) of the list array, relative to its flattened values."""
    lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise DataError("list column", "too many list elements in one chunk", "< 2**31", int(offsets[-1]))
    return pa.array(offsets.astype(np.int32))


def stable_hash(strings: pa.Array) -> np.ndarray:
    """Process- and run-independent uint64 hash of each string (nulls hash like ``""``).

    SipHash via ``pandas.util.hash_array`` over the distinct values only (dictionary encoding
    first), so cost grows with the number of distinct values rather than rows.
    """
    encoded = pc.dictionary_encode(pc.fill_null(strings, ""))
    uniques = encoded.dictionary.to_numpy(zero_copy_only=False).astype(object)
    hashed = pd.util.hash_array(uniques, hash_key=HASH_KEY, categorize=False)
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    return hashed[codes] if len(codes) else np.zeros(0, dtype=np.uint64)


def lookup_ids(strings: pa.Array, vocabulary: pa.Array) -> tuple[np.ndarray, int, int]:
    """Vocabulary ids (``index + 2``; unseen, null and empty -> 1) plus (oov count, missing count)."""
    index = pc.index_in(strings, value_set=vocabulary)
    ids = np.asarray(pc.fill_null(index, -1).to_numpy(zero_copy_only=False), dtype=np.int64) + 2
    missing = int(np.count_nonzero(is_missing_string(strings)))
    oov = int(np.count_nonzero(ids == 1)) - missing
    return ids, oov, missing


def hash_ids(strings: pa.Array, bucket_size: int) -> tuple[np.ndarray, int]:
    """Hashed ids (``hash % bucket_size + 2``; null and empty -> 1) plus the missing count."""
    missing_mask = is_missing_string(strings)
    ids = (stable_hash(strings) % np.uint64(bucket_size)).astype(np.int64) + 2
    ids[missing_mask] = 1
    return ids, int(np.count_nonzero(missing_mask))


def pad_lists(lists: pa.Array, element_ids, max_len: int,
              keep_last: bool) -> tuple[np.ndarray, int, int, int, int]:
    """Map list elements to ids and pad/truncate every row to ``max_len`` (0 = padding).

    ``element_ids(strings) -> (ids, oov)`` maps the non-empty elements. Rows without any
    element become ``[1, 0, ...]`` (missing). ``keep_last`` keeps the last ``max_len`` elements
    (most recent, for sequences) instead of the first. Returns ``(ids (N, max_len) int64,
    oov count, missing rows, number of elements looked up, rows truncated to max_len)``.
    """
    n = len(lists)
    flat = pc.list_flatten(lists)
    parents = np.asarray(pc.list_parent_indices(lists).to_numpy(zero_copy_only=False), dtype=np.int64)
    present = ~is_missing_string(flat)
    flat = flat.filter(pa.array(present))
    parents = parents[present]
    ids, oov = element_ids(flat)
    counts = np.bincount(parents, minlength=n)
    starts = np.cumsum(counts) - counts
    pos = np.arange(len(parents), dtype=np.int64) - starts[parents]
    if keep_last:
        col = pos - np.maximum(counts[parents] - max_len, 0)
        keep = col >= 0
    else:
        col = pos
        keep = col < max_len
    out = np.zeros((n, max_len), dtype=np.int64)
    out[parents[keep], col[keep]] = ids[keep]
    empty = counts == 0
    out[empty, 0] = 1
    truncated = int(np.count_nonzero(counts > max_len))
    return out, oov, int(np.count_nonzero(empty)), int(len(parents)), truncated


def encode_extra(array: pa.Array, where: str = "extra column") -> np.ndarray:
    """int64 codes of a passthrough column, stable across chunks, files and processes.

    A value that is an integer (an integer column, an integral float, or a string such as
    ``"42"``) keeps its value; any other value gets a 63-bit stable hash of its string form;
    null becomes ``-1``.
    """
    t = array.type
    if pa.types.is_dictionary(t):
        array = array.dictionary_decode()
        t = array.type
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return np.asarray(pc.fill_null(pc.cast(array, pa.int64()), -1).to_numpy(zero_copy_only=False), np.int64)
    strings = to_strings(array, where)
    codes = (stable_hash(strings) >> np.uint64(1)).astype(np.int64)
    is_int = pc.fill_null(pc.match_substring_regex(strings, _INT_PATTERN), False)
    if pa.types.is_floating(t):
        values = np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)
        integral = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**62)
        codes[integral] = values[integral].astype(np.int64)
    elif pc.any(is_int).as_py():
        mask = np.asarray(is_int.to_numpy(zero_copy_only=False), dtype=bool)
        codes[mask] = np.asarray(pc.cast(strings.filter(is_int), pa.int64()).to_numpy(zero_copy_only=False))
    codes[np.asarray(pc.is_null(array).to_numpy(zero_copy_only=False), dtype=bool)] = -1
    return codes
