"""EasyRec DeepFM -> recblocks backbone: shipped configs plan, both output forms, errors, a run trains."""

from __future__ import annotations

from pathlib import Path

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_model_config
from recblocks.easyrec.model_classes import EASYREC_MODELS

from ._features import SYNTHETIC_FEATURES, check_shipped, losses_fall, shipped, train_config

REFUSED = {
    "deepfm_multi_cls_small.config": r"model_config\.kd: not supported",
}

#: Shipped configs whose FM reads one field: the term is identically zero, so it is left out.
ONE_FIELD_FM = {"deepfm_lookup.config", "kv_tag.config"}

DEEPFM = """
model_class: 'DeepFM'
feature_groups { group_name: 'wide' feature_names: ['C1', 'C2', 'C3'] wide_deep: WIDE }
feature_groups { group_name: 'deep' feature_names: ['C1', 'C2', 'C3'] }
deepfm { dnn { hidden_units: [16, 8] } l2_regularization: 1e-5 }
embedding_regularization: 1e-5
"""


def translate(text: str) -> dict:
    return EASYREC_MODELS.get("DeepFM").translate(parse_model_config(text), {}, "model_config")


@pytest.mark.parametrize("path", shipped("DeepFM"), ids=lambda p: p.name)
def test_shipped_deepfm_configs_plan(path: Path) -> None:
    rows = check_shipped(path, REFUSED)
    if rows:
        assert any(row["body"] == "FM" for row in rows) != (path.name in ONE_FIELD_FM)


def test_without_final_dnn_the_three_logits_are_added() -> None:
    blocks = {b["name"]: b for b in translate(DEEPFM)["backbone"]["blocks"]}
    assert blocks["wide_features"]["input_layer"] == {"wide_output_dim": 1}
    assert blocks["fm_feature"]["component"] == {"class_name": "FM", "params": {"use_variant": False}}
    assert blocks["deep_logits"]["component"] == {"class_name": "Dense", "params": {"units": 1}}
    assert blocks["output"]["inputs"] == [
        {"block_name": "wide_features", "input_fn": "lambda x: tf.reduce_sum(x, axis=1, keepdims=True)"},
        {"block_name": "fm_feature"}, {"block_name": "deep_logits"}]


def test_with_final_dnn_wide_fm_vector_and_deep_feed_it() -> None:
    model = translate(DEEPFM.replace("dnn { hidden_units: [16, 8] }",
                                     "dnn { hidden_units: [16, 8] } final_dnn { hidden_units: [4] } wide_output_dim: 2"))
    blocks = {b["name"]: b for b in model["backbone"]["blocks"]}
    assert blocks["fm_feature"]["component"]["params"] == {"use_variant": True}  # (B, D), as EasyRec's FM layer
    assert [i.get("block_name") for i in blocks["final_dnn"]["inputs"]] == ["wide_features", "fm_feature",
                                                                           "deep_feature"]
    assert model["backbone"]["concat_blocks"] == ["final_dnn"]  # the model's head is EasyRec's output layer


def test_an_fm_group_feeds_the_fm_and_a_one_field_fm_is_left_out() -> None:
    with_fm = translate(DEEPFM + "feature_groups { group_name: 'fm' feature_names: ['C1', 'C2'] }")
    fm = next(b for b in with_fm["backbone"]["blocks"] if b["name"] == "fm_feature")
    assert fm["inputs"] == [{"block_name": "fm_input"}]
    one_field = translate(DEEPFM.replace("group_name: 'deep' feature_names: ['C1', 'C2', 'C3']",
                                         "group_name: 'deep' feature_names: ['C1']"))
    assert "fm_feature" not in [b["name"] for b in one_field["backbone"]["blocks"]]  # 0.5 (e^2 - e^2) = 0


def test_multiclass_wide_logits_sum_per_class() -> None:
    model = translate(DEEPFM.replace("l2_regularization", "wide_output_dim: 3 l2_regularization") + "num_class: 3")
    blocks = {b["name"]: b for b in model["backbone"]["blocks"]}
    assert blocks["wide_feature"]["component"]["class_name"] == "Add"
    assert blocks["fm_logits"]["component"]["params"] == {"units": 3}
    assert blocks["deep_logits"]["component"]["params"] == {"units": 3}


def test_missing_groups_and_bad_wide_width_are_named() -> None:
    with pytest.raises(ConfigError, match=r"model_config\.feature_groups: DeepFM reads the group 'wide'"):
        translate(DEEPFM.replace("group_name: 'wide'", "group_name: 'linear'"))
    with pytest.raises(ConfigError, match=r"model_config\.deepfm\.wide_output_dim: .*expected 1, got 4"):
        translate(DEEPFM.replace("l2_regularization", "wide_output_dim: 4 l2_regularization"))


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
def test_a_translated_deepfm_trains(tmp_path: Path) -> None:
    raw = train_config(SYNTHETIC_FEATURES + "model_config {" + DEEPFM + "}")
    first, last = losses_fall(raw, tmp_path / "run")
    assert last < first
