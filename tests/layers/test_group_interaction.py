"""GroupInt/FFM, AllInt and CDot: the hand cases of components.md §2.10-2.12, naive loops, shape errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ConfigError, ShapeError, TensorSpec
from recblocks.layers import AllInt, AllIntParams, CDot, CDotParams, GroupInt, GroupIntParams

A1, A2, B1 = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 1.0]]), torch.tensor([[3.0, 4.0]])
X = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])


def _group(spec: object, **params: object) -> GroupInt:
    return GroupInt.from_spec(GroupIntParams(**params), spec, "gi")


def test_group_int_hand_case() -> None:
    spec = [[TensorSpec((2,))] * 2, [TensorSpec((2,))]]
    dot = _group(spec, interaction_type="dot")
    torch.testing.assert_close(dot([[A1, A2], [B1]]), torch.tensor([[11.0, 4.0]]))
    multiply = _group(spec)
    torch.testing.assert_close(multiply([[A1, A2], [B1]]), torch.tensor([[3.0, 8.0, 0.0, 4.0]]))
    assert multiply.output_spec(spec) == TensorSpec((4,)) and dot.output_spec(spec) == TensorSpec((2,))


def test_group_int_is_left_major_over_every_pair_and_attention_scales_each_pair() -> None:
    left, right = torch.randn(3, 2, 4), torch.randn(3, 3, 4)
    layer = _group([TensorSpec((2, 4)), TensorSpec((3, 4))], use_attention=True, attention_units=[5, 1],
                   out_type="stack")
    expected = torch.stack([left[:, i] * right[:, j] for i in range(2) for j in range(3)], dim=1)
    out = layer([left, right])
    torch.testing.assert_close(out, expected * layer.attention(expected))
    assert out.shape == (3, 6, 4)


def test_group_int_keep_list() -> None:
    spec = [TensorSpec((1, 2)), TensorSpec((1, 2))]
    layer = _group(spec, keep_list=True, interaction_type="dot")
    assert layer.output_spec(spec) == [TensorSpec((1,))]
    assert isinstance(layer([A1.unsqueeze(1), B1.unsqueeze(1)]), list)


@pytest.mark.parametrize(("params", "field", "message"), [
    ({"interaction_type": "dot", "use_attention": True, "attention_units": [1]}, "gi.use_attention", "multiply"),
    ({"use_attention": True, "attention_units": [4, 2]}, "gi.attention_units", "end in width 1"),
    ({"use_attention": True}, "gi.attention_units", "end in width 1"),
])
def test_group_int_config_errors(params: dict, field: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _group([TensorSpec((1, 2))] * 2, **params)
    assert info.value.where == field and message in str(info.value)


@pytest.mark.parametrize(("spec", "message"), [
    (TensorSpec((2, 4)), "GroupInt: input must be a list of 2 values"),
    ([TensorSpec((2, 4))], "GroupInt: input must be a list of 2 values"),
    ([TensorSpec((2, 4)), TensorSpec((2, 3))], "GroupInt: left and right fields must have one width"),
    ([TensorSpec((4,)), TensorSpec((2, 4))], "GroupInt: input must be a field list or a 3-D tensor"),
    ([[TensorSpec((2,)), TensorSpec((3,))], TensorSpec((1, 2))], "GroupInt: all embedding dims must be equal"),
])
def test_group_int_shape_errors(spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        _group(spec)
    assert str(info.value).startswith("gi: ") and message in str(info.value)
    assert "[left fields, right fields]" in str(info.value) or "expected" in str(info.value)


def _all_int(spec: object = TensorSpec((2, 2)), **params: object) -> AllInt:
    layer = AllInt.from_spec(AllIntParams(**{"cmp_dim": 1, **params}), spec, "ai")
    return layer


def test_all_int_hand_case() -> None:
    layer = _all_int()
    with torch.no_grad():
        layer.compress.fill_(1.0)
    torch.testing.assert_close(layer(X), torch.tensor([[16.0, 36.0]]))  # row sums of X X^T = [[5, 11], [11, 25]]


def test_all_int_equals_x_xt_c_plus_bias_in_every_out_type() -> None:
    x = torch.randn(4, 3, 5)
    for out_type in ("concat", "stack", "list"):
        layer = _all_int(TensorSpec((3, 5)), cmp_dim=2, out_type=out_type)
        with torch.no_grad():
            layer.bias.normal_()
        expected = x @ x.transpose(1, 2) @ layer.compress + x.sum(-1, keepdim=True) * layer.bias
        out = layer(x)
        if out_type == "list":
            out = torch.stack(out, dim=1)
        torch.testing.assert_close(out.reshape(4, 3, 2), expected)


def test_all_int_shape_errors() -> None:
    with pytest.raises(ShapeError) as info:
        _all_int(TensorSpec((4,)))
    assert str(info.value).startswith("ai: AllInt: input must be a field list or a 3-D tensor")


def test_cdot_hand_case() -> None:
    layer = CDot.from_spec(CDotParams(project_dim=1), TensorSpec((2, 2)), "cd")
    with torch.no_grad():
        layer.project.fill_(1.0)
        layer.compress[0].weight.copy_(torch.eye(2))
        layer.compress[0].bias.zero_()
    torch.testing.assert_close(layer(X), torch.tensor([[16.0, 36.0, 4.0, 6.0]]))
    assert layer.output_spec(TensorSpec((2, 2))) == TensorSpec((4,))


def test_cdot_matches_the_formula_with_a_hidden_layer() -> None:
    x = torch.randn(3, 4, 2)
    layer = CDot.from_spec(CDotParams(project_dim=3, compress_units=[5]), TensorSpec((4, 2)), "cd")
    comp = layer.compress((x.transpose(1, 2) @ layer.project).reshape(3, -1))
    crossed = x @ comp.reshape(3, 2, 3)
    torch.testing.assert_close(layer(x), torch.cat([crossed.reshape(3, -1), comp], dim=1))
    assert layer(x).shape == (3, 4 * 3 + 2 * 3)


@pytest.mark.parametrize(("spec", "message"), [
    (TensorSpec((4,)), "CDot: input must be a field list or a 3-D tensor"),
    ([TensorSpec((2,)), TensorSpec((3,))], "CDot: all embedding dims must be equal"),
])
def test_cdot_shape_errors(spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        CDot.from_spec(CDotParams(project_dim=2), spec, "cd")
    assert str(info.value).startswith("cd: ") and message in str(info.value)
