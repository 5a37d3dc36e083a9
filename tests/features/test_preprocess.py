"""Preprocessor: vocabularies, ids, hashing, lists, dense, buckets, labels, errors, state."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
import torch

from recblocks.core.errors import ConfigError, DataError, SchemaError
from recblocks.features import Preprocessor, TransformReport


def ids(batch, name):
    return batch.features[name].tolist()


# ---------------------------------------------------------------------------- sparse
def test_vocab_min_count_oov_and_missing_counts():
    train = pa.table({"u": ["a", "b", "a", "c", "a", "b", None, ""]})
    p = Preprocessor([{"name": "u", "kind": "sparse", "min_count": 2}]).fit(train)
    assert p.vocabulary("u") == ["a", "b"]
    assert p.num_embeddings("u") == 4
    batch, report = p.transform(pa.table({"u": ["a", "b", "c", "z", None, ""]}))
    assert ids(batch, "u") == [2, 3, 1, 1, 1, 1]
    assert batch.features["u"].dtype == torch.int64
    assert report.features["u"].oov == 2
    assert report.features["u"].missing == 2
    assert "u: 2 unseen ids (33.33%)" in report.summary_lines()


def test_vocab_order_by_count_then_value_and_cap():
    train = pa.table({"u": ["y", "x", "y", "x", "z"]})
    assert Preprocessor([{"name": "u", "kind": "sparse"}]).fit(train).vocabulary("u") == ["x", "y", "z"]
    capped = Preprocessor([{"name": "u", "kind": "sparse", "max_vocab_size": 2}]).fit(train)
    assert capped.vocabulary("u") == ["x", "y"]
    assert capped.num_embeddings("u") == 4


def test_int_ids_match_their_float_and_string_forms():
    p = Preprocessor([{"name": "u", "kind": "sparse"}]).fit(pa.table({"u": [10, 20, 10]}))
    batch, _ = p.transform(pa.table({"u": pa.array([10.0, 30.0, 20.0])}))
    assert ids(batch, "u") == [2, 1, 3]
    batch, _ = p.transform(pa.table({"u": ["20", "10"]}))
    assert ids(batch, "u") == [3, 2]


def test_shared_embedding_name_shares_one_vocabulary():
    schema = [
        {"name": "item", "kind": "sparse", "embedding_name": "items", "embedding_dim": 4},
        {"name": "hist", "kind": "sequence", "separator": "|", "max_len": 3, "embedding_name": "items",
         "embedding_dim": 4},
    ]
    train = pa.table({"item": ["a", "b"], "hist": ["c|a", "a"]})
    p = Preprocessor(schema).fit(train)
    assert p.vocabulary("item") == p.vocabulary("hist") == ["a", "b", "c"]
    assert p.num_embeddings("item") == p.num_embeddings("hist") == 5
    batch, _ = p.transform(pa.table({"item": ["c", "a"], "hist": ["b|c", "q"]}))
    assert ids(batch, "item") == [4, 2]
    assert ids(batch, "hist") == [[3, 4, 0], [1, 0, 0]]


# ---------------------------------------------------------------------------- hashed
HASH_CODE = """
import pyarrow as pa
from recblocks.features import Preprocessor
p = Preprocessor([{"name": "u", "kind": "hashed", "hash_bucket_size": 1000}]).fit(pa.table({"u": ["x"]}))
print(p.transform(pa.table({"u": ["user_42", "abc", None, ""]}))[0].features["u"].tolist())
"""


def test_hash_is_stable_across_processes_and_pinned():
    p = Preprocessor([{"name": "u", "kind": "hashed", "hash_bucket_size": 1000}]).fit(pa.table({"u": ["x"]}))
    batch, report = p.transform(pa.table({"u": ["user_42", "abc", None, ""]}))
    # Pinned: the same in subprocesses run with PYTHONHASHSEED 0, 123 and random.
    assert ids(batch, "u") == [37, 946, 1, 1]
    assert report.features["u"].missing == 2
    assert p.num_embeddings("u") == 1002
    env = dict(os.environ, PYTHONHASHSEED="4242")
    out = subprocess.run([sys.executable, "-c", HASH_CODE], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[37, 946, 1, 1]"


def test_hash_of_int_equals_hash_of_its_string():
    p = Preprocessor([{"name": "u", "kind": "hashed", "hash_bucket_size": 97}]).fit(pa.table({"u": ["x"]}))
    a, _ = p.transform(pa.table({"u": [5, 123456]}))
    b, _ = p.transform(pa.table({"u": ["5", "123456"]}))
    assert ids(a, "u") == ids(b, "u")
    assert all(2 <= i < 99 for i in ids(a, "u"))


# ------------------------------------------------------------------------ multi/seq
def test_multi_from_list_column_truncates_first_and_pads():
    train = pa.table({"g": pa.array([["x", "y", "z"], ["y"]])})
    p = Preprocessor([{"name": "g", "kind": "multi", "max_len": 2}]).fit(train)
    assert p.vocabulary("g") == ["y", "x", "z"]
    batch, report = p.transform(pa.table({"g": pa.array([["x", "y", "z"], [], None, ["y"], ["w"]])}))
    assert ids(batch, "g") == [[3, 2], [1, 0], [1, 0], [2, 0], [1, 0]]
    assert report.features["g"].missing == 2
    assert report.features["g"].oov == 1


def test_multi_from_separator_strings_drops_empty_elements():
    p = Preprocessor([{"name": "g", "kind": "multi", "separator": "|", "max_len": 3}])
    p.fit(pa.table({"g": ["x|y|z", "y"]}))
    batch, report = p.transform(pa.table({"g": ["x|y|z|y", "", None, "x||q"]}))
    assert ids(batch, "g") == [[3, 2, 4], [1, 0, 0], [1, 0, 0], [3, 1, 0]]
    assert batch.features["g"].shape == (4, 3)
    assert report.features["g"].oov == 1
    assert report.features["g"].missing == 2


def test_multi_from_int_list_column_and_hashed_elements():
    p = Preprocessor([{"name": "g", "kind": "multi", "max_len": 2}]).fit(pa.table({"g": pa.array([[1, 2], [2]])}))
    batch, _ = p.transform(pa.table({"g": pa.array([[2, 1], [3]])}))
    assert ids(batch, "g") == [[2, 3], [1, 0]]
    h = Preprocessor([{"name": "g", "kind": "multi", "separator": ",", "max_len": 4, "hash_bucket_size": 10}])
    batch, _ = h.fit(pa.table({"g": ["a"]})).transform(pa.table({"g": ["a,b", "a"]}))
    first, second = ids(batch, "g")
    assert first[0] == second[0] and first[2:] == [0, 0] and all(2 <= i < 12 for i in first[:2])


def test_sequence_keeps_last_max_len_left_aligned():
    p = Preprocessor([{"name": "s", "kind": "sequence", "separator": "|", "max_len": 2}])
    p.fit(pa.table({"s": ["a|b|c|d"]}))
    vocab = {v: i + 2 for i, v in enumerate(p.vocabulary("s"))}
    batch, _ = p.transform(pa.table({"s": ["a|b|c|d", "a", "b|a|d"]}))
    assert ids(batch, "s") == [[vocab["c"], vocab["d"]], [vocab["a"], 0], [vocab["a"], vocab["d"]]]


# ----------------------------------------------------------------------------- dense
def test_dense_standard_fill_and_missing_count():
    p = Preprocessor([{"name": "x", "kind": "dense", "normalization": "standard", "fill_value": 3.0}])
    p.fit(pa.table({"x": [1.0, 3.0, 5.0, None]}))
    assert p.dense_stats_["x"]["mean"] == pytest.approx(3.0)
    std = math.sqrt(8 / 3)
    batch, report = p.transform(pa.table({"x": [1.0, None, 7.0, float("nan"), float("inf")]}))
    assert batch.features["x"].dtype == torch.float32
    assert batch.features["x"].tolist() == pytest.approx([-2 / std, 0.0, 4 / std, 0.0, 0.0], abs=1e-6)
    assert report.features["x"].missing == 3


def test_dense_standard_with_zero_std_divides_by_one():
    p = Preprocessor([{"name": "x", "kind": "dense", "normalization": "standard"}]).fit(pa.table({"x": [2.0, 2.0]}))
    batch, _ = p.transform(pa.table({"x": [2.0, 4.0]}))
    assert batch.features["x"].tolist() == [0.0, 2.0]


def test_dense_minmax_no_clipping():
    p = Preprocessor([{"name": "x", "kind": "dense", "normalization": "minmax"}]).fit(pa.table({"x": [1, 3, 5]}))
    batch, _ = p.transform(pa.table({"x": [3.0, 9.0, None]}))
    assert batch.features["x"].tolist() == pytest.approx([0.5, 2.0, -0.25])


def test_dense_log1p_keeps_sign():
    p = Preprocessor([{"name": "x", "kind": "dense", "normalization": "log1p"}]).fit(pa.table({"x": [1.0]}))
    batch, _ = p.transform(pa.table({"x": [-3.0, 0.0, math.e - 1]}))
    assert batch.features["x"].tolist() == pytest.approx([-math.log(4), 0.0, 1.0], abs=1e-6)


def test_dense_parses_strings_and_counts_unparseable():
    p = Preprocessor([{"name": "x", "kind": "dense", "fill_value": -1.0}]).fit(pa.table({"x": ["1"]}))
    batch, report = p.transform(pa.table({"x": ["1.5", " 2 ", "abc", "", None, "1e2"]}))
    assert batch.features["x"].tolist() == [1.5, 2.0, -1.0, -1.0, -1.0, 100.0]
    assert report.features["x"].missing == 3
    assert report.features["x"].unparseable == 1


# ------------------------------------------------------------------------ bucketized
def test_bucketized_given_boundaries():
    p = Preprocessor([{"name": "b", "kind": "bucketized", "boundaries": [0, 10], "column": "x"}])
    p.fit(pa.table({"x": [1.0]}))
    batch, report = p.transform(pa.table({"x": [-5.0, 0.0, 5.0, 10.0, 15.0, None]}))
    assert ids(batch, "b") == [2, 3, 3, 4, 4, 3]
    assert p.num_embeddings("b") == 5
    assert report.features["b"].missing == 1


def test_bucketized_fitted_quantiles():
    p = Preprocessor([{"name": "b", "kind": "bucketized", "num_buckets": 4}])
    p.fit(pa.table({"b": np.arange(1.0, 9.0)}))
    assert p.boundaries_["b"] == pytest.approx([2.75, 4.5, 6.25])
    assert p.num_embeddings("b") == 6
    batch, _ = p.transform(pa.table({"b": [1.0, 3.0, 5.0, 7.0]}))
    assert ids(batch, "b") == [2, 3, 4, 5]


def test_bucketized_quantiles_are_unique():
    p = Preprocessor([{"name": "b", "kind": "bucketized", "num_buckets": 4}])
    p.fit(pa.table({"b": [1.0] * 10 + [2.0]}))
    b = p.boundaries_["b"]
    assert b == sorted(set(b))


# ---------------------------------------------------------------------------- labels
def test_bad_label_rows_are_dropped_everywhere_and_counted():
    p = Preprocessor([{"name": "u", "kind": "sparse"}]).fit(pa.table({"u": ["a", "b", "c", "d", "e"]}))
    table = pa.table({"u": ["a", "b", "c", "d", "e"], "y": ["1", "", "0", "x", "1"], "k": [1, 2, 3, 4, 5]})
    batch, report = p.transform(table, labels={"y": "float"}, extras=["k"])
    assert len(batch) == 3
    assert ids(batch, "u") == [2, 4, 6]
    assert batch.labels["y"].tolist() == [1.0, 0.0, 1.0]
    assert batch.extras["k"].tolist() == [1, 3, 5]
    assert report.rows == 5 and report.bad_rows == 2 and report.bad_rows_by_label == {"y": 2}
    assert report.summary_lines()[0] == "5 rows read, 2 bad rows dropped (40.00%)"


def test_long_labels_and_nan_labels():
    p = Preprocessor([{"name": "u", "kind": "hashed", "hash_bucket_size": 5}]).fit(pa.table({"u": ["a"]}))
    table = pa.table({"u": ["a"] * 4, "c": [0.0, 2.0, 1.5, float("nan")], "y": [1.0, 0.0, 1.0, 1.0]})
    batch, report = p.transform(table, labels={"c": "long", "y": "float"})
    assert batch.labels["c"].dtype == torch.int64 and batch.labels["c"].tolist() == [0, 2]
    assert batch.labels["y"].dtype == torch.float32
    assert report.bad_rows == 2


def test_label_strings_raise_data_error_naming_the_column():
    p = Preprocessor([{"name": "u", "kind": "sparse"}]).fit(pa.table({"u": ["a"]}))
    with pytest.raises(DataError, match="label 'y': no value of the column is a number"):
        p.transform(pa.table({"u": ["a", "a"], "y": ["yes", "no"]}), labels={"y": "float"})


def test_missing_label_column_suggests_nearest():
    p = Preprocessor([{"name": "u", "kind": "sparse"}]).fit(pa.table({"u": ["a"]}))
    with pytest.raises(DataError, match="label 'labl'.*did you mean 'label'"):
        p.transform(pa.table({"u": ["a"], "label": [1]}), labels={"labl": "float"})


def test_unknown_label_type_is_config_error():
    p = Preprocessor([{"name": "u", "kind": "sparse"}]).fit(pa.table({"u": ["a"]}))
    with pytest.raises(ConfigError, match="unknown label type"):
        p.transform(pa.table({"u": ["a"], "y": [1]}), labels={"y": "int"})


# ---------------------------------------------------------------------------- errors
def test_missing_feature_column_names_feature_and_suggests():
    p = Preprocessor([{"name": "user_id", "kind": "sparse"}])
    with pytest.raises(DataError) as info:
        p.fit(pa.table({"userid": ["a"], "x": [1]}))
    text = str(info.value)
    assert "feature 'user_id'" in text and "did you mean 'userid'?" in text


def test_dense_list_column_is_a_type_error():
    p = Preprocessor([{"name": "x", "kind": "dense"}])
    with pytest.raises(DataError, match=r"feature 'x'.*list<item: double>"):
        p.fit(pa.table({"x": pa.array([[1.0], [2.0]])}))


def test_dense_column_of_words_is_a_type_error():
    p = Preprocessor([{"name": "x", "kind": "dense"}])
    with pytest.raises(DataError, match=r"feature 'x'.*no value of the column is a number.*string"):
        p.fit(pa.table({"x": ["a", "b", None]}))


def test_sparse_list_column_and_unsplittable_multi_are_errors():
    with pytest.raises(DataError, match="feature 'u'.*list"):
        Preprocessor([{"name": "u", "kind": "sparse"}]).fit(pa.table({"u": pa.array([["a"]])}))
    with pytest.raises(DataError, match="feature 'g'.*separator"):
        Preprocessor([{"name": "g", "kind": "multi"}]).fit(pa.table({"g": ["a|b"]}))


def test_allow_missing_false_rejects_nan_with_count():
    p = Preprocessor([{"name": "x", "kind": "dense", "allow_missing": False}]).fit(pa.table({"x": [1.0]}))
    with pytest.raises(DataError, match=r"feature 'x': 2 missing values"):
        p.transform(pa.table({"x": [1.0, float("nan"), None]}))


def test_transform_before_fit_and_dense_table_size_are_errors():
    p = Preprocessor([{"name": "x", "kind": "dense"}])
    with pytest.raises(ConfigError, match="not fitted"):
        p.transform(pa.table({"x": [1.0]}))
    with pytest.raises(SchemaError, match="feature 'x'"):
        p.num_embeddings("x")


# ------------------------------------------------------------------- extras, report
def test_extras_codes_are_stable_across_calls():
    p = Preprocessor([{"name": "u", "kind": "sparse"}]).fit(pa.table({"u": ["a"]}))
    first, _ = p.transform(pa.table({"u": ["a", "a", "a"], "g": ["u1", "u2", None], "n": ["42", "x", "7"]}),
                           extras=["g", "n"])
    second, _ = p.transform(pa.table({"u": ["a"], "g": ["u2"], "n": ["x"]}), extras=["g", "n"])
    assert first.extras["g"].tolist()[1] == second.extras["g"].tolist()[0]
    assert first.extras["g"].tolist()[2] == -1
    assert first.extras["n"].tolist()[0] == 42 and first.extras["n"].tolist()[2] == 7
    assert first.extras["n"].tolist()[1] == second.extras["n"].tolist()[0]
    ints, _ = p.transform(pa.table({"u": ["a", "a"], "k": [5, None]}), extras=["k"])
    assert ints.extras["k"].tolist() == [5, -1]


def test_report_accumulates_and_merges():
    p = Preprocessor([{"name": "u", "kind": "sparse"}]).fit(pa.table({"u": ["a"]}))
    _, r1 = p.transform(pa.table({"u": ["a", "b"]}))
    _, r2 = p.transform(pa.table({"u": ["c", None]}))
    merged = r1.merge(r2)
    assert merged.rows == 4 and merged.features["u"].oov == 2 and merged.features["u"].missing == 1
    assert p.report_.to_dict() == merged.to_dict()
    assert isinstance(p.reset_report(), TransformReport) and p.report_.rows == 0
    assert r1.rows == 2  # merge does not change its inputs


# ---------------------------------------------------------------------------- state
SCHEMA = [
    {"name": "u", "kind": "sparse", "min_count": 2},
    {"name": "h", "kind": "hashed", "hash_bucket_size": 50, "column": "u"},
    {"name": "g", "kind": "multi", "separator": "|", "max_len": 3},
    {"name": "s", "kind": "sequence", "separator": "|", "max_len": 2, "embedding_name": "gs"},
    {"name": "x", "kind": "dense", "normalization": "standard"},
    {"name": "m", "kind": "dense", "normalization": "minmax", "column": "x"},
    {"name": "b", "kind": "bucketized", "num_buckets": 3, "column": "x"},
]
TABLE = pa.table({
    "u": ["a", "b", "a", None, "c", "b"],
    "g": ["x|y", "y", "", "x|y|z|w", None, "y|y"],
    "s": ["1|2|3", "2", "3|1", "", "2|2|2", "4"],
    "x": [0.1, 2.0, None, 4.5, 5.0, 6.25],
    "y": [1, 0, 1, 0, 1, 1],
})


def test_state_dict_json_round_trip_transforms_identically(tmp_path):
    p = Preprocessor(SCHEMA).fit(TABLE)
    restored = Preprocessor.from_state_dict(json.loads(json.dumps(p.state_dict())))
    loaded = Preprocessor.load(p.save(tmp_path / "pre.json"))
    a, _ = p.transform(TABLE, labels={"y": "float"})
    for other in (restored, loaded):
        b, _ = other.transform(TABLE, labels={"y": "float"})
        for name in a.features:
            assert torch.equal(a.features[name], b.features[name]), name
        assert torch.equal(a.labels["y"], b.labels["y"])
        assert [other.num_embeddings(n) for n in ("u", "h", "g", "s", "b")] == \
               [p.num_embeddings(n) for n in ("u", "h", "g", "s", "b")]


def test_from_state_dict_rejects_foreign_dict():
    with pytest.raises(ConfigError, match="not a preprocessor state dict"):
        Preprocessor.from_state_dict({"format": "something"})
