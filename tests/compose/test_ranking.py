"""TFRS-style ``Ranking``: defaults, sizes, DCN, variable groups and the composite optimizer."""

from __future__ import annotations

import pytest
import torch

from recblocks.blocks.compose import ConcatFeatures, CrossBlock, EmbeddingFeatures, MLPBlock
from recblocks.core.errors import ShapeError
from recblocks.datasets import SyntheticConfig, make_synthetic, random_split, synthetic_schema
from recblocks.runs import Ranking
from recblocks.tasks import BinaryClassificationTask, RegressionTask
from recblocks.training import TrainConfig, build_optimizer

CRITEO = ([{"name": f"I{i}", "kind": "dense"} for i in range(1, 14)]
          + [{"name": f"C{j}", "kind": "hashed", "hash_bucket_size": 50} for j in range(1, 27)])


def rows(model) -> dict[str, str]:
    return {r["block"]: r["output"] for r in model.build().summary_rows()}


def test_dlrm_defaults_and_sizes():
    """26 sparse + the dense vector: 27*26/2 = 351 dot products; + 16 with concat_dense = 367."""
    model = Ranking(EmbeddingFeatures(embedding_dim=16), schema=CRITEO)
    shapes = rows(model)
    assert shapes["dense_features"] == "(B, 13)" and shapes["bottom_stack"] == "(B, 16)"
    assert shapes["interaction"] == "(B, 351)" and shapes["top_stack"] == "(B, 1)"
    net = model.module
    top = net.backbone.blocks["top_stack"].net
    assert top[0].in_features == 367 and isinstance(top[-1], torch.nn.Linear)  # linear last layer
    assert len(net.heads) == 0  # the top stack already gives the task's single logit
    blocks = {b["name"]: b for b in model.to_config()["model"]["backbone"]["blocks"]}
    assert blocks["interaction"]["inputs"][-1] == {"block_name": "bottom_stack"}  # dense vector LAST
    assert blocks["top_stack"]["inputs"] == [{"block_name": "bottom_stack"}, {"block_name": "interaction"}]
    bottom = net.backbone.blocks["bottom_stack"].net
    assert sum(isinstance(m, torch.nn.ReLU) for m in bottom) == 3  # ReLU on every bottom layer
    assert model.tasks[0].label == "label"


def test_dcn_interaction_and_no_concat():
    """DCN: 27 x 16 = 432 wide concat, Cross keeps 432, top input 432 + 16 = 448."""
    dcn = Ranking(EmbeddingFeatures(embedding_dim=16), feature_interaction=ConcatFeatures().connect(CrossBlock()),
                  schema=CRITEO)
    shapes = rows(dcn)
    assert shapes["concat"] == "(B, 432)" and shapes["interaction"] == "(B, 432)"
    assert dcn.module.backbone.blocks["top_stack"].net[0].in_features == 448
    plain = Ranking(EmbeddingFeatures(embedding_dim=16), concat_dense=False, schema=CRITEO,
                    task=RegressionTask("rating"))
    assert plain.module is None and plain.build().backbone.blocks["top_stack"].net[0].in_features == 351


def test_bottom_width_must_equal_the_embedding_width():
    model = Ranking(EmbeddingFeatures(embedding_dim=8), bottom_stack=MLPBlock([32, 16]), schema=CRITEO)
    with pytest.raises(ShapeError, match="block 'interaction'.*all embedding dims must be equal"):
        model.build()


def test_variable_groups_feed_the_composite_optimizer():
    model = Ranking(EmbeddingFeatures(embedding_dim=16), schema=CRITEO)
    tables, dense = model.embedding_trainable_variables, model.dense_trainable_variables
    assert tables and dense and not {id(p) for p in tables} & {id(p) for p in dense}
    assert {id(p) for p in tables} | {id(p) for p in dense} == {id(p) for p in model.module.parameters()}
    config = TrainConfig(optimizer={"name": "adam", "lr": 1e-3},
                         embedding_optimizer={"name": "adagrad", "lr": 0.05})
    opt = build_optimizer(model.module, config)
    embedding, dense_opt = opt.optimizers["embedding"], opt.optimizers["dense"]
    assert isinstance(embedding, torch.optim.Adagrad) and embedding.param_groups[0]["lr"] == 0.05
    assert isinstance(dense_opt, torch.optim.Adam) and dense_opt.param_groups[0]["lr"] == 1e-3
    assert [id(p) for p in embedding.param_groups[0]["params"]] == [id(p) for p in tables]
    assert {id(p) for p in dense_opt.param_groups[0]["params"]} == {id(p) for p in dense}


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
def test_fit_on_tables_with_separate_embedding_optimizer():
    config = SyntheticConfig(num_rows=3000, num_dense=2, vocab_sizes=[20, 50, 100], seed=3)
    train, valid = random_split(make_synthetic(config), (0.8, 0.2), seed=0)
    top = MLPBlock([16, 1], final_activation=None, use_final_bn=False, use_final_bias=True)
    model = Ranking(EmbeddingFeatures(), bottom_stack=MLPBlock([32, 16]), top_stack=top,
                    task=BinaryClassificationTask("label"), schema=synthetic_schema(config, embedding_dim=16))
    result = model.fit(train, valid, epochs=1, batch_size=256, seed=0, progress=False,
                       optimizer={"name": "adam", "lr": 1e-3}, embedding_optimizer={"name": "adagrad", "lr": 0.05})
    assert result.run_dir is None and 0.0 <= result.valid_metrics["auc"] <= 1.0
    assert (model.fitted_train_config.embedding_optimizer.name, model.fitted_train_config.embedding_optimizer.lr) == ("adagrad", 0.05)
    scores = model.predict(valid)["ctr"]
    assert scores.shape == (valid.num_rows,)
    assert model.evaluate(valid)["auc"] == pytest.approx(result.valid_metrics["auc"], abs=1e-9)
