"""Streaming fit and row sampling: the same fitted state as the in-memory fit on the same rows."""

import numpy as np
import pyarrow as pa
import pytest

from recblocks.core.errors import ConfigError
from recblocks.features.preprocess import Preprocessor
from recblocks.features.streaming_fit import fit_streaming, sample_rows

SCHEMA = [
    {"name": "u", "kind": "sparse", "min_count": 2},
    {"name": "item", "kind": "sparse", "embedding_name": "items", "max_vocab_size": 30},
    {"name": "hist", "kind": "sequence", "separator": "|", "max_len": 3, "embedding_name": "items"},
    {"name": "tags", "kind": "multi", "separator": "|", "weight_separator": ":", "max_len": 3},
    {"name": "x", "kind": "dense", "normalization": "standard"},
    {"name": "y", "kind": "dense", "normalization": "minmax", "column": "x2"},
    {"name": "z", "kind": "dense", "normalization": "log1p", "column": "x"},
    {"name": "v", "kind": "dense", "dim": 2, "separator": "|", "normalization": "standard"},
    {"name": "b", "kind": "bucketized", "num_buckets": 5, "column": "x2"},
    {"name": "h", "kind": "hashed", "hash_bucket_size": 10, "column": "u"},
]


def table(n=997, seed=0):
    rng = np.random.default_rng(seed)
    items = [f"i{k}" for k in rng.zipf(1.5, n) % 60]
    x = rng.normal(3.0, 2.0, n)
    x[rng.random(n) < 0.1] = np.nan
    x2 = rng.exponential(5.0, n)
    return pa.table({
        "u": [None if k % 17 == 0 else f"u{k % 41}" for k in rng.integers(0, 1000, n)],
        "item": items,
        "hist": ["|".join(items[max(0, r - 3):r]) for r in range(n)],
        "tags": [f"t{r % 5}:0.5|t{r % 7}:2" for r in range(n)],
        "x": x, "x2": x2,
        "v": [f"{a:.3f}|{b:.3f}" for a, b in rng.normal(size=(n, 2))],
    })


def chunks(t, size):
    return [t.slice(i, size) for i in range(0, t.num_rows, size)]


def test_streaming_fit_equals_in_memory_fit_on_the_same_rows():
    data = table()
    memory = Preprocessor(SCHEMA).fit(data).state_dict()
    stream = fit_streaming(SCHEMA, chunks(data, 128), sample_rows=10_000).state_dict()
    assert stream["vocabularies"] == memory["vocabularies"]
    assert stream["boundaries"] == memory["boundaries"]  # every value fits the quantile sample: exact
    assert stream["dense_stats"].keys() == memory["dense_stats"].keys()
    for name, stats in memory["dense_stats"].items():
        for key, value in stats.items():
            np.testing.assert_allclose(stream["dense_stats"][name][key], value, rtol=1e-10, atol=1e-12)


def test_streaming_bucket_boundaries_from_a_small_sample_are_close():
    data = table(5000, seed=1)
    exact = Preprocessor(SCHEMA).fit(data).boundaries_["b"]
    sampled = fit_streaming(SCHEMA, chunks(data, 500), sample_rows=2000, seed=3).boundaries_["b"]
    values = np.sort(data["x2"].to_numpy())
    # a sampled boundary sits within a few percent of the rank of the exact one
    ranks = np.searchsorted(values, sampled) / len(values)
    assert np.abs(ranks - np.searchsorted(values, exact) / len(values)).max() < 0.05


def test_sample_rows_is_uniform_seeded_and_bounded():
    data = pa.table({"r": np.arange(10_000)})
    full = sample_rows(chunks(data, 300), 20_000)
    assert full["r"].to_pylist() == list(range(10_000))  # more sample rows than data: the data in order
    a = sample_rows(chunks(data, 300), 1000, seed=1)["r"].to_numpy()
    b = sample_rows(chunks(data, 700), 1000, seed=1)["r"].to_numpy()
    assert len(a) == 1000 and len(set(a)) == 1000 and list(a) == sorted(a)
    assert list(a) != list(sample_rows(chunks(data, 300), 1000, seed=2)["r"].to_numpy())
    assert len(b) == 1000
    assert 0.35 < np.mean(a < 5000) < 0.65 and a.max() > 9000  # not the first rows
    with pytest.raises(ConfigError, match="fit_sample_rows"):
        sample_rows(chunks(data, 300), 0)


def test_a_sample_fit_equals_the_full_fit_when_the_sample_holds_every_row():
    data = table(400)
    full = Preprocessor(SCHEMA).fit(data).state_dict()
    assert Preprocessor(SCHEMA).fit(sample_rows(chunks(data, 64), 400)).state_dict() == full
