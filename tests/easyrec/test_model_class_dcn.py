"""EasyRec DCN -> recblocks backbone: shipped configs plan, deep + DCN-v1 cross on 'all', a run trains."""

from __future__ import annotations

from pathlib import Path

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_model_config
from recblocks.easyrec.model_classes import EASYREC_MODELS

from ._features import SYNTHETIC_FEATURES, check_shipped, losses_fall, shipped, train_config

DCN = """
model_class: 'DCN'
feature_groups { group_name: 'all' feature_names: ['I1', 'I2', 'C1', 'C2', 'C3'] }
dcn {
  deep_tower { input: 'all' dnn { hidden_units: [16, 8] } }
  cross_tower { input: 'all' cross_num: 2 }
  final_dnn { hidden_units: [8, 4] }
  l2_regularization: 1e-6
}
"""


def translate(text: str) -> dict:
    return EASYREC_MODELS.get("DCN").translate(parse_model_config(text), {}, "model_config")


@pytest.mark.parametrize("path", shipped("DCN"), ids=lambda p: p.name)
def test_shipped_dcn_configs_plan(path: Path) -> None:
    rows = check_shipped(path, {})
    assert [row["body"] for row in rows if row["block"] in ("dnn", "cross", "final_dnn")] == ["MLP", "CrossNet", "MLP"]


def test_deep_and_cross_read_all_and_feed_final_dnn() -> None:
    model = translate(DCN)
    blocks = {b["name"]: b for b in model["backbone"]["blocks"]}
    assert blocks["cross"] == {"name": "cross", "inputs": [{"feature_group_name": "all"}], "component": {
        "class_name": "CrossNet", "params": {"num_layers": 2, "kernel_initializer": "glorot_uniform"}}}
    assert blocks["dnn"]["inputs"] == [{"feature_group_name": "all"}]
    assert blocks["final_dnn"]["inputs"] == [{"block_name": "dnn"}, {"block_name": "cross"}]
    assert model["model_params"] == {"l2_regularization": 1e-6}


def test_the_cross_num_default_is_easyrecs_three() -> None:
    blocks = translate(DCN.replace("cross_num: 2", ""))["backbone"]["blocks"]
    assert next(b for b in blocks if b["name"] == "cross")["component"]["params"]["num_layers"] == 3


def test_dcn_without_the_all_group_is_named() -> None:
    with pytest.raises(ConfigError, match=r"model_config\.feature_groups: DCN reads the group 'all'"):
        translate(DCN.replace("group_name: 'all'", "group_name: 'features'"))


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
def test_a_translated_dcn_trains(tmp_path: Path) -> None:
    raw = train_config(SYNTHETIC_FEATURES + "model_config {" + DCN + "}")
    first, last = losses_fall(raw, tmp_path / "run")
    assert last < first
