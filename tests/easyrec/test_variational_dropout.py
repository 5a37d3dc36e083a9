"""EasyRec ``variational_dropout`` -> a VariationalDropout block behind every group the backbone reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_model_config
from recblocks.easyrec.model_section import model_section
from recblocks.easyrec.variational_dropout import apply_variational_dropout
from recblocks.runs import train_run

from ._features import SYNTHETIC_FEATURES, plan, train_config

FM = """
model_class: 'FM'
feature_groups { group_name: 'wide' feature_names: ['C1', 'C2'] wide_deep: WIDE }
feature_groups { group_name: 'deep' feature_names: ['C1', 'C2', 'C3'] }
fm { }
variational_dropout { regularization_lambda: 0.5 embedding_wise_variational_dropout: true }
"""

TWO_TOWERS = """
model_class: 'MultiTower'
feature_groups { group_name: 'user' feature_names: ['C1', 'I1'] }
feature_groups { group_name: 'item' feature_names: ['C2', 'C3', 'I2'] }
multi_tower {
  towers { input: 'user' dnn { hidden_units: [8] } }
  towers { input: 'item' dnn { hidden_units: [8] } }
  final_dnn { hidden_units: [4] }
}
variational_dropout { }
"""


def section(text: str) -> dict:
    return model_section(parse_model_config(text), {}, labels=["label"], metrics=[], top_k=[])


def test_every_group_read_goes_through_its_own_dropout_block() -> None:
    blocks = {b["name"]: b for b in section(FM)["backbone"]["blocks"]}
    vd = {"class_name": "VariationalDropout", "params": {"regularization_lambda": 0.5, "use_embedding_wise": True}}
    # the wide sum reads the concatenation of the dropped-out wide features
    assert blocks["wide_features"]["input_layer"] == {"only_output_feature_list": True, "wide_output_dim": 1}
    assert blocks["wide_features_vd"] == {"name": "wide_features_vd", "inputs": [{"block_name": "wide_features"}],
                                          "component": vd}
    assert blocks["wide_features_vd_concat"]["component"]["class_name"] == "Concatenate"
    assert blocks["wide_plus_fm"]["inputs"][0]["block_name"] == "wide_features_vd_concat"
    assert blocks["wide_plus_fm"]["inputs"][0]["input_fn"].startswith("lambda x: tf.reduce_sum")
    # the FM reads the dropped-out field list
    assert blocks["fm_feature"]["inputs"] == [{"block_name": "fm_fields_vd"}]
    assert blocks["fm_fields_vd"]["inputs"] == [{"block_name": "fm_fields"}]


def test_a_group_read_as_a_plain_input_is_shared_and_sequence_inputs_are_left_alone() -> None:
    model = {"backbone": {"blocks": [
        {"name": "a", "inputs": [{"feature_group_name": "all"}, {"block_name": "seq"}]},
        {"name": "b", "inputs": [{"feature_group_name": "all", "input_slice": "[0:4]"}], "lambda": {"expression": "x"}},
        {"name": "seq", "inputs": [{"feature_group_name": "all"}], "input_layer": {"output_seq_and_normal_feature": True}},
    ], "concat_blocks": ["a", "b"]}}
    out = apply_variational_dropout(model, {}, ["all"], "model_config.variational_dropout")["backbone"]
    names = [b["name"] for b in out["blocks"]]
    assert names == ["all_vd_features", "all_vd", "all_vd_concat", "a", "b", "seq"]
    assert out["blocks"][3]["inputs"] == [{"block_name": "all_vd_concat"}, {"block_name": "seq"}]
    assert out["blocks"][4]["inputs"] == [{"block_name": "all_vd_concat", "input_slice": "[0:4]"}]
    assert out["blocks"][5]["input_layer"] == {"output_seq_and_normal_feature": True}
    assert out["blocks"][1]["component"]["params"] == {"regularization_lambda": 0.01, "use_embedding_wise": False}


def test_an_input_block_named_after_its_group_keeps_the_name_and_its_readers_follow() -> None:
    model = {"backbone": {"blocks": [
        {"name": "all", "inputs": [{"feature_group_name": "all"}], "input_layer": {}},
        {"name": "mlp", "inputs": [{"block_name": "all"}], "component": {"class_name": "MLP"}},
    ], "concat_blocks": ["all"]}}
    out = apply_variational_dropout(model, {}, ["all"], "vd")["backbone"]
    assert [b["name"] for b in out["blocks"]] == ["all", "all_vd", "all_vd_concat", "mlp"]
    assert out["blocks"][3]["inputs"] == [{"block_name": "all_vd_concat"}]
    assert out["concat_blocks"] == ["all_vd_concat"]


@pytest.mark.parametrize(("model", "config", "message"), [
    ({"backbone": {"blocks": [{"name": "x", "inputs": [{"feature_group_name": "all"}],
                               "input_layer": {"only_output_3d_tensor": True}}]}}, {},
     r"vd: block 'x' reads group 'all' with the input_layer option only_output_3d_tensor"),
    ({"model_params": {}}, {}, r"vd: variational dropout acts on the feature groups a backbone reads"),
    ({"backbone": {"blocks": []}}, {"regularization_lamda": 1.0},
     r"vd\.regularization_lamda: unknown variational_dropout field"),
])
def test_what_cannot_be_applied_is_named(model: dict, config: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_variational_dropout(model, config, ["all"], "vd")


def test_the_dropout_plans_for_an_easyrec_fm() -> None:
    rows = plan(train_config(SYNTHETIC_FEATURES + "model_config {" + FM + "}"))
    assert [r["output"] for r in rows if r["block"] == "fm_fields_vd"] == ["[(B, 8) x 3]"]


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
def test_a_multi_tower_with_variational_dropout_trains_and_logs_the_penalty(tmp_path: Path) -> None:
    raw = train_config(SYNTHETIC_FEATURES + "model_config {" + TWO_TOWERS + "}", num_rows=256)
    raw["train"]["epochs"] = 2
    result = train_run(raw, tmp_path / "run")
    epochs = [json.loads(line) for line in (result.run_dir / "epochs.jsonl").read_text().splitlines()]
    terms = epochs[-1]["train_terms"]
    penalties = sorted(k for k in terms if k.endswith("_variational_dropout_loss"))
    assert penalties == ["aux/item_vd_variational_dropout_loss", "aux/user_vd_variational_dropout_loss"], terms
    # lambda / B * sum_f (1 - p_f) lies in (0, lambda * F / B): F = 3 item and 2 user features, B <= 64 rows
    assert 0 < terms["aux/item_vd_variational_dropout_loss"] < 0.01 * 3, terms
    assert 0 < terms["aux/user_vd_variational_dropout_loss"] < 0.01 * 2, terms
