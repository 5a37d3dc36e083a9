"""AFM and PNN inner/outer products: hand cases of components.md §2.14-2.15, loop properties, errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import COMPONENTS, ShapeError, TensorSpec
from recblocks.layers import AFM, AFMParams, InnerProduct, InnerProductParams, OuterProduct, OuterProductParams

V = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [1.0, 0.0]]])


def test_afm_hand_cases() -> None:
    two = AFM.from_spec(AFMParams(), TensorSpec((2, 2)), "afm")
    with torch.no_grad():
        two.projection.fill_(1.0)
    torch.testing.assert_close(two(V[:, :2]), torch.tensor([[11.0]]))  # one pair: a = 1, [3, 8] . [1, 1]
    three = AFM.from_spec(AFMParams(), TensorSpec((3, 2)), "afm")
    with torch.no_grad():
        three.attention.weight.zero_()  # W = 0, b = 0 -> uniform a = 1/3
        three.projection.fill_(1.0)
    # products [3,8], [1,0], [3,0]; mean [2.333333, 2.666667]; y = 5
    torch.testing.assert_close(three(V), torch.tensor([[5.0]]))


def test_inner_and_outer_hand_cases() -> None:
    inner = InnerProduct.from_spec(InnerProductParams(), [TensorSpec((2,))] * 3, "pnn")
    torch.testing.assert_close(inner([V[:, 0], V[:, 1], V[:, 2]]), torch.tensor([[11.0, 1.0, 3.0]]))
    flat = InnerProduct.from_spec(InnerProductParams(reduce_sum=False), TensorSpec((3, 2)), "pnn")
    torch.testing.assert_close(flat(V), torch.tensor([[3.0, 8.0, 1.0, 0.0, 3.0, 0.0]]))
    for kind in ("mat", "num"):
        outer = OuterProduct.from_spec(OuterProductParams(kernel_type=kind), TensorSpec((3, 2)), "pnn")
        with torch.no_grad():
            outer.kernel.copy_(torch.eye(2).expand(3, 2, 2) if kind == "mat" else torch.ones(3, 1))
        torch.testing.assert_close(outer(V), torch.tensor([[11.0, 1.0, 3.0]]))  # W = I or w = 1
    assert COMPONENTS.canonical("OutterProductLayer") == "OuterProduct"


@pytest.mark.parametrize("kind", ["mat", "vec", "num"])
def test_outer_equals_a_loop_over_pairs(kind: str) -> None:
    outer = OuterProduct.from_spec(OuterProductParams(kernel_type=kind), TensorSpec((4, 3)))
    x = torch.randn(2, 4, 3)
    expected, p = [], 0
    for i in range(4):
        for j in range(i + 1, 4):
            w = outer.kernel[p]
            if kind == "mat":
                expected.append(((x[:, j] @ w) * x[:, i]).sum(-1))
            else:
                expected.append((x[:, i] * x[:, j] * w).sum(-1))
            p += 1
    torch.testing.assert_close(outer(x), torch.stack(expected, -1))


def test_afm_equals_a_loop() -> None:
    afm = AFM.from_spec(AFMParams(attention_factor=3), TensorSpec((4, 2))).eval()
    x = torch.randn(3, 4, 2)
    prods = [x[:, i] * x[:, j] for i in range(4) for j in range(i + 1, 4)]
    logits = torch.stack([torch.relu(afm.attention(u)) @ afm.score for u in prods], -1)
    a = torch.softmax(logits, -1)
    pooled = sum(a[:, k:k + 1] * u for k, u in enumerate(prods))
    torch.testing.assert_close(afm(x), (pooled @ afm.projection).unsqueeze(-1))


@pytest.mark.parametrize("cls", [AFM, InnerProduct, OuterProduct])
@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (TensorSpec((4,)), "input must be a field list or a 3-D tensor; expected (B, F, D) or [F x (B, D)]"),
        ([TensorSpec((2,)), TensorSpec((3,))], "all embedding dims must be equal"),
        ([TensorSpec((2,))], "too few fields; expected at least 2"),
    ],
)
def test_shape_errors(cls: type, spec: object, problem: str) -> None:
    params = cls.params_cls()
    with pytest.raises(ShapeError) as info:
        cls.from_spec(params, spec, "blk")
    assert f"blk: {cls.registry_name}: {problem}" in str(info.value)
