"""EasyRec's MMoE onto a recblocks MultiTaskModel: shipped configs plan, both expert spellings."""

from __future__ import annotations

from pathlib import Path

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_pipeline_config
from recblocks.easyrec.model_classes import EASYREC_MODELS
from recblocks.easyrec.model_classes.towers import with_tower_labels
from recblocks.runs import plan_rows
from tests.easyrec._features_mt import check_shipped, feature_dicts, shipped, translate

REFUSALS: dict[str, str] = {}  # mmoe_on_taobao_deprecated: towers take the labels of their positions

TEXT = """
feature_config {
  features { input_names: "C1" feature_type: IdFeature embedding_dim: 4 hash_bucket_size: 20 }
  features { input_names: "I1" feature_type: RawFeature }
}
model_config {
  model_class: "MMoE"
  feature_groups { group_name: "all" feature_names: ["C1", "I1"] wide_deep: DEEP }
  mmoe {
    %s
    task_towers { tower_name: "ctr" label_name: "click" dnn { hidden_units: [4] } }
    task_towers { tower_name: "cvr" label_name: "buy" loss_type: L2_LOSS }
  }
}
"""


def _model(text: str) -> dict:
    pipeline = parse_pipeline_config(text)
    return EASYREC_MODELS.get("MMoE").translate(pipeline["model_config"], feature_dicts(pipeline), "model_config")


@pytest.mark.parametrize("path", shipped("MMoE"), ids=lambda p: p.name)
def test_shipped_mmoe_configs_plan_or_are_refused_by_name(path: Path) -> None:
    check_shipped(path, REFUSALS)


def test_towers_without_label_name_take_the_label_of_their_position() -> None:
    notes: list[str] = []
    text = "data_config { label_fields: ['click', 'buy'] } " + (TEXT % "").replace('label_name: "click" ', "")
    model = with_tower_labels(parse_pipeline_config(text)["model_config"], ["click", "buy"], "model_config", notes)
    assert [t["label_name"] for t in model["mmoe"]["task_towers"]] == ["click", "buy"]
    assert notes == ["model_config.mmoe.task_towers[0].label_name: unset; EasyRec's label of the same position, "
                     "'click'"]
    with pytest.raises(ConfigError, match=r"^model_config.mmoe.task_towers\[0\].label_name: a tower without"):
        EASYREC_MODELS.get("MMoE").translate(with_tower_labels(parse_pipeline_config(text)["model_config"], [],
                                                               "model_config", []), {}, "model_config")


def test_expert_dnn_copies_and_an_expert_list() -> None:
    copies = _model(TEXT % "expert_dnn { hidden_units: [8] } num_expert: 3")
    mmoe = copies["backbone"]["blocks"][-1]["component"]["params"]
    assert (mmoe["num_tasks"], mmoe["num_experts"], mmoe["expert_mlp"]["hidden_units"]) == (2, 3, [8])
    assert copies["model_params"]["l2_regularization"] == 1e-4  # EasyRec's default
    listed = _model(TEXT % "experts { expert_name: 'a' dnn { hidden_units: [8] } } "
                           "experts { expert_name: 'b' dnn { hidden_units: [6, 8] } }")
    blocks = {b["name"]: b for b in listed["backbone"]["blocks"]}
    assert blocks["mmoe"]["inputs"] == [{"block_name": "expert_0"}, {"block_name": "expert_1"},
                                        {"block_name": "all"}]
    assert blocks["mmoe"]["component"]["params"] == {"num_tasks": 2, "num_experts": 2}
    assert blocks["expert_1"]["component"]["params"]["hidden_units"] == [6, 8]
    raw = translate(TEXT % "experts { expert_name: 'a' dnn { hidden_units: [8] } } "
                           "experts { expert_name: 'b' dnn { hidden_units: [6, 8] } }")
    _, rows, _ = plan_rows(raw, fit_data=False)
    assert any(row["block"] == "mmoe" for row in rows)


def test_experts_of_different_widths_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"model_config\.mmoe\.experts: the experts' outputs are mixed"):
        _model(TEXT % "experts { expert_name: 'a' dnn { hidden_units: [8] } } "
                      "experts { expert_name: 'b' dnn { hidden_units: [4] } }")
