"""EasyRec's weighted tags (``kv_separator``), ``LookupFeature`` and ``ExprFeature``: translated,
preprocessed and trained through the whole pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.csv as pcsv
import pytest
import torch

from recblocks.core.errors import ConfigError
from recblocks.easyrec.feature_section import translate_feature
from recblocks.easyrec.load import load_easyrec_file
from recblocks.features.schema import parse_feature
from recblocks.features.weighted import weight_key
from recblocks.runs import train_run

CONFIG = """train_input_path: "train.csv" eval_input_path: "valid.csv"
train_config { optimizer_config { adam_optimizer { learning_rate { constant_learning_rate { learning_rate: 0.01 } } } }
  num_steps: 10 }
eval_config { metrics_set { auc {} } }
data_config { input_type: CSVInput label_fields: "clk" batch_size: 32
  input_fields { input_name: "clk" input_type: INT32 } input_fields { input_name: "tags" }
  input_fields { input_name: "cate" } input_fields { input_name: "cate_map" }
  input_fields { input_name: "age" input_type: INT32 } input_fields { input_name: "item_age" input_type: INT32 } }
feature_config {
  features { input_names: "tags" feature_type: TagFeature separator: "|" kv_separator: ":" hash_bucket_size: 50
             embedding_dim: 8 combiner: "mean" }
  features { feature_name: "cate_score" input_names: ["cate", "cate_map"] feature_type: LookupFeature
             kv_separator: ":" hash_bucket_size: 30 embedding_dim: 8 lookup_max_sel_elem_num: 2 }
  features { feature_name: "age_fit" input_names: ["age", "item_age"] feature_type: ExprFeature
             expression: "(age>=item_age) & (age<=(item_age+5))" }
}
model_config { model_class: "DeepFM"
  feature_groups { group_name: "wide" feature_names: ["tags", "cate_score", "age_fit"] wide_deep: WIDE }
  feature_groups { group_name: "deep" feature_names: ["tags", "cate_score", "age_fit"] wide_deep: DEEP }
  feature_groups { group_name: "fm" feature_names: ["tags", "cate_score"] wide_deep: DEEP }
  deepfm { dnn { hidden_units: [8] } final_dnn { hidden_units: [8] } wide_output_dim: 8 } }
"""


def _write_data(folder: Path) -> None:
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(160):
        tags = "|".join(f"t{rng.integers(0, 9)}:{rng.uniform(0, 2):.2f}" for _ in range(rng.integers(1, 4)))
        cate_map = "|".join(f"c{rng.integers(0, 4)}:s{rng.integers(0, 5)}" for _ in range(rng.integers(0, 4)))
        lines.append(f"{rng.integers(0, 2)},{tags},c{rng.integers(0, 4)},{cate_map},{rng.integers(0, 9)},"
                     f"{rng.integers(0, 9)}")
    (folder / "train.csv").write_text("\n".join(lines[:120]) + "\n")
    (folder / "valid.csv").write_text("\n".join(lines[120:]) + "\n")


def test_weighted_lookup_and_expression_features_train(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_data(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.config").write_text(CONFIG)
    raw = load_easyrec_file(tmp_path / "p.config")
    features = {f["name"]: f for f in raw["features"]}
    assert features["tags"]["weight_separator"] == ":" and features["tags"]["pooling"] == "mean"
    assert features["cate_score"]["lookup"] == {"key": "cate", "kv_separator": ":", "max_selected": 2}
    assert features["cate_score"]["column"] == "cate_map" and features["cate_score"]["max_len"] == 2
    assert features["age_fit"] == {"name": "age_fit", "kind": "dense", "expression": {
        "formula": "(age>=item_age) & (age<=(item_age+5))", "columns": ["age", "item_age"]}}
    result = train_run(raw, tmp_path / "run")
    assert 0.0 <= result.valid_metrics["auc"] <= 1.0
    table = pcsv.read_csv(tmp_path / "valid.csv", read_options=pcsv.ReadOptions(
        column_names=["clk", "tags", "cate", "cate_map", "age", "item_age"]))
    batch, _ = result.preprocessor.transform(table)
    age, item = np.asarray(table["age"]), np.asarray(table["item_age"])
    expected = ((age >= item) & (age <= item + 5)).astype(np.float32)
    assert batch.features["age_fit"].tolist() == expected.tolist()
    first = table["tags"][0].as_py().split("|")
    weights = batch.features[weight_key("tags")][0, : len(first)]
    torch.testing.assert_close(weights, torch.tensor([float(t.split(":")[1]) for t in first]))


def test_an_expression_is_parsed_by_the_allow_list_grammar_only(tmp_path: Path) -> None:
    feature = {"feature_name": "x", "input_names": ["a"], "feature_type": "ExprFeature",
               "expression": "__import__('os').system('true')"}
    with pytest.raises(ConfigError, match=r"formula names a column it does not list.*'__import__'"):
        parse_feature(translate_feature(feature, "feature_config.features[0]"), "features[0]")
    with pytest.raises(ConfigError, match=r"features\[0\]\.input_names: a LookupFeature reads a key column"):
        translate_feature({"input_names": ["k"], "feature_type": "LookupFeature", "hash_bucket_size": 5},
                          "features[0]")


def test_an_attention_sequence_combiner_pools_the_feature_in_its_groups(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    text = CONFIG.replace('''  features { feature_name: "age_fit"''', '''  features { input_names: "hist" feature_type: SequenceFeature separator: ";" hash_bucket_size: 20
             embedding_dim: 8 sequence_combiner { attention {} } }
  features { feature_name: "age_fit"''').replace('input_fields { input_name: "tags" }', 'input_fields { '
        'input_name: "tags" } input_fields { input_name: "hist" }').replace(
        '''feature_names: ["tags", "cate_score", "age_fit"] wide_deep: DEEP''',
        '''feature_names: ["tags", "hist", "cate_score", "age_fit"] wide_deep: DEEP''')
    _write_data(tmp_path)
    for split in ("train.csv", "valid.csv"):  # a behaviour column after the tags
        rows = (tmp_path / split).read_text().splitlines()
        (tmp_path / split).write_text("\n".join(f"{r.split(',', 2)[0]},{r.split(',', 2)[1]},h{i % 5};h{i % 3},"
                                                f"{r.split(',', 2)[2]}" for i, r in enumerate(rows)) + "\n")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.config").write_text(text)
    raw = load_easyrec_file(tmp_path / "p.config")
    blocks = {b["name"]: b for b in raw["model"]["backbone"]["blocks"]}
    pooled = [b for b in blocks.values() if b.get("component", {}).get("class_name") == "AttentionPooling"]
    assert len(pooled) == 1 and pooled[0]["inputs"] == [{"block_name": pooled[0]["name"].replace("_cnn", "_seq")}]
    groups = {g["group_name"]: g["feature_names"] for g in raw["model"]["feature_groups"]}
    assert groups["deep__attention_hist"] == ["hist"] and "hist" not in groups["deep"]
    result = train_run(raw, tmp_path / "run")
    assert 0.0 <= result.valid_metrics["auc"] <= 1.0


def test_weighted_item_tags_reach_a_two_tower_catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_data(tmp_path)
    monkeypatch.chdir(tmp_path)
    text = CONFIG.split("model_config")[0] + """
model_config { model_class: "DSSM" loss_type: SOFTMAX_CROSS_ENTROPY
  feature_groups { group_name: "user" feature_names: ["cate_score", "age_fit"] wide_deep: DEEP }
  feature_groups { group_name: "item" feature_names: ["cate", "tags"] wide_deep: DEEP }
  dssm { user_tower { dnn { hidden_units: [8] } } item_tower { id: "cate" dnn { hidden_units: [8] } }
         simi_func: INNER_PRODUCT } }
"""
    text = text.replace("feature_config {\n", 'feature_config {\n  features { input_names: "cate" feature_type: IdFeature '
                                                'hash_bucket_size: 10 embedding_dim: 8 }\n', 1)
    (tmp_path / "p.config").write_text(text)
    raw = load_easyrec_file(tmp_path / "p.config")
    assert raw["model"]["model_class"] == "MatchModel"
    result = train_run(raw, tmp_path / "run")
    catalogue = result.model.catalogue
    assert weight_key("tags") in catalogue.feature_buffers
    assert np.isfinite(list(result.valid_metrics.values())).all()
