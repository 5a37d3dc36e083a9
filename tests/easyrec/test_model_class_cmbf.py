"""EasyRec CMBF -> recblocks CMBF component: shipped configs plan, the groups, a run trains, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_model_config
from recblocks.easyrec.model_classes import EASYREC_MODELS

from ._features import losses_fall, shipped
from ._multimodal import multimodal_train_config, pipeline_rows

CMBF = """
model_class: 'CMBF'
feature_groups { group_name: 'image' feature_names: ['I1', 'I2'] }
feature_groups { group_name: 'general' feature_names: ['C1', 'C2'] }
feature_groups { group_name: 'text' feature_names: ['tags'] }
feature_groups { group_name: 'other' feature_names: ['C3'] }
cmbf {
  config { multi_head_num: 2 text_head_size: 4 text_multi_head_num: 2 image_cross_head_size: 4
           text_cross_head_size: 4 max_position_embeddings: 8 use_token_type: true
           other_feature_dnn { hidden_units: [8] } }
  final_dnn { hidden_units: [16] }
}
"""
FEATURES = {"I1": {"kind": "dense"}, "I2": {"kind": "dense"}, "C1": {"kind": "hashed"}, "C2": {"kind": "hashed"},
            "C3": {"kind": "hashed"}, "tags": {"kind": "sequence"}}


def translate(text: str, features: dict | None = None) -> dict:
    return EASYREC_MODELS.get("CMBF").translate(parse_model_config(text), features or FEATURES, "model_config")


#: A shipped config whose own export metric is not evaluated (gauc with only auc and max_f1 in
#: eval_config): EasyRec's best exporter cannot read it either; the model part plans.
_EXPORT_METRIC_MISSING = {"cmbf_on_movielens_only_image_feature.config"}


@pytest.mark.parametrize("path", shipped("CMBF"), ids=lambda p: p.name)
def test_shipped_cmbf_configs_plan(path: Path) -> None:
    if path.name in _EXPORT_METRIC_MISSING:
        with pytest.raises(ConfigError, match=r"train\.early_stopping\.metric: the metric is not reported"):
            pipeline_rows(path)
        return
    run, rows = pipeline_rows(path)
    fusion = next(r for r in rows if r["block"] == "cmbf")
    assert fusion["body"] == "CMBF" and rows[-1]["output"] == "(B, 1)"


def test_the_groups_and_blocks() -> None:
    model = translate(CMBF)
    blocks = {b["name"]: b for b in model["backbone"]["blocks"]}
    assert list(blocks) == ["image_input", "general_input", "text__tags_input", "cmbf", "other_input", "other_dnn",
                            "final_dnn"]  # final_dnn ends in 16 units: the model's head gives the logit
    assert blocks["image_input"]["input_layer"] == {"only_output_3d_tensor": True}
    assert blocks["text__tags_input"]["input_layer"] == {"output_seq_and_normal_feature": True}
    assert blocks["cmbf"]["merge_inputs_into_list"] is True
    params = blocks["cmbf"]["component"]["params"]
    assert params["has_image"] and params["has_general"] and "other_feature_dnn" not in params
    assert blocks["final_dnn"]["inputs"] == [{"block_name": "cmbf"}, {"block_name": "other_dnn"}]
    groups = {g["group_name"]: g["feature_names"] for g in model["feature_groups"]}
    assert groups == {"image": ["I1", "I2"], "general": ["C1", "C2"], "other": ["C3"], "text__tags": ["tags"]}
    assert model["model_params"] == {"l2_regularization": 0.0}


def test_a_cmbf_run_trains(tmp_path: Path) -> None:
    first, last = losses_fall(multimodal_train_config(CMBF), tmp_path / "run")
    assert last < first


@pytest.mark.parametrize(("change", "features", "message"), [
    (lambda t: t.replace("'text' feature_names: ['tags']", "'text' feature_names: ['C3']"), None,
     r"model_config\.feature_groups\[2\]\.feature_names: CMBF reads every text feature as a sequence"),
    (lambda t: t.replace("'image' feature_names: ['I1', 'I2']", "'image' feature_names: ['C1']"), None,
     r"model_config\.feature_groups\[0\]\.feature_names: CMBF reads image features as raw vectors"),
    (lambda t: t.replace("group_name: 'image'", "group_name: 'img'").replace("group_name: 'general'", "group_name: "
                         "'g'").replace("group_name: 'text'", "group_name: 't'").replace("group_name: 'other'",
                                                                                         "group_name: 'o'"),
     None, r"model_config\.feature_groups: CMBF reads the groups \['image', 'general', 'text', 'other'\]"),
])
def test_what_cannot_be_translated_is_named(change, features, message) -> None:
    with pytest.raises(ConfigError, match=message):
        translate(change(CMBF), features)
