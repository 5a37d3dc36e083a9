"""BLOCK_KINDS: every body kind is one registration; a kind registered here works end to end."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import yaml
from pydantic import Field
from torch import nn

from recblocks.blocks.backbone import BLOCK_KINDS, BlockConfig, BlockKind, BuiltBody, ConfigNode, LayerConfig
from recblocks.viz.diagram import describe_graph
from recblocks.core.errors import ConfigError, ShapeError
from recblocks.core.shapes import TensorSpec
from recblocks.features.schema import Schema
from recblocks.models.config import parse_model_config
from recblocks.models.rank_model import RankModel

SCHEMA = Schema([{"name": f, "kind": "sparse", "embedding_dim": 4} for f in ("u", "i")] + [{"name": "x", "kind": "dense"}])
VOCAB = {"u": 10, "i": 10}
GROUPS = [{"group_name": "ids", "feature_names": ["u", "i"]}, {"group_name": "num", "feature_names": ["x"]}]


# ---------------------------------------------------------------------------- a kind defined by this test
class ScaleConfig(ConfigNode):
    """Multiply the input by ``factor``."""

    factor: float = Field(gt=0)


class Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


@BLOCK_KINDS.register("scale_by", params=ScaleConfig)
class ScaleKind(BlockKind):
    """A body that scales its input (test only)."""

    in_layers = True

    @classmethod
    def describe(cls, config: ScaleConfig) -> str:
        return f"scale x{config.factor:g}"

    @classmethod
    def build(cls, config: ScaleConfig, in_spec: Any, path: str, where: str) -> BuiltBody:
        return BuiltBody(Scale(config.factor), None, in_spec)


def model_config(backbone: str) -> dict:
    return {"feature_groups": GROUPS, "backbone": yaml.safe_load(backbone), "task": {"type": "binary", "label": "y"}}


def features(size: int = 4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"u": torch.randint(1, 10, (size,), generator=g), "i": torch.randint(1, 10, (size,), generator=g),
            "x": torch.randn(size, generator=g)}


def test_a_registered_kind_parses_builds_runs_and_round_trips():
    raw = model_config("""
blocks:
  - {name: merged, inputs: [{feature_group_name: ids}]}
  - {name: doubled, inputs: [{block_name: merged}], scale_by: {factor: 2}}
  - name: chain
    inputs: [{block_name: merged}]
    layers: [{scale_by: {factor: 3}}, {component: {class_name: Dense, params: {units: 2}}}]
concat_blocks: [doubled, chain]
""")
    config = parse_model_config(raw)
    doubled = config.backbone.blocks[1]
    assert doubled.bodies() == ["scale_by"] and not doubled.is_input_block
    assert config.to_dict()["backbone"] == raw["backbone"]
    assert parse_model_config(config.to_dict()) == config
    model = RankModel(SCHEMA, config, VOCAB)
    model.eval()
    emb = model.embeddings(features())
    ids = model.backbone.blocks["ids"](emb)
    seen = {}
    model.backbone.blocks["doubled"].register_forward_hook(lambda m, i, o: seen.setdefault("doubled", o))
    model.backbone(emb)
    torch.testing.assert_close(seen["doubled"], ids * 2)
    rows = {r["block"]: r["body"] for r in model.summary_rows()}
    assert rows["doubled"] == "scale x2" and rows["chain"] == "scale x3 -> Dense"
    assert describe_graph(model).nodes["doubled"].body == "scale x2"


def test_a_registered_kind_keeps_the_paths_and_the_one_body_rule():
    with pytest.raises(ConfigError) as err:
        parse_model_config(model_config("blocks: [{name: a, inputs: [{feature_group_name: ids}], scale_by: {factr: 2}}]"))
    assert err.value.where == "model.backbone.blocks[0].scale_by.factr"
    two = model_config("blocks: [{name: a, inputs: [{feature_group_name: ids}], scale_by: {factor: 2}, "
                       "lambda: {expression: 'lambda x: x'}}]")
    with pytest.raises(ConfigError, match="only one body") as err:
        RankModel(SCHEMA, parse_model_config(two), VOCAB)
    assert "['lambda', 'scale_by']" in str(err.value) and "scale_by" in err.value.expected


def test_unknown_kinds_suggest_the_nearest():
    with pytest.raises(ConfigError) as err:
        BLOCK_KINDS.get("recurent", "blocks[0]")
    assert "did you mean 'recurrent'" in str(err.value)
    with pytest.raises(ConfigError, match="did you mean 'input_layer'"):
        BlockConfig(name="a").set_body("input_layr", None)


def test_built_in_kinds_name_their_fields():
    names = {"input_layer", "lambda", "component", "recurrent", "repeat", "layers", "raw_input", "embedding_layer"}
    assert names <= set(BLOCK_KINDS.names())
    for name in names:
        kind = BLOCK_KINDS.get(name).cls
        assert kind.attribute in BlockConfig.model_fields
        assert (kind.attribute in LayerConfig.model_fields) == kind.in_layers
    assert {n for n in names if BLOCK_KINDS.get(n).cls.reads_group} == {"input_layer", "raw_input", "embedding_layer"}


def test_raw_input_gives_the_group_ids_and_values_without_embedding():
    raw = model_config("blocks: [{name: a, inputs: [{feature_group_name: ids}], raw_input: {}}, "
                       "{name: b, inputs: [{feature_group_name: num}], raw_input: {}}, "
                       "{name: d, inputs: [{block_name: a}], component: {class_name: EditDistance, params: {embedding_size: 4}}}, "
                       "{name: x, inputs: [{block_name: b}], lambda: {expression: 'lambda v: v[0].unsqueeze(1)'}}]\n"
                       "concat_blocks: [d, x]")
    config = parse_model_config(raw)
    assert config.to_dict()["backbone"] == raw["backbone"] and config.backbone.blocks[0].is_input_block
    model = RankModel(SCHEMA, config, VOCAB)
    feats = features()
    emb = model.embeddings(feats)
    body = next(m for m in model.modules() if type(m).__name__ == "GroupRawInput" and m.group == "ids")
    assert body.output_spec() == [TensorSpec((), "long"), TensorSpec((), "long")]
    out = body(emb)
    assert torch.equal(out[0], feats["u"]) and torch.equal(out[1], feats["i"])
    dense = next(m for m in model.modules() if type(m).__name__ == "GroupRawInput" and m.group == "num")
    assert dense.output_spec() == [TensorSpec((), "float")] and torch.equal(dense(emb)[0], feats["x"])
    assert next(iter(model(feats).logits.values())).shape == (4,)  # EditDistance on the ids, the raw dense value


def test_embedding_layer_params_are_validated_when_parsed():
    with pytest.raises(ConfigError) as err:
        parse_model_config(model_config("blocks: [{name: a, inputs: [{feature_group_name: ids}], embedding_layer: {}}]"))
    assert err.value.where == "model.backbone.blocks[0].embedding_layer.embedding_dim"


def test_embedding_layer_looks_up_the_group_ids_in_one_shared_table():
    raw = model_config("blocks: [{name: a, inputs: [{feature_group_name: ids}], "
                       "embedding_layer: {embedding_dim: 3, vocab_size: 7, combiner: mean}}]")
    model = RankModel(SCHEMA, parse_model_config(raw), VOCAB)
    body = next(m for m in model.modules() if type(m).__name__ == "GroupIdEmbedding")
    table = body.lookup.embeddings
    assert table.shape == (20, 3) and body.offsets == [0, 10]  # u's rows, then i's (vocab_size is computed)
    feats = features()
    emb = model.embeddings(feats)
    expected = torch.cat([table[feats["u"]], table[feats["i"] + 10]], dim=-1)
    torch.testing.assert_close(body(emb), expected)
    assert body.output_spec() == TensorSpec((6,))
    assert next(iter(model(feats).logits.values())).shape == (4,)


def test_embedding_layer_refuses_dense_features():
    raw = model_config("blocks: [{name: a, inputs: [{feature_group_name: num}], embedding_layer: {embedding_dim: 3}}]")
    with pytest.raises(ShapeError, match="an embedding_layer reads id features; group 'num' has dense features"):
        RankModel(SCHEMA, parse_model_config(raw), VOCAB)
