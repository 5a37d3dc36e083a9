"""POSOGate, POSOFC, POSOMLP (components.md §3.5): hand cases, a naive loop, shape errors."""

from __future__ import annotations

import math

import pytest
import torch

from recblocks.core import ShapeError, TensorSpec
from recblocks.core.params import parse_params
from recblocks.layers import POSOFC, POSOMLP, POSOFCParams, POSOGate, POSOGateParams, POSOMLPParams


def test_gate_hand_cases() -> None:
    gate = POSOGate.from_spec(POSOGateParams(output_dim=2), TensorSpec((3,)), "pg")
    with torch.no_grad():
        gate.gate.out.weight.zero_()
        gate.gate.out.bias.zero_()
    torch.testing.assert_close(gate(torch.randn(2, 3)), torch.ones(2, 2))  # 2 * sigmoid(0)
    with torch.no_grad():
        gate.gate.out.bias.copy_(torch.tensor([0.0, math.log(3.0)]))
    torch.testing.assert_close(gate(torch.randn(1, 3)), torch.tensor([[1.0, 1.5]]))


def test_fc_with_unit_gate_is_a_plain_layer() -> None:
    fc = POSOFC.from_spec(POSOFCParams(out_dim=2), [TensorSpec((3,)), TensorSpec((1,))], "fc")
    with torch.no_grad():
        fc.gates[0].out.weight.zero_()
        fc.gates[0].out.bias.zero_()
        fc.linears[0].weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]))
        fc.linears[0].bias.zero_()
    out = fc([torch.tensor([[2.0, 3.0, 4.0]]), torch.tensor([[7.0]])])
    torch.testing.assert_close(out, torch.tensor([[2.0, 0.0]]))  # relu([2, -3]) * 1


def test_mlp_equals_a_loop_and_accepts_aliases() -> None:
    params = parse_params(POSOMLPParams, {"dims": [4, 2], "gate_hidden_dim": 3}, "pm")
    assert params.hidden_units == [4, 2] and params.to_dict() == {"hidden_units": [4, 2], "gate_hidden_dim": 3}
    mlp = POSOMLP.from_spec(params, [TensorSpec((3,)), TensorSpec((2,))])
    x, pc = torch.randn(5, 3), torch.randn(5, 2)
    h = x
    for linear, gate in zip(mlp.linears, mlp.gates):
        g = 2 * torch.sigmoid(gate.out(torch.relu(gate.hidden(pc))))
        h = g * torch.relu(linear(h))
    torch.testing.assert_close(mlp([x, pc]), h)


@pytest.mark.parametrize("cls, params", [(POSOFC, POSOFCParams(output_dim=2)),
                                         (POSOMLP, POSOMLPParams(hidden_units=[2]))])
@pytest.mark.parametrize("spec", [TensorSpec((3,)), [TensorSpec((3,))], [TensorSpec((3,)), TensorSpec((2, 2))]])
def test_layer_shape_errors(cls: type, params: object, spec: object) -> None:
    with pytest.raises(ShapeError) as info:
        cls.from_spec(params, spec, "p")
    assert f"p: {cls.__name__} takes the input and the personalised-code features; expected [x (B, D), pc (B, P)]" in \
        str(info.value)


def test_gate_shape_errors() -> None:
    with pytest.raises(ShapeError, match=r"p: POSOGate takes the personalised-code features; expected pc \(B, P\)"):
        POSOGate.from_spec(POSOGateParams(output_dim=2), [TensorSpec((3,))], "p")
