"""EasyRec MultiTower -> recblocks backbone: shipped configs plan, the graph is EasyRec's, a run trains."""

from __future__ import annotations

from pathlib import Path

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_model_config
from recblocks.easyrec.model_classes import EASYREC_MODELS

from ._features import SYNTHETIC_FEATURES, check_shipped, losses_fall, plan, shipped, train_config

#: Shipped configs the translation refuses, and why (a ConfigError naming the place): none now
#: (model-wide ev_params are read by recblocks.easyrec.ev_params).
REFUSED: dict[str, str] = {}

TWO_TOWERS = """
model_class: 'MultiTower'
feature_groups { group_name: 'user' feature_names: ['C1', 'I1'] }
feature_groups { group_name: 'item' feature_names: ['C2', 'C3', 'I2'] }
multi_tower {
  towers { input: 'user' dnn { hidden_units: [16, 8] } }
  towers { input: 'item' dnn { hidden_units: [16, 8] dropout_ratio: [0.1, 0.0] activation: 'tf.nn.tanh' } }
  final_dnn { hidden_units: [8] }
  l2_regularization: 1e-6
}
embedding_regularization: 1e-5
"""


def translate(text: str) -> dict:
    return EASYREC_MODELS.get("MultiTower").translate(parse_model_config(text), {}, "model_config")


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("path", shipped("MultiTower"), ids=lambda p: p.name)
def test_shipped_multi_tower_configs_plan(path: Path) -> None:
    rows = check_shipped(path, REFUSED)
    if rows:
        assert any(row["body"] == "BatchNormalization" for row in rows)


def test_towers_are_batch_norm_then_dnn_concatenated_into_final_dnn() -> None:
    model = translate(TWO_TOWERS)
    blocks = {block["name"]: block for block in model["backbone"]["blocks"]}
    assert list(blocks) == ["user_fea_bn", "user_dnn", "item_fea_bn", "item_dnn", "final_dnn"]
    assert blocks["user_fea_bn"]["component"]["class_name"] == "BatchNormalization"
    assert blocks["item_dnn"]["component"]["params"] == {
        "hidden_units": [16, 8], "activation": "tf.nn.tanh", "use_bn": True, "use_final_bn": True,
        "final_activation": "tf.nn.tanh", "use_bias": True, "use_final_bias": True, "initializer": "glorot_uniform",
        "dropout_ratio": [0.1, 0.0]}
    assert blocks["final_dnn"]["inputs"] == [{"block_name": "user_dnn"}, {"block_name": "item_dnn"}]
    assert model["backbone"]["concat_blocks"] == ["final_dnn"]
    assert "task" not in model  # the pipeline translation adds it (label fields, loss, metrics)
    assert model["model_params"] == {"l2_regularization": 1e-6} and model["embedding_regularization"] == 1e-5


def test_a_final_dnn_as_wide_as_the_classes_still_gets_the_output_layer() -> None:
    model = translate(TWO_TOWERS.replace("final_dnn { hidden_units: [8] }", "final_dnn { hidden_units: [8, 1] }"))
    output = model["backbone"]["blocks"][-1]
    assert output == {"name": "output", "inputs": [{"block_name": "final_dnn"}],
                      "component": {"class_name": "Dense", "params": {"units": 1}}}


def test_num_class_sizes_the_output_and_the_task_is_left_to_the_pipeline() -> None:
    raw = train_config(SYNTHETIC_FEATURES + "model_config {" + TWO_TOWERS + "num_class: 4 }")
    assert raw["model"]["task"] == {"type": "multiclass", "label": "label", "num_classes": 4}  # the test helper's
    rows = plan(raw)
    assert rows[-1]["block"] == "head:ctr" and rows[-1]["output"] == "(B, 4)"


def test_a_tower_on_an_unknown_group_names_it_with_a_suggestion() -> None:
    with pytest.raises(ConfigError, match=r"model_config\.multi_tower\.towers\[1\]\.input: .*did you mean 'item'"):
        translate(TWO_TOWERS.replace("towers { input: 'item'", "towers { input: 'itme'"))


def test_unsupported_model_options_are_named() -> None:
    with pytest.raises(ConfigError, match=r"model_config\.kd: not supported"):
        translate(TWO_TOWERS + "kd { loss_type: L2_LOSS pred_name: 'logits' soft_label_name: 'teacher' }")
    with pytest.raises(ConfigError, match=r"model_config\.multi_tower: model_class 'MultiTower' reads .*'deepfm'"):
        translate(TWO_TOWERS.split("multi_tower {")[0] + "deepfm { dnn { hidden_units: [4] } }")


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
def test_a_translated_multi_tower_trains(tmp_path: Path) -> None:
    raw = train_config(SYNTHETIC_FEATURES + "model_config {" + TWO_TOWERS + "}")
    first, last = losses_fall(raw, tmp_path / "run")
    assert last < first


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
def test_a_multi_tower_trains_its_weighted_losses(tmp_path: Path) -> None:
    losses = ("losses { loss_type: F1_REWEIGHTED_LOSS f1_reweighted_loss { f1_beta_square: 2.25 } } "
              "losses { loss_type: PAIR_WISE_LOSS weight: 0.5 }")
    raw = train_config(SYNTHETIC_FEATURES + "model_config {" + TWO_TOWERS + losses + "}")
    assert [loss["loss_type"] for loss in raw["model"]["task"]["losses"]] == ["F1_REWEIGHTED_LOSS", "PAIR_WISE_LOSS"]
    first, last = losses_fall(raw, tmp_path / "run")
    assert last < first
