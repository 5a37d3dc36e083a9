"""PPNet (components.md §3.4): zero last gate layers give the plain MLP, the hand case, the eager/lazy layouts, errors."""

from __future__ import annotations

import math

import pytest
import torch

from recblocks.core import ConfigError, ShapeError, TensorSpec
from recblocks.layers import MLP, GateNN, GateNNParams, MLPParams, PPNet, PPNetParams

SPEC = [TensorSpec((3,)), TensorSpec((2,))]
PLAIN = {"hidden_units": [4, 2], "use_bn": False, "use_final_bn": False}


def _zero_last_gate_layers(net: PPNet) -> None:
    with torch.no_grad():
        for gate in [net.input_gate, *net.gates]:
            if gate is not None:
                last = gate.net[-1]
                last.weight.zero_()
                last.bias.zero_()


@pytest.mark.parametrize("mode", ["eager", "lazy"])
def test_zero_gates_equal_the_plain_mlp(mode: str) -> None:
    torch.manual_seed(0)
    net = PPNet.from_spec(PPNetParams(mlp=PLAIN, mode=mode), SPEC)
    _zero_last_gate_layers(net)
    mlp = MLP.from_spec(MLPParams(**PLAIN), SPEC[0])
    with torch.no_grad():
        mlp.net[0].weight.copy_(net.layers[0].net[0].weight)
        mlp.net[2].weight.copy_(net.layers[1].net[0].weight)
    x, z = torch.randn(5, 3), torch.randn(5, 2)
    torch.testing.assert_close(net([x, z]), mlp(x))


def test_gate_hand_case() -> None:
    gate = GateNN(GateNNParams(), input_dim=1, output_dim=2, where="g")
    with torch.no_grad():
        gate.net[-1].weight.zero_()
        gate.net[-1].bias.copy_(torch.tensor([0.0, math.log(3.0)]))
    g = gate(torch.randn(1, 1))
    torch.testing.assert_close(g, torch.tensor([[1.0, 1.5]]))  # 2 * sigmoid([0, ln 3]) = 2 * [1/2, 3/4]
    torch.testing.assert_close(torch.tensor([[1.0, 2.0]]) * g, torch.tensor([[1.0, 3.0]]))


def test_layouts_eager_and_lazy() -> None:
    eager = PPNet.from_spec(PPNetParams(mlp={"hidden_units": [4, 3, 2]}), SPEC)
    assert eager.input_gate is not None and [g.net[-1].out_features for g in eager.gates] == [4, 3]
    assert eager.input_gate.net[0].in_features == 5  # [stop_gradient(x), gate_input]
    lazy = PPNet.from_spec(PPNetParams(mlp={"hidden_units": [4, 3, 2]}, mode="lazy", full_gate_input=False), SPEC)
    assert lazy.input_gate is None and [g.net[-1].out_features for g in lazy.gates] == [4, 3, 2]
    assert lazy.gates[0].net[0].in_features == 2


def test_full_gate_input_stops_the_gradient_to_x() -> None:
    net = PPNet.from_spec(PPNetParams(mlp=PLAIN, mode="lazy"), SPEC)
    seen = []
    net.gates[0].register_forward_hook(lambda module, args, out: seen.append(args[0]))
    x = torch.randn(4, 3, requires_grad=True)
    net([x, torch.randn(4, 2)]).sum().backward()
    assert seen[0].shape == (4, 5) and not seen[0].requires_grad  # z = [stop_gradient(x), gate_input]
    assert x.grad is not None  # x still trains through the MLP


def test_eager_input_gate_width_is_checked() -> None:
    with pytest.raises(ConfigError, match="pp.gate_params.output_dim: the eager input gate must be as wide"):
        PPNet.from_spec(PPNetParams(mlp=PLAIN, gate_params={"output_dim": 4}), SPEC, "pp")


@pytest.mark.parametrize("spec", [TensorSpec((3,)), [TensorSpec((3,))], SPEC + [TensorSpec((1,))],
                                  [TensorSpec((3,)), TensorSpec((2, 2))]])
def test_shape_errors(spec: object) -> None:
    with pytest.raises(ShapeError) as info:
        PPNet.from_spec(PPNetParams(mlp=PLAIN), spec, "pp")
    assert "pp: PPNet takes the main input and the gate input; expected [x (B, D_x), gate_input (B, D_g)]" in str(
        info.value)
