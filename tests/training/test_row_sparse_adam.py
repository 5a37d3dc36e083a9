"""RowSparseAdam: SparseAdam's updates, bit for bit, and its state layout."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from recblocks.layers.row_sparse_lookup import row_sparse_lookup
from recblocks.training.row_sparse_adam import RowSparseAdam


def _train(optimizer_class: type, lookup, steps: int = 6, **options) -> tuple[torch.Tensor, dict]:
    gen = torch.Generator().manual_seed(3)
    weight = nn.Parameter(torch.randn(40, 5, generator=gen))
    optimizer = optimizer_class([weight], lr=0.05, **options)
    for step in range(steps):
        rows = torch.randint(0, 12 if step % 2 else 40, (16, 3), generator=gen)  # duplicates, untouched rows
        target = torch.randn(16, 3, 5, generator=gen)
        optimizer.zero_grad()
        (lookup(rows, weight) - target).pow(2).sum().backward()
        optimizer.step()
    return weight.detach(), optimizer.state_dict()


def _plain(rows: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return nn.functional.embedding(rows, weight, sparse=True)


@pytest.mark.parametrize("lookup", [_plain, row_sparse_lookup], ids=["uncoalesced", "coalesced"])
@pytest.mark.parametrize("options", [{}, {"betas": (0.8, 0.95), "eps": 1e-6}, {"maximize": True}])
def test_same_weights_and_state_as_torch_sparse_adam(lookup, options) -> None:
    expected, expected_state = _train(torch.optim.SparseAdam, lookup, **options)
    got, state = _train(RowSparseAdam, lookup, **options)
    assert torch.equal(got, expected)
    assert state["state"][0]["step"] == expected_state["state"][0]["step"] == 6
    for key in ("exp_avg", "exp_avg_sq"):
        assert torch.equal(state["state"][0][key], expected_state["state"][0][key])


def test_state_loads_into_torch_sparse_adam_and_back() -> None:
    _, state = _train(RowSparseAdam, row_sparse_lookup)
    weight = nn.Parameter(torch.zeros(40, 5))
    torch.optim.SparseAdam([weight], lr=0.05).load_state_dict(state)
    RowSparseAdam([weight], lr=0.05).load_state_dict(state)


def test_dense_gradient_is_refused_as_sparse_adam_does() -> None:
    weight = nn.Parameter(torch.zeros(3, 2))
    weight.grad = torch.ones(3, 2)
    with pytest.raises(RuntimeError, match="does not support dense gradients"):
        RowSparseAdam([weight], lr=0.1).step()
