"""FTRL-Proximal (McMahan et al., "Ad Click Prediction: a View from the Trenches", KDD 2013).

Torch ships no FTRL; :class:`Ftrl` follows the update of TensorFlow's ``FtrlOptimizer`` (the one
EasyRec's ``ftrl_optimizer`` builds), per coordinate, with ``p = learning_rate_power`` (-0.5
gives the paper's square-root schedule)::

    n'    = n + g^2
    sigma = (n'^(-p) - n^(-p)) / lr
    z     = z + g + 2 * l2_shrinkage * w - sigma * w
    w     = (sign(z) * l1 - z) / (n'^(-p) / lr + 2 * l2)   if |z| > l1, else 0
    n     = n'

The accumulator ``n`` starts at ``initial_accumulator_value``, ``z`` at zero. A sparse gradient
(an embedding table built with ``sparse=True``) updates only the rows it holds, so the same class
serves dense weights and row-wise tables. A large ``l1`` drives weights to exactly zero, which is
what FTRL is used for on the wide part of a wide-and-deep model.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from recblocks.core.errors import ConfigError

__all__ = ["Ftrl"]


def _check(name: str, value: float, ok: bool, expected: str) -> None:
    if not ok:
        raise ConfigError(f"optimizer.{name}", "invalid FTRL option", expected, value)


class Ftrl(torch.optim.Optimizer):
    """FTRL-Proximal with L1, L2 and L2-shrinkage regularization (TensorFlow's update).

    Args:
        params: the parameters (dense or sparse gradients).
        lr: the learning rate (alpha in the paper).
        lr_power: ``learning_rate_power``, at most 0 (-0.5: ``sqrt`` of the accumulated squares).
        initial_accumulator_value: the starting value of ``n`` (> 0).
        l1, l2: regularization strengths (>= 0).
        l2_shrinkage: the L2 shrinkage strength added to the gradient in ``z`` only (>= 0).

    Example:
        >>> w = nn.Parameter(torch.tensor([0.0]))
        >>> opt = Ftrl([w], lr=1.0, initial_accumulator_value=1.0)
        >>> w.grad = torch.tensor([1.0]); opt.step()
        >>> round(w.item(), 4)  # z = 1, n' = 2: w = -1 / sqrt(2)
        -0.7071
    """

    def __init__(self, params: Iterable[nn.Parameter] | Iterable[dict], lr: float = 0.01, lr_power: float = -0.5,
                 initial_accumulator_value: float = 0.1, l1: float = 0.0, l2: float = 0.0,
                 l2_shrinkage: float = 0.0) -> None:
        _check("lr", lr, lr > 0, "> 0")
        _check("lr_power", lr_power, lr_power <= 0, "<= 0")
        _check("initial_accumulator_value", initial_accumulator_value, initial_accumulator_value > 0, "> 0")
        for name, value in (("l1", l1), ("l2", l2), ("l2_shrinkage", l2_shrinkage)):
            _check(name, value, value >= 0, ">= 0")
        defaults = {"lr": lr, "lr_power": lr_power, "initial_accumulator_value": initial_accumulator_value,
                    "l1": l1, "l2": l2, "l2_shrinkage": l2_shrinkage}
        super().__init__(params, defaults)

    @staticmethod
    def _update(w: torch.Tensor, g: torch.Tensor, n: torch.Tensor, z: torch.Tensor, group: dict) \
            -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """New (w, n, z) for the coordinates given (all tensors of one shape)."""
        lr, power = group["lr"], -group["lr_power"]
        n_new = n + g * g
        sigma = (n_new.pow(power) - n.pow(power)) / lr
        z_new = z + g + 2.0 * group["l2_shrinkage"] * w - sigma * w
        quadratic = n_new.pow(power) / lr + 2.0 * group["l2"]
        l1 = group["l1"]
        w_new = torch.where(z_new.abs() > l1, (torch.sign(z_new) * l1 - z_new) / quadratic, torch.zeros_like(w))
        return w_new, n_new, z_new

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[no-untyped-def]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["accumulator"] = torch.full_like(p, group["initial_accumulator_value"],
                                                           memory_format=torch.preserve_format)
                    state["linear"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                n, z = state["accumulator"], state["linear"]
                if p.grad.is_sparse:
                    grad = p.grad.coalesce()
                    rows, values = grad.indices()[0], grad.values()
                    w_new, n_new, z_new = self._update(p[rows], values, n[rows], z[rows], group)
                    p[rows], n[rows], z[rows] = w_new, n_new, z_new
                else:
                    w_new, n_new, z_new = self._update(p, p.grad, n, z, group)
                    p.copy_(w_new)
                    n.copy_(n_new)
                    z.copy_(z_new)
        return loss
