"""EasyRec AutoInt -> recblocks backbone: shipped configs plan, heads and widths, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_model_config
from recblocks.easyrec.model_classes import EASYREC_MODELS

from ._features import check_shipped, shipped

AUTOINT = """
model_class: 'AutoInt'
feature_groups { group_name: 'all' feature_names: ['C1', 'C2', 'C3'] }
autoint { multi_head_num: 2 multi_head_size: 8 interacting_layer_num: 3 }
"""


def translate(text: str, features: dict | None = None) -> dict:
    return EASYREC_MODELS.get("AutoInt").translate(parse_model_config(text), features or {}, "model_config")


@pytest.mark.parametrize("path", shipped("AutoInt"), ids=lambda p: p.name)
def test_shipped_autoint_configs_plan(path: Path) -> None:
    rows = check_shipped(path, {})
    assert any(row["body"] == "AutoInt" for row in rows)


def test_interacting_layers_map_onto_the_autoint_component() -> None:
    blocks = {b["name"]: b for b in translate(AUTOINT)["backbone"]["blocks"]}
    assert blocks["fields"]["input_layer"] == {"only_output_3d_tensor": True}
    assert blocks["interacting"]["component"]["params"] == {
        "num_layers": 3, "num_heads": 2, "attention_dim": 16, "use_residual": True, "out_type": "concat"}


def test_unequal_embedding_widths_are_refused_as_easyrec_does() -> None:
    features = {"C1": {"embedding_dim": 8}, "C2": {"embedding_dim": 8}, "C3": {"embedding_dim": 4}}
    with pytest.raises(ConfigError, match=r"model_config\.feature_groups: AutoInt stacks the fields of 'all'"):
        translate(AUTOINT, features)
