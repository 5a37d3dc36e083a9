"""EasyRec's DBMTL onto a recblocks MultiTaskModel: shipped configs plan, the graph is DBMTL's, it trains."""

from __future__ import annotations

from pathlib import Path

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_pipeline_config
from recblocks.easyrec.model_classes import EASYREC_MODELS
from recblocks.runs import train_run
from tests.easyrec._features_mt import check_shipped, feature_dicts, shipped, translate

#: Shipped DBMTL configs recblocks refuses, and the field the ConfigError names.
REFUSALS = {
    # the multi-modal bottoms translate (test_the_multimodal_bottoms_plan); these towers' gauc names a uid_field
    "dbmtl_cmbf_on_movielens.config": "gauc: unsupported metric parameter",
    "dbmtl_uniter_on_movielens.config": "gauc: unsupported metric parameter",
    "dbmtl_on_multi_sequence_feature_taobao.config": "a feature is listed twice",
}

FEATURES = """
feature_config {
  features { input_names: "I1" feature_type: RawFeature }
  features { input_names: "I2" feature_type: RawFeature }
  features { input_names: "C1" feature_type: IdFeature embedding_dim: 8 hash_bucket_size: 50 }
  features { input_names: "C2" feature_type: IdFeature embedding_dim: 8 hash_bucket_size: 50 }
  features { input_names: "C3" feature_type: IdFeature embedding_dim: 8 hash_bucket_size: 50 }
}
"""

MODEL = FEATURES + """
model_config {
  model_class: "DBMTL"
  feature_groups { group_name: "all" feature_names: ["I1", "I2", "C1", "C2", "C3"] wide_deep: DEEP }
  dbmtl {
    bottom_dnn { hidden_units: [32, 16] }
    %s
    task_towers {
      tower_name: "ctr" label_name: "click" loss_type: CLASSIFICATION metrics_set { auc {} }
      dnn { hidden_units: [16, 8] } relation_dnn { hidden_units: [8] } weight: 1.0
    }
    task_towers {
      tower_name: "cvr" label_name: "conversion" loss_type: CLASSIFICATION metrics_set { auc {} }
      dnn { hidden_units: [16, 8] } relation_tower_names: ["ctr"] relation_dnn { hidden_units: [8] } weight: 1.0
    }
    l2_regularization: 1e-6
  }
  embedding_regularization: 5e-6
}
"""


@pytest.mark.parametrize("path", shipped("DBMTL"), ids=lambda p: p.name)
def test_shipped_dbmtl_configs_plan_or_are_refused_by_name(path: Path) -> None:
    check_shipped(path, REFUSALS)


def test_the_shipped_set_is_the_one_this_test_knows() -> None:
    names = {p.name for p in shipped("DBMTL")}
    if not names:
        pytest.skip("EasyRec's shipped configs are absent (../shared/easyrec)")
    assert set(REFUSALS) <= names and len(names) == 24


def _model(text: str) -> dict:
    pipeline = parse_pipeline_config(text)
    return EASYREC_MODELS.get("DBMTL").translate(pipeline["model_config"], feature_dicts(pipeline), "model_config")


def test_dbmtl_becomes_a_bottom_mlp_an_mmoe_and_relation_towers() -> None:
    model = _model(MODEL % "expert_dnn { hidden_units: [12] } num_expert: 3")
    assert model["model_class"] == "MultiTaskModel" and model["embedding_regularization"] == 5e-6
    blocks = model["backbone"]["blocks"]
    assert [b["name"] for b in blocks] == ["all", "bottom_dnn", "mmoe"]
    bottom = blocks[1]["component"]["params"]
    # EasyRec's DNN: dense + batch norm + relu on every layer (the last too), Glorot-uniform kernels
    assert bottom == {"hidden_units": [32, 16], "activation": "tf.nn.relu", "use_bn": True, "use_bias": False,
                      "use_final_bn": True, "final_activation": "tf.nn.relu", "use_final_bias": False,
                      "initializer": "glorot_uniform", "bn_momentum": 0.99}
    assert blocks[2]["inputs"] == [{"block_name": "bottom_dnn"}]
    mmoe = blocks[2]["component"]["params"]
    assert (mmoe["num_tasks"], mmoe["num_experts"], mmoe["expert_mlp"]["hidden_units"]) == (2, 3, [12])
    ctr, cvr = model["model_params"]["task_towers"]
    assert cvr["relation_tower_names"] == ["ctr"] and cvr["relation_dnn"]["hidden_units"] == [8]
    assert ctr["metrics_set"] == [{"auc": {}}] and model["model_params"]["l2_regularization"] == 1e-6


def test_unsupported_dbmtl_options_name_their_field() -> None:
    with pytest.raises(ConfigError, match=r"model_config\.dbmtl\.num_expert: expert_dnn needs a number of experts"):
        _model(MODEL % "expert_dnn { hidden_units: [12] }")
    text = MODEL.replace('label_name: "click" ', "") % ""
    with pytest.raises(ConfigError, match=r"model_config\.dbmtl\.task_towers\[0\]\.label_name: a tower without "
                                          "label_name"):
        _model(text)
    text = MODEL.replace('relation_tower_names: ["ctr"] relation_dnn { hidden_units: [8] }',
                         'relation_tower_names: ["ctr"]') % ""
    with pytest.raises(ConfigError, match=r"task_towers\[1\]\.relation_dnn: a tower reading relation towers"):
        _model(text)


def test_a_translated_dbmtl_trains(tmp_path: Path) -> None:
    data = {"synthetic": {"num_rows": 500, "num_dense": 2, "vocab_sizes": [20, 30, 40], "seed": 3,
                          "multitask": {"shared_fraction": 0.5, "click_rate": 0.3, "conversion_rate": 0.3}}}
    train = {"epochs": 2, "batch_size": 100, "progress": False, "optimizer": {"lr": 0.01}, "seed": 0}
    raw = translate(MODEL % "", data=data, train=train)
    result = train_run(raw, tmp_path / "run")
    losses = [epoch.train_loss for epoch in result.history.epochs]
    assert losses[-1] < losses[0], losses
    assert {"ctr/auc", "cvr/auc"} <= set(result.valid_metrics)


def test_a_two_class_tower_with_the_jrc_loss_trains(tmp_path: Path) -> None:
    data = {"synthetic": {"num_rows": 500, "num_dense": 2, "vocab_sizes": [20, 30, 40], "seed": 3,
                          "multitask": {"shared_fraction": 0.5, "click_rate": 0.3, "conversion_rate": 0.3}}}
    train = {"epochs": 2, "batch_size": 100, "progress": False, "optimizer": {"lr": 0.01}, "seed": 0}
    jrc = ('loss_type: CLASSIFICATION num_class: 2 losses { loss_type: JRC_LOSS '
           'jrc_loss { session_name: "C1" alpha: 0.4 same_label_loss: false } } metrics_set { auc {} }')
    text = MODEL.replace('label_name: "conversion" loss_type: CLASSIFICATION metrics_set { auc {} }',
                         'label_name: "conversion" ' + jrc)
    raw = translate(text % "", data=data, train=train)
    cvr = raw["model"]["model_params"]["task_towers"][1]
    assert cvr["losses"] == [{"loss_type": "JRC_LOSS", "session_name": "C1", "alpha": 0.4, "same_label_loss": False}]
    result = train_run(raw, tmp_path / "run")
    losses = [epoch.train_loss for epoch in result.history.epochs]
    assert losses[-1] < losses[0], losses
    assert 0.0 <= result.valid_metrics["cvr/auc"] <= 1.0  # AUC of P(class 1) of the two-class tower
    with pytest.raises(ConfigError, match=r"jrc_loss\.loss_weight_strategy: only the fixed weighting"):
        translate(text.replace("alpha: 0.4", 'loss_weight_strategy: "uncertainty"') % "")


def test_the_model_classes_doc_example_runs() -> None:
    import doctest
    import re

    doc = Path(__file__).resolve().parents[2] / "docs" / "easyrec-model-classes-multitask-match.md"
    match = re.search(r"<!-- easyrec-doc: mtmatch -->\s*```pycon\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    assert match, "the doc has no mtmatch example"
    test = doctest.DocTestParser().get_doctest(match.group(1), {}, "mtmatch", str(doc), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.failures == 0 and runner.tries > 0, f"{runner.failures} of {runner.tries} examples failed"


@pytest.mark.parametrize("name, component", [("dbmtl_cmbf_on_movielens.config", "CMBF"),
                                             ("dbmtl_uniter_on_movielens.config", "UNITER")])
def test_the_multimodal_bottoms_plan(name: str, component: str, tmp_path: Path) -> None:
    import re

    from tests.easyrec._multimodal import pipeline_rows

    paths = [p for p in shipped("DBMTL") if p.name == name]
    if not paths:
        pytest.skip("EasyRec's shipped configs are absent (../shared/easyrec)")
    # the same config without the towers' gauc (its uid_field is the train/eval translation's business)
    text = re.sub(r"metrics_set: \{\s*gauc \{\s*uid_field: 'user_id'\s*\}\s*\}", "", paths[0].read_text())
    text = text.replace('best_exporter_metric: "gauc"', 'best_exporter_metric: "classify/auc"')
    (tmp_path / name).write_text(text)
    run, rows = pipeline_rows(tmp_path / name)
    blocks = [b["name"] for b in run["model"]["backbone"]["blocks"]]
    fusion = ["image_input", "general_input", "text__title_input", "text__genres_input", component.lower()]
    other = ["other_input", "other_dnn", "bottom"] if component == "UNITER" else []  # its config has an other group
    assert blocks == fusion + other
    assert next(r for r in rows if r["block"] == component.lower())["body"] == component
    groups = ["image", "general", "other", "text__title", "text__genres"] if other else \
        ["image", "general", "text__title", "text__genres"]
    assert [g["group_name"] for g in run["model"]["feature_groups"]] == groups
