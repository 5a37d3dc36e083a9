"""Backbone semantics: block kinds, merge rules, packages, ordering and plan-time errors."""

from __future__ import annotations

import pytest
import torch
import yaml

import recblocks.layers  # noqa: F401  (registers components)
from recblocks.core.errors import ConfigError, ShapeError
from recblocks.features.schema import Schema
from recblocks.models.config import parse_model_config
from recblocks.models.rank_model import RankModel

FEATURES = ["user_id", "movie_id", "gender", "age"]
SCHEMA = Schema(
    [{"name": f, "kind": "sparse", "embedding_dim": 4} for f in FEATURES]
    + [{"name": "genres", "kind": "multi", "separator": "^", "max_len": 3, "embedding_dim": 4},
       {"name": "x1", "kind": "dense"}, {"name": "x2", "kind": "dense"},
       {"name": "x3", "kind": "dense", "embedding_dim": 4},
       {"name": "wide8", "kind": "sparse", "embedding_dim": 8}]
)
VOCAB = {f: 10 for f in [*FEATURES, "genres", "wide8"]}
GROUPS = [
    {"group_name": "all", "feature_names": [*FEATURES, "genres"]},
    {"group_name": "dense", "feature_names": ["x1", "x2"]},
    {"group_name": "user", "feature_names": ["user_id", "gender", "age"]},
    {"group_name": "item", "feature_names": ["movie_id", "genres"]},
    {"group_name": "wide", "feature_names": [*FEATURES, "genres", "x1"], "wide_deep": "WIDE"},
    {"group_name": "mixed", "feature_names": ["user_id", "wide8"]},
    {"group_name": "fm_dense", "feature_names": ["user_id", "x3"]},
]


def build(backbone: str | dict, **extra) -> RankModel:
    config = {"feature_groups": GROUPS, "backbone": yaml.safe_load(backbone) if isinstance(backbone, str) else backbone,
              **({} if "tasks" in extra else {"task": {"type": "binary", "label": "label"}}), **extra}
    return RankModel(SCHEMA, parse_model_config(config), VOCAB)


def batch(size: int = 6) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    feats = {f: torch.randint(2, 10, (size,), generator=g) for f in [*FEATURES, "wide8"]}
    feats["genres"] = torch.randint(0, 10, (size, 3), generator=g)
    for name in ("x1", "x2", "x3"):
        feats[name] = torch.randn(size, generator=g)
    return feats


def block_output(model: RankModel, name: str) -> torch.Tensor:
    seen = {}
    module = model.backbone.blocks[name]
    handle = module.register_forward_hook(lambda m, i, o: seen.setdefault("out", o))
    model(batch())
    handle.remove()
    return seen["out"]


def test_wide_group_uses_separate_width_one_tables():
    model = build("""
blocks:
  - {name: wide, inputs: [{feature_group_name: wide}], input_layer: {only_output_feature_list: true, wide_output_dim: 1}}
  - name: logit
    inputs: [{block_name: wide, input_fn: 'lambda x: tf.add_n(x)'}]
""")
    spec = model.backbone.plan.steps[0].output_spec
    assert [s.shape for s in spec] == [(1,)] * 6
    assert model(batch()).logits["ctr"].shape == (6,)


def test_dense_feature_with_embedding_dim_is_projected_for_fm():
    model = build("""
blocks:
  - {name: f, inputs: [{feature_group_name: fm_dense}], input_layer: {only_output_3d_tensor: true}}
  - {name: fm, inputs: [{block_name: f}], component: {class_name: FM}}
""")
    assert str(model.backbone.plan.steps[0].output_spec) == "(B, 2, 4)"
    assert model(batch()).logits["ctr"].shape == (6,)


def test_mixed_list_and_tensor_inputs_merge_into_one_list():
    model = build("""
blocks:
  - {name: bottom, inputs: [{feature_group_name: dense}], component: {class_name: MLP, params: {hidden_units: [4]}}}
  - {name: sparse, inputs: [{feature_group_name: all}], input_layer: {only_output_feature_list: true}}
  - {name: dot, inputs: [{block_name: bottom}, {block_name: sparse}], component: {class_name: DotInteraction}}
""")
    # 1 dense vector + 5 fields = 6 vectors -> 15 pairs
    assert model.backbone.plan.steps[-1].output_spec.shape == (15,)


def test_recurrent_fixed_input_index_matches_manual_chain():
    model = build("""
blocks:
  - name: dcn
    inputs: [{feature_group_name: all, input_fn: 'lambda x: [x, x]'}]
    recurrent: {num_steps: 3, fixed_input_index: 0, keras_layer: {class_name: Cross}}
""")
    model.eval()
    recurrent = model.backbone.blocks["dcn"]
    assert len(recurrent.steps) == 3
    first, second = (list(step.parameters())[0] for step in recurrent.steps[:2])
    assert first is not second  # separate weights per step
    emb = model.embeddings(batch())
    x0 = model.backbone.blocks["all"](emb)
    x = x0
    for step in recurrent.steps:
        x = step([x0, x])
    torch.testing.assert_close(model.backbone(emb), x)


def test_repeat_slices_per_head_and_concatenates():
    model = build("""
blocks:
  - {name: fields, inputs: [{feature_group_name: all}], input_layer: {only_output_feature_list: true}}
  - name: heads
    inputs: [{block_name: fields}]
    repeat:
      num_repeat: 3
      input_slice: '[i]'
      output_concat_axis: -1
      keras_layer: {class_name: MLP, mlp: {hidden_units: [2], use_bn: false}}
""")
    heads = model.backbone.blocks["heads"]
    assert model.backbone.plan.steps[-1].output_spec.shape == (6,)
    emb = model.embeddings(batch())
    fields = model.backbone.blocks["fields"](emb)
    expected = torch.cat([heads.heads[i](fields[i]) for i in range(3)], dim=-1)
    torch.testing.assert_close(model.backbone(emb), expected)


def test_sequential_layers_chain_keras_primitives():
    model = build("""
blocks:
  - name: mlp
    inputs: [{feature_group_name: all}]
    layers:
      - keras_layer: {class_name: Dense, st_params: {units: 8.0, activation: relu}}
      - lambda: {expression: 'lambda x: x * 2'}
      - keras_layer: {class_name: Dense, st_params: {units: 1}}
""")
    assert model.backbone.plan.steps[-1].output_spec.shape == (1,)
    assert "Dense -> lambda -> Dense" in model.backbone.plan.steps[-1].description


#: a package whose input block has dropout, for the reset_input tests
DROPOUT_TOWER = """packages:
  - name: tower
    blocks:
      - {name: item, inputs: [{feature_group_name: item}], input_layer: {dropout_rate: 0.5}}
      - {name: enc, inputs: [{block_name: item}], component: {class_name: MLP, params: {hidden_units: [4], use_bn: false}}}
"""


def test_package_calls_share_parameters_and_reset_input_turns_dropout_off():
    model = build(DROPOUT_TOWER + """
blocks:
  - {name: a, inputs: [{package_name: tower}]}
  - {name: b, inputs: [{package_name: tower, reset_input: {}}]}
output_blocks: [a, b]
""", tasks=[{"name": "t1", "type": "binary", "label": "y1"}, {"name": "t2", "type": "binary", "label": "y2"}])
    # one set of tower parameters however many calls
    names = [n for n, _ in model.named_parameters() if n.startswith("backbone.")]
    assert names and all(n.startswith("backbone.packages.tower.enc.") for n in names), names
    model.train()
    emb = model.embeddings(batch())
    torch.manual_seed(0)
    a1, b1 = model.backbone(emb)
    a2, b2 = model.backbone(emb)
    torch.testing.assert_close(b1, b2)  # reset_input {}: no dropout in this call
    assert not torch.allclose(a1, a2)  # dropout active in the plain call
    model.eval()
    a, b = model.backbone(emb)
    torch.testing.assert_close(a, b)  # same weights, no dropout in eval


def test_reset_input_persists_on_the_package_for_later_calls_like_easyrec():
    model = build(DROPOUT_TOWER + """
blocks:
  - {name: a, inputs: [{package_name: tower}]}
  - {name: b, inputs: [{package_name: tower, reset_input: {}}]}
  - {name: c, inputs: [{package_name: tower}]}
output_blocks: [a, b, c]
""", tasks=[{"name": f"t{i}", "type": "binary", "label": f"y{i}"} for i in (1, 2, 3)])
    calls = {s.name: s.edges[0].call.overrides for s in model.backbone.plan.steps if s.name in "abc"}
    assert calls["a"] == {} and calls["b"] and calls["c"] == calls["b"]  # planned: c keeps b's options
    model.train()
    emb = model.embeddings(batch())
    a1, b1, c1 = model.backbone(emb)
    a2, b2, c2 = model.backbone(emb)
    torch.testing.assert_close(c1, c2)  # no dropout in c: the reset of b persists
    torch.testing.assert_close(b1, c1)
    assert not torch.allclose(a1, a2)  # a ran before the reset


def test_an_ignored_package_input_is_still_called():
    model = build("""
packages:
  - name: views
    blocks:
      - {name: item, inputs: [{feature_group_name: item}], input_layer: {dropout_rate: 0.5}}
      - name: aux
        inputs: [{block_name: item}, {block_name: item}]
        merge_inputs_into_list: true
        component: {class_name: AuxiliaryLoss, params: {loss_type: l2_loss}}
blocks:
  - {name: main, inputs: [{package_name: views, ignore_input: true}, {feature_group_name: user}]}
""")
    from recblocks.core.context import ForwardContext

    model.train()
    context = ForwardContext(training=True)
    out = model.backbone(model.embeddings(batch()), context)
    assert list(context.losses), "the ignored package's auxiliary loss was not added"
    torch.testing.assert_close(out, model.backbone.blocks["user"](model.embeddings(batch())))


def test_package_reads_main_block_and_runs_after_it():
    model = build("""
packages:
  - name: p
    blocks:
      - {name: inner, inputs: [{block_name: base}], lambda: {expression: 'lambda x: x + 1'}}
blocks:
  - {name: caller, inputs: [{package_name: p}]}
  - {name: base, inputs: [{feature_group_name: dense}]}
concat_blocks: caller
""")
    order = [s.name for s in model.backbone.plan.steps]
    assert order.index("base") < order.index("caller")
    emb = model.embeddings(batch())
    torch.testing.assert_close(model.backbone(emb), model.backbone.blocks["dense"](emb) + 1)


def test_order_follows_config_and_forward_references_work():
    model = build("""
blocks:
  - {name: second, inputs: [{block_name: first}], lambda: {expression: 'lambda x: x * 3'}}
  - {name: first, inputs: [{feature_group_name: dense}]}
  - {name: other, inputs: [{feature_group_name: user}]}
concat_blocks: [second, other]
""")
    assert [s.name for s in model.backbone.plan.steps] == ["dense", "first", "second", "user", "other"]


def test_ignored_input_keeps_block_out_of_leaves():
    model = build("""
blocks:
  - {name: side, inputs: [{feature_group_name: user}]}
  - {name: main, inputs: [{block_name: side, ignore_input: true}, {feature_group_name: dense}]}
""")
    assert model.backbone.plan.outputs == ["main"]


def test_no_lazy_parameters_after_build():
    model = build("""
blocks:
  - {name: deep, inputs: [{feature_group_name: all}], component: {class_name: MLP, params: {hidden_units: [8, 4]}}}
top_mlp: {hidden_units: [3]}
""")
    assert all(not isinstance(p, torch.nn.parameter.UninitializedParameter) for p in model.parameters())
    assert model.backbone.output_spec.shape == (3,)


# ---------------------------------------------------------------------- errors
ERRORS = [
    ("blocks: [{name: a, inputs: [{block_name: deeep}]}, {name: deep, inputs: [{feature_group_name: all}]}]",
     ConfigError, ["blocks[0].inputs[0].block_name", "did you mean 'deep'"]),
    ("blocks: [{name: a, inputs: [{feature_group_name: al}]}]", ConfigError, ["feature_group_name", "did you mean 'all'"]),
    ("blocks: [{name: a, inputs: [{block_name: b}]}, {name: b, inputs: [{block_name: a}]}]",
     ConfigError, ["cycle", "a -> b -> a"]),
    ("blocks: [{name: a, inputs: [{feature_group_name: all}]}, {name: a, inputs: [{feature_group_name: user}]}]",
     ConfigError, ["blocks[1].name", "duplicate block name"]),
    ("blocks: [{name: a, inputs: [{feature_group_name: all}], component: {class_name: FM}, lambda: {expression: 'lambda x: x'}}]",
     ConfigError, ["block 'a'", "only one body"]),
    ("blocks: [{name: a, inputs: [{feature_group_name: all}], component: {class_name: MLPP, params: {hidden_units: [2]}}}]",
     ConfigError, ["component.class_name", "did you mean 'MLP'"]),
    ("blocks: [{name: a, inputs: [{feature_group_name: all}], component: {class_name: MLP, params: {hiden_units: [2]}}}]",
     ConfigError, ["params.hiden_units", "did you mean 'hidden_units'"]),
    ("blocks: [{name: s, inputs: [{feature_group_name: all}], input_layer: {output_2d_tensor_and_feature_list: true}}, "
     "{name: a, inputs: [{block_name: s, input_slice: '[5]'}]}]", ShapeError, ["block 'a'", "input_slice"]),
    ("blocks: [{name: a, inputs: [{feature_group_name: all, input_fn: 'lambda x: __import__(\"os\")'}]}]",
     ConfigError, ["input_fn", "block 'a'"]),
    ("blocks: [{name: a, inputs: [{feature_group_name: all}, {feature_group_name: dense, input_fn: 'lambda x: [x]'}]}, "
     "{name: b, inputs: [{feature_group_name: user}, {block_name: a, input_fn: 'lambda x: tf.expand_dims(x[0], 1)'}]}]",
     ShapeError, ["block 'b'", "concatenate"]),
    ("blocks: [{name: all, inputs: [{feature_group_name: user}]}]", ConfigError, ["feature group"]),
    ("blocks: [{name: a, inputs: [{block_name: a}]}]", ConfigError, ["takes itself"]),
    ("blocks: [{name: a, inputs: []}]", ConfigError, ["no inputs"]),
    ("blocks: [{name: a, inputs: [{feature_group_name: all}]}]\nconcat_blocks: [b]", ConfigError,
     ["concat_blocks[0]", "unknown output block"]),
    ("blocks: [{name: a, inputs: [{package_name: pp}]}]\npackages: [{name: p, blocks: [{name: x, inputs: [{feature_group_name: user}]}]}]",
     ConfigError, ["package_name", "did you mean 'p'"]),
    ("blocks: [{name: a, inputs: [{feature_group_name: all}], input_layer: {}, component: {class_name: FM}}]",
     ConfigError, ["only one body"]),
    ("blocks: [{name: a, inputs: [{feature_group_name: all}, {feature_group_name: user}], input_layer: {}}]",
     ConfigError, ["exactly one input"]),
    ("blocks: [{name: a, inputs: [{feature_group_name: mixed}], input_layer: {only_output_3d_tensor: true}}]",
     Exception, ["mixed", "equal embedding dims"]),
    ("blocks: [{name: a, inputs: [{feature_group_name: all}], component: {class_name: FM}}]",
     ShapeError, ["block 'a'"]),
    ("blocks: [{name: a, inputs: [{feature_group_name: all}], recurrent: {num_steps: 2, fixed_input_index: 0, component: {class_name: Cross}}}]",
     ShapeError, ["needs a list input"]),
    ("blocks: [{name: a, inputs: [{feature_group_name: all}], lambda: {expression: 'lambda x: tf.reduce_sum(x)'}}]",
     ShapeError, ["block 'a'", "batch axis"]),
    ("blocks: [{name: a, inputs: [{feature_group_name: all}], keras_layer: {class_name: Dense}}]",
     ConfigError, ["params.units", "missing"]),
    ("blocks: [{name: a, inputz: [{feature_group_name: all}]}]", ConfigError, ["blocks[0].inputz", "did you mean 'inputs'"]),
]


@pytest.mark.parametrize("text,error,parts", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_plan_time_errors_name_the_place(text, error, parts):
    with pytest.raises(error) as info:
        build(text)
    message = str(info.value)
    for part in parts:
        assert part in message, message


def test_recurrent_list_output_fills_the_free_slots_in_order_and_negative_index_chains():
    from recblocks.blocks import run_recurrent

    # slots 1 and 2 are free: a list output fills them in order, slot 0 stays fixed
    seen = []

    def step(i, v):
        seen.append(list(v))
        return [v[0] + v[2], v[1] * 10]

    assert run_recurrent(step, [1, 2, 3], 2, 0) == [21, 40]
    assert seen == [[1, 2, 3], [1, 4, 20]]
    # a fixed slot in the middle: the list's first element goes into slot 0, its second into slot 2
    assert run_recurrent(lambda i, v: [v[1], v[0] + v[1]], [5, 7, 9], 1, 1) == [7, 12]
    assert run_recurrent(lambda i, v: v + 1, 0, 3, -1) == 3  # negative: no fixed slot, chained
    assert run_recurrent(lambda i, v: v + 1, 0, 3, None) == 3


def test_recurrent_negative_fixed_index_chains_like_easyrec():
    model = build("""
blocks:
  - name: deep
    inputs: [{feature_group_name: all}]
    recurrent: {num_steps: 2, fixed_input_index: -1, keras_layer: {class_name: MLP, mlp: {hidden_units: [6], use_bn: false}}}
""")
    model.eval()
    steps = model.backbone.blocks["deep"].steps
    emb = model.embeddings(batch())
    x = model.backbone.blocks["all"](emb)
    torch.testing.assert_close(model.backbone(emb), steps[1](steps[0](x)))


def test_recurrent_list_output_of_the_wrong_length_is_a_shape_error():
    with pytest.raises(ShapeError, match="fill the slots other than fixed_input_index 0"):
        build("""
blocks:
  - name: r
    inputs: [{feature_group_name: all, input_fn: 'lambda x: [tf.expand_dims(x, 1), tf.expand_dims(x, 1)]'}]
    recurrent:
      num_steps: 1
      fixed_input_index: 0
      keras_layer: {class_name: Attention, params: {return_attention_scores: true}}
""")


def test_a_wide_group_without_wide_output_dim_is_an_error_as_in_easyrec():
    with pytest.raises(ConfigError, match="feature group 'wide' is WIDE, but no input_layer block sets wide_output_dim"):
        build("blocks: [{name: w, inputs: [{feature_group_name: wide}]}]")
    model = build("blocks: [{name: w, inputs: [{feature_group_name: wide}], input_layer: {wide_output_dim: 1}}]")
    assert model.backbone.plan.steps[-1].output_spec.shape[-1] == 6  # 6 features x width 1


def test_mlp_through_st_params_takes_easyrec_struct_defaults():
    struct = build("blocks: [{name: m, inputs: [{feature_group_name: all}], "
                   "keras_layer: {class_name: MLP, st_params: {hidden_units: [4]}}}]")
    typed = build("blocks: [{name: m, inputs: [{feature_group_name: all}], "
                  "keras_layer: {class_name: MLP, mlp: {hidden_units: [4]}}}]")
    struct_params = struct.config.backbone.blocks[0].component.typed_params
    assert struct_params.final_activation is None  # EasyRec: get_or_default('final_activation', None)
    assert typed.config.backbone.blocks[0].component.typed_params.final_activation == "relu"  # the message's default
    explicit = build("blocks: [{name: m, inputs: [{feature_group_name: all}], "
                     "keras_layer: {class_name: MLP, st_params: {hidden_units: [4], final_activation: relu}}}]")
    assert explicit.config.backbone.blocks[0].component.typed_params.final_activation == "relu"


def test_a_package_input_without_a_target_equals_one_with_a_none_target():
    from recblocks.blocks.backbone.module import without_trailing_none

    assert without_trailing_none(("s", "n", None)) == ("s", "n")
    assert without_trailing_none(["s", None, None]) == ["s"]
    assert without_trailing_none(("s", None, "t")) == ("s", None, "t")  # only trailing ones
    assert without_trailing_none("x") == "x"
