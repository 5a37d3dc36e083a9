"""SparseAdam with the update done by row indexing instead of sparse-tensor arithmetic.

:class:`torch.optim.SparseAdam` reads and writes the moments of the looked-up rows through
sparse tensors (``sparse_mask``, a sparse ``add_`` per moment and for the weights), each of
which rebuilds and checks index structures; on a CPU that cost 2-4 ms per table per step for
20,000 rows of 16 numbers. This subclass does the same arithmetic, operation for operation (so
the same numbers, bit for bit), on the rows of a coalesced gradient with ``index_select`` and
``index_add_``: old moments read, the updates ``(1 - beta)(new - old)`` added, the weights moved
by ``-step_size * m / (sqrt(v) + eps)``. Its state (``step``, ``exp_avg``, ``exp_avg_sq``) and
``state_dict`` are SparseAdam's, so checkpoints load either way.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from recblocks.layers.row_sparse_lookup import mark_coalesced

__all__ = ["RowSparseAdam"]


class RowSparseAdam(torch.optim.SparseAdam):
    """Lazy Adam for embedding tables with sparse row gradients (``SparseAdam``'s rule and state).

    Args: as :class:`torch.optim.SparseAdam` (``params``, ``lr``, ``betas``, ``eps``, ``maximize``).

    Shape:
        - Parameters ``(V, D)`` with sparse COO gradients of one sparse dimension (rows).
    """

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            eps, lr, maximize = group["eps"], float(group["lr"]), group.get("maximize", False)
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                if not grad.is_sparse:
                    raise RuntimeError("SparseAdam does not support dense gradients, please consider Adam instead")
                state = self.state[param]
                if len(state) == 0:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                state["step"] += 1
                _update(param, grad if not maximize else -grad, state, beta1, beta2, eps, lr)
        return loss


def _update(param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], beta1: float, beta2: float,
            eps: float, lr: float) -> None:
    """One SparseAdam update of ``param``'s looked-up rows (the same operations, on row indices)."""
    if grad.sparse_dim() != 1:
        torch.optim._functional.sparse_adam([param], [grad], [state["exp_avg"]], [state["exp_avg_sq"]],
                                            [state["step"]], eps=eps, beta1=beta1, beta2=beta2, lr=lr, maximize=False)
        return
    grad = mark_coalesced(grad)
    grad = grad if grad.is_coalesced() else grad.coalesce()  # the update is non-linear: each row once
    rows, values = grad._indices()[0], grad._values()
    if values.numel() == 0:
        return
    exp_avg, exp_avg_sq, step = state["exp_avg"], state["exp_avg_sq"], state["step"]
    old_exp_avg = exp_avg.index_select(0, rows)
    exp_avg_update = values.sub(old_exp_avg).mul_(1 - beta1)
    exp_avg.index_add_(0, rows, exp_avg_update)
    old_exp_avg_sq = exp_avg_sq.index_select(0, rows)
    exp_avg_sq_update = values.pow(2).sub_(old_exp_avg_sq).mul_(1 - beta2)
    exp_avg_sq.index_add_(0, rows, exp_avg_sq_update)
    numer = exp_avg_update.add_(old_exp_avg)
    denom = exp_avg_sq_update.add_(old_exp_avg_sq).sqrt_().add_(eps)
    step_size = lr * math.sqrt(1 - beta2**step) / (1 - beta1**step)
    param.index_add_(0, rows, -step_size * numer.div_(denom))
