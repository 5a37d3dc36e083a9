"""model_config.ev_params: hashed id features become fitted vocabularies with min_count = filter_freq."""

from __future__ import annotations

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_pipeline_config
from recblocks.easyrec.ev_params import apply_ev_params
from recblocks.easyrec.translate import translate_pipeline
from recblocks.runs import parse_run_config

PIPELINE = '''train_input_path: "train.csv"
data_config { input_type: CSVInput label_fields: "clk"
  input_fields { input_name: "clk" input_type: INT32 } input_fields { input_name: "uid" }
  input_fields { input_name: "tags" } input_fields { input_name: "iid" } input_fields { input_name: "price" } }
feature_config {
  features { input_names: "uid" feature_type: IdFeature hash_bucket_size: 100 embedding_dim: 4 }
  features { input_names: "tags" feature_type: TagFeature separator: "," hash_bucket_size: 50 embedding_dim: 4 }
  features { input_names: "iid" feature_type: IdFeature hash_bucket_size: 100 embedding_dim: 4
             ev_params { filter_freq: 2 } }
  features { feature_name: "uid_x_iid" input_names: ["uid", "iid"] feature_type: ComboFeature
             hash_bucket_size: 100 embedding_dim: 4 }
  features { input_names: "price" feature_type: RawFeature } }
model_config { model_class: "MultiTower"
  feature_groups { group_name: "all" feature_names: ["uid", "tags", "iid", "uid_x_iid", "price"] wide_deep: DEEP }
  multi_tower { towers { input: "all" dnn { hidden_units: [4] } } final_dnn { hidden_units: [2] } }
  ev_params { filter_freq: 5 steps_to_live: 1000 } }
'''


def test_model_wide_ev_params_translate_and_validate_with_a_note():
    notes: list[str] = []
    run = translate_pipeline(parse_pipeline_config(PIPELINE), notes=notes)
    by_name = {f["name"]: f for f in run["features"]}
    assert by_name["uid"] == {"name": "uid", "kind": "sparse", "min_count": 5, "embedding_dim": 4}
    assert by_name["tags"]["kind"] == "multi" and by_name["tags"]["min_count"] == 5
    assert "hash_bucket_size" not in by_name["tags"]
    assert by_name["iid"]["kind"] == "hashed"  # its own ev_params wins over the model-wide one
    assert by_name["uid_x_iid"]["kind"] == "hashed" and by_name["price"]["kind"] == "dense"
    assert "ev_params" not in run["model"]
    (note,) = [n for n in notes if n.startswith("model_config.ev_params")]
    assert "2 hashed id features" in note and "steps_to_live 1000" in note and "stay hashed: uid_x_iid" in note
    config, schema = parse_run_config(run)
    assert schema["uid"].min_count == 5


def test_filter_freq_below_two_keeps_every_id_and_unknown_fields_are_named():
    features = apply_ev_params([{"name": "s", "kind": "sequence", "hash_bucket_size": 9}], {}, "ev", [])
    assert features == [{"name": "s", "kind": "sequence"}]
    with pytest.raises(ConfigError, match=r"^model_config.ev_params.filter_frq: unknown ev_params field.*"
                                          r"did you mean 'filter_freq'"):
        apply_ev_params([], {"filter_frq": 3}, "model_config.ev_params", [])
