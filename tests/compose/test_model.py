"""``Model``: building through RankModel, planned shapes, errors, tasks and the runner hook."""

from __future__ import annotations

import pytest
import torch

from recblocks.blocks.compose import (
    ContinuousFeatures,
    DenseBlock,
    EmbeddingFeatures,
    InputBlock,
    LambdaBlock,
    MLPBlock,
    ParallelBlock,
    SequenceEmbeddingFeatures,
)
from recblocks.core.errors import ConfigError, SchemaError, ShapeError
from recblocks.features.schema import Schema
from recblocks.models import RankModel
from recblocks.runs import Model, placeholder_vocab
from recblocks.tasks import BinaryClassificationTask, LogitsTemperatureScaler, RegressionTask


def test_seed_dlrm_shapes_and_values(make_dlrm, seed_features, features_of):
    """Seed 004 with B=5: the shortcut concat is (5, 64 + 10), continuous branch first."""
    model = Model(make_dlrm(), BinaryClassificationTask("rating_binary", pre=LogitsTemperatureScaler(2)),
                  seed_features)
    net = model.build()
    assert isinstance(net, RankModel) and net is model.module
    outputs = {r["block"]: r["output"] for r in net.summary_rows()}
    assert outputs["embeddings"] == "[(B, 64) x 4]" and outputs["deep_continuous"] == "(B, 64)"
    assert outputs["dot_interaction"] == "(B, 10)" and outputs["concat"] == "(B, 74)"
    assert outputs["mlp"] == "(B, 512)"
    seen = {}
    for name in ("embeddings", "deep_continuous", "concat"):
        net.backbone.blocks[name].register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, o))
    net.eval()
    logits = net(features_of(seed_features, placeholder_vocab(Schema(seed_features)), batch=5)).logits
    assert logits["ctr"].shape == (5,)
    concat, deep = seen["concat"], seen["deep_continuous"]
    assert concat.shape == (5, 74)
    torch.testing.assert_close(concat[:, :64], deep)
    assert bool((deep >= 0).all())  # ReLU on the last layer too (the MLP component's default)
    fields = torch.stack([deep, *seen["embeddings"]], dim=1)  # sorted: deep_continuous, gender, ...
    gram = fields @ fields.transpose(1, 2)
    rows, cols = torch.triu_indices(5, 5, offset=1)
    torch.testing.assert_close(concat[:, 64:], gram[:, rows, cols])


def test_shapes_that_cannot_meet_name_the_block(make_dlrm, seed_features):
    bad = Model(make_dlrm(continuous_width=32), BinaryClassificationTask("y"), seed_features)
    with pytest.raises(ShapeError) as err:
        bad.build()
    text = str(err.value)
    assert "block 'dot_interaction'" in text and "DotInteractionBlock()" in text
    assert "all embedding dims must be equal" in text
    residual = ContinuousFeatures().connect_with_residual(MLPBlock([8]))
    with pytest.raises(ShapeError, match=r"block 'residual'.*ResidualBlock\(MLPBlock"):
        Model(residual, BinaryClassificationTask("y"), seed_features).build()
    listy = EmbeddingFeatures().connect(LambdaBlock("lambda x: x", merge="list"), MLPBlock([4]))
    with pytest.raises(ShapeError, match="block 'mlp'"):
        Model(listy, BinaryClassificationTask("y"), seed_features).build()


def test_tasks_pre_and_labels(make_dlrm, seed_features):
    model = Model(make_dlrm(), BinaryClassificationTask("y", pre=LogitsTemperatureScaler(2)), seed_features)
    assert model.to_config()["model"]["tasks"] == [{"name": "ctr", "type": "binary", "label": "y",
                                                    "logits_temperature": 2.0}]
    assert isinstance(model.build().tasks[0].pre, LogitsTemperatureScaler)
    custom = Model(make_dlrm(), BinaryClassificationTask("y", pre=torch.tanh), seed_features)
    with pytest.raises(ConfigError, match="pre transform cannot be saved"):
        custom.to_config()
    with pytest.raises(ConfigError, match="label 'userId' is also an input feature"):
        Model(make_dlrm(), BinaryClassificationTask("userId"), seed_features)
    with pytest.raises(ConfigError, match="no task"):
        Model(make_dlrm(), [], seed_features)
    with pytest.raises(SchemaError, match="no schema"):
        Model(make_dlrm(), BinaryClassificationTask("y"))


def test_schema_comes_from_blocks_built_from_schema(seed_features):
    schema = Schema(seed_features)
    body = EmbeddingFeatures.from_schema(schema, embedding_dim=8).connect(MLPBlock([4]))
    model = Model(body, RegressionTask("rating"), embedding_regularization=1e-5, l2_regularization=1e-4)
    cfg = model.to_config()["model"]
    assert cfg["embedding_regularization"] == 1e-5 and cfg["model_params"] == {"l2_regularization": 1e-4}
    assert model.build()(model_features(seed_features)).logits["ctr"].shape == (3,)
    with pytest.raises(ConfigError, match="embedding_dimm"):
        Model(body, RegressionTask("rating"), embedding_dimm=8)


def model_features(features: list[dict]) -> dict[str, torch.Tensor]:
    schema = Schema(features)
    vocab = placeholder_vocab(schema)
    return {f.name: (torch.randn(3) if f.kind == "dense" else torch.randint(1, vocab[f.name], (3,)))
            for f in schema}


def test_multi_task_towers_and_sequences(seed_features):
    features = seed_features + [{"name": "hist", "kind": "sequence", "max_len": 4, "embedding_dim": 6}]
    towers = ParallelBlock({"ctr": MLPBlock([4]), "cvr": MLPBlock([4])})
    tasks = [BinaryClassificationTask("click", name="ctr"), BinaryClassificationTask("buy", name="cvr")]
    net = Model(InputBlock(embedding_dim=8).connect(towers), tasks, features).build()
    batch = model_features(seed_features)
    batch["hist"] = torch.randint(0, 3, (3, 4))
    out = net(batch).logits
    assert set(out) == {"ctr", "cvr"} and out["cvr"].shape == (3,)
    seq = SequenceEmbeddingFeatures().connect(LambdaBlock("lambda x: tf.reduce_mean(x, axis=1)"))
    seq_net = Model(seq, BinaryClassificationTask("click"), features).build()
    assert {r["block"]: r["output"] for r in seq_net.summary_rows()}["lambda"] == "(B, 6)"
    assert seq_net(batch).logits["ctr"].shape == (3,)


def test_summary_prints_a_table(make_dlrm, seed_features):
    lines = []
    text = Model(make_dlrm(), BinaryClassificationTask("y"), seed_features).summary(print_fn=lines.append)
    assert lines == [text]
    assert text.splitlines()[0].split() == ["block", "body", "inputs", "output", "params"]
    assert "dot_interaction" in text and "(B, 74)" in text and "total parameters:" in text


def test_scoring_before_fit_is_a_config_error(seed_features):
    model = Model(ContinuousFeatures().connect(DenseBlock(4)), BinaryClassificationTask("y"), seed_features)
    with pytest.raises(ConfigError, match="not trained"):
        model.evaluate("test.parquet")


def test_a_loaded_config_fits_on_its_own_data_section():
    from pathlib import Path

    demo = Path(__file__).resolve().parents[2] / "src/recblocks/resources/demo.yaml"
    model = Model.from_config(demo)
    synthetic = {**model.data_config["synthetic"], "num_rows": 3000}
    result = model.fit(data={"synthetic": synthetic}, epochs=1, max_steps=5, progress=False)
    assert set(result.test_metrics) >= {"auc", "loss"} and model.module is not None
    assert model.fitted_train_config.max_steps == 5


def test_model_plot_draws_the_built_graph(tmp_path):
    from recblocks.blocks.compose import EmbeddingFeatures, MLPBlock
    from recblocks.runs import Model
    from recblocks.tasks import BinaryClassificationTask

    features = [{"name": "u", "kind": "sparse", "embedding_dim": 4}, {"name": "i", "kind": "sparse", "embedding_dim": 4}]
    model = Model(EmbeddingFeatures().connect(MLPBlock([8], use_bn=False)), BinaryClassificationTask("label"), features)
    text = model.plot(tmp_path / "m.mmd").read_text()
    assert "flowchart TD" in text and "MLP" in text
    png = model.plot(tmp_path / "m.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
