"""EasyRec's SimpleMultiTask onto a recblocks MultiTaskModel: towers straight over the ``all`` group."""

from __future__ import annotations

from pathlib import Path

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_pipeline_config
from recblocks.easyrec.model_classes import EASYREC_MODELS
from tests.easyrec._features_mt import check_shipped, feature_dicts, shipped

TEXT = """
feature_config { features { input_names: "C1" feature_type: IdFeature embedding_dim: 4 hash_bucket_size: 20 } }
model_config {
  model_class: "SimpleMultiTask"
  feature_groups { group_name: "%s" feature_names: "C1" wide_deep: DEEP }
  simple_multi_task {
    task_towers { tower_name: "ctr" label_name: "click" dnn { hidden_units: [4] } }
    task_towers { tower_name: "cvr" label_name: "buy" dnn { hidden_units: [4] } }
    l2_regularization: 1e-6
  }
}
"""


def _model(text: str) -> dict:
    pipeline = parse_pipeline_config(text)
    return EASYREC_MODELS.get("SimpleMultiTask").translate(pipeline["model_config"], feature_dicts(pipeline),
                                                           "model_config")


@pytest.mark.parametrize("path", shipped("SimpleMultiTask"), ids=lambda p: p.name)
def test_shipped_simple_multi_task_configs_plan(path: Path) -> None:
    check_shipped(path, {})


def test_the_towers_read_the_all_group() -> None:
    model = _model(TEXT % "all")
    assert [b["name"] for b in model["backbone"]["blocks"]] == ["all"]
    assert [t["dnn"]["hidden_units"] for t in model["model_params"]["task_towers"]] == [[4], [4]]
    with pytest.raises(ConfigError, match=r"model_config\.feature_groups: SimpleMultiTask reads a feature group "
                                          "named 'all'"):
        _model(TEXT % "everything")
