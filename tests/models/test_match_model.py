"""MatchModel: config -> train_run -> catalogue evaluation / predict, its errors, its config round trip."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from recblocks.core import ConfigError
from recblocks.datasets.retrieval import leave_last_out, popularity_ranks
from recblocks.features.batch import Batch
from recblocks.features.schema import Schema
from recblocks.metrics import retrieval_metrics
from recblocks.models import MatchModel, MatchModelParams, parse_model_config
from recblocks.models.match_model import MatchOutput
from recblocks.runs import evaluate_run, predict_run, train_run

FEATURES = [{"name": "user_id", "kind": "sparse", "embedding_dim": 8},
            {"name": "item_id", "kind": "sparse", "embedding_dim": 8},
            {"name": "shelf", "kind": "sparse", "embedding_dim": 4}]
MODEL: dict[str, Any] = {
    "model_class": "MatchModel",
    "feature_groups": [{"group_name": "user", "feature_names": ["user_id"]},
                       {"group_name": "item", "feature_names": ["item_id", "shelf"]}],
    "backbone": {"blocks": [
        {"name": "user_tower", "inputs": [{"feature_group_name": "user"}],
         "component": {"class_name": "MLP", "params": {"hidden_units": [16]}}},
        {"name": "item_tower", "inputs": [{"feature_group_name": "item"}],
         "component": {"class_name": "MLP", "params": {"hidden_units": [16]}}}],
        "output_blocks": ["user_tower", "item_tower"]},
    "model_params": {"simi_func": "cosine", "temperature": 0.2, "item_id": "item_id", "user_id": "user_id",
                     "top_k": [10]},
}


def interactions(rows: int, seed: int, users: int = 60, items: int = 50, clusters: int = 5) -> pa.Table:
    """User u likes items of cluster ``u % 5`` (item ``i`` is on shelf ``i % 5``), popular ones more."""
    rng = np.random.default_rng(seed)
    user = rng.integers(0, users, rows)
    per = items // clusters
    weights = 1.0 / np.arange(1, per + 1)
    rank = rng.choice(per, size=rows, p=weights / weights.sum())
    item = rank * clusters + user % clusters
    return pa.table({"user_id": [f"u{u}" for u in user], "item_id": [f"i{i}" for i in item],
                     "shelf": [f"s{i % clusters}" for i in item], "timestamp": np.arange(rows)})


def raw_config(tmp_path: Path, **params: Any) -> dict[str, Any]:
    train, valid, test = leave_last_out(interactions(3000, seed=1))
    paths = {}
    for name, split in (("train", train), ("valid", valid), ("test", test)):
        paths[name] = str(tmp_path / f"{name}.parquet")
        pq.write_table(split, paths[name])
    model = copy.deepcopy(MODEL)
    model["model_params"].update(params)
    return {"data": paths, "features": copy.deepcopy(FEATURES), "model": model,
            "train": {"epochs": 3, "batch_size": 64, "progress": False, "optimizer": {"lr": 0.01}, "seed": 0}}


def test_a_two_tower_model_trains_and_ranks_the_whole_catalogue(tmp_path: Path) -> None:
    raw = raw_config(tmp_path)
    result = train_run(raw, tmp_path / "run")
    assert isinstance(result.model, MatchModel)
    epochs = [json.loads(line) for line in (result.run_dir / "epochs.jsonl").read_text().splitlines()]
    assert list(epochs[0]["train_terms"]) == ["task/in_batch_softmax", "regularization"]
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    keys = ["recall@10", "ndcg@10", "hitrate@10"]
    assert list(result.valid_metrics) == keys
    # 10 of the user's 10 cluster items (of 50) in the top 10: chance is 10/50 without the cluster
    assert result.valid_metrics["recall@10"] > 0.5, result.valid_metrics
    assert result.model.catalogue.item_ids().numel() == 50
    metrics, _ = evaluate_run(result.run_dir, raw["data"]["valid"])
    assert metrics["recall@10"] == pytest.approx(result.valid_metrics["recall@10"])
    count, _ = predict_run(result.run_dir, raw["data"]["test"], tmp_path / "scores.parquet")
    assert count == 60 and pq.read_table(tmp_path / "scores.parquet").column_names == ["score"]
    # the popularity baseline, computed the same way, knows nothing of clusters
    ranks, users = popularity_ranks(pq.read_table(raw["data"]["train"]), pq.read_table(raw["data"]["valid"]),
                                    item="item_id")
    assert retrieval_metrics(ranks, users, [10])["recall@10"] < result.valid_metrics["recall@10"]


def test_sampled_softmax_with_logq_correction_trains(tmp_path: Path) -> None:
    raw = raw_config(tmp_path, loss_type="SAMPLED_SOFTMAX", num_negatives=16, simi_func="INNER_PRODUCT",
                     scale_simi=True)
    raw["train"]["epochs"] = 2
    result = train_run(raw, tmp_path / "run")
    epochs = [json.loads(line) for line in (result.run_dir / "epochs.jsonl").read_text().splitlines()]
    assert list(epochs[0]["train_terms"]) == ["task/sampled_softmax", "regularization"]
    assert result.valid_metrics["recall@10"] > 0.3
    log_q = result.model.catalogue.log_q[result.model.catalogue.known]
    assert float(log_q.exp().sum()) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("logq", [True, False])
def test_in_batch_softmax_with_and_without_logq_by_hand(logq: bool) -> None:
    model_config = copy.deepcopy(MODEL)
    model_config["model_params"]["logq_correction"] = logq
    model = MatchModel(Schema(FEATURES), parse_model_config(model_config), {"user_id": 5, "item_id": 6, "shelf": 4})
    items = torch.tensor([2, 2, 2, 3])  # q(2) = 3/4, q(3) = 1/4
    model.catalogue.fit(items, {"item_id": items, "shelf": torch.tensor([2, 2, 2, 3])}, torch.tensor([2, 2, 3, 4]))
    unit = torch.eye(2)
    outputs = MatchOutput(unit, unit, {}, {}, [])  # cosine 1 on the diagonal, 0 off it; temperature 0.2
    loss = model.loss(outputs, Batch({"item_id": torch.tensor([2, 3]), "user_id": torch.tensor([2, 3])}))
    l2, l3 = (math.log(0.75), math.log(0.25)) if logq else (0.0, 0.0)
    row0 = -math.log(math.exp(5 - l2) / (math.exp(5 - l2) + math.exp(0 - l3)))
    row1 = -math.log(math.exp(5 - l3) / (math.exp(0 - l2) + math.exp(5 - l3)))
    assert float(loss.tasks["in_batch_softmax"]) == pytest.approx((row0 + row1) / 2, rel=1e-5)


@pytest.mark.parametrize("in_batch", [False, True])
def test_sampled_negatives_with_and_without_the_other_rows_items_by_hand(in_batch: bool) -> None:
    model_config = copy.deepcopy(MODEL)
    model_config["model_params"].update(logq_correction=False, loss_type="SAMPLED_SOFTMAX", num_negatives=3,
                                        in_batch_negatives=in_batch)
    model = MatchModel(Schema(FEATURES), parse_model_config(model_config), {"user_id": 5, "item_id": 6, "shelf": 4})
    items = torch.tensor([4, 5])  # the catalogue: only items 4 and 5 are sampled, never a row's own item
    model.catalogue.fit(items, {"item_id": items, "shelf": torch.tensor([2, 3])}, torch.tensor([2, 3]))
    model.item_vectors = lambda features: torch.zeros(len(features["item_id"]), 2)  # sampled items: cosine 0
    unit = torch.eye(2)
    outputs = MatchOutput(unit, unit, {}, {}, [])  # own item: cosine 1 / 0.2 = 5; the other row's item: 0
    loss = model.loss(outputs, Batch({"item_id": torch.tensor([2, 3]), "user_id": torch.tensor([2, 3])}))
    others = 1 if in_batch else 0
    assert float(loss.tasks["sampled_softmax"]) == pytest.approx(-math.log(math.exp(5) / (math.exp(5) + 3 + others)),
                                                                 rel=1e-5)
    with pytest.raises(ConfigError, match="in_batch_negatives: false .* needs loss_type SAMPLED_SOFTMAX"):
        parse_model_config({**MODEL, "model_params": {**MODEL["model_params"], "in_batch_negatives": False}})


def test_hard_negatives_join_each_rows_candidates_by_hand() -> None:
    model_config = copy.deepcopy(MODEL)
    model_config["model_params"].update(logq_correction=False, num_hard_negatives=2)
    model = MatchModel(Schema(FEATURES), parse_model_config(model_config), {"user_id": 5, "item_id": 8, "shelf": 4})
    items = torch.tensor([2, 3, 4, 5])
    model.catalogue.fit(items, {"item_id": items, "shelf": torch.tensor([2, 2, 3, 3])}, torch.tensor([2, 2, 3, 4]))
    # user 2: items 4, 5 and 7 (7 never in training: no features, left out); user 3: its own item 3 (masked)
    model.fit_hard_negatives(torch.tensor([2, 2, 2, 3]), torch.tensor([7, 4, 5, 3]))
    assert model.hard_negatives.items.tolist() == [4, 5, 3]
    vectors = {4: [0.6, 0.8], 5: [0.0, 1.0]}  # unit vectors: cosine with user 2's [1, 0] is 0.6 and 0
    model.item_vectors = lambda features: torch.tensor([vectors.get(int(i), [0.0, 0.0])
                                                        for i in features["item_id"]])
    unit = torch.eye(2)
    outputs = MatchOutput(unit, unit, {}, {}, [])  # own item: 5 (temperature 0.2); the other row's item: 0
    batch = Batch({"item_id": torch.tensor([2, 3]), "user_id": torch.tensor([2, 3])})
    loss = float(model.loss(outputs, batch).tasks["in_batch_softmax"])
    row0 = -math.log(math.exp(5) / (math.exp(5) + 1 + math.exp(0.6 / 0.2) + 1))  # + hard 4 and 5
    row1 = -math.log(math.exp(5) / (math.exp(5) + 1))  # its hard negative is its own item
    assert loss == pytest.approx((row0 + row1) / 2, rel=1e-5)


def test_a_run_ranks_test_rows_without_the_users_valid_items(tmp_path: Path) -> None:
    raw = raw_config(tmp_path)
    raw["train"]["epochs"] = 1
    result = train_run(raw, tmp_path / "run")
    model, preprocessor = result.model, result.preprocessor
    valid = pq.read_table(raw["data"]["valid"])
    users = [preprocessor.vocabulary("user_id").index(u) + 2 for u in valid.column("user_id").to_pylist()]
    items = [preprocessor.vocabulary("item_id").index(i) + 2 for i in valid.column("item_id").to_pylist()]
    mask = model.catalogue.seen_mask(torch.tensor(users))
    assert bool(mask[torch.arange(len(users)), torch.tensor(items)].all())  # every valid item is now "seen"
    # and the saved weights carry it: re-evaluating the test split gives the run's test metrics
    metrics, _ = evaluate_run(result.run_dir, raw["data"]["test"])
    assert metrics["recall@10"] == pytest.approx(result.test_metrics["recall@10"])


def test_seen_items_are_excluded_from_the_ranking() -> None:
    model = MatchModel(Schema(FEATURES), parse_model_config(MODEL), {"user_id": 5, "item_id": 6, "shelf": 4})
    model.catalogue.fit(torch.tensor([2, 3, 4, 5]), {"item_id": torch.tensor([2, 3, 4, 5]),
                                                      "shelf": torch.tensor([2, 2, 3, 3])},
                        torch.tensor([2, 2, 3, 4]))
    assert model.catalogue.seen_mask(torch.tensor([2, 3, 4])).int().tolist() == [
        [0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 1]]


def _error(model: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        MatchModel(Schema(FEATURES), parse_model_config(model), {"user_id": 5, "item_id": 6, "shelf": 4})
    return str(info.value)


def test_config_errors_name_the_tower() -> None:
    model = copy.deepcopy(MODEL)
    model["backbone"]["output_blocks"] = ["user_tower"]
    model["backbone"]["concat_blocks"] = []
    model["backbone"]["blocks"] = model["backbone"]["blocks"][:1]
    assert _error(model).startswith("model.model_params.item_tower_idx_in_output: the MatchModel has no item "
                                    "tower: the backbone's output_blocks has no entry 1")
    model = copy.deepcopy(MODEL)
    del model["model_params"]["item_id"]
    assert _error(model).startswith("model.model_params.item_id: the item tower 'item_tower' needs the item id")
    model = copy.deepcopy(MODEL)
    model["backbone"]["blocks"][1]["inputs"].append({"feature_group_name": "user"})
    assert "the item tower 'item_tower' reads feature groups of the user tower" in _error(model)
    model = copy.deepcopy(MODEL)
    model["model_params"]["temprature"] = 0.1
    with pytest.raises(ConfigError, match=r"model.model_params.temprature: unknown parameter of "
                                          r"MatchModelParams.*did you mean 'temperature'"):
        parse_model_config(model)


def test_the_config_round_trips() -> None:
    config = parse_model_config(MODEL)
    assert isinstance(config.model_params, MatchModelParams) and config.model_params.simi_func == "COSINE"
    assert parse_model_config(config.to_dict()) == config
    assert config.to_dict()["model_params"]["temperature"] == 0.2


def test_a_tasks_section_is_refused() -> None:
    model = copy.deepcopy(MODEL)
    model["task"] = {"type": "binary", "label": "label"}
    with pytest.raises(ConfigError, match=r"^model.tasks: a MatchModel defines its own loss"):
        parse_model_config(model)


def test_user_interests_score_the_catalogue_by_the_best_interest() -> None:
    model = copy.deepcopy(MODEL)
    blocks = model["backbone"]["blocks"]
    # a user tower that also reads the item tower's output (as MIND's label-aware attention does)
    blocks.append({"name": "interests", "inputs": [{"block_name": "user_tower"}],
                   "component": {"class_name": "Reshape", "params": {"target_shape": [1, 16]}}})
    blocks.append({"name": "user_vector", "inputs": [{"block_name": "user_tower"}, {"block_name": "item_tower"}],
                   "component": {"class_name": "MLP", "params": {"hidden_units": [16]}}})
    model["backbone"]["output_blocks"] = ["user_vector", "item_tower", "interests"]
    model["model_params"]["user_interests_idx_in_output"] = 2
    built = MatchModel(Schema(FEATURES), parse_model_config(model), {"user_id": 5, "item_id": 6, "shelf": 4})
    assert built.interests_block == "interests"
    model["model_params"]["user_interests_idx_in_output"] = 1
    assert _error(model).startswith("model.model_params.user_interests_idx_in_output: the interests must be vectors "
                                    "of the towers' width; expected a (B, K, 16) output")
    model["model_params"]["user_interests_idx_in_output"] = 3
    assert "the MatchModel has no interests tower" in _error(model)
