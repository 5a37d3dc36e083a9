"""SENet: the hand cases of components.md §3.1 for the three modes, a loop property and shape errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import COMPONENTS, ShapeError, TensorSpec
from recblocks.layers import SENet, SENetParams

E = torch.tensor([[[1.0, 1.0], [2.0, 2.0]]])


def test_classic_hand_case() -> None:
    senet = SENet.from_spec(SENetParams(), [TensorSpec((2,))] * 2, "se")
    with torch.no_grad():
        senet.squeeze.weight.copy_(torch.tensor([[1.0, 1.0]]))  # z = [1, 2] -> 3
        senet.excite.weight.copy_(torch.tensor([[0.5], [1.0]]))  # -> A = [1.5, 3]
    out = senet([E[:, 0], E[:, 1]])
    torch.testing.assert_close(out, torch.tensor([[[1.5, 1.5], [6.0, 6.0]]]))


def test_plus_hand_case() -> None:
    # one field [1, 3], g = 2, W2 = 0, b2 = 0 -> w = 0; out = LN([1, 3]) = [-0.999995, 0.999995] (eps 1e-5)
    senet = SENet.from_spec(SENetParams(mode="plus"), [TensorSpec((2,))], "se")
    with torch.no_grad():
        senet.excite.weight.zero_(), senet.excite.bias.zero_()
    torch.testing.assert_close(senet([torch.tensor([[1.0, 3.0]])]), torch.tensor([[-0.999995, 0.999995]]),
                               atol=1e-6, rtol=0)


def test_plus_equals_a_loop_over_fields() -> None:
    specs = [TensorSpec((4,)), TensorSpec((2,)), TensorSpec((6,))]
    senet = SENet.from_spec(SENetParams(mode="plus", use_output_layer_norm=False), specs)
    xs = [torch.randn(3, s.shape[0]) for s in specs]
    squeezed = []
    for f in xs:
        halves = f.reshape(3, 2, -1)
        squeezed += [halves.max(-1).values, halves.mean(-1)]
    weights = senet.excite(torch.relu(senet.squeeze(torch.cat(squeezed, -1))))
    flat = torch.cat(xs, -1)
    torch.testing.assert_close(senet(xs), flat * weights + flat)
    # equal widths take the stacked path: same numbers as the list path
    equal = SENet.from_spec(SENetParams(mode="plus"), [TensorSpec((4,))] * 3)
    ys = [torch.randn(3, 4) for _ in range(3)]
    torch.testing.assert_close(equal(torch.stack(ys, 1)), equal(ys))


def test_monolith_hand_cases() -> None:
    identity = SENet.from_spec(SENetParams(mode="monolith"), TensorSpec((2, 2)), "se")
    torch.testing.assert_close(identity(E), torch.tensor([[1.0, 1.0, 4.0, 4.0]]))  # w = z = [1, 2]
    tower = SENet.from_spec(SENetParams(mode="monolith", cmp_dim=3, out_type="stack"), TensorSpec((2, 2)), "se")
    with torch.no_grad():
        tower.excite.weight.zero_()  # sigmoid(0) = 0.5
    torch.testing.assert_close(tower(E), 0.5 * E)
    lists = SENet.from_spec(SENetParams(mode="monolith"), [TensorSpec((2,)), TensorSpec((3,))], "se")
    out = lists([torch.tensor([[1.0, 3.0]]), torch.tensor([[3.0, 3.0, 3.0]])])
    torch.testing.assert_close(out, torch.tensor([[2.0, 6.0, 9.0, 9.0, 9.0]]))  # means 2 and 3


def test_aliases_and_default_ratio() -> None:
    assert COMPONENTS.canonical("SeNet") == "SENet"
    senet = SENet.from_spec(SENetParams(), TensorSpec((7, 2)))
    assert senet.squeeze.out_features == 2  # floor(7 / 3)
    plus = SENet.from_spec(SENetParams(mode="plus"), TensorSpec((2, 4)))
    assert plus.squeeze.out_features == 2  # floor(2 * 2 * 2 / 4)


@pytest.mark.parametrize(
    ("params", "spec", "message"),
    [
        ({}, TensorSpec((4,)), "se: SENet: input must be a field list or a 3-D tensor; expected (B, F, D)"),
        ({}, [TensorSpec((2,)), TensorSpec((3,))], "se: SENet: all embedding dims must be equal"),
        ({"mode": "plus"}, [TensorSpec((3,))], "se: SENet: field embedding widths must be multiples of "
                                               "num_squeeze_group=2"),
        ({"mode": "monolith", "out_type": "stack"}, [TensorSpec((2,)), TensorSpec((3,))],
         "se: SENet: out_type 'stack' needs equal field widths"),
        ({"mode": "plus"}, [TensorSpec((2, 2))], "se: SENet: every field must be a 2-D tensor"),
    ],
)
def test_shape_errors(params: dict, spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        SENet.from_spec(SENetParams(**params), spec, "se")
    assert message in str(info.value)
