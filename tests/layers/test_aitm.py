"""AITMTower: a hand case (D = 1, identity projections), stop-gradient, a naive loop and shape errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ShapeError, TensorSpec
from recblocks.layers import AITMTower, AITMTowerParams


def identity_projections(aitm: AITMTower) -> None:
    with torch.no_grad():
        aitm.query.weight.fill_(1.0)
        for layer in aitm.projections:
            layer.weight.fill_(1.0)  # k = v = tower (D = 1)


def test_hand_case() -> None:
    aitm = AITMTower.from_spec(AITMTowerParams(), [TensorSpec((1,))] * 2, "aitm")
    identity_projections(aitm)
    # q = 1, keys [1, 0], values [1, 0]: softmax([1, 0] / sqrt(1)) = [0.731059, 0.268941] -> 0.731059
    out = aitm([torch.tensor([[1.0]]), torch.tensor([[0.0]])])
    torch.testing.assert_close(out, torch.tensor([[0.731059]]), atol=1e-6, rtol=0)


def test_equals_a_naive_loop_and_stops_the_gradient() -> None:
    torch.manual_seed(0)
    aitm = AITMTower.from_spec(AITMTowerParams(project_dim=3, transfer_mlp={"hidden_units": [2], "use_bn": False,
                                                                             "use_final_bn": False}),
                               [TensorSpec((4,)), TensorSpec((5,)), TensorSpec((5,))])
    own, p1, p2 = torch.randn(6, 4), torch.randn(6, 5, requires_grad=True), torch.randn(6, 5)
    out = aitm([own, p1, p2])
    for b in range(6):
        towers = [own[b], aitm.transfer(p1[b:b + 1])[0], aitm.transfer(p2[b:b + 1])[0]]
        keys, values = zip(*(aitm.projections[i](t).split(3) for i, t in enumerate(towers)))
        q = aitm.query(own[b])
        weights = torch.softmax(torch.stack([q @ k for k in keys]) / 3**0.5, 0)
        torch.testing.assert_close(out[b], sum(w * v for w, v in zip(weights, values)))
    out.sum().backward()
    assert p1.grad is None  # stop_gradient: the earlier tower gets nothing


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TensorSpec((4,)), "blk: AITMTower needs this task's tower and at least one earlier tower"),
        ([TensorSpec((4,))], "blk: AITMTower needs this task's tower and at least one earlier tower"),
        ([TensorSpec((4,)), TensorSpec((2, 4))], "blk: AITMTower: every tower must be a 2-D float tensor"),
        ([TensorSpec((4,)), TensorSpec((4,)), TensorSpec((3,))], "blk: AITMTower: the earlier towers must have one "
         "width"),
    ],
)
def test_shape_errors(spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        AITMTower.from_spec(AITMTowerParams(), spec, "blk")
    assert message in str(info.value) and "expected [this task's tower (B, D), earlier tasks' towers" in str(
        info.value)
