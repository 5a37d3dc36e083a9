"""EasyRec DLRM -> recblocks backbone: shipped configs plan, dot / cat interactions, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_model_config
from recblocks.easyrec.model_classes import EASYREC_MODELS
from recblocks.runs import plan_rows

from ._features import check_shipped, shipped

DLRM = """
model_class: 'DLRM'
feature_groups { group_name: 'dense' feature_names: ['I1', 'I2'] }
feature_groups { group_name: 'sparse' feature_names: ['C1', 'C2', 'C3'] }
dlrm { bot_dnn { hidden_units: [8, 4] } top_dnn { hidden_units: [8] } }
"""
FEATURES = [{"name": "I1", "kind": "dense"}, {"name": "I2", "kind": "dense"},
            *({"name": f"C{i}", "kind": "hashed", "hash_bucket_size": 10, "embedding_dim": 4} for i in (1, 2, 3))]


def translate(text: str) -> dict:
    return EASYREC_MODELS.get("DLRM").translate(parse_model_config(text), {}, "model_config")


@pytest.mark.parametrize("path", shipped("DLRM"), ids=lambda p: p.name)
def test_shipped_dlrm_configs_plan(path: Path) -> None:
    rows = check_shipped(path, {})
    assert any(row["body"] == "DotInteraction" for row in rows)


def test_dot_interaction_of_bottom_output_and_sparse_fields_by_hand() -> None:
    model = translate(DLRM)
    task = {"type": "binary", "label": "label"}  # the pipeline translation's part
    _, rows, _ = plan_rows({"data": {"synthetic": {"num_rows": 8}}, "features": FEATURES,
                            "model": {**model, "task": task}}, fit_data=False)
    widths = {row["block"]: row["output"] for row in rows}
    assert widths["interaction"] == "(B, 6)"  # 4 fields (bottom + 3 sparse): 4 * 3 / 2 pairs
    assert widths["top_dnn"] == "(B, 8)" and rows[-1]["output"] == "(B, 1)"
    itself = translate(DLRM.replace("top_dnn", "arch_interaction_itself: true arch_with_dense_feature: true top_dnn"))
    blocks = {b["name"]: b for b in itself["backbone"]["blocks"]}
    assert blocks["interaction"]["component"]["params"] == {"self_interaction": True}
    assert blocks["top_dnn"]["inputs"][-1] == {"block_name": "bot_dnn"}
    assert itself["model_params"] == {"l2_regularization": 1e-5}  # DLRM's own proto default


def test_cat_interaction_concatenates() -> None:
    blocks = {b["name"]: b for b in translate(DLRM.replace("top_dnn", "arch_interaction_op: 'cat' top_dnn"))
              ["backbone"]["blocks"]}
    assert "interaction" not in blocks
    assert blocks["top_dnn"]["inputs"] == [{"block_name": "bot_dnn"},
                                           {"block_name": "sparse_input", "input_slice": "[0]"}]


def test_dlrm_errors_name_their_place() -> None:
    with pytest.raises(ConfigError, match=r"model_config\.dlrm\.arch_interaction_op: .*did you mean 'dot'"):
        translate(DLRM.replace("top_dnn", "arch_interaction_op: 'dott' top_dnn"))
    with pytest.raises(ConfigError, match=r"model_config\.num_class: EasyRec's DLRM has a one-unit output"):
        translate(DLRM + "num_class: 3")
    with pytest.raises(ConfigError, match=r"DLRM reads the group 'dense'"):
        translate(DLRM.replace("group_name: 'dense'", "group_name: 'numbers'"))
