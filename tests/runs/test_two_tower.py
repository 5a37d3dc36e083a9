"""TwoTower / ItemRetrievalTask / NextItemPredictionTask: the Python spelling of MatchModel.

Each round-trips through its YAML config, and each trains (through ``Model.fit``, the code
``recblocks train`` runs) to metrics well above chance on held-out rows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from recblocks.blocks.compose import InputBlock, MLPBlock
from recblocks.core import ConfigError
from recblocks.datasets.retrieval import leave_last_out
from recblocks.models import MatchModel
from recblocks.runs import ItemRetrievalTask, Model, NextItemPredictionTask, TwoTower
from recblocks.tasks import BinaryClassificationTask
from tests.compose.test_roundtrip import assert_same_network
from tests.models.test_match_model import FEATURES, interactions

TRAIN = {"epochs": 3, "batch_size": 64, "progress": False, "optimizer": {"lr": 0.01}, "seed": 0}


def towers() -> tuple:
    user = InputBlock(["user_id"]).connect(MLPBlock([16]))
    item = InputBlock(["item_id", "shelf"]).connect(MLPBlock([16]))
    return user, item


def test_python_two_tower_round_trips_through_its_config(tmp_path) -> None:
    user, item = towers()
    model = TwoTower(user, item, schema=FEATURES, item_id="item_id", user_id="user_id", simi_func="cosine",
                     temperature=0.2, top_k=[5, 10], l2_regularization=1e-6, model_name="DSSM")
    section = model.to_config()["model"]
    assert section["model_class"] == "MatchModel" and "tasks" not in section
    assert section["backbone"]["output_blocks"] == ["user_tower", "item_tower"]
    assert section["model_params"] == {"user_tower_idx_in_output": 0, "item_tower_idx_in_output": 1,
                                       "simi_func": "COSINE", "temperature": 0.2, "item_id": "item_id",
                                       "user_id": "user_id", "top_k": [5, 10], "l2_regularization": 1e-6}
    reloaded = Model.from_config(model.save_config(tmp_path / "two_tower.yaml", train=TRAIN))
    assert_same_network(model, reloaded)
    assert isinstance(reloaded.build(), MatchModel)
    # the same model spelled with a Merlin task: the same config
    task = ItemRetrievalTask("item_id", "user_id", temperature=0.2, top_k=[5, 10])
    merlin = TwoTower(*towers(), task, schema=FEATURES, l2_regularization=1e-6, model_name="DSSM")
    assert merlin.to_config()["model"]["model_params"] == {**section["model_params"], "loss_type": "SOFTMAX_CROSS_ENTROPY"}


def test_item_retrieval_task_learns_held_out_interactions() -> None:
    train, valid, test = leave_last_out(interactions(3000, seed=1))
    task = ItemRetrievalTask("item_id", "user_id", sampler="popularity", num_negatives=32, temperature=0.2,
                             top_k=[10])
    model = TwoTower(*towers(), task, schema=FEATURES)
    assert model.config.model_params.loss_type == "SAMPLED_SOFTMAX" and model.config.model_params.logq_correction
    result = model.fit(train, valid, **TRAIN)
    assert list(result.valid_metrics) == ["recall@10", "ndcg@10", "hitrate@10"]
    metrics = model.evaluate(test)
    # the user's 10 cluster items among 50 (minus those seen): a random ranking finds about 10/50 of targets
    assert metrics["recall@10"] > 0.5, metrics
    assert model.predict(test)["score"].shape == (test.num_rows,)


def next_item_rows(rows: int, seed: int, items: int = 40, clusters: int = 5, length: int = 5) -> pa.Table:
    """A history of ``length`` items of one cluster (item ``i`` is in cluster ``i % 5``); the next item is
    another item of that cluster, popular ones more often."""
    rng = np.random.default_rng(seed)
    per = items // clusters
    cluster = rng.integers(0, clusters, rows)
    history = rng.integers(0, per, (rows, length)) * clusters + cluster[:, None]
    weights = 1.0 / np.arange(1, per + 1)
    nxt = rng.choice(per, size=rows, p=weights / weights.sum()) * clusters + cluster
    return pa.table({"history": ["|".join(f"i{i}" for i in h) for h in history],
                     "item_id": [f"i{i}" for i in nxt]})


SEQ_FEATURES = [{"name": "history", "kind": "sequence", "separator": "|", "max_len": 5, "embedding_name": "item_id",
                 "embedding_dim": 16},
                {"name": "item_id", "kind": "sparse", "embedding_dim": 16}]


def test_next_item_prediction_ties_the_item_table_and_learns() -> None:
    query = InputBlock(["history"]).connect(MLPBlock([32, 16], final_activation=None))
    model = Model(query, NextItemPredictionTask("item_id", top_k=[10]), SEQ_FEATURES, embedding_dim=16)
    section = model.to_config()["model"]
    assert section["model_params"]["loss_type"] == "FULL_SOFTMAX"
    assert section["feature_groups"][-1] == {"group_name": "item_tower", "feature_names": ["item_id"]}
    assert_same_network(model, Model.from_config(model.to_config()))
    fused = model.build().embeddings.fused["dim16"]
    assert list(fused.table_offsets) == ["deep:item_id"]  # one table: the history and the targets share it
    data = next_item_rows(2200, seed=2)
    result = model.fit(data.slice(0, 1600), data.slice(1600, 300), **TRAIN)
    assert result.valid_metrics["recall@10"] > 0
    metrics = model.evaluate(data.slice(1900))
    # 8 items of the history's cluster among 40: chance recall@10 is 10/40
    assert metrics["recall@10"] > 0.6, metrics
    # weight tying: an item's vector is its row of the item-id table, the table the history reads
    items = model.item_embeddings()
    assert items.column_names == ["item_id", "embedding"] and items.num_rows == 40
    table = model.module.embeddings.fused["dim16"]
    rows = table.table.weight[table.table_offsets["deep:item_id"] + model.module.catalogue.item_ids()]
    np.testing.assert_allclose(np.asarray(items.column("embedding").to_pylist()), rows.detach().numpy(), rtol=1e-6)
    users = model.user_embeddings(data.slice(1900, 5).select(["history"]))
    assert users.column_names == ["embedding"] and len(users.column("embedding")[0]) == 16


def test_retrieval_spellings_fail_with_one_line_errors() -> None:
    with pytest.raises(ConfigError, match=r"ItemRetrievalTask.sampler: unknown sampler.*did you mean 'popularity'"):
        ItemRetrievalTask("item_id", sampler="popular")
    with pytest.raises(ConfigError, match=r"ItemRetrievalTask.num_negatives: sampled negatives need"):
        ItemRetrievalTask("item_id", num_negatives=8)
    with pytest.raises(ConfigError, match=r"TwoTower.item_tower: the model has no item tower"):
        TwoTower(towers()[0], None, ItemRetrievalTask("item_id"), schema=FEATURES)
    with pytest.raises(ConfigError, match=r"a MatchModel has no per-row task"):
        Model(towers()[0], BinaryClassificationTask("label"), FEATURES, model_class="MatchModel",
              model_params={"item_id": "item_id"})
    with pytest.raises(ConfigError, match=r"ItemRetrievalTask body: an item retrieval body has two towers"):
        Model(towers()[0], ItemRetrievalTask("item_id"), FEATURES)
    with pytest.raises(ConfigError, match=r"TwoTower.model_params.simi_func"):
        TwoTower(*towers(), schema=FEATURES, item_id="item_id", simi_func="dot")
