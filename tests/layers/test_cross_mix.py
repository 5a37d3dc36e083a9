"""CrossNetMix: the hand case of components.md §2.5, a naive-loop property and its shape errors."""

from __future__ import annotations

import math

import pytest
import torch

from recblocks.core import ShapeError, TensorSpec
from recblocks.core.errors import ConfigError
from recblocks.core.params import parse_params
from recblocks.layers import CrossNetMix, CrossNetMixParams


def test_hand_case() -> None:
    # D=2, r=1, K=2, x0=[1,2], gates zero (pi = 0.5, 0.5), b=0.
    # expert 1: V=[[1],[0]], C=[[1]], U=[[1],[1]] -> tanh(tanh(1)) = 0.642015 -> E1 = [0.642015, 1.284030]
    # expert 2 all zero -> E2 = 0; x1 = x0 + 0.5 E1 = [1.321007, 2.642015]
    net = CrossNetMix.from_spec(CrossNetMixParams(num_layers=1, low_rank=1, num_experts=2), TensorSpec((2,)), "mix")
    with torch.no_grad():
        net.u.zero_(), net.v.zero_(), net.c.zero_(), net.gates.zero_()
        net.v[0, 0] = torch.tensor([[1.0], [0.0]])
        net.c[0, 0] = 1.0
        net.u[0, 0] = 1.0
    out = net(torch.tensor([[1.0, 2.0]]))
    inner = math.tanh(math.tanh(1.0))
    assert inner == pytest.approx(0.642015, abs=1e-6)
    torch.testing.assert_close(out, torch.tensor([[1.321007, 2.642015]]), atol=1e-5, rtol=0)


def _naive(net: CrossNetMix, x: torch.Tensor) -> torch.Tensor:
    x0 = x
    for layer in range(net.params.num_layers):
        experts, logits = [], []
        for i in range(net.params.num_experts):
            low = torch.tanh(x @ net.v[layer, i])
            low = torch.tanh(low @ net.c[layer, i].T)
            experts.append(x0 * (low @ net.u[layer, i].T + net.bias[layer]))
            gate = net.gates[0 if net.params.share_gates else layer, i]
            logits.append(x @ gate)
        weights = torch.softmax(torch.stack(logits, dim=-1), dim=-1)
        x = sum(weights[:, i:i + 1] * experts[i] for i in range(len(experts))) + x
    return x


@pytest.mark.parametrize("share", [True, False])
def test_equals_a_loop_over_experts(share: bool) -> None:
    net = CrossNetMix.from_spec(CrossNetMixParams(num_layers=2, low_rank=3, num_experts=3, share_gates=share),
                                TensorSpec((5,)))
    with torch.no_grad():
        net.bias.normal_()
    x = torch.randn(4, 5)
    torch.testing.assert_close(net(x), _naive(net, x))
    assert net.gates.shape == ((1 if share else 2), 3, 5)


def test_one_expert_has_no_gate_and_batch_of_one_works() -> None:
    net = CrossNetMix.from_spec(CrossNetMixParams(num_experts=1, low_rank=2), TensorSpec((3,)))
    assert net.gates is None
    assert net(torch.randn(1, 3)).shape == (1, 3)


def test_params_ranges_and_aliases() -> None:
    with pytest.raises(ConfigError, match="num_experts"):
        parse_params(CrossNetMixParams, {"num_experts": 0}, "mix")
    with pytest.raises(ConfigError, match="low_rank"):
        parse_params(CrossNetMixParams, {"low_rank": 0}, "mix")
    from recblocks.core import COMPONENTS
    assert COMPONENTS.canonical("LowRankMixtureCrossNet") == "CrossNetMix"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([TensorSpec((2,)), TensorSpec((2,))], "mix: CrossNetMix: input must be a single tensor; expected (B, D)"),
        (TensorSpec((2, 2)), "mix: CrossNetMix: input has the wrong rank; expected (B, D)"),
        (TensorSpec((2,), "long"), "mix: CrossNetMix: input must be a float tensor; expected (B, D)"),
    ],
)
def test_shape_errors(spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        CrossNetMix.from_spec(CrossNetMixParams(), spec, "mix")
    assert message in str(info.value)
