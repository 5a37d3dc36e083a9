"""MovieLens: both GroupLens layouts on hand-written fixtures, label protocols, splits, real ML-100K."""

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from recblocks.core.errors import ConfigError, DataError
from recblocks.datasets import (
    OUTPUT_COLUMNS,
    detect_layout,
    load_movielens,
    prepare_movielens,
    random_split,
    split_sizes,
    temporal_split,
)

REAL = Path(__file__).parents[2] / ".." / "shared" / "data" / "ml-100k"


def flags(*on):
    return "|".join("1" if i in on else "0" for i in range(19))


@pytest.fixture
def ml100k(tmp_path):
    d = tmp_path / "ml-100k"
    d.mkdir()
    (d / "u.data").write_text("1\t10\t5\t100\n1\t20\t3\t300\n2\t10\t1\t200\n2\t30\t4\t50\n3\t20\t2\t400\n"
                              "3\t30\t3\t150\n")
    (d / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|32067\n")
    items = (f"10|Café Society (1994)|01-Jan-1994||http://x|{flags(5, 8)}\n"
             f"20|No Year Title|05-May-1996||http://y|{flags(1, 2)}\n"
             f"30|unknown||||{flags(0)}\n")
    (d / "u.item").write_bytes(items.encode("latin-1"))
    return d


@pytest.fixture
def ml1m(tmp_path):
    d = tmp_path / "ml-1m"
    d.mkdir()
    (d / "ratings.dat").write_text("1::10::5::100\n1::20::3::300\n2::10::2::200\n")
    (d / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n")
    (d / "movies.dat").write_bytes("10::Amélie (2001)::Comedy|Romance\n20::Heat (1995)::Action|Crime|Thriller\n"
                                   .encode("latin-1"))
    return d


def test_ml100k_layout_easyrec_protocol(ml100k):
    assert detect_layout(ml100k) == "ml-100k"
    table = load_movielens(ml100k)
    assert table.column_names == list(OUTPUT_COLUMNS)
    rows = table.to_pylist()
    assert [(r["user_id"], r["movie_id"], r["rating"], r["label"]) for r in rows] == [
        ("1", "10", 5, 1), ("2", "10", 1, 0), ("2", "30", 4, 1), ("3", "20", 2, 0)]
    first = rows[0]
    assert first["title"] == "Café Society (1994)" and first["genres"] == "Comedy|Drama"
    assert first["year"] == "1994" and first["age"] == "24" and first["gender"] == "M"
    assert first["job_id"] == "technician" and first["zip_id"] == "85711" and first["timestamp"] == 100
    assert rows[2]["genres"] == "unknown" and rows[2]["year"] == "unknown"
    assert rows[3]["genres"] == "Action|Adventure" and rows[3]["year"] == "1996"


def test_ml100k_threshold_protocol_keeps_every_row(ml100k):
    table = load_movielens(ml100k, label={"threshold": 3})
    assert table["rating"].to_pylist() == [5, 3, 1, 4, 2, 3]
    assert table["label"].to_pylist() == [1, 1, 0, 1, 0, 1]
    assert table.schema.field("label").type == pa.int64()


def test_ml1m_layout(ml1m):
    assert detect_layout(ml1m) == "ml-1m"
    rows = load_movielens(ml1m).to_pylist()
    assert [(r["user_id"], r["movie_id"], r["label"]) for r in rows] == [("1", "10", 1), ("2", "10", 0)]
    assert rows[0]["title"] == "Amélie (2001)" and rows[0]["year"] == "2001"
    assert rows[0]["genres"] == "Comedy|Romance"
    assert (rows[0]["gender"], rows[0]["age"], rows[0]["job_id"], rows[0]["zip_id"]) == ("F", "1", "10", "48067")


def test_unknown_directory_and_protocol_are_errors(tmp_path, ml100k):
    (tmp_path / "other").mkdir()
    with pytest.raises(DataError, match=r"other: not a MovieLens directory; expected u.data, u.user, u.item"):
        load_movielens(tmp_path / "other")
    with pytest.raises(ConfigError, match="unknown label protocol"):
        load_movielens(ml100k, label="binary")


def test_split_helpers(ml100k):
    table = load_movielens(ml100k, label={"threshold": 4})
    assert split_sizes(6, (0.5, 0.25, 0.25)) == [3, 1, 2]
    parts = random_split(table, (0.5, 0.25, 0.25), seed=1)
    again = random_split(table, (0.5, 0.25, 0.25), seed=1)
    assert [p.num_rows for p in parts] == [3, 1, 2]
    assert [p.to_pylist() for p in parts] == [p.to_pylist() for p in again]
    stamps = sorted(t for p in parts for t in p["timestamp"].to_pylist())
    assert stamps == sorted(table["timestamp"].to_pylist())
    train, valid, test = temporal_split(table, (0.5, 0.25, 0.25))
    assert train["timestamp"].to_pylist() == [50, 100, 150]
    assert valid["timestamp"].to_pylist() == [200] and test["timestamp"].to_pylist() == [300, 400]
    with pytest.raises(ConfigError, match="sum to 1"):
        random_split(table, (0.5, 0.1))


def test_prepare_movielens_writes_parquet(ml100k, tmp_path):
    single = prepare_movielens(ml100k, tmp_path / "out" / "ml.parquet")
    assert pq.read_table(single["all"]).num_rows == 4
    parts = prepare_movielens(ml100k, tmp_path / "split", label={"threshold": 4}, split="temporal")
    assert sorted(parts) == ["test", "train", "valid"]
    assert sum(pq.read_table(p).num_rows for p in parts.values()) == 6
    with pytest.raises(ConfigError, match="unknown split"):
        prepare_movielens(ml100k, tmp_path / "x", split="randm")


def test_real_ml100k_easyrec_drops_rating_three():
    if not (REAL / "u.data").is_file():
        pytest.skip(f"shared data not found at {REAL.resolve()} (ml-100k/u.data)")
    everything = load_movielens(REAL, label={"threshold": 4})
    assert everything.num_rows == 100_000
    assert pc.count_distinct(everything["user_id"]).as_py() == 943
    assert pc.count_distinct(everything["movie_id"]).as_py() == 1682
    assert abs(pc.mean(everything["label"]).as_py() - 0.55375) < 1e-9
    threes = pc.sum(pc.equal(everything["rating"], 3)).as_py()
    easyrec = load_movielens(REAL)
    assert easyrec.num_rows == 100_000 - threes
    assert pc.sum(pc.equal(easyrec["rating"], 3)).as_py() == 0
    assert sum(column.null_count for column in easyrec.columns) == 0
