"""EasyRec pipeline configs translated into run configs: sections, refusals, notes, seed cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_pipeline_config
from recblocks.easyrec.eval_section import eval_metrics
from recblocks.easyrec.feature_section import translate_feature
from recblocks.easyrec.model_classes.towers import without_idle_calibration
from recblocks.easyrec.model_section import easyrec_layer_modes
from recblocks.easyrec.translate import translate_pipeline
from recblocks.runs import parse_run_config

FIXTURES = Path(__file__).resolve().parent / "fixtures"

PIPELINE = '''model_dir: "ckpt" train_input_path: "train.csv" eval_input_path: "valid.csv"
train_config { optimizer_config { adam_optimizer { learning_rate { exponential_decay_learning_rate {
  decay_steps: 100 } } } } num_steps: 500 sync_replicas: true }
eval_config { metrics_set { auc {} } metrics_set { gauc { uid_field: "uid" } } }
data_config { input_type: CSVInput label_fields: "clk" batch_size: 64
  input_fields { input_name: "clk" input_type: INT32 } input_fields { input_name: "uid" }
  input_fields { input_name: "price" input_type: DOUBLE default_val: "-1" } input_fields { input_name: "tags" } }
feature_config {
  features { input_names: "uid" feature_type: IdFeature hash_bucket_size: 100 embedding_dim: 8 }
  features { input_names: "price" feature_type: RawFeature boundaries: [1, 10, 100] embedding_dim: 8 }
  features { feature_name: "price_raw" input_names: "price" feature_type: RawFeature }
  features { input_names: "tags" feature_type: TagFeature separator: "," num_buckets: 50 %s }
}
model_config { model_class: "RankModel"
  feature_groups { group_name: "all" feature_names: ["uid", "price", "price_raw", "tags"] wide_deep: DEEP }
  backbone { blocks { name: "mlp" inputs { feature_group_name: "all" }
    keras_layer { class_name: "MLP" mlp { hidden_units: [8, 1] } } } }
  embedding_regularization: 1e-5 }
'''


def _translate(extra: str = "", notes: list[str] | None = None) -> dict:
    return translate_pipeline(parse_pipeline_config(PIPELINE % extra), notes=notes)


def test_every_section_maps_and_validates():
    notes: list[str] = []
    run = _translate(notes=notes)
    assert run["data"]["train"] == {"path": "train.csv", "format": "csv", "delimiter": ",", "header": False,
                                    "column_names": ["clk", "uid", "price", "tags"]}
    assert [f["kind"] for f in run["features"]] == ["hashed", "bucketized", "dense", "multi"]
    assert run["features"][2] == {"name": "price_raw", "column": "price", "kind": "dense", "fill_value": -1.0}
    assert run["features"][3]["pooling"] == "sum" and run["features"][3]["separator"] == ","
    assert run["model"]["task"] == {"type": "binary", "label": "clk", "metrics": ["auc", "gauc"]}
    train = run["train"]
    assert (train["max_steps"], train["batch_size"], train["gauc_group"]) == (500, 64, "uid")
    # a schedule message that leaves its rate out gets EasyRec's default, not recblocks' optimizer lr
    assert train["lr_schedule"]["exponential_decay_learning_rate"]["initial_learning_rate"] == 0.002
    config, schema = parse_run_config(run)
    assert config.train.base_learning_rate == 0.002 and schema["tags"].pooling == "sum"
    assert any("model_dir" in n for n in notes) and any("sync_replicas" in n for n in notes)


def test_constructs_without_an_equivalent_name_their_path():
    with pytest.raises(ConfigError, match=r"^feature_config\.features\[3\]\.normalizer_fn: custom normalizer"):
        _translate('normalizer_fn: "log1p"')
    odps = PIPELINE.replace("input_type: CSVInput", "input_type: OdpsInput") % ""
    with pytest.raises(ConfigError, match=r"^data_config\.input_type: OdpsInput has no recblocks reader"):
        translate_pipeline(parse_pipeline_config(odps))
    with pytest.raises(ConfigError, match=r"eval_config\.metrics_set\[0\]\.precision: metric without"):
        eval_metrics([{"precision": {}}], "eval_config.metrics_set")
    with pytest.raises(ConfigError, match=r"^eval_config\.metrics_set\[1\]\.session_auc\.session_id_field: one "
                                          r"grouped-AUC column per run.*expected 'uid', got 's'"):
        eval_metrics([{"gauc": {"uid_field": "uid"}}, {"session_auc": {"session_id_field": "s"}}],
                     "eval_config.metrics_set")
    lookup = {"input_names": ["a", "b"], "feature_type": "LookupFeature"}
    with pytest.raises(ConfigError, match=r"^feature_configs\[2\]\.hash_bucket_size: EasyRec hashes the looked-up"):
        translate_feature(lookup, "feature_configs[2]")
    unknown = PIPELINE.replace('model_class: "RankModel"', 'model_class: "RankModdel"') % ""
    with pytest.raises(ConfigError, match=r"model_config\.model_class: .*did you mean 'RankModel'"):
        translate_pipeline(parse_pipeline_config(unknown))


def test_session_auc_is_the_grouped_auc_over_its_session_column_with_a_note():
    notes: list[str] = []
    metrics = eval_metrics([{"auc": {}}, {"session_auc": {"session_id_field": "sid"}}], "m", notes)
    assert metrics == (["auc", "gauc"], "sid", [])
    assert notes == ["m[1].session_auc: the AUC per 'sid' averaged is reported as gauc (train.gauc_group: sid)"]
    same = eval_metrics([{"gauc": {"uid_field": "u"}}, {"session_auc": {"session_id_field": "u"}}], "m", [])
    assert same == (["gauc"], "u", [])
    text = (PIPELINE % "").replace('metrics_set { gauc { uid_field: "uid" } }',
                                   'metrics_set { session_auc { session_id_field: "uid" } }')
    run = translate_pipeline(parse_pipeline_config(text))
    assert run["train"]["gauc_group"] == "uid" and run["model"]["task"]["metrics"] == ["auc", "gauc"]


def test_an_untranslatable_feature_no_group_uses_is_a_note():
    text = (PIPELINE % "").replace('"price_raw", ', "").replace(
        'features { feature_name: "price_raw"', 'features { feature_name: "uid_tags" feature_type: LookupFeature input_names: "uid" '
        'input_names: "tags" } features { feature_name: "price_raw"')
    notes: list[str] = []
    run = translate_pipeline(parse_pipeline_config(text), notes=notes)
    assert "uid_tags" not in [f["name"] for f in run["features"]]
    assert any("left out (no feature group uses it)" in n and "hash_bucket_size" in n for n in notes)


#: seed case -> None when it validates, else the start of the error that refuses it.
SEED_OUTCOMES = {
    1: None, 3: None, 4: None, 5: None, 6: None, 7: None, 8: None, 9: None,
    # title's TextCNN sequence combiner becomes backbone blocks (tests/easyrec/test_sequence_combiner.py)
    2: None,
    # a RankModel with task towers is read as the MultiTaskModel it means (with a note)
    10: None,
}


@pytest.mark.parametrize("number", sorted(SEED_OUTCOMES))
def test_seed_case_translates_and_validates(number):
    model = (FIXTURES / f"seed_case_{number}.config").read_text(encoding="utf-8")
    pipeline = (FIXTURES / f"seed_case_{number}_pipeline.config").read_text(encoding="utf-8")
    expected = SEED_OUTCOMES[number]
    if expected is None:
        config, schema = parse_run_config(translate_pipeline(parse_pipeline_config(pipeline + model)))
        assert config.model.feature_groups and len(list(schema)) > 0
    else:
        with pytest.raises(ConfigError) as caught:
            parse_run_config(translate_pipeline(parse_pipeline_config(pipeline + model)))
        assert str(caught.value).startswith(expected), str(caught.value)


def test_seed_fixtures_are_the_seed_blocks(request):
    from tests.easyrec.conftest import seed_model_configs

    for number, block in seed_model_configs().items():
        assert (FIXTURES / f"seed_case_{number}.config").read_text(encoding="utf-8") == block + "\n", number


def test_a_group_naming_features_by_range_counts_them_as_used():
    # "c[1-2]" stands for c1, c2: an untranslatable c2 is then an error, not a note
    text = (PIPELINE % "").replace(
        'input_fields { input_name: "tags" }',
        'input_fields { input_name: "tags" } input_fields { input_name: "c1" } input_fields { input_name: "c2" }'
    ).replace('features { feature_name: "price_raw"',
              'features { input_names: "c1" hash_bucket_size: 9 } '
              'features { input_names: "c2" feature_type: ExprFeature } features { feature_name: "price_raw"'
              ).replace('"tags"] wide_deep', '"tags", "c[1-2]"] wide_deep')
    with pytest.raises(ConfigError, match=r"^feature_config\.features\[3\]\.expression: an ExprFeature computes"):
        translate_pipeline(parse_pipeline_config(text))


def test_lazy_adam_is_adam_with_its_lazy_sparse_table_updates():
    text = (PIPELINE % "").replace("adam_optimizer { learning_rate", "lazy_adam_optimizer { beta1: 0.8 learning_rate")
    run = translate_pipeline(parse_pipeline_config(text))
    assert run["train"]["optimizer"] == {"name": "adam", "betas": [0.8, 0.999]}
    assert run["model"].get("sparse_embeddings", True)  # SparseAdam on the tables: only looked-up rows move
    parse_run_config(run)


def test_a_rank_model_with_task_towers_is_read_as_a_multi_task_model_with_a_note():
    text = (FIXTURES / "seed_case_10_pipeline.config").read_text(encoding="utf-8") + \
        (FIXTURES / "seed_case_10.config").read_text(encoding="utf-8")
    notes: list[str] = []
    run = translate_pipeline(parse_pipeline_config(text), notes=notes)
    assert run["model"]["model_class"] == "MultiTaskModel" and "task" not in run["model"]
    assert [n for n in notes if n.startswith("model_config.model_class: RankModel with 2 model_params.task_towers")]
    plain = (PIPELINE % "")  # a RankModel without towers stays one
    assert translate_pipeline(parse_pipeline_config(plain))["model"]["model_class"] == "RankModel"


def test_an_easyrec_senet_keras_layer_is_the_plus_form():
    text = (FIXTURES / "seed_case_8_pipeline.config").read_text(encoding="utf-8") + \
        (FIXTURES / "seed_case_8.config").read_text(encoding="utf-8")
    blocks = translate_pipeline(parse_pipeline_config(text))["model"]["backbone"]["blocks"]
    senet = next(b for b in blocks if b["name"] == "senet")["keras_layer"]
    assert senet["senet"] == {"mode": "plus", "reduction_ratio": 4}
    kept = easyrec_layer_modes({"keras_layer": {"class_name": "SENet", "senet": {"mode": "classic"}}})
    assert kept["keras_layer"]["senet"] == {"mode": "classic"}  # a mode written out is kept


def test_rank_model_losses_become_the_task_losses():
    losses = ('losses { loss_type: F1_REWEIGHTED_LOSS weight: 0.5 f1_reweighted_loss { f1_beta_square: 2.25 } } '
              'losses { loss_type: PAIR_WISE_LOSS } ')
    text = (PIPELINE % "").replace("embedding_regularization: 1e-5 }", "embedding_regularization: 1e-5 " + losses + "}")
    run = translate_pipeline(parse_pipeline_config(text))
    assert run["model"]["task"]["losses"] == [
        {"loss_type": "F1_REWEIGHTED_LOSS", "weight": 0.5, "f1_beta_square": 2.25}, {"loss_type": "PAIR_WISE_LOSS"}]
    config, _ = parse_run_config(run)
    assert [loss.loss_type for loss in config.model.tasks[0].losses] == ["f1_reweighted_loss", "pairwise_logistic_loss"]
    restated = text.replace(losses, "losses { loss_type: CLASSIFICATION } ")
    assert "losses" not in translate_pipeline(parse_pipeline_config(restated))["model"]["task"]
    jrc = text.replace(losses, 'losses { loss_type: JRC_LOSS jrc_loss { session_name: "uid" } } ')
    with pytest.raises(ConfigError, match=r"^model_config\.losses\[0\]\.jrc_loss\.session_name: a RankModel's task "
                                          r"ranks no sessions"):
        translate_pipeline(parse_pipeline_config(jrc))


def test_a_backbone_match_model_gets_the_item_towers_first_id_feature_as_item_id():
    from recblocks.easyrec.model_section import _item_tower_id

    model = {"feature_groups": [{"group_name": "user", "feature_names": ["user_id", "age"]},
                                {"group_name": "item", "feature_names": ["price", "item_id", "cate"]}],
             "backbone": {"blocks": [{"name": "u", "inputs": [{"feature_group_name": "user"}]},
                                     {"name": "i", "inputs": [{"feature_group_name": "item"}]},
                                     {"name": "ut", "inputs": [{"block_name": "u"}]},
                                     {"name": "it", "inputs": [{"block_name": "i"}]}],
                          "output_blocks": ["ut", "it"]},
             "model_params": {"user_tower_idx_in_output": 0, "item_tower_idx_in_output": 1}}
    features = {"user_id": {"kind": "sparse"}, "age": {"kind": "sparse"}, "price": {"kind": "dense"},
                "item_id": {"kind": "hashed"}, "cate": {"kind": "sparse"}}
    assert _item_tower_id(model, features) == "item_id"  # the first id feature, not the dense price
    swapped = {**model, "model_params": {"user_tower_idx_in_output": 1, "item_tower_idx_in_output": 0}}
    assert _item_tower_id(swapped, features) == "user_id"
    assert _item_tower_id({**model, "model_params": {"item_tower_idx_in_output": 5}}, features) is None


def test_a_ziln_loss_is_the_ziln_task():
    losses = 'losses { loss_type: ZILN_LOSS weight: 2.0 loss_name: "LTV" ziln_loss { max_sigma: 4.0 } } num_class: 3 '
    text = (PIPELINE % "").replace("embedding_regularization: 1e-5 }", "embedding_regularization: 1e-5 " + losses + "}")
    run = translate_pipeline(parse_pipeline_config(text))
    assert run["model"]["task"] == {"type": "ziln", "label": "clk", "max_sigma": 4.0, "weight": 2.0,
                                    "metrics": ["auc", "gauc"]}
    config, _ = parse_run_config(run)
    assert config.model.tasks[0].type == "ziln"
    with pytest.raises(ConfigError, match=r"^model_config\.num_class: ZILN_LOSS reads three logits"):
        translate_pipeline(parse_pipeline_config(text.replace("num_class: 3", "num_class: 2")))


def test_an_order_calibration_without_relation_towers_adds_nothing_as_in_easyrec():
    towers = [{"tower_name": "ctr", "label_name": "clk"},
              {"tower_name": "cvr", "label_name": "buy", "losses": [{"loss_type": "CLASSIFICATION"},
                                                                    {"loss_type": "ORDER_CALIBRATE_LOSS"}]}]
    notes: list[str] = []
    model = without_idle_calibration({"model_params": {"task_towers": towers}}, "model_config", notes)
    assert model["model_params"]["task_towers"][1]["losses"] == [{"loss_type": "CLASSIFICATION"}]
    assert notes == ["model_config.model_params.task_towers[1].losses[1]: ORDER_CALIBRATE_LOSS compares the tower "
                     "with its relation_tower_names; it has none, so EasyRec adds nothing for it (left out)"]
    towers[1]["relation_tower_names"] = ["ctr"]
    with pytest.raises(ConfigError, match=r"^model_config\.model_params\.task_towers\[1\]\.losses\[1\]\.loss_type: "
                                          r"an order-calibration loss against relation towers is not supported"):
        without_idle_calibration({"model_params": {"task_towers": towers}}, "model_config", [])
