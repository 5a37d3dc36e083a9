"""Behaviour histories: for every row, the items its user interacted with strictly before it.

:func:`add_histories` works on any table with a user, an item and a time column (MovieLens
from :func:`~recblocks.datasets.movielens.load_movielens` by default) and adds, per row:

* ``hist_<item>`` ``list<string>``: the user's previous ``max_len`` items, oldest first (the
  most recent last, so a sequence feature that keeps the last ``max_len`` ids keeps them all);
* ``hist_<category>`` ``list<string>``: the first category of each of those items (MovieLens:
  the first of the ``|``-joined genres), aligned position by position with ``hist_<item>``;
* ``<category_single>`` ``string``: the first category of the row's own item, the target that
  ``hist_<category>`` is compared with. An empty or missing category reads ``NO_CATEGORY``
  (a value, not a gap, so both history lists keep one entry per position).
* ``hist_<value>`` for each of ``value_columns`` (e.g. ``rating``): that column's value in each of
  the history's rows, aligned position by position with ``hist_<item>``, in the column's own
  type (``list<int64>`` for MovieLens ratings: a number stays a number for any later use, and a
  sequence feature reads integers as ids ``"1"`` .. ``"5"`` anyway). With it a history says how
  the user rated each earlier item, not only which items: the feedback known before the row.
  Off by default (the columns of existing callers do not change).
* ``hist_<value>_rel`` for each of ``relative_columns``: ``list<string>``, each history entry's
  value against the mean value of the same row's history: ``"above"`` (more than
  ``relative_margin`` over it), ``"below"`` (more than ``relative_margin`` under it) or
  ``"typical"``. With ratings it says which earlier movies the user liked more or less than they
  usually do, without how generously they rate (which is the same for every row of a user and
  cannot rank one user's rows). Aligned with ``hist_<item>`` like the other lists.

Leak rule: a row sees only rows of its user with a **strictly smaller** time. Rows with the
same time (ties: several ratings in one second) never see each other nor the row itself, in
either order, so the history does not depend on the order ties happen to be stored in, and a
row never sees a rating made at or after its own time. The history is computed on the table
it is given, before any split, so a test row's history may contain older valid/test rows of
the same user: those are the past, not the future.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recblocks.core.errors import ConfigError, DataError

__all__ = ["MAX_HISTORY", "NO_CATEGORY", "RELATIVE_TOKENS", "add_histories", "first_category", "history_offsets",
           "relative_tokens"]

#: The largest ``max_len`` accepted (a history beyond it is a misuse of this helper).
MAX_HISTORY = 1000

#: The category of an item whose category is empty or missing.
NO_CATEGORY = "(none)"

#: The tokens of a relative history column: under, near and over the row's history mean.
RELATIVE_TOKENS = ("below", "typical", "above")


def history_offsets(users: np.ndarray, times: np.ndarray, max_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each row's history lies in the rows sorted by ``(user, time)``.

    Args:
        users: ``(N,)`` user codes (any integers).
        times: ``(N,)`` times (any orderable numbers).
        max_len: the most history entries kept per row (the most recent ones).

    Returns:
        ``(order, start, end)``: ``order`` ``(N,)`` sorts the rows by user, then time, then
        input position; row ``order[i]`` has the history ``order[start[i]:end[i]]`` (``end``
        is the first sorted row of its user with its time: ties excluded).

    Example:
        >>> order, start, end = history_offsets(np.array([7, 7, 7]), np.array([5, 1, 5]), 2)
        >>> order.tolist(), start.tolist(), end.tolist()
        ([1, 0, 2], [0, 0, 0], [0, 1, 1])
    """
    n = len(users)
    order = np.lexsort((np.arange(n), times, users))
    u, t = users[order], times[order]
    new_user = np.ones(n, dtype=bool)
    new_user[1:] = u[1:] != u[:-1]
    new_time = new_user.copy()
    new_time[1:] |= t[1:] != t[:-1]
    positions = np.arange(n)
    user_start = np.maximum.accumulate(np.where(new_user, positions, 0))
    end = np.maximum.accumulate(np.where(new_time, positions, 0))  # first row of the tie block
    start = np.maximum(user_start, end - max_len)
    return order, start, end


def first_category(values: pa.Array | pa.ChunkedArray, separator: str = "|") -> pa.Array:
    """The first ``separator``-separated entry of each string (empty or missing -> ``NO_CATEGORY``).

    Example:
        >>> first_category(pa.array(["Action|Comedy", "", None])).to_pylist()
        ['Action', '(none)', '(none)']
    """
    strings = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    first = pc.list_element(pc.split_pattern(pc.fill_null(pc.cast(strings, pa.string()), ""), pattern=separator), 0)
    return pc.if_else(pc.equal(first, ""), pa.scalar(NO_CATEGORY, pa.string()), first)


def relative_tokens(values: np.ndarray, offsets: np.ndarray, margin: float) -> pa.Array:
    """Each list entry against its own list's mean, as :data:`RELATIVE_TOKENS` (flat, list by list).

    Args:
        values: ``(E,)`` numbers, the entries of all lists one after the other.
        offsets: ``(L + 1,)`` list boundaries into ``values`` (list ``i`` is ``values[offsets[i]:offsets[i+1]]``).
        margin: how far from the mean an entry must be to be ``"above"`` or ``"below"``.

    Returns:
        ``(E,)`` string array of tokens.

    Example:
        >>> relative_tokens(np.array([5, 3, 4, 2]), np.array([0, 3, 3, 4]), 0.5).to_pylist()
        ['above', 'below', 'typical', 'typical']
    """
    values = np.asarray(values, dtype=np.float64)
    lengths = np.diff(offsets)
    sums = np.zeros(len(lengths))
    nonempty = lengths > 0
    sums[nonempty] = np.add.reduceat(values, offsets[:-1][nonempty]) if len(values) else 0.0
    means = np.repeat(sums / np.maximum(lengths, 1), lengths)
    codes = np.where(values > means + margin, 2, np.where(values < means - margin, 0, 1))
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int8()), pa.array(RELATIVE_TOKENS)).cast(pa.string())


def _check_columns(table: pa.Table, columns: dict[str, str]) -> None:
    for role, name in columns.items():
        if name not in table.column_names:
            raise DataError(f"column '{name}'", f"the {role} column is missing", f"one of {table.column_names}",
                            repr(name), choices=table.column_names)
        if table[name].null_count:
            raise DataError(f"column '{name}'", f"the {role} column has missing values",
                            "a value in every row", f"{table[name].null_count:,} missing")


def add_histories(table: pa.Table, max_len: int = 20, *, user_column: str = "user_id",
                  item_column: str = "movie_id", time_column: str = "timestamp",
                  category_column: str | None = "genres", category_separator: str = "|",
                  target_category_column: str = "genre", value_columns: Sequence[str] = (),
                  relative_columns: Sequence[str] = (), relative_margin: float = 0.5,
                  prefix: str = "hist_") -> pa.Table:
    """``table`` with the history columns of the module docstring appended (rows keep their order).

    Args:
        table: one row per interaction.
        max_len: the most history entries per row (the most recent ones), 1 to ``MAX_HISTORY``.
        user_column, item_column, time_column: the columns read (none may have missing values).
        category_column: a ``category_separator``-joined category column, or ``None`` for ids only.
        target_category_column: the name of the added first-category column of the row's item.
        value_columns: columns (no missing values) whose earlier values are added as
            ``prefix + name`` lists aligned with the item history, e.g. ``("rating",)``.
        relative_columns: numeric columns (no missing values) added as ``prefix + name + "_rel"``
            token lists (module docstring), e.g. ``("rating",)``.
        relative_margin: the distance from the row's history mean beyond which an entry is
            ``"above"`` or ``"below"`` (0.5 puts ratings 1-5 one star off an integer mean outside it).
        prefix: prepended to ``item_column`` and ``target_category_column`` for the history columns.

    Raises:
        ConfigError: ``max_len`` out of range or an added column that already exists.
        DataError: a missing column or missing values in the user/item/time columns.

    Example:
        >>> t = pa.table({"user_id": ["u", "u", "u"], "movie_id": ["a", "b", "c"], "timestamp": [1, 2, 2]})
        >>> add_histories(t, 5, category_column=None)["hist_movie_id"].to_pylist()
        [[], ['a'], ['a']]
        >>> t = t.append_column("rating", pa.array([5, 2, 4]))
        >>> add_histories(t, 5, category_column=None, value_columns=["rating"])["hist_rating"].to_pylist()
        [[], [5], [5]]
        >>> t2 = pa.table({"user_id": ["u"] * 4, "movie_id": list("abcd"), "timestamp": [1, 2, 3, 4],
        ...                "rating": [5, 3, 4, 1]})
        >>> add_histories(t2, 5, category_column=None, relative_columns=["rating"])["hist_rating_rel"].to_pylist()[3]
        ['above', 'below', 'typical']
    """
    if isinstance(max_len, bool) or not isinstance(max_len, int) or not 1 <= max_len <= MAX_HISTORY:
        raise ConfigError("history", "the history length is out of range", f"an integer in [1, {MAX_HISTORY}]",
                          repr(max_len))
    for what, names in (("value_columns", value_columns), ("relative_columns", relative_columns)):
        if isinstance(names, str):
            raise ConfigError(f"history.{what}", f"the {what.replace('_', ' ')} are a list of names",
                              f"a list such as [{names!r}]", repr(names))
    if not np.isfinite(relative_margin) or relative_margin < 0:
        raise ConfigError("history.relative_margin", "the margin is a distance", "a finite number >= 0",
                          repr(relative_margin))
    columns = {"user": user_column, "item": item_column, "time": time_column}
    _check_columns(table, columns)
    for name in (*value_columns, *relative_columns):
        _check_columns(table, {"value": name})
    for name in relative_columns:
        if not pa.types.is_integer(table[name].type) and not pa.types.is_floating(table[name].type):
            raise DataError(f"column '{name}'", "a relative history column must be numeric", "integers or floats",
                            str(table[name].type))
    if category_column is not None and category_column not in table.column_names:
        raise DataError(f"column '{category_column}'", "the category column is missing",
                        f"one of {table.column_names}", repr(category_column), choices=table.column_names)
    added = [prefix + item_column]
    if category_column is not None:
        added += [target_category_column, prefix + target_category_column]
    added += [prefix + name for name in value_columns]
    added += [prefix + name + "_rel" for name in relative_columns]
    clash = [c for c in added if c in table.column_names]
    if clash:
        raise ConfigError("history", "the table already has a history column", "a table without "
                          f"{added}", clash)
    users = pc.dictionary_encode(table[user_column].combine_chunks()).indices.to_numpy(zero_copy_only=False)
    times = table[time_column].combine_chunks().to_numpy(zero_copy_only=False)
    order, start, end = history_offsets(np.asarray(users, dtype=np.int64), np.asarray(times), max_len)
    lengths = end - start
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    flat = np.repeat(start - offsets[:-1], lengths) + np.arange(offsets[-1])  # sorted positions of the entries
    entries = pa.array(order[flat])  # input rows of the entries
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    back = pa.array(inverse)  # sorted position of each input row

    def lists(values: pa.Array) -> pa.Array:
        sorted_lists = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values.take(entries))
        return sorted_lists.take(back)

    items = pc.cast(table[item_column].combine_chunks(), pa.string())
    out = table.append_column(prefix + item_column, lists(items))
    if category_column is not None:
        first = first_category(table[category_column], category_separator)
        out = out.append_column(target_category_column, first)
        out = out.append_column(prefix + target_category_column, lists(first))
    for name in value_columns:
        out = out.append_column(prefix + name, lists(table[name].combine_chunks()))
    for name in relative_columns:
        entry_values = table[name].combine_chunks().to_numpy(zero_copy_only=False)[order[flat]]
        tokens = relative_tokens(entry_values, offsets, relative_margin)
        out = out.append_column(prefix + name + "_rel",
                                pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), tokens).take(back))
    return out
