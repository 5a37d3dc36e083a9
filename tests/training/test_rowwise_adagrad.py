"""Row-wise Adagrad: one accumulator per row (the row's mean squared gradient), sparse row updates."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
from torch import nn

from recblocks.core.errors import ConfigError
from recblocks.core.params import parse_params
from recblocks.training import rowwise_adagrad
from recblocks.training.config import TrainConfig
from recblocks.training.optimizers import OPTIMIZERS, make_sparse_optimizer
from recblocks.training.rowwise_adagrad import RowWiseAdagrad


def test_two_sparse_steps_match_hand_computed_values():
    w = nn.Parameter(torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]))
    opt = RowWiseAdagrad([w], lr=0.5, eps=0.0, initial_accumulator_value=1.0)
    # row 2 twice in one gradient: summed to (2, 2) before the update, as FBGEMM does
    w.grad = torch.sparse_coo_tensor([[2, 2]], [[1.0, 1.0], [1.0, 1.0]], (3, 2))
    opt.step()
    assert opt.state[w]["sum"].tolist() == [1.0, 1.0, 5.0]  # 1 + (4 + 4) / 2; rows 0, 1 untouched
    assert w[2].tolist() == pytest.approx([3.0 - 0.5 * 2 / math.sqrt(5.0)] * 2)
    assert w[:2].tolist() == [[1.0, 1.0], [2.0, 2.0]]
    w.grad = torch.sparse_coo_tensor([[0]], [[3.0, -1.0]], (3, 2))
    opt.step()
    assert opt.state[w]["sum"][0].item() == pytest.approx(1.0 + 5.0)
    assert w[0].tolist() == pytest.approx([1.0 - 0.5 * 3 / math.sqrt(6.0), 1.0 + 0.5 / math.sqrt(6.0)])


def test_dense_gradient_equals_the_sparse_one_with_every_row():
    torch.manual_seed(0)
    start = torch.randn(5, 4)
    a, b = nn.Parameter(start.clone()), nn.Parameter(start.clone())
    opt_a, opt_b = RowWiseAdagrad([a], lr=0.1), RowWiseAdagrad([b], lr=0.1)
    for _ in range(3):
        grad = torch.randn(5, 4)
        grad[3] = 0.0
        a.grad = grad.clone()
        b.grad = grad.to_sparse(1)  # row-sparse, as nn.Embedding(sparse=True)
        opt_a.step()
        opt_b.step()
    assert torch.allclose(a, b, atol=1e-6) and torch.allclose(opt_a.state[a]["sum"], opt_b.state[b]["sum"])
    assert torch.equal(a[3], start[3])  # a zero-gradient row never moves


def test_registration_config_and_state_round_trip():
    assert OPTIMIZERS.canonical("exact_rowwise_adagrad") == "rowwise_adagrad"
    cfg = TrainConfig.model_validate({"embedding_optimizer": {"name": "rowwise_adagrad", "lr": 0.05,
                                                              "initial_accumulator_value": 0.1}})
    table = nn.Embedding(6, 3, sparse=True)
    opt = make_sparse_optimizer([table.weight], cfg.embedding_optimizer, cfg.embedding_learning_rate)
    assert isinstance(opt, RowWiseAdagrad) and opt.param_groups[0]["eps"] == 1e-8  # FBGEMM's default
    table(torch.tensor([1, 4])).sum().backward()
    opt.step()
    twin = RowWiseAdagrad([nn.Parameter(table.weight.detach().clone())], lr=0.05)
    twin.load_state_dict(opt.state_dict())
    assert torch.equal(next(iter(twin.state.values()))["sum"], opt.state[table.weight]["sum"])
    with pytest.raises(ConfigError, match=r"^train.embedding_optimizer: .*momentum is an sgd/sgdw option"):
        parse_params(TrainConfig, {"embedding_optimizer": {"name": "rowwise_adagrad", "momentum": 0.5}}, "train")
    with pytest.raises(ConfigError, match=r"^optimizer.lr: invalid row-wise Adagrad learning rate"):
        RowWiseAdagrad([nn.Parameter(torch.zeros(1))], lr=0.0)


def test_docstring_example_runs():
    result = doctest.testmod(rowwise_adagrad, extraglobs={"torch": torch, "nn": nn})
    assert result.attempted > 0 and result.failed == 0
