"""Synthetic planted-model data: determinism, shape, Bayes AUC, the private AUC."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from recblocks.datasets import (
    DEFAULT_SYNTHETIC,
    TRUE_PROB_COLUMN,
    bayes_auc,
    make_synthetic,
    synthetic_schema,
    write_synthetic,
)
from recblocks.datasets.synthetic import _auc
from recblocks.features import Preprocessor

SMALL = dict(num_rows=5000, num_dense=3, vocab_sizes=[5, 50, 500], seed=7)


def test_same_seed_same_table_other_seed_differs():
    a, b = make_synthetic(**SMALL), make_synthetic(**SMALL)
    assert a.equals(b)
    assert not a.equals(make_synthetic(**(SMALL | {"seed": 8})))


def test_columns_types_missing_values_and_positive_rate():
    t = make_synthetic(DEFAULT_SYNTHETIC, num_rows=20_000)
    assert t.column_names == ["label", "I1", "I2", "I3", "I4", *[f"C{j}" for j in range(1, 9)], "tags",
                              TRUE_PROB_COLUMN]
    assert t.schema.field("I1").type == pa.float64() and t.schema.field("C1").type == pa.string()
    assert sum(t[f"I{i}"].null_count for i in range(1, 5)) > 0
    assert 0.2 < pc.mean(t["label"]).as_py() < 0.5
    assert pc.count_distinct(t["C1"]).as_py() <= 10
    counts = pc.value_counts(t["C8"]).field("counts").to_numpy()
    assert counts.max() > 20 * np.median(counts)  # Zipf: a heavy head
    lengths = pc.list_value_length(pc.split_pattern(t["tags"], "|")).to_numpy()
    assert lengths.min() >= 1 and lengths.max() <= 5


def test_bayes_auc_is_informative_and_bounded():
    t = make_synthetic(DEFAULT_SYNTHETIC, num_rows=20_000)
    auc = bayes_auc(t)
    assert 0.5 < auc < 1.0
    assert 0.75 < auc < 0.88
    shuffled = _auc(t["label"].to_numpy(), np.random.default_rng(0).random(t.num_rows))
    assert abs(shuffled - 0.5) < 0.03


def test_private_auc_hand_computed_with_ties():
    assert _auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert _auc(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert _auc(np.array([0, 1, 1]), np.array([0.2, 0.2, 0.9])) == pytest.approx(0.75)
    assert np.isnan(_auc(np.array([1, 1]), np.array([0.1, 0.2])))


def test_schema_fits_and_write_synthetic(tmp_path):
    config = DEFAULT_SYNTHETIC.model_copy(update={"num_rows": 3000})
    info = write_synthetic(tmp_path, config)
    assert [info[k]["rows"] for k in ("train", "valid", "test")] == [2400, 300, 300]
    saved = json.loads((tmp_path / "synthetic.json").read_text())
    assert saved["splits"]["test"]["bayes_auc"] == pytest.approx(info["test"]["bayes_auc"])
    train = pa.parquet.read_table(info["train"]["path"])
    p = Preprocessor(synthetic_schema(config)).fit(train)
    batch, report = p.transform(train, labels={"label": "float"})
    assert len(batch) == 2400 and batch.features["tags"].shape == (2400, 5)
    assert report.features["I1"].missing == train["I1"].null_count
