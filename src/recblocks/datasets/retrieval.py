"""Retrieval splits: leave-last-out per user by time, and the popularity baseline on them.

:func:`leave_last_out` keeps, per user, the last interaction (by timestamp; ties by row order)
for test, the one before for validation and the rest for training; users with fewer than three
interactions stay in training only. :func:`movielens_retrieval` applies it to every MovieLens
rating (implicit feedback: a rating is an interaction, whatever its value), optionally with each
row's previous ``history`` movies (:func:`~recblocks.datasets.histories.add_histories`, computed
over every rating before the split: a test row's history holds its user's valid movie).

:func:`popularity_ranks` ranks every training item by training count (ties by item id) and
gives each evaluation row its target's rank among the items that user did not have in
training nor in ``extra_seen`` (e.g. the valid split when ranking test), the target itself
always kept (``exclude_seen``, as the MatchModel evaluator does); the ranks go through
:func:`recblocks.metrics.retrieval_metrics` like the model's, so the figures compare.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recblocks.core.errors import DataError
from recblocks.datasets.histories import add_histories
from recblocks.datasets.movielens import load_movielens

__all__ = ["leave_last_out", "movielens_retrieval", "popularity_ranks", "write_retrieval_splits"]


def _column(table: pa.Table, name: str, where: str) -> np.ndarray:
    if name not in table.column_names:
        raise DataError(where, f"column '{name}' missing", f"one of {table.column_names}", repr(name),
                        choices=table.column_names)
    return table.column(name).to_numpy(zero_copy_only=False)


def leave_last_out(table: pa.Table, user: str = "user_id", time: str = "timestamp") -> tuple[pa.Table, ...]:
    """``(train, valid, test)``: per user the last row by ``time`` is test, the one before valid.

    Example:
        >>> t = pa.table({"user_id": ["a"] * 4 + ["b"], "item": [1, 2, 3, 4, 5], "timestamp": [4, 1, 3, 2, 9]})
        >>> [s.column("item").to_pylist() for s in leave_last_out(t)]
        [[2, 4, 5], [3], [1]]
    """
    users, times = _column(table, user, "leave_last_out"), _column(table, time, "leave_last_out")
    _, user_index = np.unique(users, return_inverse=True)
    order = np.lexsort((np.arange(len(times)), times, user_index))  # by user, then time, then row
    sorted_users = user_index[order]
    counts = np.bincount(sorted_users)
    from_end = np.empty(len(order), dtype=np.int64)  # 0 = the user's last row
    ends = np.cumsum(counts)
    from_end[:] = ends[sorted_users] - 1 - np.arange(len(order))
    enough = counts[sorted_users] >= 3
    test, valid = order[enough & (from_end == 0)], order[enough & (from_end == 1)]
    train = np.sort(order[~enough | (from_end >= 2)])
    return table.take(train), table.take(np.sort(valid)), table.take(np.sort(test))


def movielens_retrieval(source_dir: str | Path, history: int | None = None) -> tuple[pa.Table, ...]:
    """MovieLens (100K or 1M) as leave-last-out retrieval splits of every rating (no label column).

    ``history``: add ``hist_movie_id`` (the user's previous ``history`` movies, oldest first),
    ``genre`` and ``hist_genre`` (:func:`~recblocks.datasets.histories.add_histories`).
    """
    table = load_movielens(source_dir, label={"threshold": 0}).drop_columns(["label"])
    if history:
        table = add_histories(table, history)
    return leave_last_out(table)


def write_retrieval_splits(source_dir: str | Path, output_dir: str | Path,
                           history: int | None = None) -> dict[str, Path]:
    """Write ``train/valid/test.parquet`` of :func:`movielens_retrieval` into ``output_dir``."""
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, split in zip(("train", "valid", "test"), movielens_retrieval(source_dir, history)):
        paths[name] = output / f"{name}.parquet"
        pq.write_table(split, paths[name])
    return paths


def popularity_ranks(train: pa.Table, evaluation: pa.Table, user: str = "user_id", item: str = "movie_id",
                     exclude_seen: bool = True, extra_seen: pa.Table | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(ranks, users)`` of each evaluation row's item under the popularity ranking (module docstring).

    A target never seen in training has rank ``inf`` (a miss), as in the model's evaluation.
    ``extra_seen``: more (user, item) rows whose items are excluded too (counts stay training's).

    Example:
        >>> train = pa.table({"user_id": ["a", "a", "b", "b", "c"], "movie_id": ["x", "y", "x", "z", "x"]})
        >>> ranks, _ = popularity_ranks(train, pa.table({"user_id": ["a", "c"], "movie_id": ["z", "q"]}))
        >>> ranks.tolist()  # order x, y, z; a saw x and y: z is first; q is unknown
        [0.0, inf]
        >>> ranks, _ = popularity_ranks(train, pa.table({"user_id": ["c"], "movie_id": ["z"]}),
        ...                             extra_seen=pa.table({"user_id": ["c"], "movie_id": ["y"]}))
        >>> ranks.tolist()  # c saw x in training and y later: z is first
        [0.0]
    """
    train_items = pc.cast(train.column(item), pa.string()).to_numpy(zero_copy_only=False)
    catalogue, counts = np.unique(train_items, return_counts=True)
    order = np.lexsort((np.arange(len(catalogue)), -counts))  # by count desc, then item id
    position = np.empty(len(catalogue), dtype=np.int64)
    position[order] = np.arange(len(catalogue))
    eval_items = pc.cast(evaluation.column(item), pa.string()).to_numpy(zero_copy_only=False)
    eval_users = pc.cast(evaluation.column(user), pa.string()).to_numpy(zero_copy_only=False)
    found = np.searchsorted(catalogue, eval_items).clip(0, max(len(catalogue) - 1, 0))
    known = catalogue[found] == eval_items if len(catalogue) else np.zeros(len(eval_items), dtype=bool)
    target_pos = np.where(known, position[found], -1)
    ranks = target_pos.astype(np.float64)
    if exclude_seen:
        seen_tables = [train] if extra_seen is None else [train, extra_seen]
        train_users = np.concatenate([pc.cast(t.column(user), pa.string()).to_numpy(zero_copy_only=False)
                                      for t in seen_tables])
        seen_items = np.concatenate([pc.cast(t.column(item), pa.string()).to_numpy(zero_copy_only=False)
                                     for t in seen_tables])
        seen_at = np.searchsorted(catalogue, seen_items).clip(0, max(len(catalogue) - 1, 0))
        in_catalogue = catalogue[seen_at] == seen_items  # an extra item outside training is no candidate
        train_users, seen_pos = train_users[in_catalogue], position[seen_at[in_catalogue]]
        by_user = np.lexsort((seen_pos, train_users))
        users_sorted, pos_sorted = train_users[by_user], seen_pos[by_user]
        starts = np.searchsorted(users_sorted, eval_users, side="left")
        ends = np.searchsorted(users_sorted, eval_users, side="right")
        for row in np.flatnonzero(known):  # one search per evaluation row (one row per user in leave-last-out)
            seen = pos_sorted[starts[row]:ends[row]]
            ranks[row] -= np.searchsorted(np.unique(seen), target_pos[row], side="left")
    ranks[~known] = np.inf
    return ranks, eval_users
