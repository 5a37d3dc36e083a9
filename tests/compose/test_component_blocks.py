"""``<Name>Block`` comes from the component registry: the component's own defaults, its
declared positional parameters, its input kind's merge rule, and no hand-written table."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
import torch

import recblocks.blocks.compose as compose
from recblocks.blocks.compose import (
    BoundComponentBlock,
    ComponentBlock,
    ContinuousFeatures,
    EmbeddingFeatures,
    compile_body,
    component_block,
)
from recblocks.core.errors import ConfigError
from recblocks.core.params import Params
from recblocks.core.registry import COMPONENTS, ComponentSpec
from recblocks.core.shapes import TensorSpec
from recblocks.features.schema import Schema
from recblocks.layers.base import Component


def test_mlp_block_is_the_mlp_component_with_its_own_defaults():
    assert compose.MLPBlock([64]).to_config() == ComponentBlock("MLP", hidden_units=[64]).to_config()
    assert compose.MLPBlock([64]).to_config() == {"class_name": "MLP", "params": {"hidden_units": [64]}}
    assert compose.MLPBlock([8], "tanh", use_bn=False).to_config() == {
        "class_name": "MLP", "params": {"hidden_units": [8], "activation": "tanh", "use_bn": False}}
    assert compose.DenseBlock(4).to_config() == {"class_name": "Dense", "params": {"units": 4}}
    assert compose.DropoutBlock(0.5).to_config() == {"class_name": "Dropout", "params": {"rate": 0.5}}
    assert compose.FMBlock().to_config() == {"class_name": "FM"}
    assert repr(compose.MLPBlock([64], use_bn=False, name="deep")) == "MLPBlock([64], use_bn=False, name='deep')"


@pytest.mark.parametrize("entry", COMPONENTS.entries(), ids=lambda e: e.name)
def test_every_registered_component_is_reachable_as_name_block(entry):
    cls = getattr(compose, f"{entry.name}Block")
    assert issubclass(cls, BoundComponentBlock) and cls.component == entry.name
    assert f"{entry.name}Block" in compose.__all__
    assert "Shape:" in (cls.__doc__ or "")
    params, _ = entry.examples[0]
    block = cls(**params)
    assert block.class_name == entry.name
    assert block.to_config() == ComponentBlock(entry.name, **params).to_config()
    assert block.merge == ("list" if entry.input_kind in ("fields", "sequence") else "concat")


def test_positional_arguments_follow_the_registration():
    with pytest.raises(ConfigError, match=r"FMBlock: too many positional arguments; expected at most 0"):
        compose.FMBlock(True)
    with pytest.raises(ConfigError, match=r"MLPBlock.params: a parameter is given twice"):
        compose.MLPBlock([4], hidden_units=[8])
    with pytest.raises(ConfigError, match=r"MLPBlock.params.hiden_units: unknown parameter.*'hidden_units'"):
        compose.MLPBlock(hiden_units=[4])
    with pytest.raises(ConfigError, match="required parameter is missing"):
        compose.MLPBlock()


def test_a_dict_input_is_merged_by_the_input_kind(seed_features):
    schema = Schema(seed_features)
    fields = EmbeddingFeatures(embedding_dim=4).connect(compose.FMBlock())
    deep = EmbeddingFeatures(embedding_dim=4).connect(compose.MLPBlock([2]))
    fm = {b["name"]: b for b in compile_body(fields, schema).backbone.to_dict()["blocks"]}["fm"]
    mlp = {b["name"]: b for b in compile_body(deep, schema).backbone.to_dict()["blocks"]}["mlp"]
    assert fm.get("merge_inputs_into_list") is True
    assert "merge_inputs_into_list" not in mlp
    listed = {b["name"]: b for b in compile_body(EmbeddingFeatures(embedding_dim=4).connect(
        compose.MLPBlock([2], merge="list").named("m")), schema).backbone.to_dict()["blocks"]}["m"]
    assert listed["merge_inputs_into_list"] is True


def test_hand_written_blocks_add_behaviour_only():
    assert compose.CrossBlock is not component_block("Cross")  # depth -> a recurrent body
    assert compose.CrossBlock(depth=3).body()["recurrent"].num_steps == 3
    assert compose.CrossBlock().to_config() == component_block("Cross")().to_config() == {"class_name": "Cross"}
    assert compose.ConcatFeatures().output_name == "concat"
    assert compose.ConcatFeatures(axis=1).to_config() == compose.ConcatenateBlock(1).to_config()


def test_unknown_names_and_pickling():
    with pytest.raises(AttributeError, match="NoSuchBlock"):
        compose.NoSuchBlock  # noqa: B018
    with pytest.raises(ConfigError, match="did you mean 'MLP'"):
        component_block("MPL")
    block = compose.MLPBlock([4], name="deep")
    again = pickle.loads(pickle.dumps(block))
    assert type(again) is type(block) and again.to_config() == block.to_config()


class _ScaleParams(Params):
    factor: float = 2.0


class _Scale(Component):
    """Multiply by a constant factor (test-only)."""

    @classmethod
    def from_spec(cls, params: _ScaleParams, input_spec: Any, where: str = "") -> "_Scale":
        return cls(params)

    def output_spec(self, input_spec: Any) -> Any:
        return input_spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.params.factor


def test_a_component_registered_later_has_its_block(seed_features):
    with COMPONENTS.scoped():
        COMPONENTS.add(ComponentSpec(name="TestScale", cls=_Scale, params=_ScaleParams, positional=("factor",),
                                     examples=[({}, TensorSpec((3,)))]))
        block = compose.TestScaleBlock(3.0)
        assert block.to_config() == {"class_name": "TestScale", "params": {"factor": 3.0}}
        body = ContinuousFeatures().connect(block)
        assert {b.name for b in compile_body(body, Schema(seed_features)).backbone.blocks} >= {"test_scale"}
    assert "TestScale" not in COMPONENTS
    with pytest.raises(AttributeError):
        compose.TestScaleBlock  # noqa: B018
