"""EasyRec DAT onto a recblocks MatchModel: shipped config plans, augmented towers, AMM losses, training."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from recblocks.core.errors import ConfigError
from recblocks.datasets.retrieval import leave_last_out
from recblocks.easyrec import parse_pipeline_config
from recblocks.easyrec.model_classes import EASYREC_MODELS
from recblocks.runs import train_run
from tests.easyrec._features_mt import check_shipped, feature_dicts, shipped, translate
from tests.models.test_match_model import interactions

TEXT = """
feature_config {
  features { input_names: "user_id" feature_type: IdFeature embedding_dim: 8 }
  features { input_names: "item_id" feature_type: IdFeature embedding_dim: 8 }
  features { input_names: "shelf" feature_type: IdFeature embedding_dim: 8 }
  features { input_names: "user_id" feature_name: "user_aug" feature_type: IdFeature embedding_dim: 4 }
  features { input_names: "item_id" feature_name: "item_aug" feature_type: IdFeature embedding_dim: 4 }
}
model_config {
  model_class: "DAT"
  feature_groups { group_name: "user" feature_names: "user_id" wide_deep: DEEP }
  feature_groups { group_name: "item" feature_names: ["item_id", "shelf"] wide_deep: DEEP }
  feature_groups { group_name: "user_id_augment" feature_names: "user_aug" wide_deep: DEEP }
  feature_groups { group_name: "item_id_augment" feature_names: "item_aug" wide_deep: DEEP }
  loss_type: SOFTMAX_CROSS_ENTROPY
  dat {
    user_tower { id: "user_id" dnn { hidden_units: [16, 4] } }
    item_tower { id: "item_id" dnn { hidden_units: [16, 4] } }
    simi_func: INNER_PRODUCT
    temperature: 0.2
    amm_u_weight: 0.8
  }
}
"""


def _model(text: str) -> dict:
    pipeline = parse_pipeline_config(text)
    return EASYREC_MODELS.get("DAT").translate(pipeline["model_config"], feature_dicts(pipeline), "model_config")


@pytest.mark.parametrize("path", shipped("DAT"), ids=lambda p: p.name)
def test_shipped_dat_config_plans(path: Path) -> None:
    check_shipped(path, {})


def test_augmented_towers_and_the_adaptive_mimic_losses() -> None:
    model = _model(TEXT)
    blocks = {b["name"]: b for b in model["backbone"]["blocks"]}
    assert blocks["user_tower"]["inputs"] == [{"block_name": "user"}, {"block_name": "user_id_augment"}]
    assert blocks["user_tower"]["component"]["params"]["final_activation"] == "linear"
    amm_u = blocks["amm_loss_u"]
    assert amm_u["inputs"][0] == {"block_name": "user_id_augment"}
    assert amm_u["inputs"][1]["block_name"] == "item_tower"
    assert "tf.stop_gradient(tf.nn.l2_normalize(x" in amm_u["inputs"][1]["input_fn"]
    # EasyRec averages over batch and dimension; AuxiliaryLoss' l2_loss sums the 4 dimensions
    assert amm_u["component"]["params"] == {"loss_type": "l2_loss", "loss_weight": 0.8 / 4, "loss_name": "amm_loss_u"}
    assert blocks["amm_loss_i"]["component"]["params"]["loss_weight"] == 0.5 / 4  # the proto default
    params = model["model_params"]
    # DAT normalises whatever simi_func says, and has no learned similarity scale
    assert (params["simi_func"], params["temperature"], params["scale_simi"]) == ("COSINE", 0.2, False)
    assert model["backbone"]["output_blocks"] == ["user_tower", "item_tower"]


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.replace("loss_type: SOFTMAX_CROSS_ENTROPY", "loss_type: CLASSIFICATION"),
     r"model_config\.loss_type: a point-wise .*CLASSIFICATION is not supported for DAT"),
    (lambda t: t.replace('group_name: "item_id_augment"', 'group_name: "item_augment"'),
     r"model_config\.feature_groups: DAT reads a feature group named 'item_id_augment'"),
    (lambda t: t.replace("hidden_units: [16, 4] } }\n    simi", "hidden_units: [16, 8] } }\n    simi"),
     r"model_config\.dat\.item_tower\.dnn\.hidden_units: .*one width; expected a last width of 4, got 8"),
])
def test_what_cannot_be_translated_is_named(change, message) -> None:
    with pytest.raises(ConfigError, match=message):
        _model(change(TEXT))


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
def test_a_translated_dat_trains_with_its_amm_losses(tmp_path: Path) -> None:
    paths = {}
    for name, split in zip(("train", "valid", "test"), leave_last_out(interactions(900, seed=1))):
        paths[name] = str(tmp_path / f"{name}.parquet")
        pq.write_table(split, paths[name])
    train = {"epochs": 3, "batch_size": 64, "progress": False, "optimizer": {"lr": 0.01}, "seed": 0}
    raw = translate(TEXT, data=paths, train=train)
    for feature in raw["features"]:
        if feature["name"].endswith("_aug"):
            feature["column"] = feature["name"].replace("_aug", "_id")
    result = train_run(raw, tmp_path / "run")
    losses = [epoch.train_loss for epoch in result.history.epochs]
    assert losses[-1] < losses[0], losses
    epochs = [json.loads(line) for line in (result.run_dir / "epochs.jsonl").read_text().splitlines()]
    terms = epochs[-1]["train_terms"]
    assert {"aux/amm_loss_u", "aux/amm_loss_i"} <= set(terms) and terms["aux/amm_loss_u"] > 0, terms
