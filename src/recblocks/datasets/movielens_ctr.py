"""MovieLens (GroupLens ML-100K or ML-1M) in the columns of the fixed ``ml-100k-ctr`` split,
under four evaluation regimes.

Columns (all strings except ``label`` and ``timestamp``, int64): ``label`` (rating >= 4 by
default), ``user_id, movie_id, gender``, ``age`` in 7 buckets (``<18, 18-24, 25-34, 35-44,
45-49, 50-55, 56+``; ML-1M's age codes fall in the same buckets), ``occupation`` (ML-1M's codes
become their README names), ``zip3`` (first 3 characters of the zip code), ``release_year``
(the year of ML-100K's release date, or of ML-1M's title; ``"unknown"`` when absent),
``genres`` (``^``-joined), ``genre_first`` (the first genre) and ``timestamp`` (seconds, kept so
that the time regimes can be checked; it is not a feature of the zoo configs). Rows are sorted
by (user, movie) as numbers, so every regime depends on the ratings, not on the file's order.
With ``like=True`` a second label ``like`` (int64, 1 for a rating of 5) follows ``label``: the
two-label data of ``configs/ml100k_multitask``, the same rows and split as without it.

Regimes (:data:`REGIMES`), each train / valid / test:

* ``random``: ``RandomState(seed).permutation`` cut 80/10/10 (:func:`permutation_split`); with
  seed 2024 on ML-100K this is ``ml-100k-ctr`` row for row, in the same order.
* ``temporal``: global time: the oldest 80% train, the next 10% valid, the newest 10% test
  (ties in time keep the (user, movie) order).
* ``leave_last_out``: per user by time, the last rating test, the second-last valid, the rest
  train (ties broken by movie id); users with fewer than 3 ratings are train only.
* ``unseen_users``: users (not rows) permuted with ``default_rng(seed)`` and cut 80/10/10: no
  valid or test user has a train row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recblocks.core.errors import ConfigError
from recblocks.datasets.movielens import _read_1m, _read_100k, apply_label, detect_layout
from recblocks.datasets.splits import group_split, leave_last_out_split, permutation_split, temporal_split

__all__ = ["CTR_COLUMNS", "REGIMES", "AGE_BUCKETS", "OCCUPATIONS_1M", "load_movielens_ctr", "split_regime"]

CTR_COLUMNS = ("label", "user_id", "movie_id", "gender", "age", "occupation", "zip3", "release_year", "genres",
               "genre_first", "timestamp")

REGIMES = ("random", "temporal", "leave_last_out", "unseen_users")

#: (lowest age, bucket name), in order.
AGE_BUCKETS = ((0, "<18"), (18, "18-24"), (25, "25-34"), (35, "35-44"), (45, "45-49"), (50, "50-55"), (56, "56+"))

#: ML-1M ``users.dat`` occupation codes 0-20 (from its README).
OCCUPATIONS_1M = ("other", "academic/educator", "artist", "clerical/admin", "college/grad student",
                  "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
                  "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist", "self-employed",
                  "technician/engineer", "tradesman/craftsman", "unemployed", "writer")


def _age_bucket(age: pa.ChunkedArray) -> pa.Array:
    years = pc.cast(age, pa.int64()).to_numpy(zero_copy_only=False)
    lows = np.array([low for low, _ in AGE_BUCKETS])
    names = np.array([name for _, name in AGE_BUCKETS], dtype=object)
    return pa.array(names[np.searchsorted(lows, years, side="right") - 1], type=pa.string())


def _occupation(job: pa.ChunkedArray, layout: str) -> pa.ChunkedArray | pa.Array:
    if layout == "ml-100k":
        return job
    codes = pc.cast(job, pa.int64()).to_numpy(zero_copy_only=False)
    if codes.min(initial=0) < 0 or codes.max(initial=0) >= len(OCCUPATIONS_1M):
        raise ConfigError("users.dat", "occupation code out of range", f"0..{len(OCCUPATIONS_1M) - 1}",
                          int(codes.max()))
    return pa.array(np.asarray(OCCUPATIONS_1M, dtype=object)[codes], type=pa.string())


def _release_year(title: pa.ChunkedArray, release_date: pa.ChunkedArray, layout: str) -> pa.Array:
    if layout == "ml-100k":
        text, pattern = release_date.combine_chunks(), r"(?P<year>\d{4})\s*$"
    else:
        text, pattern = title.combine_chunks(), r"\((?P<year>\d{4})\)\s*$"
    return pc.fill_null(pc.struct_field(pc.extract_regex(pc.fill_null(text, ""), pattern), "year"), "unknown")


def load_movielens_ctr(source_dir: str | Path, label: Mapping[str, Any] | None = None,
                       like: bool = False) -> pa.Table:
    """Every rating in the ``ml-100k-ctr`` columns (:data:`CTR_COLUMNS`), sorted by (user, movie).

    Args:
        source_dir: a GroupLens ML-100K or ML-1M directory.
        label: ``{"threshold": N}`` (label = rating >= N); default ``{"threshold": 4}``.
        like: add the second label ``like`` (rating 5) right after ``label``.
    """
    directory = Path(source_dir)
    layout = detect_layout(directory)
    ratings, users, movies = _read_100k(directory) if layout == "ml-100k" else _read_1m(directory)
    users = users.take(pc.index_in(ratings["user_id"], value_set=users["user_id"].combine_chunks()))
    movies = movies.take(pc.index_in(ratings["movie_id"], value_set=movies["movie_id"].combine_chunks()))
    genres = pc.replace_substring(movies["genres"], "|", "^")
    table = pa.table({
        "rating": ratings["rating"],
        "user_id": ratings["user_id"],
        "movie_id": ratings["movie_id"],
        "gender": users["gender"],
        "age": _age_bucket(users["age"]),
        "occupation": _occupation(users["job_id"], layout),
        "zip3": pc.utf8_slice_codeunits(users["zip_id"], 0, 3),
        "release_year": _release_year(movies["title"], movies["release_date"], layout),
        "genres": genres,
        "genre_first": pc.list_element(pc.split_pattern(genres, "^"), 0),
        "timestamp": ratings["timestamp"],
    })
    table = apply_label(table, dict(label) if label is not None else {"threshold": 4})
    columns = list(CTR_COLUMNS)
    if like:
        table = table.append_column("like", pc.cast(pc.equal(table["rating"], 5), pa.int64()))
        columns.insert(1, "like")
    keys = pa.table({"u": pc.cast(table["user_id"], pa.int64()), "m": pc.cast(table["movie_id"], pa.int64())})
    table = table.take(pc.sort_indices(keys, sort_keys=[("u", "ascending"), ("m", "ascending")]))
    return table.select(columns)


def split_regime(table: pa.Table, regime: str, seed: int = 2024,
                 fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Train, valid and test of ``table`` (as :func:`load_movielens_ctr` returns it) under ``regime``.

    ``seed`` matters for ``random`` and ``unseen_users``; ``fractions`` for every regime but
    ``leave_last_out``. See the module docstring for the rules.
    """
    if regime == "random":
        parts = permutation_split(table, fractions, seed)
    elif regime == "temporal":
        parts = temporal_split(table, fractions, "timestamp")
    elif regime == "leave_last_out":
        parts = leave_last_out_split(table, "user_id", "timestamp")
    elif regime == "unseen_users":
        parts = group_split(table, "user_id", fractions, seed)
    else:
        raise ConfigError("split", "unknown regime", f"one of {', '.join(REGIMES)}", repr(regime),
                          choices=list(REGIMES))
    train, valid, test = parts
    return train, valid, test
