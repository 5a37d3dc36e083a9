"""The coalesced-gradient lookup: same values and same (coalesced) gradient as torch's sparse embedding."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from recblocks.layers.row_sparse_lookup import DENSE_MARK_FACTOR, coalesced_row_gradient, mark_coalesced, row_sparse_lookup


def _reference(rows: torch.Tensor, weight: torch.Tensor, upstream: torch.Tensor) -> torch.Tensor:
    w = weight.detach().clone().requires_grad_(True)
    (nn.functional.embedding(rows, w, sparse=True) * upstream).sum().backward()
    return w.grad.coalesce()


@pytest.mark.parametrize("num_rows", [7, 50, 10 * DENSE_MARK_FACTOR * 24])  # mask path, both; unique path
@pytest.mark.parametrize("dim", [1, 4])
def test_gradient_equals_torch_sparse_embedding(num_rows: int, dim: int) -> None:
    gen = torch.Generator().manual_seed(num_rows + dim)
    rows = torch.randint(0, min(num_rows, 9), (4, 6), generator=gen)  # many duplicates
    weight = torch.randn(num_rows, dim, generator=gen, requires_grad=True)
    upstream = torch.randn(4, 6, dim, generator=gen)
    out = row_sparse_lookup(rows, weight)
    assert torch.equal(out, weight[rows])
    (out * upstream).sum().backward()
    grad, expected = weight.grad, _reference(rows, weight, upstream)
    assert grad.is_sparse and mark_coalesced(grad).is_coalesced()
    assert torch.equal(grad.indices(), expected.indices())
    torch.testing.assert_close(grad.values(), expected.values(), rtol=1e-6, atol=1e-6)


def test_both_paths_agree_and_rows_are_sorted_and_distinct() -> None:
    rows = torch.tensor([5, 3, 5, 0, 3, 3])
    values = torch.arange(12, dtype=torch.float32).reshape(6, 2)
    small = coalesced_row_gradient(rows, values, 6)  # mask path (6 <= 8 x 6)
    large = coalesced_row_gradient(rows, values, 10_000)  # unique path
    assert small.indices().tolist() == [[0, 3, 5]] == large.indices().tolist()
    assert small.values().tolist() == [[6, 7], [2 + 8 + 10, 3 + 9 + 11], [0 + 4, 1 + 5]]
    assert torch.equal(small.values(), large.values())


def test_no_autograd_without_grad() -> None:
    weight = torch.randn(5, 3, requires_grad=True)
    with torch.no_grad():
        out = row_sparse_lookup(torch.tensor([[1, 2]]), weight)
    assert out.grad_fn is None and out.shape == (1, 2, 3)


def test_sparse_adam_step_matches_plain_embedding() -> None:
    """One SparseAdam step on each: the same table afterwards (the optimizer's coalesce is a no-op here)."""
    gen = torch.Generator().manual_seed(0)
    rows = torch.randint(0, 20, (32, 3), generator=gen)
    init = torch.randn(20, 4, generator=gen)
    tables = []
    for lookup in (row_sparse_lookup, lambda r, w: nn.functional.embedding(r, w, sparse=True)):
        weight = nn.Parameter(init.clone())
        opt = torch.optim.SparseAdam([weight], lr=0.1)
        for _ in range(3):
            opt.zero_grad()
            lookup(rows, weight).pow(2).sum().backward()
            mark_coalesced(weight.grad)
            opt.step()
        tables.append(weight.detach())
    torch.testing.assert_close(tables[0], tables[1], rtol=1e-6, atol=1e-6)


def test_mark_coalesced_only_when_rows_are_sorted_and_distinct() -> None:
    def coo(rows: list[int]) -> torch.Tensor:
        return torch.sparse_coo_tensor(torch.tensor([rows]), torch.ones(len(rows), 2), (9, 2), check_invariants=True)

    assert mark_coalesced(coo([1, 4, 8])).is_coalesced()
    assert not mark_coalesced(coo([1, 4, 4])).is_coalesced()  # a duplicate
    assert not mark_coalesced(coo([4, 1])).is_coalesced()  # out of order
    assert torch.equal(mark_coalesced(coo([2])).to_dense(), coo([2]).coalesce().to_dense())
