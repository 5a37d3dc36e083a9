"""EasyRec MultiTowerBST -> recblocks backbone: shipped configs plan, the BST tower's settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_model_config
from recblocks.easyrec.model_classes import EASYREC_MODELS

from ._features import check_shipped, shipped

BST = """
model_class: 'MultiTowerBST'
feature_groups { group_name: 'user' feature_names: ['C1'] }
seq_att_groups { group_name: 'bst' seq_att_map { key: 'C2' hist_seq: 'H2' } }
multi_tower {
  towers { input: 'user' dnn { hidden_units: [8] } }
  bst_towers { input: 'bst' seq_len: 6 multi_head_size: 2 }
  final_dnn { hidden_units: [4] }
}
"""
FEATURES = {"C2": {"embedding_dim": 8}, "H2": {"embedding_dim": 8}}


def translate(text: str) -> dict:
    return EASYREC_MODELS.get("MultiTowerBST").translate(parse_model_config(text), FEATURES, "model_config")


@pytest.mark.parametrize("path", shipped("MultiTowerBST"), ids=lambda p: p.name)
def test_shipped_multi_tower_bst_configs_plan(path: Path) -> None:
    rows = check_shipped(path, {})
    bst = next(row for row in rows if row["body"] == "BST")
    assert bst["output"] == "(B, 1600)"  # seq_len 50 tokens (49 behaviours + the key) of width 32, flattened


def test_bst_tower_settings() -> None:
    blocks = {b["name"]: b for b in translate(BST)["backbone"]["blocks"]}
    assert blocks["bst_bst"]["component"]["params"] == {
        "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 8,
        "hidden_act": "linear", "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
        "max_position_embeddings": 5, "use_position_embeddings": False, "output_all_token_embeddings": True,
        "target_item_position": "tail"}


def test_uneven_heads_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"bst_towers\[0\]\.multi_head_size: .*expected a divisor of 8, got 3"):
        translate(BST.replace("multi_head_size: 2", "multi_head_size: 3"))
