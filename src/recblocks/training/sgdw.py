"""SGD with momentum and decoupled weight decay (Loshchilov & Hutter, "Decoupled Weight Decay
Regularization", ICLR 2019): the SGD counterpart of AdamW, EasyRec's ``momentumw_optimizer``.

Each step first shrinks every weight, ``w <- w * (1 - lr * weight_decay)``, then applies
torch's SGD (momentum, Nesterov) to the gradient alone, so the decay never enters the momentum
buffer (L2 weight decay in ``torch.optim.SGD`` adds ``weight_decay * w`` to the gradient instead).
The decay is scaled by the learning rate as in :class:`torch.optim.AdamW`; TensorFlow's
``MomentumWOptimizer`` subtracts ``weight_decay * w`` unscaled.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["SGDW"]


class SGDW(torch.optim.SGD):
    """SGD (momentum, Nesterov) with decoupled weight decay ``w <- w * (1 - lr * weight_decay)``.

    Args:
        params: the parameters (dense gradients).
        lr: learning rate.
        momentum, nesterov: as in :class:`torch.optim.SGD`.
        weight_decay: the decoupled decay rate (>= 0).

    Example:
        >>> w = nn.Parameter(torch.tensor([1.0]))
        >>> opt = SGDW([w], lr=0.1, momentum=0.9, weight_decay=0.5)
        >>> w.grad = torch.tensor([2.0]); opt.step()
        >>> round(w.item(), 4)  # 1 * (1 - 0.05) - 0.1 * 2
        0.75
    """

    def __init__(self, params: Iterable[nn.Parameter] | Iterable[dict], lr: float = 0.01, momentum: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(params, lr=lr, momentum=momentum, nesterov=nesterov)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = weight_decay

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[no-untyped-def]
        for group in self.param_groups:
            decay = group["lr"] * group["decoupled_weight_decay"]
            if decay:
                for p in group["params"]:
                    if p.grad is not None:
                        p.mul_(1.0 - decay)
        return super().step(closure)
