"""EasyRec FM -> recblocks backbone: shipped configs plan, wide sum + FM + bias."""

from __future__ import annotations

from pathlib import Path

import pytest

from recblocks.easyrec import parse_model_config
from recblocks.easyrec.model_classes import EASYREC_MODELS

from ._features import SYNTHETIC_FEATURES, check_shipped, plan, shipped, train_config

REFUSED = {
    # raw features embedded to 10 beside ids of 16: EasyRec's FM (tf.stack of the fields) fails on it too
    "fm_on_criteo.config": r"block 'fm_feature' .*all embedding dims must be equal",
}

FM = """
model_class: 'FM'
feature_groups { group_name: 'wide' feature_names: ['C1', 'C2'] wide_deep: WIDE }
feature_groups { group_name: 'deep' feature_names: ['C1', 'C2', 'C3'] }
fm { l2_regularization: 1e-5 }
"""


def translate(text: str) -> dict:
    return EASYREC_MODELS.get("FM").translate(parse_model_config(text), {}, "model_config")


@pytest.mark.parametrize("path", shipped("FM"), ids=lambda p: p.name)
def test_shipped_fm_configs_plan(path: Path) -> None:
    rows = check_shipped(path, REFUSED)
    assert not rows or any(row["body"] == "FM" for row in rows)


def test_fm_is_wide_plus_second_order_plus_bias() -> None:
    model = translate(FM)
    blocks = {b["name"]: b for b in model["backbone"]["blocks"]}
    assert blocks["wide_features"]["input_layer"] == {"wide_output_dim": 1}
    assert blocks["fm_feature"]["component"]["params"] == {"use_variant": False}
    assert blocks["output"]["component"] == {"class_name": "Dense",
                                             "params": {"units": 1, "kernel_initializer": "ones"}}
    assert model["model_params"] == {"l2_regularization": 1e-5}


def test_multiclass_fm_maps_the_vector_to_class_logits() -> None:
    blocks = {b["name"]: b for b in translate(FM + "num_class: 3")["backbone"]["blocks"]}
    assert blocks["wide_features"]["input_layer"] == {"wide_output_dim": 3}
    assert blocks["fm_feature"]["component"]["params"] == {"use_variant": True}
    assert blocks["fm_logits"]["component"]["params"] == {"units": 3}
    rows = plan(train_config(SYNTHETIC_FEATURES + "model_config {" + FM + "num_class: 3 }"))
    assert rows[-1]["block"] == "output" and rows[-1]["output"] == "(B, 3)"  # (B, 1) wide broadcast onto (B, 3)
