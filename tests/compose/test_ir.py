"""The typed model IR: one parse, one serialiser, Python blocks build it directly, origins as data."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from recblocks.blocks.backbone import BackboneConfig, BlockConfig, ComponentConfig
from recblocks.blocks.compose import (
    ContinuousFeatures,
    DenseBlock,
    EmbeddingFeatures,
    LambdaBlock,
    MLPBlock,
    ParallelBlock,
    RecurrentBlock,
    RepeatBlock,
)
from recblocks.core.errors import ConfigError, ShapeError
from recblocks.features.groups import FeatureGroupConfig
from recblocks.features.schema import Schema
from recblocks.models import ModelConfig, RankModel
from recblocks.runs import Model, Ranking
from recblocks.models.config import parse_model_config
from recblocks.runs import placeholder_vocab
from recblocks.tasks import BinaryClassificationTask

REPO = Path(__file__).resolve().parents[2]


def model_sections() -> list[tuple[str, dict]]:
    paths = sorted((REPO / "configs").glob("**/*.yaml")) + [REPO / "src/recblocks/resources/demo.yaml"]
    found = [(str(p.relative_to(REPO)), yaml.safe_load(p.read_text())["model"]) for p in paths]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- readme-example: config -->\s*```\w+\n(.*?)```", readme, re.S)
    assert match, "README has no config example"
    found.append(("README config example", yaml.safe_load(match.group(1))["model"]))
    return found


@pytest.mark.parametrize("name,section", model_sections(), ids=[n for n, _ in model_sections()])
def test_every_config_round_trips_through_the_ir(name, section):
    config = parse_model_config(section)
    assert isinstance(config.backbone, BackboneConfig)
    assert all(isinstance(g, FeatureGroupConfig) for g in config.feature_groups)
    data = config.to_dict()
    yaml.safe_dump(data)  # plain data
    again = parse_model_config(data)
    assert again == config
    assert again.to_dict() == data
    assert data["backbone"] == section["backbone"]  # written as it was (no defaults added)
    assert data["feature_groups"] == section["feature_groups"]
    components = [c for _, b in config.backbone.all_blocks() for kind, body in b.body_entries()
                  for _, c in kind.cls.components(body)]
    assert components and all(c.is_bound for c in components)  # bound once, at parse time


def test_python_models_round_trip_through_the_ir(make_dlrm, ml100k_features):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    code = re.search(r"<!-- readme-example: python -->\s*```\w+\n(.*?)```", readme, re.S).group(1)
    upto_model = code[: code.index("result =")]  # build the README's model without training it
    scope: dict = {}
    exec(compile(upto_model, "README.md", "exec"), scope)  # noqa: S102 - the README's own example
    models = [scope["model"], Model(make_dlrm(), BinaryClassificationTask("label"), ml100k_features),
              Ranking(EmbeddingFeatures(embedding_dim=16), schema=ml100k_features)]
    for model in models:
        assert isinstance(model.config, ModelConfig)
        assert parse_model_config(model.config.to_dict()) == model.config
        assert model.to_config()["model"] == model.config.to_dict()


def test_model_config_has_no_untyped_sections():
    """grep-level fact: no ``dict[str, Any]`` for backbone, tasks or feature groups, at any depth
    of the backbone IR except a component's ``params`` (data, validated into ``typed_params``)."""

    def untyped(annotation: object) -> bool:
        origin = typing.get_origin(annotation)
        if origin is dict:
            return True
        return any(untyped(arg) for arg in typing.get_args(annotation))

    def models(annotation: object) -> list[type[BaseModel]]:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return [annotation]
        return [m for arg in typing.get_args(annotation) for m in models(arg)]

    for key in ("feature_groups", "backbone", "tasks"):
        assert not untyped(ModelConfig.model_fields[key].annotation), key
    seen: set[type] = set()
    stack = [BackboneConfig]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        for name, field in node.model_fields.items():
            if (node, name) != (ComponentConfig, "params"):
                assert not untyped(field.annotation), f"{node.__name__}.{name}"
            stack += models(field.annotation)
    assert BlockConfig in seen and ComponentConfig in seen


def test_a_python_block_whose_widths_cannot_meet_is_named_by_its_origin(make_dlrm, seed_features):
    model = Model(make_dlrm(continuous_width=32), BinaryClassificationTask("y"), seed_features)
    blocks = model.config.backbone.blocks
    index = [b.name for b in blocks].index("dot_interaction")
    assert blocks[index].origin == "DotInteractionBlock()"
    with pytest.raises(ShapeError) as err:
        model.build()
    assert err.value.where == f"block 'dot_interaction' (model.backbone.blocks[{index}]) from DotInteractionBlock()"
    assert "origin" not in str(model.to_config())  # data about the block, not part of the config
    loaded = Model.from_config(model.to_config())
    assert all(b.origin is None for b in loaded.config.backbone.blocks)
    assert loaded.config == model.config  # origins take no part in equality


def test_build_passes_the_typed_config_straight_to_the_network(make_dlrm, seed_features):
    model = Model(make_dlrm(), BinaryClassificationTask("y"), seed_features)
    net = model.build()
    assert isinstance(net, RankModel) and net.config is model.config
    assert net.backbone.config is model.config.backbone
    with pytest.raises(ConfigError, match="parsed first"):
        RankModel(Schema(seed_features), model.to_config()["model"], placeholder_vocab(Schema(seed_features)))


def test_python_callables_are_refused_where_an_expression_is_expected(seed_features):
    for make, where in ((lambda: LambdaBlock(lambda x: x), "LambdaBlock.expression"),
                        (lambda: RepeatBlock(DenseBlock(2), 2, input_fn=lambda x, i: x), "RepeatBlock.input_fn"),
                        (lambda: RecurrentBlock(DenseBlock(2), 2, input_fn=len), "RecurrentBlock.input_fn")):
        with pytest.raises(ConfigError) as err:
            make()
        assert err.value.where == where and "cannot be saved in a model config" in str(err.value)
    with pytest.raises(ConfigError, match="__import__"):
        LambdaBlock("lambda x: __import__('os')")
    body = ParallelBlock({"e": EmbeddingFeatures(), "c": ContinuousFeatures()}, aggregation="stack")
    stack = [b for b in Model(body, BinaryClassificationTask("y"), seed_features).config.backbone.blocks
             if b.lambda_ is not None]
    assert [b.lambda_.expression for b in stack] == ["lambda x: tf.stack(x, axis=1)"]  # emitted as text


def test_options_errors_keep_their_paths(seed_features):
    with pytest.raises(ConfigError) as err:
        Model(ContinuousFeatures().connect(MLPBlock([4])), BinaryClassificationTask("y"), seed_features,
              embedding_dimm=8)
    assert err.value.where == "model.embedding_dimm" and "did you mean 'embedding_dim'" in str(err.value)


def test_unbound_component_says_so():
    component = ComponentConfig(class_name="MLP", params={"hidden_units": [2]})
    with pytest.raises(ConfigError, match="not bound"):
        component.typed_params
    assert component.bind("x").typed_params.hidden_units == [2]
    assert component == ComponentConfig(class_name="MLP", params={"hidden_units": [2]})  # binding is not data
