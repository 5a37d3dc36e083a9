"""BiLinear: the hand cases of components.md §2.7, loop properties per type and shape errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import COMPONENTS, ShapeError, TensorSpec
from recblocks.core.params import parse_params
from recblocks.layers import BiLinear, BiLinearParams

V1, V2 = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 4.0]])
SWAP = torch.tensor([[0.0, 1.0], [1.0, 0.0]])


def test_hand_cases() -> None:
    two = [TensorSpec((2,))] * 2
    layer = BiLinear.from_spec(BiLinearParams(bilinear_type="field_all"), two, "bi")
    with torch.no_grad():
        layer.weight.copy_(torch.eye(2))
    torch.testing.assert_close(layer([V1, V2]), torch.tensor([[3.0, 8.0]]))  # [1,2] I * [3,4]
    pair = BiLinear.from_spec(BiLinearParams(), two, "bi")  # field_interaction
    with torch.no_grad():
        pair.weight[0].copy_(SWAP)
    torch.testing.assert_close(pair([V1, V2]), torch.tensor([[6.0, 4.0]]))  # v1 W = [2, 1]; * [3, 4]
    plus = BiLinear.from_spec(BiLinearParams(use_plus=True), two, "bi")
    with torch.no_grad():
        plus.weight[0].copy_(SWAP)
    torch.testing.assert_close(plus([V1, V2]), torch.tensor([[10.0]]))  # [2, 1] . [3, 4]


@pytest.mark.parametrize("kind", ["field_all", "field_each", "field_interaction"])
@pytest.mark.parametrize("plus", [False, True])
def test_equals_a_loop_over_pairs(kind: str, plus: bool) -> None:
    layer = BiLinear.from_spec(BiLinearParams(bilinear_type=kind, use_plus=plus), TensorSpec((4, 3)))
    x = torch.randn(2, 4, 3)
    expected, pair = [], 0
    for i in range(4):
        for j in range(i + 1, 4):
            w = {"field_all": layer.weight, "field_each": layer.weight[i] if kind == "field_each" else None,
                 "field_interaction": layer.weight[pair] if kind == "field_interaction" else None}[kind]
            p = (x[:, i] @ w) * x[:, j]
            expected.append(p.sum(-1, keepdim=True) if plus else p)
            pair += 1
    torch.testing.assert_close(layer(x), torch.cat(expected, dim=-1))
    assert layer.output_spec(TensorSpec((4, 3))) == TensorSpec((6 if plus else 18,))


def test_unequal_widths_for_interaction_and_easyrec_spellings() -> None:
    params = parse_params(BiLinearParams, {"type": "interaction", "num_output_units": 5}, "bi")
    assert params.kind == "field_interaction" and params.plus  # EasyRec: use_plus defaults to true
    specs = [TensorSpec((2,)), TensorSpec((3,)), TensorSpec((4,))]
    layer = BiLinear.from_spec(BiLinearParams(bilinear_type="interaction", use_plus=False), specs, "bi")
    xs = [torch.randn(2, s.shape[0]) for s in specs]
    expected = torch.cat([(xs[0] @ layer.pair_weights[0]) * xs[1], (xs[0] @ layer.pair_weights[1]) * xs[2],
                          (xs[1] @ layer.pair_weights[2]) * xs[2]], dim=-1)
    torch.testing.assert_close(layer(xs), expected)
    assert COMPONENTS.canonical("Bilinear") == "BiLinear"


@pytest.mark.parametrize(
    ("params", "spec", "message"),
    [
        ({}, TensorSpec((4,)), "bi: BiLinear: input must be a field list or a 3-D tensor; expected (B, F, D) or"),
        ({"type": "all"}, [TensorSpec((2,)), TensorSpec((3,))], "bi: BiLinear: all embedding dims must be equal"),
        ({"type": "each"}, [TensorSpec((2,))], "bi: BiLinear: too few fields; expected at least 2"),
        ({}, [TensorSpec((2, 2)), TensorSpec((2, 2))], "bi: BiLinear: every field must be a 2-D tensor"),
    ],
)
def test_shape_errors(params: dict, spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        BiLinear.from_spec(parse_params(BiLinearParams, params, "bi"), spec, "bi")
    assert message in str(info.value)
