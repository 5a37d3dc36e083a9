"""EasyRec's negative samplers: a MatchModel's sampled softmax, hard negatives from an edge table; point-wise
models refused."""

from __future__ import annotations

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_pipeline_config
from recblocks.easyrec.translate import translate_pipeline
from recblocks.runs import parse_run_config

TEXT = """train_input_path: "train.csv"
data_config { input_type: CSVInput label_fields: "clk"
  input_fields { input_name: "clk" input_type: INT32 } input_fields { input_name: "user_id" }
  input_fields { input_name: "item_id" }
  %s }
feature_config {
  features { input_names: "user_id" feature_type: IdFeature embedding_dim: 8 hash_bucket_size: 100 }
  features { input_names: "item_id" feature_type: IdFeature embedding_dim: 8 hash_bucket_size: 100 }
}
model_config { model_class: "DSSM"
  feature_groups { group_name: "user" feature_names: "user_id" wide_deep: DEEP }
  feature_groups { group_name: "item" feature_names: "item_id" wide_deep: DEEP }
  loss_type: %s
  dssm { user_tower { id: "user_id" dnn { hidden_units: [8] } } item_tower { id: "item_id" dnn { hidden_units: [8] } } }
}
"""
SAMPLER = 'negative_sampler { input_path: "items.txt" num_sample: 64 item_id_field: "item_id" }'


def _run(sampler: str = SAMPLER, loss: str = "SOFTMAX_CROSS_ENTROPY", notes: list[str] | None = None) -> dict:
    return translate_pipeline(parse_pipeline_config(TEXT % (sampler, loss)), notes=notes)


def test_negative_sampler_is_a_sampled_softmax_with_as_many_negatives():
    notes: list[str] = []
    run = _run(notes=notes)
    params = run["model"]["model_params"]
    assert run["model"]["model_class"] == "MatchModel"
    assert (params["loss_type"], params["num_negatives"]) == ("SAMPLED_SOFTMAX", 64)
    assert any("negative_sampler" in n and "items.txt" in n for n in notes)
    config, _ = parse_run_config(run)
    assert config.model.model_params.num_negatives == 64
    # without a sampler: in-batch negatives only
    assert _run(sampler="")["model"]["model_params"].get("loss_type") != "SAMPLED_SOFTMAX"


def test_the_v2_sampler_maps_the_same_way():
    v2 = ('negative_sampler_v2 { user_input_path: "u.txt" item_input_path: "i.txt" pos_edge_input_path: "e.txt" '
          'num_sample: 32 item_id_field: "item_id" user_id_field: "user_id" }')
    assert _run(sampler=v2)["model"]["model_params"]["num_negatives"] == 32


def test_hard_negatives_read_the_edge_table_per_user():
    hard = ('hard_negative_sampler { user_input_path: "u.txt" item_input_path: "i.txt" '
            'hard_neg_edge_input_path: "h.txt" num_sample: 8 num_hard_sample: 4 item_id_field: "item_id" '
            'user_id_field: "user_id" }')
    notes: list[str] = []
    run = _run(sampler=hard, notes=notes)
    params = run["model"]["model_params"]
    assert (params["loss_type"], params["num_negatives"], params["num_hard_negatives"]) == ("SAMPLED_SOFTMAX", 8, 4)
    assert run["data"]["hard_negatives"] == {
        "source": {"path": "h.txt", "format": "csv", "delimiter": "\t", "header": True,
                   "column_names": ["src_id", "dst_id", "weight"]},
        "user_column": "src_id", "item_column": "dst_id"}
    assert any("first 4 items of 'h.txt'" in n for n in notes)
    config, _ = parse_run_config(run)
    assert config.data.hard_negatives.user_column == "src_id" and config.model.model_params.num_hard_negatives == 4
    v2 = hard.replace("hard_negative_sampler {", 'hard_negative_sampler_v2 { pos_edge_input_path: "p.txt"')
    notes.clear()
    assert _run(sampler=v2, notes=notes)["model"]["model_params"]["num_hard_negatives"] == 4
    assert any("do not avoid the user's positive edges" in n for n in notes)


def test_point_wise_models_are_refused_naming_the_sampler():
    with pytest.raises(ConfigError, match=r"^data_config\.negative_sampler: sampled negatives train a list-wise"):
        _run(loss="CLASSIFICATION")
