"""Row-wise Adagrad: one accumulator per embedding row, FBGEMM's ``EXACT_ROWWISE_ADAGRAD`` in plain torch.

For a row ``r`` whose (summed) gradient in a step is ``g_r`` (``D`` numbers)::

    a_r <- a_r + mean_d(g_r[d]^2)                  (one float per row, not per weight)
    w_r <- w_r - lr * g_r / (sqrt(a_r) + eps)

Rows absent from a sparse gradient keep their weights and accumulators untouched (a
10^6-row table costs only the looked-up rows per step); duplicate rows in a sparse gradient
are summed first, as FBGEMM sums a row's gradients inside a batch before its update. The
accumulator costs ``rows`` floats instead of Adagrad's ``rows x D``. A dense gradient is read
the same way, each index of dimension 0 being a row (a 1-D parameter: one row per element).

Defaults follow FBGEMM: ``eps = 1e-8``, accumulators start at ``initial_accumulator_value`` (0).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from recblocks.core.errors import ConfigError

__all__ = ["RowWiseAdagrad"]


class RowWiseAdagrad(torch.optim.Optimizer):
    """Adagrad with one accumulator per row: the mean squared gradient of the row (FBGEMM's definition).

    Args:
        params: the parameters (sparse gradients from ``nn.Embedding(sparse=True)`` or dense ones).
        lr: learning rate (> 0).
        eps: added to the square root of the accumulator (> 0; FBGEMM's default 1e-8).
        initial_accumulator_value: starting value of every row's accumulator (>= 0).

    Shape:
        - a parameter ``(R, D...)`` keeps a state ``sum`` of shape ``(R,)``.

    Example:
        >>> w = nn.Parameter(torch.zeros(3, 2))
        >>> opt = RowWiseAdagrad([w], lr=1.0, eps=0.0)
        >>> w.grad = torch.sparse_coo_tensor([[1]], [[3.0, 4.0]], (3, 2)); opt.step()
        >>> opt.state[w]["sum"].tolist()  # (9 + 16) / 2 for row 1 only
        [0.0, 12.5, 0.0]
        >>> [round(x, 4) for x in w[1].tolist()]  # -g / sqrt(12.5)
        [-0.8485, -1.1314]
    """

    def __init__(self, params: Iterable[nn.Parameter] | Iterable[dict], lr: float = 0.01, eps: float = 1e-8,
                 initial_accumulator_value: float = 0.0) -> None:
        if not lr > 0.0:
            raise ConfigError("optimizer.lr", "invalid row-wise Adagrad learning rate", "> 0", lr)
        if not eps >= 0.0:
            raise ConfigError("optimizer.eps", "invalid row-wise Adagrad eps", ">= 0", eps)
        if not initial_accumulator_value >= 0.0:
            raise ConfigError("optimizer.initial_accumulator_value", "invalid row-wise Adagrad accumulator",
                              ">= 0", initial_accumulator_value)
        super().__init__(params, {"lr": lr, "eps": eps, "initial_accumulator_value": initial_accumulator_value})

    def _state(self, p: torch.Tensor, group: dict) -> torch.Tensor:
        state = self.state[p]
        if "sum" not in state:
            rows = p.shape[0] if p.dim() else 1
            state["sum"] = torch.full((rows,), float(group["initial_accumulator_value"]), dtype=p.dtype,
                                      device=p.device)
        return state["sum"]

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[no-untyped-def]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, eps = group["lr"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                acc = self._state(p, group)
                grad = p.grad
                if grad.is_sparse and grad.sparse_dim() != 1:  # not row-sparse (nn.Embedding's layout)
                    grad = grad.to_dense()
                if grad.is_sparse:
                    grad = grad.coalesce()
                    rows, values = grad._indices()[0], grad._values()
                    if rows.numel() == 0:
                        continue
                    flat = values.reshape(values.shape[0], -1)
                    acc.index_add_(0, rows, flat.square().mean(dim=1))
                    scale = lr / (acc.index_select(0, rows).sqrt() + eps)
                    p.index_add_(0, rows, values * -scale.view(-1, *([1] * (values.dim() - 1))))
                else:
                    flat = grad.reshape(acc.shape[0], -1)
                    acc.add_(flat.square().mean(dim=1))
                    scale = lr / (acc.sqrt() + eps)
                    p.add_((flat * -scale.unsqueeze(1)).view_as(p))
        return loss
