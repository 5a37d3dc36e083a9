"""MultiTaskModel: task towers, DBMTL relations, per-task metrics and predictions, tower errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import torch

from recblocks.core.errors import ConfigError
from recblocks.features.batch import Batch
from recblocks.models import MultiTaskModel, parse_model_config
from recblocks.runs import predict_run, train_run

SYNTHETIC = {"num_rows": 1200, "num_dense": 1, "vocab_sizes": [10, 20, 30], "seed": 3,
             "multitask": {"shared_fraction": 0.5}}
FEATURES = [{"name": "I1", "kind": "dense", "normalization": "log1p"},
            {"name": "C1", "kind": "sparse", "embedding_dim": 4},
            {"name": "C2", "kind": "sparse", "embedding_dim": 4},
            {"name": "C3", "kind": "sparse", "embedding_dim": 4}]
TOWERS = [{"tower_name": "ctr", "label_name": "click", "dnn": {"hidden_units": [8]}, "metrics_set": [{"auc": {}}]},
          {"tower_name": "cvr", "label_name": "conversion", "dnn": {"hidden_units": [8]}, "weight": 0.5,
           "metrics_set": ["auc", "logloss"]}]


def model_section(towers: list[dict[str, Any]] = TOWERS, mmoe: bool = True) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [{"name": "all", "inputs": [{"feature_group_name": "all"}], "input_layer": {}}]
    if mmoe:
        blocks.append({"name": "mmoe", "inputs": [{"block_name": "all"}],
                       "keras_layer": {"class_name": "MMoE", "mmoe": {"num_task": len(towers), "num_expert": 2,
                                                                      "expert_mlp": {"hidden_units": [8]}}}})
    return {"model_class": "MultiTaskModel",
            "feature_groups": [{"group_name": "all", "feature_names": ["I1", "C1", "C2", "C3"]}],
            "backbone": {"blocks": blocks},
            "model_params": {"task_towers": copy.deepcopy(towers)}}


def run_config(model: dict[str, Any] | None = None, **train: Any) -> dict[str, Any]:
    return {"data": {"synthetic": dict(SYNTHETIC)}, "features": FEATURES, "model": model or model_section(),
            "train": {"epochs": 1, "batch_size": 128, "progress": False, "optimizer": {"lr": 0.01}, **train}}


def test_mmoe_towers_train_with_per_task_metrics_terms_and_columns(tmp_path: Path) -> None:
    result = train_run(run_config(), tmp_path / "run")
    assert isinstance(result.model, MultiTaskModel)
    keys = set(result.valid_metrics)
    assert {"ctr/auc", "ctr/loss", "cvr/auc", "cvr/logloss", "cvr/loss", "loss"} <= keys
    assert result.valid_metrics["loss"] == pytest.approx(result.valid_metrics["ctr/loss"]
                                                         + 0.5 * result.valid_metrics["cvr/loss"])
    epochs = [json.loads(line) for line in (result.run_dir / "epochs.jsonl").read_text().splitlines()]
    assert list(epochs[0]["train_terms"])[:2] == ["task/ctr", "task/cvr"]
    assert "cvr/auc" in epochs[0]["valid"]
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert "ctr/auc" in metrics["valid"] and "valid/conversion_clicked" in metrics["bayes_auc"]
    data = tmp_path / "rows.parquet"
    from recblocks.datasets import make_synthetic
    pq.write_table(make_synthetic(**SYNTHETIC).slice(0, 50), data)
    count, _ = predict_run(result.run_dir, data, tmp_path / "scores.parquet")
    scores = pq.read_table(tmp_path / "scores.parquet")
    assert count == 50 and scores.column_names == ["ctr", "cvr"]


def test_dbmtl_relation_reads_the_named_tower_and_loss_is_weighted_sum() -> None:
    towers = [{"tower_name": "cvr", "label_name": "conversion", "dnn": {"hidden_units": [6]},
               "relation_tower_names": ["ctr"], "relation_dnn": {"hidden_units": [3]}, "weight": 2.0},
              {"tower_name": "ctr", "label_name": "click", "dnn": {"hidden_units": [6]},
               "relation_dnn": {"hidden_units": [4]}}]
    from recblocks.features.schema import Schema
    config = parse_model_config(model_section(towers, mmoe=False))
    model = MultiTaskModel(Schema(FEATURES), config, {"C1": 12, "C2": 22, "C3": 32})
    assert [model.tasks[i].name for i in model._order] == ["ctr", "cvr"]  # the DAG, not config order
    assert model.towers["cvr"].relation_dnn.input_dim == 6 + 4  # own dnn + ctr's relation features
    batch = Batch({"I1": torch.rand(5), "C1": torch.randint(1, 12, (5,)), "C2": torch.randint(1, 22, (5,)),
                   "C3": torch.randint(1, 32, (5,))},
                  {"click": torch.tensor([1.0, 0, 1, 0, 0]), "conversion": torch.tensor([1.0, 0, 0, 0, 0])})
    out = model(batch)
    assert list(out.logits) == ["cvr", "ctr"] and out.logits["cvr"].shape == (5,)
    terms = model.loss(out, batch)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    assert float(terms.tasks["ctr"].detach()) == pytest.approx(float(bce(out.logits["ctr"], batch.labels["click"]).detach()))
    expected = terms.regularization + terms.tasks["ctr"] + 2.0 * terms.tasks["cvr"]
    assert float(terms.total.detach()) == pytest.approx(float(expected.detach()))


def _error(model: dict[str, Any], tmp_path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        train_run(run_config(model), tmp_path / "run")
    assert not (tmp_path / "run").exists()
    return str(info.value)


def test_tower_errors_name_the_tower(tmp_path: Path) -> None:
    missing = copy.deepcopy(TOWERS)
    missing[1]["label_name"] = "buy"
    message = _error(model_section(missing), tmp_path)
    assert message.startswith("model.model_params.task_towers[1].label_name (tower 'cvr'): ") and "'buy'" in message

    # The same on files: the label column is looked up in the train file.
    from recblocks.datasets import make_synthetic
    train = tmp_path / "train.parquet"
    pq.write_table(make_synthetic(**SYNTHETIC).slice(0, 200).drop_columns(["conversion"]), train)
    with pytest.raises(ConfigError) as info:
        train_run({**run_config(), "data": {"train": str(train)}}, tmp_path / "run")
    assert str(info.value).startswith("model.model_params.task_towers[1].label_name (tower 'cvr'): the tower's label "
                                      "column is missing from ")

    relation = {"relation_dnn": {"hidden_units": [4]}}
    cycle = [{**TOWERS[0], **relation, "relation_tower_names": ["cvr"]},
             {**TOWERS[1], **relation, "relation_tower_names": ["ctr"]}]
    message = _error(model_section(cycle), tmp_path)
    assert message.startswith("model.model_params.task_towers[0].relation_tower_names: ") and "cycle" in message

    assert "(ctr -> cvr -> ctr, each reading" in message and "tower 'ctr')" in message

    # A tower that only reads a cycle (d) is not named as the cycle: the error points at the cycle.
    def tower(name: str, reads: list[str]) -> dict[str, Any]:
        return {"tower_name": name, "label_name": "click", **relation, "relation_tower_names": reads}
    behind = [tower("d", ["a"]), tower("a", ["b"]), tower("b", ["c"]), tower("c", ["a"])]
    message = _error(model_section(behind, mmoe=False), tmp_path)
    assert message.startswith("model.model_params.task_towers[1].relation_tower_names: the relation towers form a "
                              "cycle (a -> b -> c -> a, "), message
    assert "tower 'a')" in message and "'d'" not in message

    unknown = [{**TOWERS[0], **relation}, {**TOWERS[1], **relation, "relation_tower_names": ["ctrr"]}]
    message = _error(model_section(unknown), tmp_path)
    assert "task_towers[1].relation_tower_names: tower 'cvr' names an unknown relation tower" in message
    assert "did you mean 'ctr'" in message

    no_dnn = [TOWERS[0], {**TOWERS[1], **relation, "relation_tower_names": ["ctr"]}]
    assert "tower 'ctr' has no relation_dnn" in _error(model_section(no_dnn), tmp_path)

    twice = [TOWERS[0], {**TOWERS[1], "tower_name": "ctr"}]
    assert "task_towers[1].tower_name: tower names must be unique" in _error(model_section(twice), tmp_path)

    rank = {**model_section(), "model_class": "RankModel"}
    message = _error(rank, tmp_path)
    assert message.startswith("model.model_params.task_towers: a RankModel has no task towers")
    assert "expected model_class: MultiTaskModel" in message

    three = model_section()
    three["backbone"]["blocks"][1]["keras_layer"]["mmoe"]["num_task"] = 3
    with pytest.raises(Exception, match="one output per task tower"):
        train_run(run_config(three), tmp_path / "run")


def test_multitask_config_round_trips() -> None:
    raw = model_section()
    raw["model_params"]["task_towers"][1]["losses"] = [
        {"loss_type": "CLASSIFICATION"}, {"loss_type": "PAIRWISE_LOGISTIC_LOSS", "weight": 0.3,
                                          "session_name": "C1"}]
    config = parse_model_config(raw)
    again = parse_model_config(config.to_dict())
    assert again == config
    assert config.to_dict()["model_params"]["task_towers"][1]["losses"][1]["loss_type"] == "pairwise_logistic_loss"
    assert config.extra_columns() == ["C1"]


def test_losses_list_sample_weights_and_task_space_train_from_files(tmp_path: Path) -> None:
    """Several weighted losses (pointwise + pairwise within a user), per-row weights read from a column,
    and a conversion tower trained and scored on clicked rows only."""
    from recblocks.datasets import make_synthetic
    import pyarrow as pa

    table = make_synthetic(**SYNTHETIC)
    weights = pa.array([0.0 if i % 7 == 0 else 1.5 for i in range(table.num_rows)])
    table = table.append_column("w", weights)
    pq.write_table(table.slice(0, 1000), tmp_path / "train.parquet")
    pq.write_table(table.slice(1000), tmp_path / "valid.parquet")
    towers = [{**TOWERS[0], "weight_column": "w",
               "losses": [{"loss_type": "CLASSIFICATION"},
                          {"loss_type": "PAIRWISE_LOGISTIC_LOSS", "weight": 0.5, "session_name": "C1"}]},
              {**TOWERS[1], "task_space_indicator_label": "click", "out_task_space_weight": 0.0}]
    raw = run_config(model_section(towers))
    raw["data"] = {"train": str(tmp_path / "train.parquet"), "valid": str(tmp_path / "valid.parquet")}
    result = train_run(raw, tmp_path / "run")
    assert {"ctr/auc", "cvr/auc"} <= set(result.valid_metrics)
    model = result.model
    valid = table.slice(1000)
    clicked = valid["click"].to_numpy().astype(bool)
    assert model.evaluator().spaces == [None, "click"]
    batch = result.preprocessor.transform(valid, {}, [])[0]
    with torch.no_grad():
        scores = model.predict(batch.features)
    from recblocks.metrics import auc
    by_hand = auc(valid["conversion"].to_numpy()[clicked], scores["cvr"].numpy()[clicked])  # clicked rows only
    assert result.valid_metrics["cvr/auc"] == pytest.approx(by_hand, abs=1e-6)
    assert result.valid_metrics["ctr/auc"] == pytest.approx(auc(valid["click"].to_numpy(), scores["ctr"].numpy()),
                                                            abs=1e-6)
