"""Highway, Gate, L2Norm, LogitCorrection: the hand cases of components.md §1.3, 1.4, 1.7, 1.9 and shape errors."""

from __future__ import annotations

import math

import pytest
import torch

from recblocks.core import ShapeError, TensorSpec
from recblocks.layers import (
    Gate,
    GateParams,
    Highway,
    HighwayParams,
    L2Norm,
    L2NormParams,
    LogitCorrection,
    LogitCorrectionParams,
)


def test_highway_hand_case() -> None:
    layer = Highway.from_spec(HighwayParams(), TensorSpec((2,)), "hw")
    with torch.no_grad():
        layer.gates[0].weight.zero_()
        layer.transforms[0].weight.copy_(torch.eye(2))
        layer.transforms[0].bias.zero_()
    assert layer.gates[0].bias.tolist() == [-3.0, -3.0]  # init_gate_bias
    # T = sigmoid(-3) = 0.0474259; H = relu([1, -1]) = [1, 0]; y = T*H + (1-T)*x
    torch.testing.assert_close(layer(torch.tensor([[1.0, -1.0]])), torch.tensor([[1.0, -0.9525741]]))


def test_highway_projects_to_emb_size() -> None:
    layer = Highway.from_spec(HighwayParams(emb_size=3, num_layers=2), TensorSpec((5,)), "hw")
    assert layer.output_spec(TensorSpec((5,))) == TensorSpec((3,))
    assert layer(torch.randn(4, 5)).shape == (4, 3)


def test_highway_alias_accepts_easyrec_names() -> None:
    from recblocks.core import COMPONENTS

    assert COMPONENTS.get("HighWayTower").cls is Highway
    assert COMPONENTS.get("WeightedGate").cls is Gate


def test_gate_hand_case() -> None:
    gate = Gate.from_spec(GateParams(), [TensorSpec((2,))] * 3, "g")
    out = gate([torch.tensor([[0.25, 0.75]]), torch.tensor([[4.0, 8.0]]), torch.tensor([[0.0, 4.0]])])
    torch.testing.assert_close(out, torch.tensor([[1.0, 5.0]]))  # 0.25*[4,8] + 0.75*[0,4]


def test_gate_equals_a_loop_with_weights_last() -> None:
    x = [torch.randn(3, 4) for _ in range(3)]
    w = torch.softmax(torch.randn(3, 3), dim=-1)
    gate = Gate.from_spec(GateParams(weight_index=3), [TensorSpec((4,))] * 3 + [TensorSpec((3,))])
    expected = sum(w[:, j:j + 1] * x[j] for j in range(3))
    torch.testing.assert_close(gate([*x, w]), expected)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TensorSpec((4,)), "g: the input of Gate must be a list of at least 2 tensors; expected a list [w (B, n)"),
        ([TensorSpec((2,))], "g: the input of Gate must be a list of at least 2 tensors"),
        ([TensorSpec((3,)), TensorSpec((2,)), TensorSpec((2,))],
         "g: the Gate weights must have one column per gated input; expected w (B, 2), got (B, 3)"),
        ([TensorSpec((2,)), TensorSpec((2,)), TensorSpec((3,))], "g: the inputs gated by Gate must have one shape"),
    ],
)
def test_gate_shape_errors(spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        Gate.from_spec(GateParams(), spec, "g")
    assert message in str(info.value)


def test_highway_shape_errors() -> None:
    with pytest.raises(ShapeError, match=r"hw: Highway input must be a single tensor; expected \(B, \.\.\., D\)"):
        Highway.from_spec(HighwayParams(), [TensorSpec((2,))] * 2, "hw")
    layer = Highway.from_spec(HighwayParams(), TensorSpec((2,)), "hw")
    with pytest.raises(ShapeError, match="hw: Highway input width differs"):
        layer.output_spec(TensorSpec((3,)))


def test_l2norm_hand_case_and_zero_vector() -> None:
    norm = L2Norm.from_spec(L2NormParams(), TensorSpec((2,)), "n")
    out = norm(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
    torch.testing.assert_close(out, torch.tensor([[0.6, 0.8], [0.0, 0.0]]))
    assert torch.isfinite(out).all()


def test_l2norm_axis_and_errors() -> None:
    x = torch.randn(2, 3, 4)
    norm = L2Norm.from_spec(L2NormParams(axis=1), TensorSpec((3, 4)), "n")
    torch.testing.assert_close(norm(x), torch.nn.functional.normalize(x, dim=1))
    with pytest.raises(ShapeError, match=r"n.axis: L2Norm axis is out of range"):
        L2Norm.from_spec(L2NormParams(axis=0), TensorSpec((3,)), "n")
    with pytest.raises(ShapeError, match="n: L2Norm input must be a single tensor"):
        L2Norm.from_spec(L2NormParams(), [TensorSpec((3,))], "n")


@pytest.mark.parametrize(
    ("logit", "rate", "sample_bias", "expected"),
    [(0.0, 0.5, False, 0.693147), (2.0, 0.25, False, 3.386294), (2.0, 0.25, True, 1.259366),
     (0.0, 0.5, True, 0.0)],
)
def test_logit_correction_hand_cases(logit: float, rate: float, sample_bias: bool, expected: float) -> None:
    layer = LogitCorrection.from_spec(LogitCorrectionParams(sample_bias=sample_bias), [TensorSpec((1,))] * 2, "lc")
    out = layer([torch.tensor([[logit]]), torch.tensor([[rate]])])
    torch.testing.assert_close(out, torch.tensor([[expected]]), atol=1e-5, rtol=0)


def test_logit_correction_without_rate() -> None:
    plain = LogitCorrection.from_spec(LogitCorrectionParams(), TensorSpec(()), "lc")
    torch.testing.assert_close(plain(torch.tensor([2.0])), torch.tensor([2.0]))
    biased = LogitCorrection.from_spec(LogitCorrectionParams(sample_bias=True), TensorSpec(()), "lc")
    torch.testing.assert_close(biased(torch.tensor([-200.0])), torch.tensor([-200.0]))  # stable: no -inf
    torch.testing.assert_close(biased(torch.tensor([0.0])), torch.tensor([math.log(0.5)]))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (TensorSpec((2,)), "lc: LogitCorrection logits must be one float per row"),
        ([TensorSpec((1,))] * 3, "lc: LogitCorrection takes logits and an optional sample rate"),
        ([TensorSpec((1,)), TensorSpec(())], "lc: the LogitCorrection sample rate must have the shape of the logits"),
    ],
)
def test_logit_correction_shape_errors(spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        LogitCorrection.from_spec(LogitCorrectionParams(), spec, "lc")
    assert message in str(info.value) and "expected logits (B,) or (B, 1)" in str(info.value)
