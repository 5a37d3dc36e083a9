"""EasyRec MultiTowerDIN -> recblocks backbone: shipped configs plan, DIN towers over seq_att_groups."""

from __future__ import annotations

from pathlib import Path

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_model_config
from recblocks.easyrec.model_classes import EASYREC_MODELS

from ._features import check_shipped, shipped

REFUSED: dict[str, str] = {}

DIN = """
model_class: 'MultiTowerDIN'
feature_groups { group_name: 'user' feature_names: ['C1'] }
seq_att_groups { group_name: 'din' seq_att_map { key: 'C2' hist_seq: 'H2' } }
multi_tower {
  towers { input: 'user' dnn { hidden_units: [8] } }
  din_towers { input: 'din' dnn { hidden_units: [8, 1] } }
  final_dnn { hidden_units: [4] }
}
"""


def translate(text: str) -> dict:
    return EASYREC_MODELS.get("MultiTowerDIN").translate(parse_model_config(text), {}, "model_config")


@pytest.mark.parametrize("path", shipped("MultiTowerDIN"), ids=lambda p: p.name)
def test_shipped_multi_tower_din_configs_plan(path: Path) -> None:
    rows = check_shipped(path, REFUSED)
    assert not rows or any(row["body"] == "DIN" for row in rows)


def test_din_tower_reads_its_attention_group_and_joins_final_dnn() -> None:
    model = translate(DIN)
    assert model["feature_groups"][-1] == {"group_name": "din", "feature_names": ["H2", "C2"]}
    blocks = {b["name"]: b for b in model["backbone"]["blocks"]}
    assert blocks["din_seq_input"]["input_layer"] == {"output_seq_and_normal_feature": True}
    din = blocks["din_dnn"]["component"]["params"]
    assert din["need_target_feature"] is True  # EasyRec appends the key embedding
    assert din["attention_dnn"]["use_final_bn"] is False and din["attention_dnn"]["final_activation"] is None
    assert blocks["final_dnn"]["inputs"] == [{"block_name": "user_dnn"}, {"block_name": "din_dnn"}]


def test_unknown_attention_group_and_wide_scores_are_named() -> None:
    with pytest.raises(ConfigError, match=r"din_towers\[0\]\.input: .*did you mean 'din'"):
        translate(DIN.replace("din_towers { input: 'din'", "din_towers { input: 'dni'"))
    with pytest.raises(ConfigError, match=r"din_towers\[0\]\.dnn\.hidden_units: .*a last width of 1, got 2"):
        translate(DIN.replace("[8, 1]", "[8, 2]"))
