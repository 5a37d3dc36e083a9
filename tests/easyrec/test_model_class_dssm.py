"""EasyRec's DSSM and DSSM_SENet onto a recblocks MatchModel: shipped configs plan, the graph, training."""

from __future__ import annotations

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

#: Shipped DSSM configs recblocks refuses, and what the ConfigError names.
REFUSALS = {
    "dssm_kd_on_taobao.config": "model_config.kd: not supported",
    # a sequence-group option of EasyRec's feature groups that recblocks' groups do not take
    # (allow_key_search is accepted: dssm_on_books and dssm_on_sequence_feature_taobao plan)
}

TEXT = """
feature_config {
  features { input_names: "user_id" feature_type: IdFeature embedding_dim: 8 }
  features { input_names: "item_id" feature_type: IdFeature embedding_dim: 8 }
  features { input_names: "shelf" feature_type: IdFeature embedding_dim: 8 }
}
model_config {
  model_class: "%s"
  feature_groups { group_name: "user" feature_names: "user_id" wide_deep: DEEP }
  feature_groups { group_name: "item" feature_names: ["item_id", "shelf"] wide_deep: DEEP }
  loss_type: SOFTMAX_CROSS_ENTROPY
  %s {
    user_tower { id: "user_id" %s dnn { hidden_units: [16, 8] } }
    item_tower { id: "item_id" %s dnn { hidden_units: [16, 8] } }
    simi_func: COSINE
    temperature: 0.2
    l2_regularization: 1e-6
  }
}
"""
SENET = "senet { num_squeeze_group: 2 reduction_ratio: 4 }"


def _text(senet: bool = False) -> str:
    if senet:
        return TEXT % ("DSSM_SENet", "dssm_senet", SENET, SENET)
    return TEXT % ("DSSM", "dssm", "", "")


def _model(text: str) -> dict:
    pipeline = parse_pipeline_config(text)
    model_config = pipeline["model_config"]
    return EASYREC_MODELS.get(model_config["model_class"]).translate(model_config, feature_dicts(pipeline),
                                                                     "model_config")


@pytest.mark.parametrize("path", shipped("DSSM"), ids=lambda p: p.name)
def test_shipped_dssm_configs_plan_or_are_refused_by_name(path: Path) -> None:
    check_shipped(path, REFUSALS)


@pytest.mark.parametrize("path", shipped("DSSM_SENet"), ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_shipped_dssm_senet_configs_plan_or_are_refused_by_name(path: Path) -> None:
    check_shipped(path, {})


def test_dssm_towers_end_in_a_linear_layer_and_score_like_easyrec() -> None:
    model = _model(_text())
    assert model["model_class"] == "MatchModel"
    blocks = {b["name"]: b for b in model["backbone"]["blocks"]}
    assert model["backbone"]["output_blocks"] == ["user_tower", "item_tower"]
    tower = blocks["user_tower"]["component"]["params"]
    # the hidden layers are EasyRec's DNN; the last is a plain dense layer with bias
    assert (tower["use_bn"], tower["use_final_bn"], tower["final_activation"], tower["use_final_bias"]) == \
        (True, False, "linear", True)
    assert model["model_params"] == {"user_tower_idx_in_output": 0, "item_tower_idx_in_output": 1,
                                     "simi_func": "COSINE", "temperature": 0.2, "scale_simi": True,
                                     "l2_regularization": 1e-6, "item_id": "item_id", "user_id": "user_id"}


def test_dssm_senet_uses_easyrecs_older_senet_form() -> None:
    blocks = {b["name"]: b for b in _model(_text(senet=True))["backbone"]["blocks"]}
    assert blocks["user_input"]["input_layer"] == {"only_output_feature_list": True}
    assert blocks["item_senet"]["component"] == {"class_name": "SENet", "params": {
        "mode": "plus", "reduction_ratio": 4.0, "num_squeeze_group": 2, "use_skip_connection": False,
        "use_output_layer_norm": False}}
    assert blocks["item_tower"]["inputs"] == [{"block_name": "item_senet"}]


def test_a_pointwise_dssm_is_a_rank_model_ending_in_the_scaled_similarity() -> None:
    model = _model(_text().replace("loss_type: SOFTMAX_CROSS_ENTROPY", "loss_type: CLASSIFICATION"))
    assert model["model_class"] == "RankModel" and "tasks" not in model  # the label is data_config's
    blocks = {b["name"]: b for b in model["backbone"]["blocks"]}
    assert blocks["similarity"]["inputs"] == [{"block_name": "user_tower_unit"}, {"block_name": "item_tower_unit"}]
    assert blocks["similarity"]["lambda"]["expression"] == \
        "lambda x: torch.sum(x[0] * x[1], dim=-1, keepdim=True) / 0.2"
    assert blocks["scaled_similarity"]["component"]["params"] == {"units": 1, "kernel_initializer": "ones"}
    assert model["backbone"]["concat_blocks"] == ["scaled_similarity"]


def test_unsupported_dssm_options_name_their_field() -> None:
    with pytest.raises(ConfigError, match=r"model_config\.loss_type: PAIR_WISE_LOSS is not supported for DSSM"):
        _model(_text().replace("loss_type: SOFTMAX_CROSS_ENTROPY", "loss_type: PAIR_WISE_LOSS"))
    with pytest.raises(ConfigError, match=r"model_config\.dssm\.simi_func: similarity not supported"):
        _model(_text().replace("simi_func: COSINE", "simi_func: EUCLID"))
    sampled_only = _model(_text().replace("temperature: 0.2", "temperature: 0.2 ignore_in_batch_neg_sam: true"))
    assert sampled_only["model_params"]["in_batch_negatives"] is False
    with pytest.raises(ConfigError, match=r"model_config\.feature_groups: DSSM reads a feature group named 'item'"):
        _model(_text().replace('group_name: "item"', 'group_name: "items"'))


def test_a_translated_dssm_trains(tmp_path: Path) -> None:
    paths = {}
    for name, split in zip(("train", "valid", "test"), leave_last_out(interactions(900, seed=1))):
        paths[name] = str(tmp_path / f"{name}.parquet")
        pq.write_table(split, paths[name])
    train = {"epochs": 3, "batch_size": 64, "progress": False, "optimizer": {"lr": 0.01}, "seed": 0}
    result = train_run(translate(_text(), data=paths, train=train), tmp_path / "run")
    losses = [epoch.train_loss for epoch in result.history.epochs]
    assert losses[-1] < losses[0], losses
    assert "recall@10" in result.valid_metrics
