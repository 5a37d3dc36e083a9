"""Preprocessor on the real ml-100k-ctr split (skipped when the shared data is absent)."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from recblocks.features import Preprocessor

DATA = Path(__file__).parents[2] / ".." / "shared" / "data" / "ml-100k-ctr"

SCHEMA = [
    {"name": "user_id", "kind": "sparse"},
    {"name": "movie_id", "kind": "sparse"},
    {"name": "gender", "kind": "sparse"},
    {"name": "age", "kind": "sparse"},
    {"name": "occupation", "kind": "sparse"},
    {"name": "zip3", "kind": "hashed", "hash_bucket_size": 1000},
    {"name": "release_year", "kind": "sparse"},
    {"name": "genres", "kind": "multi", "separator": "^", "max_len": 6},
    {"name": "genre_first", "kind": "sparse", "embedding_name": "genre"},
]


@pytest.fixture(scope="module")
def split():
    if not (DATA / "train.parquet").is_file():
        pytest.skip(f"shared data not found at {DATA.resolve()} (ml-100k-ctr/train.parquet)")
    return pq.read_table(DATA / "train.parquet"), pq.read_table(DATA / "test.parquet")


def test_fit_on_train_transform_test(split):
    train, test = split
    stats = json.loads((DATA / "stats.json").read_text())
    p = Preprocessor(SCHEMA).fit(train)
    for name in ("gender", "age", "occupation"):
        assert p.num_embeddings(name) == 2 + stats["cardinality"][name]
    assert p.num_embeddings("user_id") <= 2 + stats["cardinality"]["user_id"]
    batch, report = p.transform(test, labels={"label": "float"})
    assert len(batch) == test.num_rows == stats["test_rows"]
    assert report.bad_rows == 0
    assert batch.features["genres"].shape == (test.num_rows, 6)
    assert (batch.features["genres"][:, 0] >= 2).all()
    assert report.features["movie_id"].oov < 0.05 * test.num_rows
    assert abs(batch.labels["label"].mean().item() - stats["test_positive_rate"]) < 1e-6
