"""EasyRec's MultiTowerRecall onto a recblocks RankModel: towers, concatenation, final DNN."""

from __future__ import annotations

from pathlib import Path

import pytest

from recblocks.easyrec import parse_pipeline_config
from recblocks.easyrec.model_classes import EASYREC_MODELS
from recblocks.runs import plan_rows
from tests.easyrec._features_mt import check_shipped, feature_dicts, shipped, translate

#: EasyRec's per-negative attention of a negative_sampler group with sequence_features is not translated
REFUSALS = {"multi_tower_recall_neg_sampler_sequence_feature.config": "negative_sampler: EasyRec attends",
            "multi_tower_recall_neg_sampler_only_sequence_feature.config": "negative_sampler: EasyRec attends"}

TEXT = """
data_config { label_fields: "clk" }
feature_config {
  features { input_names: "u" feature_type: IdFeature embedding_dim: 4 hash_bucket_size: 20 }
  features { input_names: "i" feature_type: IdFeature embedding_dim: 4 hash_bucket_size: 20 }
}
model_config {
  model_class: "MultiTowerRecall"
  feature_groups { group_name: "user" feature_names: "u" wide_deep: DEEP negative_sampler: true }
  feature_groups { group_name: "item" feature_names: "i" wide_deep: DEEP }
  multi_tower_recall {
    user_tower { dnn { hidden_units: [8] } }
    item_tower { dnn { hidden_units: [8] } }
    final_dnn { hidden_units: [4] }
    l2_regularization: 1e-6
  }
}
"""


@pytest.mark.parametrize("path", shipped("MultiTowerRecall"), ids=lambda p: p.name)
def test_shipped_multi_tower_recall_configs_plan_or_are_refused_by_name(path: Path) -> None:
    check_shipped(path, REFUSALS)


def test_towers_concatenated_under_the_final_dnn() -> None:
    pipeline = parse_pipeline_config(TEXT)
    model = EASYREC_MODELS.get("MultiTowerRecall").translate(pipeline["model_config"], feature_dicts(pipeline),
                                                              "model_config")
    assert model["model_class"] == "RankModel" and "negative_sampler" not in model["feature_groups"][0]
    final = model["backbone"]["blocks"][-1]
    assert final["inputs"] == [{"block_name": "user_tower"}, {"block_name": "item_tower"}]
    assert model["backbone"]["concat_blocks"] == ["final_dnn"]
    _, rows, _ = plan_rows(translate(TEXT), fit_data=False)
    assert any(row["block"] == "final_dnn" for row in rows)
