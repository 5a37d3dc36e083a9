"""EasyRec features as recblocks features: ComboFeature as a crossed hashed/multi feature."""

from __future__ import annotations

import random

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_pipeline_config
from recblocks.easyrec.feature_section import translate_feature
from recblocks.easyrec.translate import translate_pipeline
from recblocks.runs import Model
from tests.easyrec.conftest import EASYREC_CONFIGS

COMBO_CONFIG = """
train_input_path: "train.csv"
eval_input_path: "valid.csv"
data_config {
  batch_size: 32
  label_fields: "clk"
  input_type: CSVInput
  input_fields { input_name: "clk" input_type: INT32 }
  input_fields { input_name: "site" }
  input_fields { input_name: "app" }
  input_fields { input_name: "hour" input_type: INT32 }
}
feature_config {
  features { input_names: "site" feature_type: IdFeature embedding_dim: 4 hash_bucket_size: 20 }
  features { input_names: ["site", "hour"] feature_name: "site_hour" feature_type: ComboFeature
             hash_bucket_size: 100 embedding_dim: 4 }
  features { input_names: ["hour", "app"] feature_name: "hour_app" feature_type: ComboFeature
             hash_bucket_size: 100 combo_join_sep: "X" combo_input_seps: ["", "|"] embedding_dim: 4 }
}
model_config {
  model_class: "DeepFM"
  feature_groups { group_name: "wide" feature_names: ["site", "site_hour", "hour_app"] wide_deep: WIDE }
  feature_groups { group_name: "deep" feature_names: ["site", "site_hour", "hour_app"] wide_deep: DEEP }
  deepfm { dnn { hidden_units: [8] } final_dnn { hidden_units: [4] } }
}
train_config { optimizer_config { adam_optimizer { learning_rate { constant_learning_rate {
  learning_rate: 0.02 } } } } num_steps: 30 }
"""


def test_combo_features_translate_to_crossed_features():
    single = translate_feature({"input_names": ["site", "app"], "feature_name": "site_app",
                                "feature_type": "ComboFeature", "hash_bucket_size": 1000, "embedding_dim": 16},
                               "feature_config.features[22]")
    assert single == {"name": "site_app", "kind": "hashed", "hash_bucket_size": 1000,
                      "cross": {"columns": ["site", "app"]}, "embedding_dim": 16}
    multi = translate_feature({"input_names": ["site", "app"], "feature_type": "ComboFeature", "hash_bucket_size": 9,
                               "combo_join_sep": "X", "combo_input_seps": [",", ""]}, "f")
    assert multi == {"name": "site", "kind": "multi", "hash_bucket_size": 9, "pooling": "sum",
                     "cross": {"columns": ["site", "app"], "separators": [",", None], "join": "X"}}


@pytest.mark.parametrize("feature, message", [
    ({"input_names": ["a"], "hash_bucket_size": 9}, r"^f\.input_names: a ComboFeature crosses several inputs"),
    ({"input_names": ["a", "b"]}, r"^f\.hash_bucket_size: a ComboFeature hashes its crossed values"),
    ({"input_names": ["a", "b"], "hash_bucket_size": 9, "combo_input_seps": [","]},
     r"^f\.combo_input_seps: one separator per input .*expected 2 separators, got 1"),
    ({"input_names": ["a", "b"], "hash_bucket_size": 9, "combo_input_seps": [",", ""], "combiner": "max"},
     r"^f\.combiner: unsupported combiner"),
])
def test_bad_combo_features_name_the_field(feature, message):
    with pytest.raises(ConfigError, match=message):
        translate_feature({"feature_type": "ComboFeature", **feature}, "f")


def test_the_shipped_combo_configs_translate():
    path = EASYREC_CONFIGS / "samples" / "model_config" / "deepfm_combo_v3_on_avazu_ctr.config"
    if not path.is_file():
        pytest.skip(f"EasyRec's shipped configs are absent: expected {path}")
    features = {f["name"]: f for f in translate_pipeline(parse_pipeline_config(path, strict=False))["features"]}
    assert features["site_id_app_id"]["cross"] == {"columns": ["site_id", "app_id"], "separators": [",", None],
                                                   "join": "X"}


def _rows(rng: random.Random, count: int) -> str:
    lines = []
    for _ in range(count):
        site, hour = rng.randrange(4), rng.randrange(3)
        apps = "|".join(f"a{rng.randrange(5)}" for _ in range(rng.randrange(1, 3)))
        clicked = (site + hour) % 2 if rng.random() < 0.9 else 1 - (site + hour) % 2  # the cross carries the signal
        lines.append(f"{clicked},s{site},{apps},{hour}")
    return "\n".join(lines) + "\n"


def test_a_combo_config_trains_on_csv(tmp_path):
    rng = random.Random(1)
    (tmp_path / "train.csv").write_text(_rows(rng, 600), encoding="utf-8")
    (tmp_path / "valid.csv").write_text(_rows(rng, 200), encoding="utf-8")
    config = tmp_path / "combo.config"
    config.write_text(COMBO_CONFIG, encoding="utf-8")
    result = Model.from_config(config).fit(output=tmp_path / "run")
    assert result.valid_metrics["auc"] > 0.7  # site x hour decides the label; neither alone does
