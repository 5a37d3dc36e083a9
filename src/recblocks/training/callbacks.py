"""Hooks into ``Trainer.fit``; none runs per step (``on_log`` runs every ``log_every`` steps)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from recblocks.training.history import EpochRecord, History
    from recblocks.training.trainer import Trainer

__all__ = ["Callback"]


class Callback:
    """Base class: override the hooks you need. Set ``trainer.stop_training = True`` to stop
    after the current epoch."""

    def on_fit_start(self, trainer: "Trainer") -> None:
        """Before the first epoch."""

    def on_epoch_start(self, trainer: "Trainer", epoch: int) -> None:
        """Before epoch ``epoch`` (0-based)."""

    def on_log(self, trainer: "Trainer", step: int, loss: float) -> None:
        """Every ``log_every`` steps with the mean loss since the previous call."""

    def on_epoch_end(self, trainer: "Trainer", record: "EpochRecord") -> None:
        """After training and validating one epoch."""

    def on_fit_end(self, trainer: "Trainer", history: "History") -> None:
        """After the last epoch (best weights already restored)."""
