"""``MultiTask(body, towers)``: the Python spelling of MultiTaskModel round-trips with its config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from recblocks.blocks.compose import EmbeddingFeatures, MLPBlock, MMoEBlock
from recblocks.core.errors import ConfigError
from recblocks.features.schema import Schema
from recblocks.models import MultiTaskModel, TaskTowerConfig
from recblocks.runs import Model, MultiTask
from tests.compose.test_roundtrip import assert_same_network

FEATURES = [{"name": "user", "kind": "sparse", "embedding_dim": 4},
            {"name": "item", "kind": "sparse", "embedding_dim": 4}]
TOWERS = [TaskTowerConfig(tower_name="ctr", label_name="click", dnn={"hidden_units": [4]}),
          {"tower_name": "cvr", "label_name": "buy", "relation_tower_names": [], "metrics_set": ["auc"],
           "losses": [{"loss_type": "CLASSIFICATION"}, {"loss_type": "LISTWISE_RANK_LOSS", "session_name": "user"}]}]


def test_python_multitask_round_trips_through_its_config(tmp_path: Path) -> None:
    body = EmbeddingFeatures.from_schema(Schema(FEATURES)).connect(MMoEBlock(2, 2, expert_mlp={"hidden_units": [8]}))
    model = MultiTask(body, TOWERS, l2_regularization=1e-5, embedding_dim=4)
    config = model.to_config()
    section = config["model"]
    assert section["model_class"] == "MultiTaskModel" and "tasks" not in section
    assert section["model_params"]["l2_regularization"] == 1e-5
    assert [t.name for t in model.tasks] == ["ctr", "cvr"]
    assert isinstance(model.build(), MultiTaskModel)
    path = model.save_config(tmp_path / "mtl.yaml")
    assert yaml.safe_load(path.read_text())["model"] == section
    for again in (Model.from_config(config), Model.from_config(path)):
        assert_same_network(model, again)


def test_python_multitask_errors() -> None:
    body = EmbeddingFeatures.from_schema(Schema(FEATURES)).connect(MLPBlock([8]))
    with pytest.raises(ConfigError, match="MultiTask.towers: a MultiTaskModel needs task towers"):
        MultiTask(body, [])
    with pytest.raises(ConfigError, match="Model.tasks: the model_params define the tasks"):
        Model(body, [{"type": "binary", "label": "click"}], model_class="MultiTaskModel",
              model_params={"task_towers": [{"tower_name": "ctr", "label_name": "click"}]})
    cycle = [{"tower_name": "a", "label_name": "x", "relation_tower_names": ["a"], "relation_dnn": {"hidden_units": [2]}}]
    with pytest.raises(ConfigError, match=r"task_towers\[0\]\.relation_tower_names: tower 'a' names itself"):
        MultiTask(body, cycle)
