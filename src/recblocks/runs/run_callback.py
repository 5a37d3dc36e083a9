"""Writing a run directory while a trainer fits: a callback, so the trainer knows no files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from recblocks.runs.run_dir import RunDir
from recblocks.training.callbacks import Callback
from recblocks.training.checkpoint import check_finite_state

if TYPE_CHECKING:  # pragma: no cover
    from recblocks.training.history import EpochRecord, History
    from recblocks.training.trainer import Trainer

__all__ = ["RunDirCallback"]


class RunDirCallback(Callback):
    """Writes a fit into a :class:`RunDir` opened for writing.

    * every epoch: one line of ``epochs.jsonl`` (loss, loss terms, validation metrics, warnings);
    * every improvement of the monitored metric: the weights (``model.safetensors``) and the
      optimizer state (``optimizer.pt``), after checking that every weight is finite
      (:class:`~recblocks.training.errors.NonFiniteWeightsError` otherwise: NaN weights are
      never saved);
    * every step evaluation (``train.eval_steps``): one line of ``evaluations.jsonl``;
    * every ``train.save_checkpoints_steps`` steps: a checkpoint under ``checkpoints/``
      (finite weights only), keeping the ``keep_checkpoint_max`` newest;
    * at the start of a resumed fit: ``epochs.jsonl`` / ``evaluations.jsonl`` cut back to the
      checkpoint's history;
    * at the end: the final weights when no epoch was validated, and the summary in
      ``metrics.json`` (best epoch, monitor, best value, early stop, step, best validation
      metrics, warnings).

    Args:
        run_dir: the run directory (the caller finishes or fails it).

    Example:
        >>> import tempfile
        >>> run = RunDir(tempfile.mkdtemp() + "/run")
        >>> callback = RunDirCallback(run)  # Trainer(model, config, callbacks=[callback])
        >>> run.finish()
    """

    def __init__(self, run_dir: RunDir) -> None:
        self.run_dir = run_dir

    def on_fit_start(self, trainer: "Trainer") -> None:
        history = trainer.history
        if history is not None:
            self.run_dir.rewrite_logs([r.to_dict() for r in history.epochs], history.evaluations)

    def on_evaluate(self, trainer: "Trainer", evaluation: dict[str, Any]) -> None:
        self.run_dir.append_evaluation(evaluation)

    def on_checkpoint(self, trainer: "Trainer") -> None:
        state = trainer.training_state()
        check_finite_state(state.model, f"model weights at train step {trainer.global_step}")
        self.run_dir.save_checkpoint(state, trainer.config.keep_checkpoint_max)

    def on_best(self, trainer: "Trainer") -> None:
        self._checkpoint(trainer)

    def on_epoch_end(self, trainer: "Trainer", record: "EpochRecord") -> None:
        self.run_dir.append_epoch(record.to_dict())

    def on_fit_end(self, trainer: "Trainer", history: "History") -> None:
        if history.best_epoch is None:
            self._checkpoint(trainer)
        best = history.best
        self.run_dir.write_metrics({"best_epoch": None if history.best_epoch is None else history.best_epoch + 1,
                                    "monitor": history.monitor, "best_value": history.best_value, "best_step": history.best_step,
                                    "stopped_early": history.stopped_early, "global_step": trainer.global_step,
                                    "valid": best.valid if best else {}, "warnings": history.warnings})

    def _checkpoint(self, trainer: "Trainer") -> None:
        check_finite_state(trainer.model.state_dict(), f"model weights at train step {trainer.global_step}")
        self.run_dir.save_weights(trainer.model)
        self.run_dir.save_optimizer(trainer.optimizer)
