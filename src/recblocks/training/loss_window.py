"""The losses of the training steps since the last sync, kept as detached tensors.

The trainer appends each step's total and its terms (:class:`~recblocks.core.context.LossTerms`
values, detached) without reading them; every ``log_every`` steps :meth:`LossWindow.sync`
reads them all at once (one device sync), checks them and returns the sums.
"""

from __future__ import annotations

import math

import torch

from recblocks.training.errors import NonFiniteLossError

__all__ = ["LossWindow"]


class LossWindow:
    """Detached per-step totals and term values (see module docstring).

    Attributes:
        totals: one scalar tensor per step (the total loss).
        rows: one list of scalar tensors per step (the terms, in the order of the names).

    Example:
        >>> window = LossWindow()
        >>> for step in range(2):
        ...     window.totals.append(torch.tensor(1.0 + step))
        ...     window.rows.append([torch.tensor(0.5 + step), torch.tensor(0.5)])
        >>> window.sync(["task/ctr", "regularization"], last_step=2, epoch=0)
        (3.0, [2.0, 1.0])
        >>> len(window)
        0
    """

    __slots__ = ("totals", "rows")

    def __init__(self) -> None:
        self.totals: list[torch.Tensor] = []
        self.rows: list[list[torch.Tensor]] = []

    def __len__(self) -> int:
        return len(self.totals)

    def sync(self, names: list[str], last_step: int, epoch: int) -> tuple[float, list[float]]:
        """``(sum of the totals, per-term sums)`` over the window, which is emptied.

        Raises:
            NonFiniteLossError: a total is NaN/inf, naming its 1-based global step (the window
                ends at ``last_step``) and the first non-finite term of that step.
        """
        stacked = torch.stack(self.totals)
        device = stacked.device
        columns = [torch.stack([v.to(device) for v in column]).sum() for column in zip(*self.rows)]
        sums = torch.stack([stacked.sum(), *columns]).tolist()  # the one sync of the window
        total = sums[0]
        if not math.isfinite(total):
            bad = int((~torch.isfinite(stacked)).nonzero()[0, 0])
            cause = next((f"loss term '{name}' is {float(value)}" for name, value in zip(names, self.rows[bad])
                          if not math.isfinite(float(value))), None)
            raise NonFiniteLossError(last_step - len(self.totals) + bad + 1, epoch, float(stacked[bad]), cause)
        self.totals.clear()
        self.rows.clear()
        return total, sums[1:]
