"""MMoE and POSO-MMoE: the hand cases of components.md §5.1 / §5.7, a naive loop, gates and shape errors."""

from __future__ import annotations

import math

import pytest
import torch

from recblocks.core import ConfigError, ShapeError, TensorSpec
from recblocks.core.params import parse_params
from recblocks.layers import MMoE, MMoEParams, POSOMMoE, POSOMMoEParams

E1, E2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
PRECOMPUTED = [TensorSpec((2,)), TensorSpec((2,)), TensorSpec((3,))]


def precomputed(gate_type: str = "softmax", bias: list[float] | None = None, **extra: object) -> MMoE:
    """Two tasks over two precomputed experts; gate weights zero, gate biases ``bias`` per task."""
    mmoe = MMoE.from_spec(MMoEParams(num_tasks=2, num_experts=2, gate_type=gate_type, **extra), PRECOMPUTED, "mmoe")
    with torch.no_grad():
        mmoe.gate.weight.zero_()
        mmoe.gate.bias.copy_(torch.tensor((bias or [0.0, 0.0]) * 2))
    return mmoe


def test_hand_case() -> None:
    x = [E1, E2, torch.ones(1, 3)]
    # zero gate logits -> softmax [0.5, 0.5] -> 0.5 e1 + 0.5 e2 for every task
    for y in precomputed()(x):
        torch.testing.assert_close(y, torch.tensor([[0.5, 0.5]]))
    # logits [1, 0]: softmax [0.731, 0.269]; top-1 keeps the first -> renormalised [1, 0] -> e1
    for y in precomputed("topk", [1.0, 0.0])(x):
        torch.testing.assert_close(y, torch.tensor([[1.0, 0.0]]))
    torch.testing.assert_close(precomputed("softmax", [1.0, 0.0])(x)[0], torch.tensor([[0.731059, 0.268941]]),
                               atol=1e-5, rtol=0)
    # ties at the k-th value keep every tied expert
    torch.testing.assert_close(precomputed("topk", [0.0, 0.0])(x)[1], torch.tensor([[0.5, 0.5]]))


def test_equals_a_naive_loop_over_tasks_and_experts() -> None:
    torch.manual_seed(0)
    mmoe = MMoE.from_spec(MMoEParams(num_task=3, num_expert=4, expert_mlp={"hidden_units": [3]}), TensorSpec((5,)))
    mmoe.eval()
    x = torch.randn(6, 5)
    out = mmoe(x)
    experts = [expert(x) for expert in mmoe.experts]
    weight, bias = mmoe.gate.weight.view(3, 4, 5), mmoe.gate.bias.view(3, 4)
    for t in range(3):
        gate = torch.softmax(x @ weight[t].T + bias[t], dim=-1)
        torch.testing.assert_close(out[t], sum(gate[:, e:e + 1] * experts[e] for e in range(4)))


def test_noisy_top_k_is_random_in_training_only() -> None:
    torch.manual_seed(0)
    mmoe = MMoE.from_spec(MMoEParams(num_tasks=2, num_experts=4, gate_type="noise_topk", top_k=2,
                                     expert_mlp={"hidden_units": [3], "use_final_bn": False}), TensorSpec((5,)))
    x = torch.randn(8, 5)
    gates = mmoe.gates(x)
    assert ((gates > 0).sum(-1) == 2).all() and torch.allclose(gates.sum(-1), torch.ones(8, 2))
    assert not torch.equal(mmoe.gates(x), gates)  # fresh noise each training call
    mmoe.eval()
    torch.testing.assert_close(mmoe.gates(x), mmoe.gates(x))
    plain = torch.softmax(mmoe.gate(x).view(8, 2, 4), -1)
    kept = plain * (plain >= plain.topk(2, -1).values[..., -1:])
    torch.testing.assert_close(mmoe.gates(x), kept / kept.sum(-1, keepdim=True))


def test_top_k_larger_than_the_experts_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"blk: .*top_k \(3\) must not exceed num_experts \(2\)"):
        parse_params(MMoEParams, {"num_task": 2, "num_expert": 2, "gate_type": "topk", "top_k": 3}, "blk")


@pytest.mark.parametrize(
    ("params", "spec", "message"),
    [
        ({"expert_mlp": {"hidden_units": [4]}}, [TensorSpec((5,))] * 2, "blk: MMoE needs one 2-D input; expected one "
         "(B, D) tensor"),
        ({"expert_mlp": {"hidden_units": [4]}}, TensorSpec((3, 5)), "blk: MMoE needs one 2-D input"),
        ({}, TensorSpec((5,)), "blk: MMoE without expert_mlp needs precomputed expert outputs; expected a list of 2 "
         "expert outputs (B, D_e) followed by the gate input"),
        ({}, [TensorSpec((2,))] * 2, "blk: MMoE without expert_mlp got the wrong number of inputs"),
        ({}, [TensorSpec((2,)), TensorSpec((3,)), TensorSpec((3,))], "blk: MMoE: all expert outputs must have one "
         "width"),
    ],
)
def test_mmoe_shape_errors(params: dict, spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        MMoE.from_spec(MMoEParams(num_tasks=2, num_experts=2, **params), spec, "blk")
    assert message in str(info.value)


def test_poso_gates_of_a_zero_last_layer_reduce_to_mmoe() -> None:
    torch.manual_seed(0)
    poso = POSOMMoE.from_spec(POSOMMoEParams(num_tasks=2, num_experts=2, expert_hidden_dims=[2]),
                              [TensorSpec((3,)), TensorSpec((2,))], "poso")
    with torch.no_grad():
        poso.gate_out_weight.zero_()
    x, pc = torch.randn(4, 3), torch.randn(4, 2)
    torch.testing.assert_close(poso.poso_gates(pc), torch.ones(4, 2, 2))  # 2 * sigmoid(0) = 1
    experts = torch.stack([expert(x) for expert in poso.experts], dim=1)
    gates = torch.softmax(poso.task_gate(x).view(4, 2, 2), -1)
    for t, y in enumerate(poso([x, pc])):
        torch.testing.assert_close(y, (gates[:, t, :, None] * experts).sum(1))
    with torch.no_grad():
        poso.gate_out_bias.copy_(torch.tensor([[0.0, math.log(3.0)]] * 2))
    # 2 * sigmoid(ln 3) = 2 * 3/4 = 1.5
    torch.testing.assert_close(poso.poso_gates(pc), torch.tensor([[1.0, 1.5]]).expand(4, 2, 2).contiguous())


@pytest.mark.parametrize(
    "spec", [TensorSpec((3,)), [TensorSpec((3,))] * 3, [TensorSpec((3,)), TensorSpec((2, 2))]])
def test_poso_shape_errors(spec: object) -> None:
    with pytest.raises(ShapeError) as info:
        POSOMMoE.from_spec(POSOMMoEParams(num_tasks=2, expert_hidden_dims=[2]), spec, "blk")
    assert "blk: POSOMMoE needs two 2-D inputs; expected [x (B, D), pc (B, D_pc)]" in str(info.value)


def test_load_balance_loss_is_added_in_training_for_top_k_gates() -> None:
    from recblocks.core import ForwardContext
    from recblocks.layers import load_balance_loss

    # both rows routed to expert 0 of 2: importance [2, 0], mean 1, variance 1 -> cv^2 = 1; balanced -> 0
    assert float(load_balance_loss(torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]]]))) == 1.0
    assert float(load_balance_loss(torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]]))) == 0.0
    mmoe = precomputed("topk", [1.0, 0.0], load_balance_weight=0.5)
    assert mmoe.uses_context and not precomputed().uses_context
    x = [torch.cat([E1, E1]), torch.cat([E2, E2]), torch.ones(2, 3)]
    context = ForwardContext(training=True)
    mmoe(x, context)
    value, weight = context.losses["mmoe_load_balance"]
    assert weight == 0.5 and float(value.detach()) == 2.0  # two tasks, each routed to expert 0 for both rows
    evaluation = ForwardContext(training=False)
    mmoe.eval()
    mmoe(x, evaluation)
    assert evaluation.losses == {}
    with pytest.raises(ConfigError, match=r"load_balance_weight applies to the 'topk' and 'noise_topk' gates only"):
        parse_params(MMoEParams, {"num_tasks": 2, "num_experts": 2, "load_balance_weight": 0.1}, "blk")
