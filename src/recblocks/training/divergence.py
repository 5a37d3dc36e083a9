"""Divergence detection: warn when training runs away or learns nothing.

Two rules, chosen never to fire on a healthy run:

* **Loss far above its start** — the mean training loss of a logging window (the losses the
  trainer syncs every ``log_every`` steps) exceeds both ``ratio`` × the loss of the first
  step and that loss + ``margin``. A healthy run's loss falls from its first value; a loss
  ten times higher (and at least one unit higher, so tiny losses near 0 do not count) means
  the updates are blowing the weights up (e.g. Adam with learning rate 1e3: loss ~1e9).
  The first step is the reference, not the first window, because a run that diverges at
  once already has a huge first window.
* **AUC at chance** — after at least ``chance_after_steps`` training steps, a validation AUC
  (``auc``, ``gauc``, or ``<task>/auc``...) within ``chance_band`` of 0.5: the scores rank
  positives no better than a coin (often all scores are equal: saturated outputs).

Each warning is logged (logger ``recblocks.training``, level WARNING) with the epoch and the
step, and returned as a plain dict ``{"kind", "epoch", "step", "message"}`` that the trainer
keeps in the epoch record (``epochs.jsonl``) and in ``metrics.json`` (``warnings``). The
loss rule warns at most once per epoch. Checks run only where the trainer already syncs the
loss (every ``log_every`` steps), so the inner loop gains no work.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["DivergenceMonitor", "LOSS_DIVERGENCE", "AUC_AT_CHANCE"]

logger = logging.getLogger("recblocks.training")

LOSS_DIVERGENCE = "loss_divergence"
AUC_AT_CHANCE = "auc_at_chance"
_AUC_NAMES = ("auc", "gauc", "group_auc")


class DivergenceMonitor:
    """The two rules of the module docstring, with their thresholds.

    Args:
        ratio: a window mean above ``ratio`` × the first loss (and above first + ``margin``) warns.
        margin: the absolute part of the loss rule.
        chance_band: AUC within this distance of 0.5 is at chance.
        chance_after_steps: the AUC rule applies from this global step on.

    Example:
        >>> monitor = DivergenceMonitor()
        >>> monitor.start(0.69)
        >>> monitor.check_loss(0.5, step=100, epoch=0) is None
        True
        >>> monitor.check_loss(1.5e9, step=200, epoch=0)["kind"]
        'loss_divergence'
    """

    def __init__(self, ratio: float = 10.0, margin: float = 1.0, chance_band: float = 0.01,
                 chance_after_steps: int = 100) -> None:
        self.ratio = ratio
        self.margin = margin
        self.chance_band = chance_band
        self.chance_after_steps = chance_after_steps
        self.first_loss: float | None = None
        self._warned_epoch: int | None = None

    def start(self, first_loss: float) -> None:
        """Take the loss of the first training step as the reference (only the first call counts)."""
        if self.first_loss is None and math.isfinite(first_loss):
            self.first_loss = float(first_loss)

    @property
    def limit(self) -> float | None:
        """The window mean above which the loss rule warns (None before :meth:`start`)."""
        if self.first_loss is None:
            return None
        return max(self.ratio * self.first_loss, self.first_loss + self.margin)

    def check_loss(self, mean: float, step: int, epoch: int) -> dict[str, Any] | None:
        """A warning when the window ending at ``step`` (1-based) has a mean above :attr:`limit`."""
        limit = self.limit
        if limit is None or self._warned_epoch == epoch or not mean > limit:
            return None
        self._warned_epoch = epoch
        return _warn(LOSS_DIVERGENCE, epoch, step,
                     f"the training loss is diverging: mean {mean:.4g} over the steps up to {step}, above "
                     f"{limit:.4g} (max of {self.ratio:g} x and +{self.margin:g} over the first step's loss "
                     f"{self.first_loss:.4g}); lower the learning rate or set train.grad_clip_norm")

    def check_validation(self, metrics: Mapping[str, float], step: int, epoch: int) -> list[dict[str, Any]]:
        """Warnings for every AUC of ``metrics`` at chance once ``step`` >= ``chance_after_steps``."""
        if step < self.chance_after_steps:
            return []
        warnings = []
        for key, value in metrics.items():
            if key.rpartition("/")[2] in _AUC_NAMES and isinstance(value, float) and math.isfinite(value) \
                    and abs(value - 0.5) < self.chance_band:
                warnings.append(_warn(AUC_AT_CHANCE, epoch, step,
                                      f"validation {key} is {value:.4f}, at chance (within {self.chance_band:g} "
                                      f"of 0.5) after {step} training steps: the model ranks no better than a "
                                      "coin; check the labels, the features and the learning rate"))
        return warnings


def _warn(kind: str, epoch: int, step: int, message: str) -> dict[str, Any]:
    logger.warning("warning at epoch %d, step %d: %s", epoch + 1, step, message)
    return {"kind": kind, "epoch": epoch + 1, "step": step, "message": message}
