"""EasyRec's PLE onto a recblocks MultiTaskModel with the PLE component's extraction levels."""

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
  model_class: "PLE"
  feature_groups { group_name: "all" feature_names: "C1" wide_deep: DEEP }
  ple {
    extraction_networks {
      network_name: "l1" expert_num_per_task: 2 share_num: %d
      task_expert_net { hidden_units: [8, 4] } share_expert_net { hidden_units: [4] }
    }
    extraction_networks {
      network_name: "l2" expert_num_per_task: 1 share_num: 2
      task_expert_net { hidden_units: [3] } share_expert_net { hidden_units: [3] }
    }
    task_towers { tower_name: "ctr" label_name: "click" dnn { hidden_units: [4] } }
    task_towers { tower_name: "cvr" label_name: "buy" dnn { hidden_units: [4] } }
  }
}
"""


def _model(text: str) -> dict:
    pipeline = parse_pipeline_config(text)
    return EASYREC_MODELS.get("PLE").translate(pipeline["model_config"], feature_dicts(pipeline), "model_config")


@pytest.mark.parametrize("path", shipped("PLE"), ids=lambda p: p.name)
def test_shipped_ple_configs_plan(path: Path) -> None:
    check_shipped(path, {})


def test_each_extraction_network_is_a_level() -> None:
    params = _model(TEXT % 3)["backbone"]["blocks"][-1]["component"]["params"]
    first, second = params["extraction_levels"]
    assert params["num_tasks"] == 2
    assert (first["num_specific_experts"], first["num_shared_experts"], first["expert_mlp"]["hidden_units"],
            first["shared_expert_mlp"]["hidden_units"]) == (2, 3, [8, 4], [4])
    assert (second["num_specific_experts"], second["num_shared_experts"]) == (1, 2)


def test_a_level_without_shared_experts_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"model_config\.ple\.extraction_networks\[0\]: every level needs task "
                                          "experts and shared experts"):
        _model(TEXT % 0)
