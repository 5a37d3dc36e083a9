"""Hooks into ``Trainer.fit``; none runs per step (``on_log`` runs every ``log_every`` steps).

Everything a run leaves on disk is written through these hooks (see
:class:`~recblocks.runs.run_callback.RunDirCallback`): the trainer itself writes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from recblocks.training.history import EpochRecord, History
    from recblocks.training.trainer import Trainer

__all__ = ["Callback"]


class Callback:
    """Base class: override the hooks you need. Set ``trainer.stop_training = True`` to stop
    after the current epoch.

    Order within an epoch: ``on_epoch_start``, ``on_log`` (every ``log_every`` steps and at
    the end of the epoch), ``on_best`` (after validation, when the monitored metric improved),
    ``on_epoch_end``. Within the steps, every ``train.eval_steps`` steps: ``on_evaluate``
    (and ``on_best`` when it improved), and every ``train.save_checkpoints_steps`` steps:
    ``on_checkpoint`` (both after the loss window was synced, so ``on_log`` came first).
    """

    def on_fit_start(self, trainer: "Trainer") -> None:
        """Before the first epoch."""

    def on_epoch_start(self, trainer: "Trainer", epoch: int) -> None:
        """Before epoch ``epoch`` (0-based)."""

    def on_log(self, trainer: "Trainer", step: int, loss: float, terms: dict[str, float]) -> None:
        """Every ``log_every`` steps: the mean loss since the previous call and the mean of
        each loss term (``task/<name>``, ``aux/<name>``, ``regularization``) over those steps."""

    def on_best(self, trainer: "Trainer") -> None:
        """After a validation that improved the monitored metric (the model holds the epoch's
        weights; ``trainer.history.best_epoch`` is this epoch): the moment to checkpoint."""

    def on_evaluate(self, trainer: "Trainer", evaluation: dict[str, Any]) -> None:
        """After a validation every ``train.eval_steps`` steps: ``{"step", "epoch" (1-based), "valid"}``."""

    def on_checkpoint(self, trainer: "Trainer") -> None:
        """Every ``train.save_checkpoints_steps`` steps: ``trainer.training_state()`` is the
        checkpoint to write (the run directory writes it; see ``recblocks.runs``)."""

    def on_epoch_end(self, trainer: "Trainer", record: "EpochRecord") -> None:
        """After training and validating one epoch."""

    def on_fit_end(self, trainer: "Trainer", history: "History") -> None:
        """After the last epoch (best weights already restored)."""
