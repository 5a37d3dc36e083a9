"""What Python blocks compile to: the typed backbone config (names, inputs, merge rules, errors).

Assertions read the typed objects through their one serialiser (``to_dict``), i.e. exactly
what ``Model.to_config`` writes.
"""

from __future__ import annotations

import pytest

from recblocks.blocks.compose import (
    AddBlock,
    BackboneBlock,
    ComponentBlock,
    ContinuousFeatures,
    CrossBlock,
    DenseBlock,
    DotInteractionBlock,
    EmbeddingFeatures,
    Filter,
    InputBlock,
    LambdaBlock,
    MLPBlock,
    ParallelBlock,
    RecurrentBlock,
    RepeatBlock,
    ResidualBlock,
    SequenceEmbeddingFeatures,
    SequentialBlock,
    StackFeatures,
    compile_body,
    feature_tags,
)
from recblocks.core.errors import ConfigError, SchemaError
from recblocks.core.registry import COMPONENTS
from recblocks.features.schema import Schema


def blocks_by_name(compiled) -> dict:
    return {b["name"]: b for b in compiled.backbone.to_dict()["blocks"]}


def test_dlrm_compiles_to_the_expected_backbone(make_dlrm, seed_features):
    compiled = compile_body(make_dlrm(), Schema(seed_features))
    assert [g.to_dict() for g in compiled.feature_groups] == [
        {"group_name": "embeddings", "feature_names": ["gender", "movieId", "title", "userId"]},
        {"group_name": "continuous", "feature_names": ["TE_movieId_rating", "TE_zipcode_rating"]},
    ]
    blocks = blocks_by_name(compiled)
    assert list(blocks) == ["embeddings", "continuous", "deep_continuous", "dot_interaction", "concat", "mlp"]
    assert blocks["embeddings"]["input_layer"] == {"only_output_feature_list": True}
    assert blocks["continuous"]["input_layer"] == {}
    # the dict {deep_continuous, gender, movieId, title, userId} in sorted key order, as a field list
    assert blocks["dot_interaction"]["inputs"] == [{"block_name": "deep_continuous"}] + [
        {"block_name": "embeddings", "input_slice": f"[{k}]"} for k in range(4)]
    assert blocks["dot_interaction"]["merge_inputs_into_list"] is True
    # shortcut with aggregation='concat': sorted keys, deep_continuous before dot_interaction
    assert blocks["concat"]["inputs"] == [{"block_name": "deep_continuous"}, {"block_name": "dot_interaction"}]
    assert blocks["concat"]["component"] == {"class_name": "Concatenate"}
    assert blocks["mlp"]["inputs"] == [{"block_name": "concat"}]
    assert compiled.backbone.concat_blocks == ["mlp"]
    assert compiled.dims == {"gender": 64, "movieId": 64, "title": 64, "userId": 64}


def test_connect_never_mutates(seed_features):
    a, b, c = ContinuousFeatures(), MLPBlock([8]), MLPBlock([4])
    ab = a.connect(b)
    abc = ab.connect(c)
    shortcut = ab.connect_with_shortcut(DenseBlock(8))
    residual = ab.connect_with_residual(DenseBlock(8))
    assert ab.blocks == (a, b) and abc.blocks == (a, b, c)
    assert len(shortcut.blocks) == 3 and len(residual.blocks) == 3 and len(ab.blocks) == 2
    renamed = b.named("deep")
    assert renamed is not b and renamed.name == "deep" and b.name is None


def test_filter_naming_a_missing_branch_raises_with_the_choices(make_dlrm, seed_features):
    inputs = ParallelBlock({"embeddings": EmbeddingFeatures(), "deep_continuous": ContinuousFeatures()})
    body = inputs.connect_with_shortcut(DotInteractionBlock(), shortcut_filter=Filter("deep_continous"))
    with pytest.raises(ConfigError) as err:
        compile_body(body, Schema(seed_features))
    text = str(err.value)
    assert "Filter('deep_continous')" in text and "unknown branch or entry" in text
    assert "'deep_continuous'" in text and "did you mean 'deep_continuous'?" in text
    with pytest.raises(ConfigError, match="needs a dict input"):
        compile_body(ContinuousFeatures().connect(Filter("x")), Schema(seed_features))


def test_filter_on_raw_features_selects_features(seed_features):
    body = Filter(["userId", "gender"]).connect(EmbeddingFeatures())
    assert compile_body(body, Schema(seed_features)).feature_groups[0].feature_names == ["gender", "userId"]
    with pytest.raises(SchemaError, match="did you mean 'userId'"):
        compile_body(Filter("userid").connect(EmbeddingFeatures()), Schema(seed_features))


def test_parallel_merges_dict_branches_and_refuses_collisions(seed_features):
    schema = Schema(seed_features)
    body = ParallelBlock({"a": EmbeddingFeatures(["userId"]), "b": EmbeddingFeatures(["gender"]), "c": MLPBlock([2])})
    with pytest.raises(ConfigError, match="cannot read the raw features"):
        compile_body(body, schema)
    clash = ParallelBlock({"a": EmbeddingFeatures(["userId"]), "b": EmbeddingFeatures(["userId", "title"])})
    with pytest.raises(ConfigError, match="entry 'userId' is also produced by branch 'a'"):
        compile_body(clash, schema)
    ok = ParallelBlock({"a": EmbeddingFeatures(["userId"]), "b": EmbeddingFeatures(["gender"])},
                       aggregation="stack")
    blocks = blocks_by_name(compile_body(ok, schema))
    assert blocks["stack"]["inputs"] == [{"block_name": "b", "input_slice": "[0]"},
                                         {"block_name": "a", "input_slice": "[0]"}]
    with pytest.raises(ConfigError, match="did you mean 'concat'"):
        compile_body(ParallelBlock({"a": ContinuousFeatures()}, aggregation="concatt"), schema)


def test_shortcut_of_a_tensor_uses_the_shortcut_key(seed_features):
    body = ContinuousFeatures().connect_with_shortcut(MLPBlock([4]), aggregation="concat")
    blocks = blocks_by_name(compile_body(body, Schema(seed_features)))
    assert blocks["concat"]["inputs"] == [{"block_name": "mlp"}, {"block_name": "continuous"}]  # mlp < shortcut
    named = ContinuousFeatures().connect_with_shortcut(MLPBlock([4]), block_outputs_name="z", aggregation="sum")
    blocks = blocks_by_name(compile_body(named, Schema(seed_features)))
    assert blocks["sum"]["inputs"] == [{"block_name": "continuous"}, {"block_name": "z"}]  # shortcut < z
    assert blocks["sum"]["component"] == {"class_name": "Add"}


def test_residual_compiles_to_add_and_activation(seed_features):
    body = ContinuousFeatures().connect_with_residual(DenseBlock(2), activation="relu")
    blocks = blocks_by_name(compile_body(body, Schema(seed_features)))
    assert blocks["residual"]["inputs"] == [{"block_name": "dense"}, {"block_name": "continuous"}]
    assert blocks["residual"]["layers"] == [{"component": {"class_name": "Add"}},
                                            {"component": {"class_name": "Activation",
                                                           "params": {"activation": "relu"}}}]
    with pytest.raises(ConfigError, match="did you mean 'relu'"):
        ResidualBlock(DenseBlock(2), activation="rellu")


def test_names_are_unique_and_repeat_copies_have_their_own_blocks(seed_features):
    body = ContinuousFeatures().connect(MLPBlock([4]).repeat(2))
    blocks = blocks_by_name(compile_body(body, Schema(seed_features)))
    assert [b for b in blocks if b.startswith("mlp")] == ["mlp", "mlp_1", "mlp_2"]
    assert blocks["mlp_2"]["inputs"] == [{"block_name": "mlp_1"}]
    parallel = ContinuousFeatures().connect(DenseBlock(3).repeat_in_parallel(2, aggregation="concat"))
    blocks = blocks_by_name(compile_body(parallel, Schema(seed_features)))
    assert blocks["concat"]["inputs"] == [{"block_name": "dense_0"}, {"block_name": "dense_1"}]


def test_component_block_validates_params_now():
    with pytest.raises(ConfigError, match="hidden_unit.*did you mean 'hidden_units'"):
        ComponentBlock("MLP", hidden_unit=[4])
    with pytest.raises(ConfigError, match="did you mean 'FM'"):
        ComponentBlock("FMM")
    with pytest.raises(ConfigError, match="units"):
        DenseBlock("wide")
    with pytest.raises(ConfigError, match="merge"):
        ComponentBlock("MLP", hidden_units=[4], merge="stack")
    assert ComponentBlock("MLP", {"hidden_units": [4]}, use_bn=False).to_config() == {
        "class_name": "MLP", "params": {"hidden_units": [4], "use_bn": False}}


@pytest.mark.parametrize("entry", COMPONENTS.entries(), ids=lambda e: e.name)
def test_every_registered_component_is_a_block(entry):
    required = [n for n, f in entry.params.model_fields.items() if f.is_required()]
    if required:
        with pytest.raises(ConfigError, match="required parameter is missing"):
            ComponentBlock(entry.name)
        return
    block = ComponentBlock(entry.name)
    assert block.to_config() == {"class_name": entry.name}
    for alias in entry.aliases:
        assert ComponentBlock(alias).class_name == entry.name


def test_input_blocks_select_by_tags_and_names(seed_features):
    schema = Schema(seed_features + [{"name": "hist", "kind": "sequence", "max_len": 4, "tags": ["Item"]}])
    assert feature_tags(schema["hist"]) == {"item", "categorical", "sequence", "list"}
    compiled = compile_body(ParallelBlock({"e": EmbeddingFeatures(), "c": ContinuousFeatures(tags="continuous")}),
                            schema)
    assert [g.feature_names for g in compiled.feature_groups] == [
        ["gender", "movieId", "title", "userId"], ["TE_movieId_rating", "TE_zipcode_rating"]]
    seq = compile_body(SequenceEmbeddingFeatures(tags="item"), schema)
    assert seq.backbone.to_dict()["blocks"][0]["input_layer"] == {"output_seq_and_normal_feature": True,
                                                       "concat_seq_feature": False}
    with pytest.raises(SchemaError, match="dense feature cannot be read here"):
        compile_body(EmbeddingFeatures(["TE_zipcode_rating"]), schema)
    with pytest.raises(SchemaError, match="no feature with tags"):
        compile_body(EmbeddingFeatures(tags="user"), schema)
    with pytest.raises(SchemaError, match="did you mean 'movieId'"):
        EmbeddingFeatures(["movieid"], schema=schema)
    with pytest.raises(ConfigError, match="must receive the raw features"):
        compile_body(ContinuousFeatures().connect(EmbeddingFeatures()), schema)


def test_embedding_widths_must_agree(seed_features):
    schema = Schema(seed_features)
    body = ParallelBlock({"a": EmbeddingFeatures(["userId"], embedding_dim=8),
                          "b": EmbeddingFeatures(["userId"], embedding_dim=16)})
    with pytest.raises(ConfigError, match="embedded with two widths"):
        compile_body(body, schema)
    fixed = Schema([{"name": "userId", "kind": "sparse", "embedding_dim": 4}])
    with pytest.raises(ConfigError, match="embedding_dim 4 in the schema"):
        compile_body(EmbeddingFeatures(embedding_dim=8), fixed)


def test_cross_repeat_recurrent_and_lambda_blocks(seed_features):
    schema = Schema(seed_features)
    blocks = blocks_by_name(compile_body(InputBlock().connect(CrossBlock(depth=3)), schema))
    assert blocks["cross"]["extra_input_fn"] == "lambda x: [x, x]"
    assert blocks["cross"]["recurrent"] == {"num_steps": 3, "fixed_input_index": 0,
                                            "component": {"class_name": "Cross"}}
    rep = RepeatBlock(DenseBlock(2), 3, output_concat_axis=-1)
    assert blocks_by_name(compile_body(ContinuousFeatures().connect(rep), schema))["repeat"]["repeat"] == {
        "num_repeat": 3, "component": {"class_name": "Dense", "params": {"units": 2}}, "output_concat_axis": -1}
    rec = RecurrentBlock(DenseBlock(2), 2)
    assert "recurrent" in blocks_by_name(compile_body(ContinuousFeatures().connect(rec), schema))["recurrent"]
    with pytest.raises(ConfigError, match="single component block"):
        RepeatBlock(CrossBlock(depth=2), 2)
    with pytest.raises(ConfigError):
        LambdaBlock("lambda x: __import__('os')")
    stacked = ParallelBlock({"a": EmbeddingFeatures(["userId"])}).connect(StackFeatures())
    assert blocks_by_name(compile_body(stacked, schema))["stack"]["merge_inputs_into_list"] is True


def test_multi_task_dict_output_feeds_each_task(seed_features):
    towers = ParallelBlock({"ctr": MLPBlock([4]), "cvr": MLPBlock([4])})
    compiled = compile_body(InputBlock().connect(towers), Schema(seed_features), ["cvr", "ctr"])
    assert compiled.backbone.output_blocks == ["cvr", "ctr"]
    single = compile_body(InputBlock().connect(towers), Schema(seed_features), ["ctr"])
    assert single.backbone.concat_blocks == ["ctr", "cvr"]


def test_loaded_backbone_extends_and_keeps_its_names(seed_features):
    backbone = {"blocks": [{"name": "mlp", "inputs": [{"feature_group_name": "all"}],
                            "component": {"class_name": "MLP", "params": {"hidden_units": [8]}}}],
                "top_mlp": {"hidden_units": [4]}}
    groups = [{"group_name": "all", "feature_names": ["userId", "gender"]}]
    loaded = BackboneBlock(backbone, groups)
    alone = compile_body(loaded, Schema(seed_features))
    assert alone.backbone.to_dict() == {"blocks": backbone["blocks"], "top_mlp": {"hidden_units": [4]}}
    extended = compile_body(SequentialBlock(loaded, AddBlock().named("all")), Schema(seed_features))
    names = [b.name for b in extended.backbone.blocks]
    assert names == ["mlp", "top_mlp", "all_1"]  # 'all' is the loaded group's name
    assert extended.backbone.to_dict()["blocks"][1]["inputs"] == [{"block_name": "mlp"}]
    with pytest.raises(ConfigError, match="reads its feature groups itself"):
        compile_body(ContinuousFeatures().connect(loaded), Schema(seed_features))
    with pytest.raises(ConfigError, match=r"model\.backbone\.blocks\[0\]"):
        BackboneBlock({"blocks": [{"name": "x", "inputs": [], "componet": {}}]}, groups)


def test_connect_branch_gives_a_dict_or_an_aggregate(seed_features):
    schema = Schema(seed_features)
    branched = ContinuousFeatures().connect_branch(MLPBlock([4]).named("b"), DenseBlock(2).named("a"),
                                                   aggregation="concat")
    blocks = blocks_by_name(compile_body(branched, schema))
    assert blocks["concat"]["inputs"] == [{"block_name": "a"}, {"block_name": "b"}]
    assert blocks["a"]["inputs"] == blocks["b"]["inputs"] == [{"block_name": "continuous"}]
    as_dict = ContinuousFeatures().connect_branch(MLPBlock([4]), DenseBlock(2)).connect(Filter("branch_1"))
    compiled = compile_body(as_dict, schema)
    assert compiled.backbone.concat_blocks == ["branch_1"]
    assert blocks_by_name(compiled)["branch_1"]["component"]["class_name"] == "Dense"
