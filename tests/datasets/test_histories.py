"""Behaviour histories: strictly earlier rows only (ties excluded), on hand cases, brute force and ML-100K."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from recblocks.cli.main import cli
from recblocks.core.errors import ConfigError, DataError
from recblocks.datasets import add_histories, load_movielens, prepare_movielens
from recblocks.datasets.histories import NO_CATEGORY

REAL = Path(__file__).parents[2] / ".." / "shared" / "data" / "ml-100k"


def test_histories_by_hand_with_ties_and_categories():
    table = pa.table({
        "user_id": ["u", "v", "u", "u", "u", "v"],
        "movie_id": ["a", "x", "b", "c", "d", "y"],
        "genres": ["Action|Comedy", "Drama", "", "Horror", None, "War|Drama"],
        "timestamp": [10, 5, 20, 20, 30, 5],
    })
    out = add_histories(table, max_len=2)
    assert out.column_names[:4] == table.column_names  # appended, rows in their input order
    assert out["movie_id"].to_pylist() == table["movie_id"].to_pylist()
    # u: a@10, b@20, c@20 (a tie: b and c never see each other), d@30 keeps the two most recent.
    assert out["hist_movie_id"].to_pylist() == [[], [], ["a"], ["a"], ["b", "c"], []]
    assert out["genre"].to_pylist() == ["Action", "Drama", NO_CATEGORY, "Horror", NO_CATEGORY, "War"]
    assert out["hist_genre"].to_pylist() == [[], [], ["Action"], ["Action"], [NO_CATEGORY, "Horror"], []]


def test_histories_match_a_brute_force_definition():
    rng = np.random.default_rng(0)
    n = 300
    users = rng.integers(0, 7, n)
    times = rng.integers(0, 40, n)  # many ties
    table = pa.table({"user_id": users.astype(str), "movie_id": np.arange(n).astype(str), "timestamp": times})
    got = add_histories(table, max_len=5, category_column=None)["hist_movie_id"].to_pylist()
    for i in range(n):
        earlier = [j for j in range(n) if users[j] == users[i] and times[j] < times[i]]
        earlier.sort(key=lambda j: (times[j], j))
        assert got[i] == [str(j) for j in earlier[-5:]], i


def test_value_columns_align_with_the_item_history_ties_excluded():
    table = pa.table({
        "user_id": ["u", "v", "u", "u", "u", "v"],
        "movie_id": ["a", "x", "b", "c", "d", "y"],
        "rating": [5, 1, 2, 4, 3, 2],
        "timestamp": [10, 5, 20, 20, 30, 6],
    })
    out = add_histories(table, max_len=2, category_column=None, value_columns=["rating"])
    assert out.column_names == [*table.column_names, "hist_movie_id", "hist_rating"]
    assert out.schema.field("hist_rating").type == pa.list_(pa.int64())  # the column's own type
    # u: a(5)@10, b(2)@20 and c(4)@20 tie (neither sees the other), d@30 keeps the two most recent.
    assert out["hist_movie_id"].to_pylist() == [[], [], ["a"], ["a"], ["b", "c"], ["x"]]
    assert out["hist_rating"].to_pylist() == [[], [], [5], [5], [2, 4], [1]]
    assert "hist_rating" not in add_histories(table, 2, category_column=None).column_names  # off by default


def test_value_histories_match_a_brute_force_definition():
    rng = np.random.default_rng(1)
    n = 300
    users, times, ratings = rng.integers(0, 7, n), rng.integers(0, 40, n), rng.integers(1, 6, n)
    table = pa.table({"user_id": users.astype(str), "movie_id": np.arange(n).astype(str), "timestamp": times,
                      "rating": ratings})
    out = add_histories(table, max_len=4, category_column=None, value_columns=("rating",))
    for i, (movies, values) in enumerate(zip(out["hist_movie_id"].to_pylist(), out["hist_rating"].to_pylist())):
        earlier = sorted((j for j in range(n) if users[j] == users[i] and times[j] < times[i]),
                         key=lambda j: (times[j], j))[-4:]
        assert movies == [str(j) for j in earlier] and values == [int(ratings[j]) for j in earlier], i


def test_history_errors():
    table = pa.table({"user_id": ["u"], "movie_id": ["a"], "timestamp": [1]})
    with pytest.raises(ConfigError, match=r"history: the history length is out of range; expected an integer"):
        add_histories(table, 0, category_column=None)
    with pytest.raises(DataError, match=r"column 'genres': the category column is missing"):
        add_histories(table, 3)
    with pytest.raises(DataError, match=r"column 'timestamp': the time column has missing values"):
        add_histories(pa.table({"user_id": ["u"], "movie_id": ["a"], "timestamp": pa.array([None], pa.int64())}), 3,
                      category_column=None)
    with pytest.raises(ConfigError, match=r"already has a history column"):
        add_histories(add_histories(table, 3, category_column=None), 3, category_column=None)
    with pytest.raises(DataError, match=r"column 'rating': the value column is missing; .*did you mean"):
        add_histories(table.append_column("ratings", pa.array([1])), 3, category_column=None, value_columns=["rating"])
    with pytest.raises(ConfigError, match=r"history.value_columns: the value columns are a list of names"):
        add_histories(table, 3, category_column=None, value_columns="rating")
    with pytest.raises(DataError, match=r"column 'rating': the value column has missing values"):
        add_histories(table.append_column("rating", pa.array([None], pa.int64())), 3, category_column=None,
                      value_columns=["rating"])


def test_prepare_with_history_counts_every_earlier_rating(tmp_path):
    d = tmp_path / "ml-100k"
    d.mkdir()
    # user 1: m10 (5 stars) at 100, m20 (3 stars: dropped as a label row, kept as history) at 150, m30 at 200.
    (d / "u.data").write_text("1\t10\t5\t100\n1\t20\t3\t150\n1\t30\t1\t200\n2\t10\t4\t100\n")
    (d / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n")
    flags = "|".join(["0", "1"] + ["0"] * 17)
    (d / "u.item").write_bytes("".join(f"{m}|T{m} (1990)|||x|{flags}\n" for m in (10, 20, 30)).encode("latin-1"))
    path = prepare_movielens(d, tmp_path / "ml.parquet", history=5)["all"]
    table = pq.read_table(path).sort_by([("user_id", "ascending"), ("timestamp", "ascending")])
    assert table["movie_id"].to_pylist() == ["10", "30", "10"]  # the 3-star row is not a labelled row
    assert table["hist_movie_id"].to_pylist() == [[], ["10", "20"], []]
    assert table["hist_genre"].to_pylist() == [[], ["Action", "Action"], []]
    result = CliRunner().invoke(cli, ["datasets", "prepare", "movielens", "--source", str(d), "--output",
                                      str(tmp_path / "split"), "--split", "temporal", "--history", "3"])
    assert result.exit_code == 0, result.output
    parts = {p: pq.read_table(tmp_path / "split" / f"{p}.parquet") for p in ("train", "valid", "test")}
    assert all("hist_movie_id" in t.column_names and "hist_rating" not in t.column_names for t in parts.values())
    result = CliRunner().invoke(cli, ["datasets", "prepare", "movielens", "--source", str(d), "--output",
                                      str(tmp_path / "rated"), "--split", "temporal", "--history", "3",
                                      "--history-ratings"])
    assert result.exit_code == 0, result.output
    rated = pa.concat_tables([pq.read_table(tmp_path / "rated" / f"{p}.parquet") for p in ("train", "valid", "test")])
    rated = rated.sort_by([("user_id", "ascending"), ("timestamp", "ascending")])
    assert rated["hist_rating"].to_pylist() == [[], [5, 3], []]  # the 3-star row's rating is history too
    assert rated["hist_rating_rel"].to_pylist() == [[], ["above", "below"], []]  # against their mean, 4
    with pytest.raises(ConfigError, match=r"history_ratings: the history ratings come with a history"):
        prepare_movielens(d, tmp_path / "x.parquet", history_ratings=True)


def test_real_ml100k_histories_never_see_the_future():
    if not (REAL / "u.data").is_file():
        pytest.skip(f"shared data not found at {REAL.resolve()} (ml-100k/u.data)")
    table = add_histories(load_movielens(REAL, label={"threshold": 4}), max_len=20)
    users = table["user_id"].to_numpy(zero_copy_only=False)
    movies = table["movie_id"].to_numpy(zero_copy_only=False)
    times = table["timestamp"].to_numpy()
    when = {(u, m): t for u, m, t in zip(users, movies, times)}  # ML-100K: one rating per (user, movie)
    hist = table["hist_movie_id"].to_pylist()
    lengths = np.array([len(h) for h in hist])
    assert lengths.max() == 20 and (lengths == 0).sum() >= 943  # every user's first rating has no history
    for i in range(0, len(hist), 97):
        stamps = [when[(users[i], m)] for m in hist[i]]
        assert all(s < times[i] for s in stamps) and stamps == sorted(stamps) and movies[i] not in hist[i]
    rated = add_histories(table.drop_columns(["hist_movie_id", "genre", "hist_genre"]), max_len=20,
                          value_columns=["rating"])
    stars = {(u, m): r for u, m, r in zip(users, movies, table["rating"].to_pylist())}
    assert rated["hist_movie_id"].to_pylist() == hist
    for i in range(0, len(hist), 97):
        assert rated["hist_rating"][i].as_py() == [stars[(users[i], m)] for m in hist[i]]


def test_relative_columns_compare_each_entry_with_its_own_history_mean():
    table = pa.table({"user_id": ["u"] * 5 + ["v"] * 2, "movie_id": list("abcdexy"),
                      "timestamp": [1, 2, 3, 4, 4, 1, 2], "rating": [5, 3, 4, 1, 2, 2, 2]})
    out = add_histories(table, 3, category_column=None, value_columns=["rating"], relative_columns=["rating"])
    assert out.schema.field("hist_rating_rel").type == pa.list_(pa.string())
    # row 3 (t=4) sees 5, 3, 4 (mean 4): above, below, typical; its tie (row 4) sees the same
    assert out["hist_rating_rel"].to_pylist() == [[], ["typical"], ["above", "below"],
                                                  ["above", "below", "typical"], ["above", "below", "typical"],
                                                  [], ["typical"]]
    for rel, values in zip(out["hist_rating_rel"].to_pylist(), out["hist_rating"].to_pylist()):
        assert len(rel) == len(values)  # aligned with the history
    wide = add_histories(table, 3, category_column=None, relative_columns=["rating"], relative_margin=1.5)
    assert wide["hist_rating_rel"].to_pylist()[3] == ["typical"] * 3
    with pytest.raises(ConfigError, match="relative_margin"):
        add_histories(table, 3, category_column=None, relative_columns=["rating"], relative_margin=-1)
    with pytest.raises(ConfigError, match="relative_columns"):
        add_histories(table, 3, category_column=None, relative_columns="rating")
    with pytest.raises(DataError, match="must be numeric"):
        add_histories(table, 3, category_column=None, relative_columns=["movie_id"])
