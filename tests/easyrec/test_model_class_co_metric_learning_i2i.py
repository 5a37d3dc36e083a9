"""EasyRec's CoMetricLearningI2I: the shipped config translates, validates, builds and trains; the graph; errors."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_pipeline_config
from recblocks.easyrec.model_classes import EASYREC_MODELS
from recblocks.easyrec.translate import translate_pipeline
from recblocks.runs import parse_run_config, plan_rows, train_run
from tests.easyrec.conftest import EASYREC_CONFIGS, need_shipped_configs

SHIPPED = "samples/model_config/metric_learning_on_taobao.config"

TEXT = """
data_config {
  input_fields { input_name: "clk" input_type: INT32 }
  input_fields { input_name: "sid" input_type: STRING }
  input_fields { input_name: "item" input_type: STRING }
  input_fields { input_name: "cate" input_type: STRING }
  label_fields: ["clk", "sid"]
  batch_size: 32
}
feature_configs { input_names: "item" feature_type: IdFeature embedding_dim: 8 hash_bucket_size: 50 }
feature_configs { input_names: "cate" feature_type: IdFeature embedding_dim: 4 hash_bucket_size: 10 }
eval_config { metrics_set { recall_at_topk { topk: 5 } } metrics_set { precision_at_topk { topk: 3 } } }
model_config {
  model_class: "CoMetricLearningI2I"
  feature_groups { group_name: "item" feature_names: ["item", "cate"] wide_deep: DEEP }
  feature_groups { group_name: "side" feature_names: ["cate"] wide_deep: DEEP }
  loss_type: MULTI_SIMILARITY_LOSS
  metric_learning {
    session_id: "sid"
    input: "item"
    highway { input: "side" emb_size: 6 }
    dnn { hidden_units: [16, 8] dropout_ratio: [0.1, 0.2] }
    multi_similarity_loss { beta: 40 }
  }
}
"""


def _run(text: str = TEXT) -> dict:
    return translate_pipeline(parse_pipeline_config(text))


def test_the_graph_is_easyrecs() -> None:
    run = _run()
    model = run["model"]
    blocks = {b["name"]: b for b in model["backbone"]["blocks"]}
    assert list(blocks) == ["input", "highway_0_bn", "highway_0", "dnn"]
    assert blocks["highway_0_bn"]["component"] == {"class_name": "BatchNormalization",
                                                   "params": {"momentum": 0.99, "epsilon": 1e-3}}
    assert blocks["highway_0"]["component"]["params"] == {"emb_size": 6, "activation": "gelu", "init_gate_bias": -1.0,
                                                          "num_layers": 1, "dropout_rate": 0.0}
    # the input group first, then the highway outputs; the DNN's last layer is plain (its dropout dropped)
    assert blocks["dnn"]["inputs"] == [{"block_name": "input"}, {"block_name": "highway_0"}]
    mlp = blocks["dnn"]["component"]["params"]
    assert mlp["final_activation"] == "linear" and mlp["use_final_bn"] is False and mlp["dropout_ratio"] == [0.1, 0.0]
    assert model["backbone"]["concat_blocks"] == ["dnn"]
    assert model["model_params"] == {
        "loss_type": "MULTI_SIMILARITY_LOSS", "alpha": 2.0, "beta": 40.0, "lamb": 1.0, "output_l2_normalized_emb": True,
        "l2_regularization": 1e-4, "session_id": "sid", "l2_scope": "easyrec", "label": "clk", "recall_top_k": [5],
        "map_top_k": [3]}
    assert run["train"]["eval_batch_size"] == 32  # in-batch metrics over EasyRec's batch size
    _, rows, _ = plan_rows({k: v for k, v in run.items() if k != "data"}, fit_data=False)
    assert rows[-2]["output"] == "(B, 8)" and rows[-1]["body"] == "MULTI_SIMILARITY_LOSS"


def test_errors_name_their_place() -> None:
    with pytest.raises(ConfigError, match=r"^model_config\.metric_learning\.circle_loss: loss_type CIRCLE_LOSS reads"):
        _run(TEXT.replace("loss_type: MULTI_SIMILARITY_LOSS", "loss_type: CIRCLE_LOSS"))
    with pytest.raises(ConfigError, match=r"^model_config\.loss_type: CoMetricLearningI2I trains a metric-learning"):
        _run(TEXT.replace("loss_type: MULTI_SIMILARITY_LOSS", ""))
    with pytest.raises(ConfigError, match=r"^model_config\.metric_learning\.session_id: EasyRec reads the session id "
                                          r"from the labels.*did you mean 'sid'"):
        _run(TEXT.replace('session_id: "sid"', 'session_id: "sidd"'))
    with pytest.raises(ConfigError, match=r"^model_config\.metric_learning\.highway\[0\]\.input: unknown feature "):
        _run(TEXT.replace('input: "side"', 'input: "sides"'))
    with pytest.raises(ConfigError, match=r"^model_config\.metric_learning\.dnn: the DNN is required"):
        _run(TEXT.replace("dnn { hidden_units: [16, 8] dropout_ratio: [0.1, 0.2] }", ""))
    with pytest.raises(ConfigError, match=r"^data_config\.label_fields: CoMetricLearningI2I pairs rows by a label"):
        _run(TEXT.replace('label_fields: ["clk", "sid"]', 'label_fields: "sid"'))
    rank = TEXT.replace('model_class: "CoMetricLearningI2I"', 'model_class: "DeepFM"').split("loss_type")[0] + (
        "deepfm { dnn { hidden_units: [4] } final_dnn { hidden_units: [4] } } }")
    with pytest.raises(ConfigError, match=r"^eval_config\.metrics_set\[1\]\.precision_at_topk: EasyRec's "
                                          r"precision_at_topk is the in-batch MAP@K of CoMetricLearningI2I"):
        _run(rank)
    assert EASYREC_MODELS.get("CoMetricLearningI2I").message == "metric_learning"


def _taobao_rows(path: Path, columns: list[str], rows: int = 256) -> None:
    """Rows in the shipped config's column order (no header): sessions of a user over items of one category."""
    rng = np.random.default_rng(0)
    users = rng.integers(0, 24, rows)
    frame = pd.DataFrame({name: rng.integers(0, 5, rows).astype(str) for name in columns})
    frame["clk"], frame["buy"] = rng.integers(0, 2, rows), 0
    frame["user_id"] = [f"user{u}" for u in users]
    frame["cate_id"] = (users % 4).astype(str)
    frame["adgroup_id"] = (users % 4 * 20 + rng.integers(0, 20, rows)).astype(str)
    frame["price"] = rng.integers(0, 50, rows)
    frame[columns].to_csv(path, index=False, header=False)


def test_the_shipped_config_translates_validates_builds_and_trains(tmp_path: Path) -> None:
    need_shipped_configs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = translate_pipeline(parse_pipeline_config(EASYREC_CONFIGS / SHIPPED, strict=False))
    params = run["model"]["model_params"]
    assert (params["label"], params["session_id"], params["loss_type"], params["gamma"]) == (
        "clk", "user_id", "CIRCLE_LOSS", 64.0)
    assert params["recall_top_k"] == [10, 5, 1] and params["map_top_k"] == [10, 5, 1]
    parse_run_config({k: v for k, v in run.items() if k != "data"})
    _, rows, _ = plan_rows({k: v for k, v in run.items() if k != "data"}, fit_data=False)
    assert [r["output"] for r in rows[1:3]] == ["(B, 112)", "(B, 32)"]  # 7 features x 16 -> the embedding
    # its columns, generated: the data section keeps the config's column names and CSV layout
    data = tmp_path / "taobao.csv"
    _taobao_rows(data, run["data"]["train"]["column_names"])
    for split in ("train", "valid"):
        run["data"][split]["path"] = str(data)
    run["train"].update(batch_size=64, eval_batch_size=64, max_steps=6, progress=False)
    result = train_run(run, tmp_path / "run")
    assert list(result.valid_metrics) == ["recall@10", "recall@5", "recall@1", "map@10", "map@5", "map@1", "loss"]
    epochs = [json.loads(line) for line in (result.run_dir / "epochs.jsonl").read_text().splitlines()]
    assert math.isfinite(epochs[-1]["train_terms"]["task/circle_loss"])
    assert 0.0 <= result.valid_metrics["map@10"] <= 1.0


def test_the_doc_example_runs() -> None:
    import doctest
    import re

    doc = Path(__file__).resolve().parents[2] / "docs" / "easyrec-model-classes-multitask-match.md"
    match = re.search(r"<!-- easyrec-doc: cml -->\s*```pycon\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    assert match, "the doc has no cml example"
    test = doctest.DocTestParser().get_doctest(match.group(1), {}, "cml", str(doc), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.failures == 0 and runner.tries > 0, f"{runner.failures} of {runner.tries} examples failed"


def test_a_backbone_is_the_embedding() -> None:
    text = TEXT.replace('input: "item"\n    highway { input: "side" emb_size: 6 }\n', "").replace(
        "  loss_type: MULTI_SIMILARITY_LOSS", """  backbone {
    blocks { name: "fields" inputs { feature_group_name: "item" } input_layer { only_output_feature_list: true } }
    blocks { name: "senet" inputs { block_name: "fields" } keras_layer { class_name: "SENet" senet {} } }
    blocks { name: "mlp" inputs { block_name: "senet" } keras_layer { class_name: "MLP" mlp { hidden_units: [8] } } }
    concat_blocks: "mlp"
  }
  loss_type: MULTI_SIMILARITY_LOSS""")
    run = _run(text)
    blocks = {b["name"]: b for b in run["model"]["backbone"]["blocks"]}
    assert list(blocks) == ["fields", "senet", "mlp"]
    assert blocks["senet"]["keras_layer"]["senet"]["mode"] == "plus"  # EasyRec's SENet form
    _, rows, _ = plan_rows({k: v for k, v in run.items() if k != "data"}, fit_data=False)
    assert rows[-2]["output"] == "(B, 8)"


def test_the_docstring_examples_run() -> None:
    import doctest

    from recblocks.easyrec.model_classes import co_metric_learning_i2i

    assert doctest.testmod(co_metric_learning_i2i).attempted > 0
    assert doctest.testmod(co_metric_learning_i2i).failed == 0
