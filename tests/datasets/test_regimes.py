"""The four split regimes (random, temporal, leave-last-out, unseen users) and the ml-100k-ctr columns.

The regime rules are checked on a synthetic ratings table made here; the real ML-100K checks
(the builder reproduces ``ml-100k-ctr`` row for row; sizes and leakage of every regime) skip
when ``../shared/data`` is absent.
"""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from recblocks.cli.main import cli
from recblocks.core.errors import ConfigError, DataError
from recblocks.datasets import (
    CTR_COLUMNS,
    REGIMES,
    group_split,
    leave_last_out_split,
    load_movielens_ctr,
    prepare_movielens,
    split_regime,
    split_sizes,
)

SHARED = Path(__file__).parents[2] / ".." / "shared" / "data"
REAL, FIXED = SHARED / "ml-100k", SHARED / "ml-100k-ctr"


def ratings(num_users: int = 30, seed: int = 0) -> pa.Table:
    """User ``u`` has ``u % 7`` ratings (0-6, some users with fewer than 3), timestamps with ties."""
    rng = np.random.default_rng(seed)
    users, movies, stamps = [], [], []
    for user in range(num_users):
        for movie in range(user % 7):
            users.append(str(user))
            movies.append(str(movie))
            stamps.append(int(rng.integers(0, 5)))  # few distinct times: many ties
    n = len(users)
    return pa.table({"label": rng.integers(0, 2, n), "user_id": users, "movie_id": movies,
                     "timestamp": pa.array(stamps, pa.int64())})


def test_temporal_has_no_leakage_and_its_sizes():
    table = ratings()
    train, valid, test = split_regime(table, "temporal")
    assert [p.num_rows for p in (train, valid, test)] == [int(table.num_rows * 0.8), int(table.num_rows * 0.9)
                                                          - int(table.num_rows * 0.8), table.num_rows
                                                          - int(table.num_rows * 0.9)]
    assert max(train["timestamp"].to_pylist()) <= min(valid["timestamp"].to_pylist())
    assert max(valid["timestamp"].to_pylist()) <= min(test["timestamp"].to_pylist())


def test_leave_last_out_takes_each_users_latest():
    table = ratings()
    train, valid, test = leave_last_out_split(table)
    rows = table.to_pylist()
    eligible = {u for u in set(r["user_id"] for r in rows) if sum(r["user_id"] == u for r in rows) >= 3}
    assert sorted(test["user_id"].to_pylist()) == sorted(eligible)  # exactly one test row per eligible user
    assert sorted(valid["user_id"].to_pylist()) == sorted(eligible)
    assert train.num_rows + valid.num_rows + test.num_rows == table.num_rows
    train_rows = train.to_pylist()
    for part_row, val_row in zip(sorted(test.to_pylist(), key=lambda r: r["user_id"]),
                                 sorted(valid.to_pylist(), key=lambda r: r["user_id"])):
        user = part_row["user_id"]
        earlier = [r["timestamp"] for r in train_rows if r["user_id"] == user]
        assert part_row["timestamp"] == max(r["timestamp"] for r in rows if r["user_id"] == user)
        assert val_row["timestamp"] <= part_row["timestamp"] and max(earlier) <= val_row["timestamp"]
    # Users with fewer than 3 ratings stay in train, whole.
    for user in {r["user_id"] for r in rows} - eligible:
        assert sum(r["user_id"] == user for r in train_rows) == sum(r["user_id"] == user for r in rows)


def test_leave_last_out_breaks_ties_by_row_order():
    table = pa.table({"user_id": ["a"] * 4, "movie_id": ["1", "2", "3", "4"], "timestamp": [5, 9, 9, 9]})
    train, valid, test = leave_last_out_split(table)
    assert test["movie_id"].to_pylist() == ["4"] and valid["movie_id"].to_pylist() == ["3"]
    assert train["movie_id"].to_pylist() == ["1", "2"]
    with pytest.raises(DataError, match="time column is missing"):
        leave_last_out_split(table.drop_columns(["timestamp"]))


def test_unseen_users_are_disjoint_and_seeded():
    table = ratings(num_users=50)
    train, valid, test = group_split(table, "user_id", (0.8, 0.1, 0.1), seed=3)
    sets = [set(p["user_id"].to_pylist()) for p in (train, valid, test)]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert sum(p.num_rows for p in (train, valid, test)) == table.num_rows
    assert [len(s) for s in sets] == split_sizes(len({u for u in range(50) if u % 7}), (0.8, 0.1, 0.1))  # 42 users
    again = group_split(table, "user_id", (0.8, 0.1, 0.1), seed=3)
    assert [p.to_pylist() for p in again] == [p.to_pylist() for p in (train, valid, test)]
    other = group_split(table, "user_id", (0.8, 0.1, 0.1), seed=4)
    assert [p.to_pylist() for p in other] != [p.to_pylist() for p in (train, valid, test)]


def test_random_regime_is_seeded():
    table = ratings()
    first = split_regime(table, "random", seed=1)
    assert [p.to_pylist() for p in split_regime(table, "random", seed=1)] == [p.to_pylist() for p in first]
    assert [p.to_pylist() for p in split_regime(table, "random", seed=2)] != [p.to_pylist() for p in first]
    assert sorted(r["movie_id"] + r["user_id"] for p in first for r in p.to_pylist()) == \
        sorted(r["movie_id"] + r["user_id"] for r in table.to_pylist())
    with pytest.raises(ConfigError, match=r"split: unknown regime; expected one of random, temporal"):
        split_regime(table, "leave_one_out")


def _flags(*on):
    return "|".join("1" if i in on else "0" for i in range(19))


def test_ctr_columns_on_a_small_ml100k(tmp_path):
    d = tmp_path / "ml-100k"
    d.mkdir()
    (d / "u.data").write_text("2\t10\t4\t100\n1\t20\t3\t300\n1\t10\t5\t200\n")
    (d / "u.user").write_text("1|17|M|technician|85711\n2|56|F|other|T8H1N\n")
    (d / "u.item").write_bytes((f"10|Café Society (1994)|22-Jan-1995||http://x|{_flags(5, 8)}\n"
                                f"20|unknown||||{_flags(0)}\n").encode("latin-1"))
    rows = load_movielens_ctr(d).to_pylist()
    assert list(rows[0]) == list(CTR_COLUMNS)
    assert [(r["user_id"], r["movie_id"], r["label"]) for r in rows] == [("1", "10", 1), ("1", "20", 0), ("2", "10", 1)]
    assert rows[0] | {"timestamp": 0} == {"label": 1, "user_id": "1", "movie_id": "10", "gender": "M", "age": "<18",
                                          "occupation": "technician", "zip3": "857", "release_year": "1995",
                                          "genres": "Comedy^Drama", "genre_first": "Comedy", "timestamp": 0}
    assert (rows[1]["release_year"], rows[1]["genres"], rows[1]["genre_first"]) == ("unknown", "unknown", "unknown")
    assert (rows[2]["age"], rows[2]["zip3"]) == ("56+", "T8H")


def test_ctr_columns_on_a_small_ml1m(tmp_path):
    d = tmp_path / "ml-1m"
    d.mkdir()
    (d / "ratings.dat").write_text("1::10::3::100\n")
    (d / "users.dat").write_text("1::F::45::17::48067\n")
    (d / "movies.dat").write_bytes("10::Amélie (2001)::Comedy|Romance\n".encode("latin-1"))
    row = load_movielens_ctr(d).to_pylist()[0]
    assert (row["label"], row["age"], row["occupation"], row["release_year"], row["genres"]) == \
        (0, "45-49", "technician/engineer", "2001", "Comedy^Romance")


def _real_or_skip():
    if not (REAL / "u.data").is_file():
        pytest.skip(f"shared data not found at {REAL.resolve()} (ml-100k/u.data)")
    return load_movielens_ctr(REAL)


@pytest.fixture(scope="module")
def real_table():
    return _real_or_skip()


def test_random_regime_seed_2024_is_the_fixed_split(real_table):
    if not (FIXED / "train.parquet").is_file():
        pytest.skip(f"the fixed split is absent ({FIXED.resolve()})")
    for name, part in zip(("train", "valid", "test"), split_regime(real_table, "random", seed=2024)):
        fixed = pq.read_table(FIXED / f"{name}.parquet")
        assert part.drop_columns(["timestamp"]).to_pylist() == fixed.to_pylist(), name


def test_real_regime_sizes_and_leakage(real_table):
    sizes = {r: [p.num_rows for p in split_regime(real_table, r, seed=2024)] for r in REGIMES}
    assert sizes == {"random": [80000, 10000, 10000], "temporal": [80000, 10000, 10000],
                     "leave_last_out": [98114, 943, 943], "unseen_users": [78658, 10181, 11161]}
    train, valid, test = split_regime(real_table, "temporal")
    assert max(train["timestamp"].to_pylist()) <= min(valid["timestamp"].to_pylist())
    assert max(valid["timestamp"].to_pylist()) <= min(test["timestamp"].to_pylist())
    train, valid, test = split_regime(real_table, "unseen_users", seed=2024)
    assert not set(train["user_id"].to_pylist()) & (set(valid["user_id"].to_pylist()) | set(test["user_id"].to_pylist()))


def test_cli_prepare_ctr_regime(tmp_path):
    _real_or_skip()
    out = tmp_path / "llo"
    result = CliRunner().invoke(cli, ["datasets", "prepare", "movielens", "--source", str(REAL), "--output", str(out),
                                      "--format", "ctr", "--split", "leave_last_out"])
    assert result.exit_code == 0, result.output
    assert "test: " in result.output and "(943 rows" in result.output
    assert pq.read_schema(out / "test.parquet").names == list(CTR_COLUMNS)
    with pytest.raises(ConfigError, match="unknown split for format 'easyrec'"):
        prepare_movielens(REAL, tmp_path / "x", split="unseen_users")
    with pytest.raises(ConfigError, match="the ctr format keeps every rating"):
        prepare_movielens(REAL, tmp_path / "y", split="random", format="ctr", label="easyrec")
