"""EasyRec's ESMM onto recblocks' ESMM model class: shipped configs plan, group DNNs, towers."""

from __future__ import annotations

from pathlib import Path

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_pipeline_config
from recblocks.easyrec.model_classes import EASYREC_MODELS
from tests.easyrec._features_mt import check_shipped, feature_dicts, shipped

REFUSALS = {
}

TEXT = """
feature_config {
  features { input_names: "u" feature_type: IdFeature embedding_dim: 4 hash_bucket_size: 20 }
  features { input_names: "i" feature_type: IdFeature embedding_dim: 4 hash_bucket_size: 20 }
}
model_config {
  model_class: "ESMM"
  feature_groups { group_name: "user" feature_names: "u" wide_deep: DEEP }
  feature_groups { group_name: "item" feature_names: "i" wide_deep: DEEP }
  esmm {
    groups { input: "user" dnn { hidden_units: [8] } }
    groups { input: "%s" dnn { hidden_units: [8] } }
    ctr_tower { tower_name: "ctr" label_name: "clk" dnn { hidden_units: [4] } }
    cvr_tower { tower_name: "cvr" label_name: "buy" dnn { hidden_units: [4] } }
    l2_regularization: 1e-6
  }
}
"""


def _model(text: str) -> dict:
    pipeline = parse_pipeline_config(text)
    return EASYREC_MODELS.get("ESMM").translate(pipeline["model_config"], feature_dicts(pipeline), "model_config")


@pytest.mark.parametrize("path", shipped("ESMM"), ids=lambda p: p.name)
def test_shipped_esmm_configs_plan_or_are_refused_by_name(path: Path) -> None:
    check_shipped(path, REFUSALS)


def test_each_group_runs_its_dnn_and_the_towers_read_their_concatenation() -> None:
    model = _model(TEXT % "item")
    assert model["model_class"] == "ESMM"
    assert model["backbone"]["concat_blocks"] == ["group_0_dnn", "group_1_dnn"]
    assert [t["tower_name"] for t in (model["model_params"]["ctr_tower"], model["model_params"]["cvr_tower"])] == \
        ["ctr", "cvr"]


def test_a_group_must_name_a_feature_group() -> None:
    with pytest.raises(ConfigError, match=r"model_config\.esmm\.groups\[1\]\.input: unknown feature group.*did you "
                                          "mean 'item'"):
        _model(TEXT % "itme")
