"""SGDW: decoupled weight decay outside the momentum buffer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from recblocks.training.config import TrainConfig
from recblocks.training.optimizers import OPTIMIZERS, make_dense_optimizer
from recblocks.training.sgdw import SGDW


def test_two_steps_match_hand_computed_values():
    w = nn.Parameter(torch.tensor([1.0]))
    opt = SGDW([w], lr=0.1, momentum=0.9, weight_decay=0.5)
    w.grad = torch.tensor([2.0])
    opt.step()
    assert w.item() == pytest.approx(0.95 - 0.2)
    w.grad = torch.tensor([1.0])
    opt.step()
    # buffer = 0.9 * 2 + 1 = 2.8 (no decay term inside it)
    assert w.item() == pytest.approx(0.75 * 0.95 - 0.1 * 2.8)


def test_zero_decay_is_torch_sgd_and_registration():
    a, b = nn.Parameter(torch.tensor([1.0, -2.0])), nn.Parameter(torch.tensor([1.0, -2.0]))
    ours, torchs = SGDW([a], lr=0.1, momentum=0.5), torch.optim.SGD([b], lr=0.1, momentum=0.5)
    for _ in range(3):
        a.grad, b.grad = a.detach() * 2, b.detach() * 2
        ours.step()
        torchs.step()
    assert torch.allclose(a, b)
    assert OPTIMIZERS.canonical("momentumw_optimizer") == "sgdw"
    cfg = TrainConfig.model_validate({"optimizer": {"name": "sgdw", "momentum": 0.9, "weight_decay": 1e-4}})
    opt = make_dense_optimizer([nn.Parameter(torch.zeros(2))], cfg.optimizer, 0.1)
    assert isinstance(opt, SGDW) and opt.param_groups[0]["decoupled_weight_decay"] == 1e-4
