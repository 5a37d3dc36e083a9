"""EasyRec RocketLaunching -> two heads (light, booster) on one label with distillation losses."""

from __future__ import annotations

from pathlib import Path

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_model_config
from recblocks.easyrec.model_classes import EASYREC_MODELS

from ._features import SYNTHETIC_FEATURES, train_config
from ._multimodal import pipeline_rows
from .conftest import EASYREC_CONFIGS, need_shipped_configs

ROCKET = """
model_class: 'RocketLaunching'
feature_groups { group_name: 'all' feature_names: ['I1', 'C1', 'C2', 'C3'] }
rocket_launching {
  share_dnn { hidden_units: [16] }
  booster_dnn { hidden_units: [16, 8] }
  light_dnn { hidden_units: [8] }
  l2_regularization: 1e-6
  feature_based_distillation: true
}
num_class: 2
"""


def translate(text: str) -> dict:
    return EASYREC_MODELS.get("RocketLaunching").translate(parse_model_config(text), {}, "model_config")


def test_shipped_rocket_launching_configs_plan() -> None:
    need_shipped_configs()
    names = ["rocket_launching", "rocket_launching_feature_based", "rocket_launching_on_sequence_feature_taobao",
             "rocket_launching_with_rtp_input"]
    for name in names:
        run, rows = pipeline_rows(EASYREC_CONFIGS / "samples" / "model_config" / f"{name}.config")
        tasks = run["model"]["tasks"]
        assert [(t["name"], t["type"], t["num_classes"], t["metrics"]) for t in tasks] == [
            ("light", "multiclass", 2, ["auc"]), ("booster", "multiclass", 2, ["auc"])], name
        outputs = [r["output"] for r in rows if r["block"] in ("light", "booster")]
        assert outputs == ["(B, 2)", "(B, 2)"], name


def test_the_graph_and_the_losses() -> None:
    model = translate(ROCKET)
    blocks = {b["name"]: b for b in model["backbone"]["blocks"]}
    assert blocks["light_input"]["lambda"] == {"expression": "lambda x: tf.stop_gradient(x)"}
    assert blocks["light_dnn_0"]["inputs"] == [{"block_name": "light_input"}]
    assert blocks["hint_loss"]["component"]["params"] == {"loss_type": "l2_loss", "loss_weight": 0.5,
                                                          "loss_name": "hint_loss"}
    assert blocks["hint_loss"]["inputs"][0] == {"block_name": "booster_output_no_grad"}
    # light layer 0 (8 units) meets booster layer 1 (8 units); the distance, weight -0.1
    assert blocks["similarity_0"]["inputs"] == [{"block_name": "booster_dnn_1"}, {"block_name": "light_dnn_0"}]
    assert blocks["similarity_0"]["component"]["params"]["similarity"] == "euclid"
    assert model["backbone"]["output_blocks"] == ["light", "booster"]
    assert model["tasks"] == [{"name": "light"}, {"name": "booster"}]


def test_a_run_trains_both_heads_with_the_distillation_losses(tmp_path: Path) -> None:
    from recblocks.runs import train_run

    raw = train_config(SYNTHETIC_FEATURES + "model_config {" + ROCKET + "}", num_rows=256)
    label = raw["model"].pop("task")
    raw["model"]["tasks"] = [{**label, "name": "light", "metrics": ["auc"]},
                             {**label, "name": "booster", "metrics": ["auc"]}]
    raw["train"]["epochs"] = 2
    result = train_run(raw, tmp_path / "run")
    import json
    epochs = [json.loads(line) for line in (result.run_dir / "epochs.jsonl").read_text().splitlines()]
    terms = epochs[-1]["train_terms"]
    assert {"task/light", "task/booster", "aux/hint_loss", "aux/similarity_0"} <= set(terms)
    valid = epochs[-1]["valid"]  # both nets scored (2-class softmax, AUC of class 1)
    assert 0.0 <= valid["light/auc"] <= 1.0 and 0.0 <= valid["booster/auc"] <= 1.0


def test_refusals_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"model_config\.rocket_launching\.light_dnn\.hidden_units: the light net "
                                          r"needs layers"):
        translate(ROCKET.replace("light_dnn { hidden_units: [8] }", ""))
    with pytest.raises(ConfigError, match=r"model_config\.feature_groups: RocketLaunching reads the group 'all'"):
        translate(ROCKET.replace("'all'", "'deep'"))



def test_easyrec_metric_names_of_the_two_nets_map_to_the_task_keys(tmp_path: Path) -> None:
    need_shipped_configs()
    text = (EASYREC_CONFIGS / "samples" / "model_config" / "rocket_launching.config").read_text()
    text = text.replace("export_config {\n}", 'export_config {\n  exporter_type: "best"\n'
                        '  best_exporter_metric: "auc_light"\n}')
    assert "auc_light" in text
    (tmp_path / "rl.config").write_text(text)
    run, _ = pipeline_rows(tmp_path / "rl.config")
    assert run["train"]["early_stopping"]["metric"] == "light/auc"
