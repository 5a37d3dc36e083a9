"""An embedding lookup whose gradient arrives already coalesced (one entry per distinct row).

``nn.functional.embedding(..., sparse=True)`` returns a COO gradient with one entry per looked-up
id, duplicates included; every row-wise optimizer (SparseAdam, sparse Adagrad, SGD) then calls
``coalesce()``, a sort of all ``N`` ids plus a reduction, which on a CPU was the largest single
cost of a small-model training step (about 1 ms per table per 1,024 x 14 ids). This lookup's
backward sums the duplicates itself, so the gradient holds each row once, in order. Autograd
drops the tensor's "coalesced" mark when it stores the gradient in ``.grad``;
:func:`mark_coalesced` (called by the trainer's optimizer before each step) puts it back after
checking the rows are strictly increasing, so the optimizers' own ``coalesce()`` is free. The
distinct rows are found by:

* tables with at most ``DENSE_MARK_FACTOR x N`` rows: a touched-row mask over the table and its
  ``nonzero`` (the sorted distinct rows): ``O(rows + N)``, no sort;
* larger tables: ``torch.unique(sorted=True, return_inverse=True)``.

The gradient equals the coalesced gradient of ``nn.functional.embedding(sparse=True)`` (the same
rows, the same sums; a row whose gradient sums to zero is kept, as there).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["row_sparse_lookup", "coalesced_row_gradient", "mark_coalesced", "DENSE_MARK_FACTOR"]

#: a table with at most this many rows per looked-up id finds its distinct rows with a mask
DENSE_MARK_FACTOR = 8


def coalesced_row_gradient(rows: torch.Tensor, values: torch.Tensor, num_rows: int) -> torch.Tensor:
    """Sum ``values`` per distinct row: a coalesced sparse ``(num_rows, D)`` gradient.

    Shape:
        - Input: ``rows`` ``(N,)`` int64 in ``[0, num_rows)``, ``values`` ``(N, D)``.
        - Output: sparse COO ``(num_rows, D)`` with ``U`` sorted distinct rows, ``is_coalesced()``.
    """
    if num_rows <= DENSE_MARK_FACTOR * max(rows.numel(), 1):
        touched = torch.zeros(num_rows, dtype=torch.bool, device=rows.device)
        touched[rows] = True
        distinct = touched.nonzero().squeeze(1)
        position = torch.empty(num_rows, dtype=torch.int64, device=rows.device)  # only touched rows are read
        position[distinct] = torch.arange(distinct.numel(), device=rows.device)
        inverse = position[rows]  # each id's place among the distinct rows
    else:
        distinct, inverse = torch.unique(rows, sorted=True, return_inverse=True)
    summed = values.new_zeros(distinct.numel(), values.shape[1]).index_add_(0, inverse, values)
    return torch.sparse_coo_tensor(distinct.unsqueeze(0), summed, (num_rows, values.shape[1]),
                                   is_coalesced=True, check_invariants=False)  # rows are in range by construction


class _RowSparseLookup(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(rows)
        ctx.num_rows = weight.shape[0]
        return nn.functional.embedding(rows, weight)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (rows,) = ctx.saved_tensors
        flat = grad.reshape(-1, grad.shape[-1])
        return coalesced_row_gradient(rows.reshape(-1), flat.contiguous(), ctx.num_rows), None


def row_sparse_lookup(rows: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``weight[rows]`` with a coalesced sparse gradient for ``weight``.

    Shape:
        - Input: ``rows`` ``(...)`` int64 row ids, ``weight`` ``(V, D)``.
        - Output: ``(..., D)``.
    """
    if not (torch.is_grad_enabled() and weight.requires_grad):
        return nn.functional.embedding(rows, weight)
    return _RowSparseLookup.apply(weight, rows)


def mark_coalesced(grad: torch.Tensor) -> torch.Tensor:
    """Mark a sparse row gradient coalesced, in place, when its rows are already sorted and distinct.

    A check of ``O(U)`` against ``coalesce()``'s sort; a gradient that is not (several lookups of
    one table added up, a data-parallel all-reduce) is left as it is. Returns ``grad``.
    """
    if grad.is_sparse and not grad.is_coalesced() and grad.sparse_dim() == 1:
        rows = grad._indices()[0]
        if rows.numel() < 2 or bool((rows[1:] > rows[:-1]).all()):
            grad._coalesced_(True)
    return grad
