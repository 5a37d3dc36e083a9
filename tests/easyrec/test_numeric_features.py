"""EasyRec's vector raw features (raw_input_dim), numeric sequences and allow_key_search, translated and trained."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec.feature_section import translate_feature
from recblocks.easyrec.load import load_easyrec_file
from recblocks.runs import train_run

WHERE = "feature_configs[3]"


def _seq(**fields) -> dict:
    return {"input_names": ["s"], "feature_type": "SequenceFeature", "sub_feature_type": "RawFeature",
            "sequence_length": 5, "separator": "|", **fields}


def test_raw_input_dim_becomes_a_vector_dense_feature() -> None:
    feature = {"input_names": ["emb"], "feature_type": "RawFeature", "raw_input_dim": 4, "separator": ",",
               "embedding_dim": 8, "min_val": 0.0, "max_val": 1.0}
    assert translate_feature(feature, WHERE) == {"name": "emb", "kind": "dense", "dim": 4, "separator": ",",
                                                 "normalization": "minmax", "embedding_dim": 8}
    with pytest.raises(ConfigError, match=r"feature_configs\[3\]\.boundaries: bucketizing a vector-valued raw"):
        translate_feature({**feature, "boundaries": [0.5]}, WHERE)
    with pytest.raises(ConfigError, match=r"feature_configs\[3\]\.combiner: .*expected sum, got 'mean'"):
        translate_feature({**feature, "combiner": "mean"}, WHERE)


def test_numeric_sequences_become_number_sequences() -> None:
    assert translate_feature(_seq(boundaries=[20.0, 10.0]), WHERE) == {
        "name": "s", "kind": "sequence", "separator": "|", "values": "numbers", "boundaries": [10.0, 20.0],
        "max_len": 5, "pooling": "sum"}
    # EasyRec normalises into [0, 1] and cuts at i / num_buckets: the same cuts on the raw scale
    cut = translate_feature(_seq(num_buckets=4, min_val=0.0, max_val=100.0), WHERE)
    assert cut["boundaries"] == [0.0, 25.0, 50.0, 75.0]
    raw = translate_feature(_seq(raw_input_dim=4, seq_multi_sep=";", embedding_dim=16), WHERE)
    assert (raw["values"], raw["dim"], raw["element_separator"], raw["embedding_dim"]) == ("numbers", 4, ";", 16)
    # several numbers per element, each bucketized (EasyRec's 3-D input): ids pooled per element
    multi = translate_feature(_seq(seq_multi_sep=";", boundaries=[1.0]), WHERE)
    assert (multi["element_separator"], multi["element_len"], multi["boundaries"]) == (";", 8, [1.0])
    with pytest.raises(ConfigError, match=r"feature_configs\[3\]\.seq_multi_sep: several raw numbers per sequence"):
        translate_feature(_seq(seq_multi_sep=";"), WHERE)
    with pytest.raises(ConfigError, match=r"feature_configs\[3\]\.hash_bucket_size: a numeric sequence is not hashed"):
        translate_feature(_seq(hash_bucket_size=10), WHERE)
    with pytest.raises(ConfigError, match=r"feature_configs\[3\]\.num_buckets: .*min_val < max_val"):
        translate_feature(_seq(num_buckets=4), WHERE)


CONFIG = """train_input_path: "train.csv" eval_input_path: "valid.csv"
train_config { optimizer_config { adam_optimizer { learning_rate { constant_learning_rate { learning_rate: 0.01 } } } }
  num_steps: 16 }
eval_config { metrics_set { auc {} } }
data_config { input_type: CSVInput label_fields: "clk" batch_size: 32
  input_fields { input_name: "clk" input_type: INT32 } input_fields { input_name: "uid" }
  input_fields { input_name: "vec" } input_fields { input_name: "prices" } input_fields { input_name: "tags" }
  input_fields { input_name: "hist_item" } input_fields { input_name: "item" } }
feature_config {
  features { input_names: "uid" feature_type: IdFeature hash_bucket_size: 100 embedding_dim: 8 }
  features { input_names: "vec" feature_type: RawFeature raw_input_dim: 4 separator: "|" embedding_dim: 8 }
  features { input_names: "prices" feature_type: SequenceFeature sub_feature_type: RawFeature sequence_length: 5
             separator: "|" embedding_dim: 8 boundaries: [10, 50, 90] }
  features { input_names: "tags" feature_type: SequenceFeature sub_feature_type: RawFeature sequence_length: 5
             separator: "|" seq_multi_sep: ";" raw_input_dim: 3 embedding_dim: 8 }
  features { input_names: "hist_item" feature_type: SequenceFeature sequence_length: 5 separator: "|"
             embedding_dim: 8 hash_bucket_size: 50 embedding_name: "item" }
  features { input_names: "item" feature_type: IdFeature embedding_dim: 8 hash_bucket_size: 50 embedding_name: "item" }
}
model_config { model_class: "RankModel"
  feature_groups { group_name: "all" feature_names: ["uid", "vec", "prices", "tags"] wide_deep: DEEP
    sequence_features { group_name: "seq" allow_key_search: true
      seq_att_map { key: ["item", "uid"] hist_seq: ["hist_item", "tags"] } } }
  backbone {
    blocks { name: "all" inputs { feature_group_name: "all" } input_layer {} }
    blocks { name: "seq" inputs { feature_group_name: "seq" } input_layer { output_seq_and_normal_feature: true } }
    blocks { name: "din" inputs { block_name: "seq" } keras_layer { class_name: "DIN"
      din { attention_dnn { hidden_units: [8, 1] } need_target_feature: true } } }
    blocks { name: "mlp" inputs { block_name: "all" } inputs { block_name: "din" }
      keras_layer { class_name: "MLP" mlp { hidden_units: [8, 1] } } } }
}
"""


def _write_data(folder: Path) -> None:
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(200):
        vec = rng.normal(size=4)
        prices = "|".join(f"{x:.1f}" for x in rng.uniform(0, 100, size=rng.integers(0, 6)))
        tags = "|".join(";".join(f"{y:.2f}" for y in rng.normal(size=3)) for _ in range(rng.integers(1, 5)))
        hist = "|".join(str(x) for x in rng.integers(0, 30, size=rng.integers(1, 6)))
        clk = int(vec[0] + 0.5 * rng.normal() > 0)
        lines.append(f"{clk},{rng.integers(0, 20)},{'|'.join(f'{v:.3f}' for v in vec)},{prices},{tags},{hist},"
                     f"{rng.integers(0, 30)}")
    lines.append("1,3,0.1|0.2,1,1;2;3,4,5")  # a vector of 2 numbers where 4 are declared: a bad row
    (folder / "train.csv").write_text("\n".join(lines[:150] + lines[-1:]) + "\n")
    (folder / "valid.csv").write_text("\n".join(lines[150:-1]) + "\n")


def test_a_config_with_vectors_numeric_sequences_and_key_search_trains(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _write_data(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.config").write_text(CONFIG)
    raw = load_easyrec_file(tmp_path / "p.config")
    kinds = {f["name"]: (f["kind"], f.get("dim"), f.get("values")) for f in raw["features"]}
    assert kinds["vec"] == ("dense", 4, None) and kinds["tags"] == ("sequence", 3, "numbers")
    # the numeric sequence sits beside the id sequence in DIN's sequence group (its elements projected to 8)
    assert raw["model"]["feature_groups"][0]["sequence_features"][0]["seq_att_map"][0]["hist_seq"] == [
        "hist_item", "tags"]
    result = train_run(raw, tmp_path / "run")
    assert 0.0 <= result.valid_metrics["auc"] <= 1.0
    report = json.loads((result.run_dir / "metrics.json").read_text())
    assert report["valid"]["auc"] == result.valid_metrics["auc"]
    assert "vec: 1 rows with a wrong number of values, dropped" in result.data_report
