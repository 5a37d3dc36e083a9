"""EasyRec WideAndDeep -> recblocks backbone: shipped configs plan, wide sum + deep logits or final_dnn."""

from __future__ import annotations

from pathlib import Path

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_model_config
from recblocks.easyrec.model_classes import EASYREC_MODELS

from ._features import check_shipped, shipped

WIDE_AND_DEEP = """
model_class: 'WideAndDeep'
feature_groups { group_name: 'wide' feature_names: ['C1', 'C2'] wide_deep: WIDE }
feature_groups { group_name: 'deep' feature_names: ['C1', 'C2', 'I1'] }
wide_and_deep { dnn { hidden_units: [8, 4] } wide_output_dim: 8 }
"""


def translate(text: str) -> dict:
    return EASYREC_MODELS.get("WideAndDeep").translate(parse_model_config(text), {}, "model_config")


@pytest.mark.parametrize("path", shipped("WideAndDeep"), ids=lambda p: p.name)
def test_shipped_wide_and_deep_configs_plan(path: Path) -> None:
    rows = check_shipped(path, {})
    assert any(row["block"] == "deep_feature" for row in rows)


def test_without_final_dnn_the_wide_width_is_num_class_and_logits_add() -> None:
    blocks = {b["name"]: b for b in translate(WIDE_AND_DEEP)["backbone"]["blocks"]}
    assert blocks["wide_features"]["input_layer"] == {"only_output_feature_list": True, "wide_output_dim": 1}
    assert blocks["wide_sum"]["component"]["class_name"] == "Add"  # tf.add_n over the wide features
    assert blocks["output"]["inputs"] == [{"block_name": "wide_sum"}, {"block_name": "deep_out"}]


def test_with_final_dnn_the_wide_width_is_kept_and_concatenated() -> None:
    model = translate(WIDE_AND_DEEP.replace("wide_output_dim: 8", "wide_output_dim: 8 final_dnn { hidden_units: [4] }"))
    blocks = {b["name"]: b for b in model["backbone"]["blocks"]}
    assert blocks["wide_features"]["input_layer"]["wide_output_dim"] == 8
    assert blocks["final_dnn"]["inputs"] == [{"block_name": "wide_sum"}, {"block_name": "deep_feature"}]


def test_a_group_with_sequence_features_appends_din_attention() -> None:
    text = WIDE_AND_DEEP.replace(
        "feature_names: ['C1', 'C2', 'I1'] }",
        "feature_names: ['C1', 'C2', 'I1'] sequence_features { group_name: 'seq' "
        "seq_att_map { key: 'C1' hist_seq: 'H1' } seq_dnn { hidden_units: [4, 1] } } }")
    model = translate(text)
    blocks = {b["name"]: b for b in model["backbone"]["blocks"]}
    assert blocks["deep_feature"]["inputs"] == [{"feature_group_name": "deep"}, {"block_name": "seq_dnnseq"}]
    din = blocks["seq_dnnseq"]["component"]
    assert din["class_name"] == "DIN" and din["params"]["attention_dnn"]["hidden_units"] == [4, 1]
    assert din["params"]["attention_dnn"]["final_activation"] is None
    assert model["feature_groups"][1]["sequence_features"] == [
        {"group_name": "seq", "seq_att_map": [{"key": ["C1"], "hist_seq": ["H1"]}]}]
    # EasyRec's attention options are the DIN block's parameters; the group keeps its features only
    model = translate(text.replace("seq_dnn", "allow_key_transform: true need_key_feature: false seq_dnn"))
    params = {b["name"]: b for b in model["backbone"]["blocks"]}["seq_dnnseq"]["component"]["params"]
    assert (params["allow_key_transform"], params["need_target_feature"]) == (True, False)
    assert model["feature_groups"][1]["sequence_features"] == [
        {"group_name": "seq", "seq_att_map": [{"key": ["C1"], "hist_seq": ["H1"]}]}]


def test_a_missing_deep_dnn_is_named() -> None:
    with pytest.raises(ConfigError, match=r"model_config\.wide_and_deep\.dnn\.hidden_units"):
        translate(WIDE_AND_DEEP.replace("dnn { hidden_units: [8, 4] }", "dnn { }"))
