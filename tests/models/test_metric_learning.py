"""CoMetricLearningI2I: built from a model section, trained on session data, its errors and outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from recblocks.core.errors import ConfigError, DataError
from recblocks.features.batch import Batch
from recblocks.models import MODEL_CLASSES, CoMetricLearningI2I
from recblocks.runs import plan_rows, train_run


def sessions_csv(path: Path, rows: int = 288, seed: int = 0) -> Path:
    """Sessions of a user over items of one topic: items of a topic share a session, clicks at random."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 48, rows)
    topic = users % 6
    items = topic * 10 + rng.integers(0, 10, rows)
    frame = pd.DataFrame({"clk": rng.integers(0, 2, rows), "user_id": [f"u{u}" for u in users],
                          "item": items, "cate": topic * 3 + rng.integers(0, 3, rows)})
    frame.to_csv(path, index=False)
    return path


def run_config(data: Path, **params: Any) -> dict[str, Any]:
    return {
        "data": {"train": {"path": str(data), "format": "csv"}, "valid": {"path": str(data), "format": "csv"}},
        "features": [{"name": "item", "kind": "hashed", "hash_bucket_size": 100, "embedding_dim": 8},
                     {"name": "cate", "kind": "hashed", "hash_bucket_size": 30, "embedding_dim": 8}],
        "model": {"model_class": "CoMetricLearningI2I",
                  "feature_groups": [{"group_name": "item", "feature_names": ["item", "cate"]}],
                  "backbone": {"blocks": [{"name": "mlp", "inputs": [{"feature_group_name": "item"}],
                                           "component": {"class_name": "MLP",
                                                         "params": {"hidden_units": [16, 8],
                                                                    "final_activation": "linear"}}}],
                               "concat_blocks": ["mlp"]},
                  "model_params": {"label": "clk", "session_id": "user_id", "recall_top_k": [1, 5],
                                   "map_top_k": [5], **params}},
        "train": {"epochs": 2, "batch_size": 96, "eval_batch_size": 96, "progress": False, "seed": 0,
                  "optimizer": {"name": "adam", "lr": 0.01}}}


@pytest.mark.parametrize("loss_type,term", [("CIRCLE_LOSS", "circle_loss"), ("MULTI_SIMILARITY_LOSS", "ms_loss")])
def test_the_pair_loss_falls_and_in_batch_metrics_are_reported(tmp_path: Path, loss_type: str, term: str) -> None:
    result = train_run(run_config(sessions_csv(tmp_path / "data.csv"), loss_type=loss_type), tmp_path / "run")
    epochs = [json.loads(line) for line in (result.run_dir / "epochs.jsonl").read_text().splitlines()]
    first, last = epochs[0]["train_terms"][f"task/{term}"], epochs[-1]["train_terms"][f"task/{term}"]
    assert last < first
    assert list(result.valid_metrics) == ["recall@1", "recall@5", "map@5", "loss"]
    assert all(0.0 <= result.valid_metrics[k] <= 1.0 for k in ("recall@1", "recall@5", "map@5"))


def _model(tmp_path: Path, **params: Any) -> CoMetricLearningI2I:
    model, _, _ = plan_rows(run_config(sessions_csv(tmp_path / "data.csv", rows=64), **params), fit_data=False)
    return model


def test_outputs_evaluator_and_batch_checks(tmp_path: Path) -> None:
    model = _model(tmp_path).eval()
    batch = Batch({"item": torch.tensor([1, 2, 3]), "cate": torch.tensor([0, 1, 2])},
                  {"clk": torch.tensor([1.0, 1.0, 0.0])}, {"user_id": torch.tensor([7, 7, 9])})
    outputs = model(batch)
    predictions = model.predictions(outputs)
    assert predictions["float_emb"].shape == (3, 8)
    torch.testing.assert_close(predictions["norm_emb"].norm(dim=1), torch.ones(3))
    evaluator = model.evaluator()
    assert evaluator.keys == ["recall@1", "recall@5", "map@5", "loss"]
    assert evaluator.default_monitor == ("recall@1", "max") and evaluator.resolve("MAP@5") == "map@5"
    evaluator.update(outputs, batch)
    assert float(model.loss(outputs, batch).tasks["circle_loss"].detach()) == pytest.approx(evaluator.compute()["loss"])
    with pytest.raises(DataError, match=r"model\.model_params\.session_id: extras column 'user_id' missing"):
        model.check_batch(Batch(batch.features, batch.labels, {}))
    with pytest.raises(DataError, match=r"label 'clk' missing"):
        model.check_batch(Batch(batch.features, {}, batch.extras))


def test_without_metrics_the_loss_is_monitored(tmp_path: Path) -> None:
    model = _model(tmp_path, recall_top_k=[], map_top_k=[], output_l2_normalized_emb=False)
    assert model.evaluator().default_monitor == ("loss", "min")
    features = {"item": torch.tensor([1]), "cate": torch.tensor([0])}
    assert list(model.eval().predictions(model(Batch(features)))) == ["float_emb"]


def test_errors_name_their_place(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model\.model_params\.session_id: the column is a feature the embedding "
                                          r"reads"):
        _model(tmp_path, session_id="item")
    with pytest.raises(ConfigError, match=r"model\.model_params\.loss_type"):
        _model(tmp_path, loss_type="SOFTMAX")
    with pytest.raises(ConfigError, match=r"model\.model_params\.map_top_k"):
        _model(tmp_path, map_top_k=[5, 5])
    raw = run_config(sessions_csv(tmp_path / "data.csv", rows=64))
    raw["model"]["backbone"] = {"blocks": raw["model"]["backbone"]["blocks"] + [
        {"name": "mlp2", "inputs": [{"feature_group_name": "item"}], "component": {"class_name": "MLP", "params": {
            "hidden_units": [4]}}}], "output_blocks": ["mlp", "mlp2"]}
    with pytest.raises(ConfigError, match=r"model\.backbone\.output_blocks: the model reads one embedding per row"):
        plan_rows(raw, fit_data=False)
    assert MODEL_CLASSES.get("CoMetricLearningI2I").scores_tasks is False
