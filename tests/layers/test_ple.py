"""PLE / CGC: the hand case of components.md §5.2, a naive two-level computation and shape errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ConfigError, ShapeError, TensorSpec
from recblocks.core.params import parse_params
from recblocks.layers import CGC, CGCParams, PLE, PLEParams

LINEAR = {"hidden_units": [2], "use_final_bn": False, "final_activation": None, "use_final_bias": True}


def constant(expert: torch.nn.Module, value: list[float]) -> None:
    """Make an MLP expert output ``value`` whatever its input (zero kernel, bias = value)."""
    with torch.no_grad():
        expert.net[0].weight.zero_()
        expert.net[0].bias.copy_(torch.tensor(value))


def test_hand_case() -> None:
    cgc = CGC.from_spec(CGCParams(num_tasks=2, expert_mlp=LINEAR), TensorSpec((3,)), "cgc")
    level = cgc.levels[0]
    for t in range(2):
        constant(level.specific[t][0], [2.0, 0.0])  # S = [2, 0]
    constant(level.shared[0], [0.0, 2.0])  # C = [0, 2]
    for gate in level.task_gates:
        with torch.no_grad():
            gate[0].weight.zero_()
            gate[0].bias.zero_()
    # zero gates -> each task output is the mean of its specific and the shared expert
    for y in cgc(torch.randn(4, 3)):
        torch.testing.assert_close(y, torch.tensor([[1.0, 1.0]]).expand(4, 2))


def test_two_levels_equal_a_naive_computation() -> None:
    torch.manual_seed(0)
    ple = PLE.from_spec(PLEParams(num_tasks=2, num_specific_experts=2, expert_mlp={**LINEAR, "hidden_units": [3]},
                                  gate_hidden_units=[4]), TensorSpec((5,))).eval()
    x = torch.randn(6, 5)

    def mix(gate: torch.nn.Module, inp: torch.Tensor, experts: list[torch.Tensor]) -> torch.Tensor:
        weights = gate(inp)
        return sum(weights[:, i:i + 1] * e for i, e in enumerate(experts))

    inputs = [x, x, x]
    for level in ple.levels:
        shared = [e(inputs[2]) for e in level.shared]
        own = [[e(inputs[t]) for e in level.specific[t]] for t in range(2)]
        outs = [mix(level.task_gates[t], inputs[t], own[t] + shared) for t in range(2)]
        if level.shared_gate is not None:
            outs.append(mix(level.shared_gate, inputs[2], own[0] + own[1] + shared))  # all experts of the level
        inputs = outs
    for got, expected in zip(ple(x), inputs):
        torch.testing.assert_close(got, expected)
    assert ple.levels[0].shared_gate is not None and ple.levels[1].shared_gate is None


def test_one_task_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"ple.num_tasks: Input should be greater than or equal to 2"):
        parse_params(PLEParams, {"num_tasks": 1, "expert_mlp": {"hidden_units": [2]}}, "ple")


@pytest.mark.parametrize("cls", [PLE, CGC])
@pytest.mark.parametrize("spec", [[TensorSpec((3,))] * 2, TensorSpec((2, 3)), TensorSpec((3,), "long")])
def test_shape_errors(cls: type, spec: object) -> None:
    params = cls.params_cls(num_tasks=2, expert_mlp={"hidden_units": [2]})
    with pytest.raises(ShapeError) as info:
        cls.from_spec(params, spec, "blk")
    assert f"blk: {cls.registry_name} needs one 2-D input; expected one (B, D) tensor" in str(info.value)


def test_levels_of_their_own_by_hand() -> None:
    shared = {**LINEAR, "hidden_units": [3]}
    ple = PLE.from_spec(PLEParams(num_tasks=2, extraction_levels=[
        {"num_specific_experts": 2, "expert_mlp": {**LINEAR, "hidden_units": [3]}, "shared_expert_mlp": shared},
        {"expert_mlp": LINEAR}]), TensorSpec((4,)), "ple")
    first, second = ple.levels
    assert [len(t) for t in first.specific] == [2, 2] and len(first.shared) == 1
    assert first.shared[0].net[0].in_features == 4 and second.shared[0].net[0].in_features == 3
    assert ple.output_spec(TensorSpec((4,))) == [TensorSpec((2,)), TensorSpec((2,))]
    # level 2's experts are constants, so its task gates (own expert, shared expert) mix [1, 0] and [0, 1]
    for t, experts in enumerate(second.specific):
        constant(experts[0], [1.0, 0.0])
    constant(second.shared[0], [0.0, 1.0])
    for gate in second.task_gates:
        with torch.no_grad():
            gate[0].weight.zero_()
            gate[0].bias.copy_(torch.tensor([0.0, torch.log(torch.tensor(3.0))]))  # softmax -> [1/4, 3/4]
    ple.eval()
    out = ple(torch.randn(5, 4))
    assert all(torch.allclose(o, torch.tensor([[0.25, 0.75]] * 5)) for o in out)


def test_expert_mlp_or_extraction_levels() -> None:
    with pytest.raises(ConfigError, match="set either expert_mlp"):
        parse_params(PLEParams, {"num_tasks": 2}, "ple")
    with pytest.raises(ConfigError, match="set either expert_mlp"):
        parse_params(PLEParams, {"num_tasks": 2, "expert_mlp": LINEAR, "extraction_levels": [{"expert_mlp": LINEAR}]},
                     "ple")
    with pytest.raises(ConfigError, match="shared_expert_mlp must end in the width of expert_mlp"):
        parse_params(CGCParams, {"num_tasks": 2, "expert_mlp": LINEAR, "shared_expert_mlp": {"hidden_units": [3]}},
                     "cgc")
