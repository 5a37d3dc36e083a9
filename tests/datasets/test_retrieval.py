"""Retrieval splits with histories, and the popularity baseline's exclusion of later-known items."""

from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recblocks.datasets import retrieval
from recblocks.datasets.retrieval import popularity_ranks, write_retrieval_splits

SOURCE = Path(__file__).resolve().parents[3] / "shared" / "data" / "ml-100k"


def test_the_docstring_examples_run() -> None:
    assert doctest.testmod(retrieval, optionflags=doctest.ELLIPSIS).failed == 0


def test_extra_seen_items_are_excluded_but_never_the_target() -> None:
    # counts: x 3, y 2, z 1, w 1 -> order x, y, w, z (ties by id)
    train = pa.table({"user_id": ["a", "b", "c", "a", "b", "c", "d"],
                      "movie_id": ["x", "x", "x", "y", "y", "z", "w"]})
    valid = pa.table({"user_id": ["d", "c"], "movie_id": ["x", "q"]})  # q: outside the catalogue
    test = pa.table({"user_id": ["d", "c"], "movie_id": ["z", "w"]})
    ranks, _ = popularity_ranks(train, test)
    assert ranks.tolist() == [2.0, 1.0]  # d: x y [w] z -> z after x, y; c: saw x, z -> y [w]
    ranks, _ = popularity_ranks(train, test, extra_seen=valid)
    assert ranks.tolist() == [1.0, 1.0]  # d also saw x: y, z
    # a valid row's own target stays a candidate when the extra rows are the valid split itself
    ranks, _ = popularity_ranks(train, valid, extra_seen=valid)
    assert ranks[0] == 0.0 and np.isinf(ranks[1])


@pytest.mark.skipif(not (SOURCE / "u.data").is_file(), reason="ML-100K is absent")
def test_history_columns_are_strictly_earlier_ratings(tmp_path: Path) -> None:
    paths = write_retrieval_splits(SOURCE, tmp_path, history=3)
    train, valid, test = (pq.read_table(paths[s]) for s in ("train", "valid", "test"))
    assert valid.num_rows == test.num_rows == 943
    assert {"hist_movie_id", "genre", "hist_genre"} <= set(test.column_names)
    user = test.column("user_id")[0].as_py()
    rows = pa.concat_tables([train, valid, test]).filter(pa.compute.equal(
        pa.concat_tables([train, valid, test]).column("user_id"), user)).sort_by("timestamp")
    last = test.column("timestamp")[0].as_py()
    before = [str(m) for m, t in zip(rows.column("movie_id").to_pylist(), rows.column("timestamp").to_pylist())
              if t < last]
    assert test.column("hist_movie_id")[0].as_py() == before[-3:]
