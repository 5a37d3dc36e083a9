"""FTRL-Proximal against updates computed by hand from TensorFlow's formula."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from recblocks.core.errors import ConfigError
from recblocks.core.params import parse_params
from recblocks.training.config import TrainConfig
from recblocks.training.ftrl import Ftrl
from recblocks.training.optimizers import OPTIMIZERS, make_dense_optimizer


def test_two_steps_match_hand_computed_values():
    w = nn.Parameter(torch.tensor([0.5, -0.2]))
    opt = Ftrl([w], lr=0.1, initial_accumulator_value=0.1, l1=0.01, l2=0.5)
    w.grad = torch.tensor([0.3, 0.0])
    opt.step()
    # coordinate 0: n' = 0.19, sigma = (sqrt(.19) - sqrt(.1)) / .1, z = 0.3 - sigma * 0.5
    z0 = 0.3 - (math.sqrt(0.19) - math.sqrt(0.1)) / 0.1 * 0.5
    w0 = (math.copysign(0.01, z0) - z0) / (math.sqrt(0.19) / 0.1 + 1.0)
    # coordinate 1: no gradient, sigma = 0, z = 0 -> |z| <= l1 -> w = 0
    assert w.tolist() == pytest.approx([w0, 0.0], abs=1e-6)
    w.grad = torch.tensor([-0.4, 0.0])
    opt.step()
    sigma = (math.sqrt(0.35) - math.sqrt(0.19)) / 0.1
    z1 = z0 - 0.4 - sigma * w0
    w1 = (math.copysign(0.01, z1) - z1) / (math.sqrt(0.35) / 0.1 + 1.0)
    assert w[0].item() == pytest.approx(w1, abs=1e-6)


def test_large_l1_gives_exact_zeros_and_shrinkage_enters_z_only():
    w = nn.Parameter(torch.tensor([1.0]))
    opt = Ftrl([w], lr=1.0, initial_accumulator_value=1.0, l1=10.0)
    w.grad = torch.tensor([1.0])
    opt.step()
    assert w.item() == 0.0
    v = nn.Parameter(torch.tensor([1.0]))
    opt = Ftrl([v], lr=1.0, initial_accumulator_value=1.0, l2_shrinkage=0.25)
    v.grad = torch.tensor([1.0])
    opt.step()
    sigma = math.sqrt(2.0) - 1.0
    z = 1.0 + 2 * 0.25 * 1.0 - sigma * 1.0
    assert v.item() == pytest.approx(-z / math.sqrt(2.0), abs=1e-6)
    assert opt.state[v]["accumulator"].item() == pytest.approx(2.0)  # n uses the raw gradient


def test_sparse_gradient_updates_only_its_rows_like_the_dense_update():
    torch.manual_seed(0)
    dense = nn.Embedding(5, 3)
    sparse = nn.Embedding(5, 3, sparse=True)
    sparse.weight.data.copy_(dense.weight.data)
    before = dense.weight.detach().clone()
    ids = torch.tensor([1, 3, 1])
    for table in (dense, sparse):
        opt = Ftrl(table.parameters(), lr=0.05, l1=0.001)
        for _ in range(2):
            opt.zero_grad()
            table(ids).pow(2).sum().backward()
            opt.step()
    assert torch.allclose(dense.weight[[1, 3]], sparse.weight[[1, 3]], atol=1e-6)
    # rows 0, 2, 4 had no gradient: the sparse step leaves them alone
    assert torch.equal(sparse.weight[[0, 2, 4]], before[[0, 2, 4]])


def test_registered_with_easyrec_alias_and_options():
    assert OPTIMIZERS.canonical("ftrl_optimizer") == "ftrl"
    cfg = TrainConfig.model_validate({"optimizer": {"name": "ftrl", "lr": 0.1, "l1": 2.0, "lr_power": -0.5}})
    opt = make_dense_optimizer([nn.Parameter(torch.zeros(2))], cfg.optimizer, 0.1)
    assert isinstance(opt, Ftrl) and opt.param_groups[0]["l1"] == 2.0
    assert opt.param_groups[0]["initial_accumulator_value"] == 0.1  # 0 means TensorFlow's 0.1
    with pytest.raises(ConfigError, match="train.optimizer: l1 is an ftrl option; adam has none"):
        parse_params(TrainConfig, {"optimizer": {"name": "adam", "l1": 1.0}}, "train")
    with pytest.raises(ConfigError, match="lr_power"):
        Ftrl([nn.Parameter(torch.zeros(1))], lr_power=0.5)
