"""Message -> dict rules: int64 as int, float32 shortest, enums by name, Struct numbers, defaults."""

from __future__ import annotations

from recblocks.easyrec import parse_pipeline_config
from recblocks.easyrec.convert import float32_shortest, struct_number

TEXT = """
model_dir: "runs/x"
train_input_path: "train.csv"
feature_config {
  features { input_names: "uid"  feature_type: IdFeature  embedding_dim: 16  hash_bucket_size: 10000000000 }
}
model_config {
  model_class: "RankModel"
  embedding_regularization: 1e-4
  feature_groups { group_name: "all"  feature_names: "uid"  wide_deep: DEEP }
  backbone {
    blocks {
      name: "emb"
      keras_layer {
        class_name: "PeriodicEmbedding"
        st_params {
          fields { key: "embedding_dim" value { number_value: 16.0 } }
          fields { key: "sigma" value { number_value: 0.005 } }
          fields { key: "big" value { number_value: 1e300 } }
          fields { key: "units" value { list_value { values { number_value: 8 } values { string_value: "x" } } } }
          fields { key: "nested" value { struct_value { fields { key: "on" value { bool_value: true } } } } }
          fields { key: "none" value { null_value: NULL_VALUE } }
        }
      }
    }
  }
}
"""


def test_dict_rules():
    config = parse_pipeline_config(TEXT)
    feature = config["feature_config"]["features"][0]
    assert feature["hash_bucket_size"] == 10_000_000_000 and type(feature["hash_bucket_size"]) is int  # uint64
    assert feature["feature_type"] == "IdFeature"
    model = config["model_config"]
    assert model["embedding_regularization"] == 0.0001  # float32 field, shortest decimal
    assert model["feature_groups"] == [{"group_name": "all", "feature_names": ["uid"], "wide_deep": "DEEP"}]
    params = model["backbone"]["blocks"][0]["keras_layer"]["st_params"]
    assert params == {"embedding_dim": 16, "sigma": 0.005, "big": 1e300, "units": [8, "x"],
                      "nested": {"on": True}, "none": None}
    assert type(params["embedding_dim"]) is int and type(params["big"]) is float
    assert "eval_input_path" not in config and config["train_input_path"] == "train.csv"  # oneof by key set


def test_include_defaults_fills_scalars_of_present_messages_only():
    config = parse_pipeline_config(TEXT, include_defaults=True)
    model = config["model_config"]
    assert model["num_class"] == 1 and model["loss_type"] == "CLASSIFICATION"
    assert model["feature_groups"][0]["group_name"] == "all"
    assert "train_config" not in config  # absent messages stay absent
    assert "wide_and_deep" not in model and "eval_input_path" not in config  # no oneof member is invented


def test_number_helpers():
    assert float32_shortest(9.999999747378752e-05) == 0.0001
    assert float32_shortest(0.1) == 0.1 and float32_shortest(float("inf")) == float("inf")
    assert struct_number(-3.0) == -3 and type(struct_number(-3.0)) is int
    assert struct_number(2.0 ** 53) == 2 ** 53 and type(struct_number(2.0 ** 54)) is float
    assert type(struct_number(2.5)) is float
