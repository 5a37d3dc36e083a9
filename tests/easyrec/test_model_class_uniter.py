"""EasyRec Uniter -> recblocks UNITER component: shipped configs plan, the section, a run trains."""

from __future__ import annotations

from pathlib import Path

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_model_config
from recblocks.easyrec.model_classes import EASYREC_MODELS

from ._features import losses_fall, shipped
from ._multimodal import multimodal_train_config, pipeline_rows

UNITER = """
model_class: 'Uniter'
feature_groups { group_name: 'image' feature_names: ['I1', 'I2'] }
feature_groups { group_name: 'general' feature_names: ['C1', 'C2'] }
feature_groups { group_name: 'text' feature_names: ['tags'] }
uniter {
  config { hidden_size: 8 num_hidden_layers: 1 num_attention_heads: 2 intermediate_size: 16
           hidden_dropout_prob: 0.0 attention_probs_dropout_prob: 0.0 max_position_embeddings: 8 }
  final_dnn { hidden_units: [16] }
}
"""
FEATURES = {"I1": {"kind": "dense"}, "I2": {"kind": "dense"}, "C1": {"kind": "hashed"}, "C2": {"kind": "hashed"},
            "tags": {"kind": "sequence"}}


@pytest.mark.parametrize("path", shipped("Uniter"), ids=lambda p: p.name)
def test_shipped_uniter_configs_plan(path: Path) -> None:
    if path.name == "uniter_on_movielens_only_image_feature.config":  # its export metric (gauc) is not evaluated
        with pytest.raises(ConfigError, match=r"train\.early_stopping\.metric: the metric is not reported"):
            pipeline_rows(path)
        return
    run, rows = pipeline_rows(path)
    fusion = next(r for r in rows if r["block"] == "uniter")
    hidden = next(b for b in run["model"]["backbone"]["blocks"] if b["name"] == "uniter")["component"]["params"]
    assert fusion["body"] == "UNITER" and fusion["output"] == f"(B, {hidden['hidden_size']})"
    assert rows[-1]["output"] == "(B, 1)"


def test_the_section() -> None:
    model = EASYREC_MODELS.get("Uniter").translate(parse_model_config(UNITER), FEATURES, "model_config")
    blocks = {b["name"]: b for b in model["backbone"]["blocks"]}
    assert list(blocks) == ["image_input", "general_input", "text__tags_input", "uniter", "final_dnn"]
    assert blocks["uniter"]["component"] == {"class_name": "UNITER", "params": {
        "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16,
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "max_position_embeddings": 8,
        "has_image": True, "has_general": True}}
    assert model["model_name"] == "Uniter" and EASYREC_MODELS.get("UNITER").name == "Uniter"


def test_a_uniter_run_trains(tmp_path: Path) -> None:
    first, last = losses_fall(multimodal_train_config(UNITER), tmp_path / "run")
    assert last < first
