"""The TensorBoard event log of a run: losses, loss terms, validation metrics, learning rates
and throughput, written with TensorBoard's own writer (``torch.utils.tensorboard``).

On by default for every run directory (``recblocks train``, ``Model.fit(output=...)``): the
log goes to ``RUN/tensorboard/``; ``train.tensorboard: false`` turns it off. Watch it with
``tensorboard --logdir RUN/tensorboard`` (or a folder holding several runs).

Scalars (tag, step = the trainer's global step, 1-based):

* at every ``log_every`` flush (``Callback.on_log``): ``train/loss`` (the mean loss since the
  previous flush), each loss term ``train/task/<name>``, ``train/aux/<name>``,
  ``train/regularization`` (means over the same steps), ``lr/<optimizer>`` (``lr/dense``,
  ``lr/embedding``: the learning rate in effect for the next step) and
  ``throughput/steps_per_s`` (since the previous flush);
* after every epoch: ``valid/<metric>`` for each validation metric (``valid/auc``,
  ``valid/ctr/auc``...), ``epoch/train_loss`` and ``throughput/samples_per_s`` (the epoch's).

Nothing is written per training step: the hooks run only at the flushes the trainer already
synchronises, and the writer queues events to a background thread.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from recblocks.core.errors import ConfigError
from recblocks.training.callback_registry import CALLBACKS, CallbackParams, RunContext, RunOutput, TrackingCallback

if TYPE_CHECKING:  # pragma: no cover
    from recblocks.training.history import EpochRecord, History
    from recblocks.training.trainer import Trainer

__all__ = ["TensorBoardCallback", "TensorBoardParams", "TENSORBOARD_FOLDER"]

#: The sub-folder of a run directory that holds the event log.
TENSORBOARD_FOLDER = "tensorboard"


class TensorBoardParams(CallbackParams):
    """``{type: tensorboard, flush_secs: 30}``.

    Args:
        flush_secs: seconds between writes of the queued events to disk (the file is also
            complete at the end of the fit).
        log_dir: write the event log into this folder instead of the run directory (a new,
            uniquely named event file; nothing there is replaced). Needed for a fit without a
            run directory (``Model.fit`` without ``output``).
    """

    type: str = "tensorboard"
    flush_secs: int = Field(default=30, ge=1, le=86_400)
    log_dir: str | None = Field(default=None, min_length=1)


@CALLBACKS.register("tensorboard", params=TensorBoardParams, aliases=("tensor_board",))
class TensorBoardCallback(TrackingCallback):
    """Writes the run's TensorBoard event log (see module docstring for the tags).

    Args:
        flush_secs: seconds between writes of the queued events to disk.
        log_dir: a folder for the event log; None: ``tensorboard/`` in the run directory.

    Example:
        >>> callback = TensorBoardCallback(flush_secs=10)  # Model.fit(..., output="run", callbacks=[callback])
    """

    params_type = TensorBoardParams
    where = "TensorBoardCallback"

    def __init__(self, flush_secs: int = 30, log_dir: str | Path | None = None) -> None:
        self.flush_secs = flush_secs
        self.log_dir = Path(log_dir).expanduser() if log_dir is not None else None
        self._run: RunOutput | None = None
        self._writer: Any = None
        self._last_time = 0.0
        self._valid_step = -1  # global step of the last validation logged (step evaluations)
        self._last_step = 0

    @property
    def folder(self) -> Path | None:
        """Where the event log goes (known after :meth:`attach`)."""
        if self.log_dir is not None:
            return self.log_dir
        return self._run.path / TENSORBOARD_FOLDER if self._run is not None else None

    @classmethod
    def check_available(cls, where: str) -> None:
        _summary_writer_class(where)

    def attach(self, context: RunContext) -> None:
        self._run = context.run
        if self.folder is None:
            raise ConfigError(self.where, "the TensorBoard log has nowhere to go: there is no run directory",
                              "a run directory (recblocks train, Model.fit(output=...)) or log_dir", "neither")
        _summary_writer_class(self.where)

    def on_fit_start(self, trainer: "Trainer") -> None:
        writer_class = _summary_writer_class(self.where)
        if self.log_dir is None and self._run is not None:
            folder = self._run.open_folder(TENSORBOARD_FOLDER, type(self).__name__)
        else:
            folder = self.folder if self.folder is not None else Path(".")
        self._writer = writer_class(log_dir=str(folder), flush_secs=self.flush_secs)
        if self.log_dir is None and self._run is not None:
            self._run.record_folder(TENSORBOARD_FOLDER)  # the event file is listed as soon as it exists
        self._last_time, self._last_step = time.perf_counter(), trainer.global_step

    def on_log(self, trainer: "Trainer", step: int, loss: float, terms: dict[str, float]) -> None:
        writer = self._writer
        if writer is None:
            return
        writer.add_scalar("train/loss", loss, step)
        for name, value in terms.items():
            writer.add_scalar(f"train/{name}", value, step)
        for name, lr in trainer.optimizer.learning_rates().items():
            writer.add_scalar(f"lr/{name}", lr, step)
        now = time.perf_counter()
        if step > self._last_step and now > self._last_time:
            writer.add_scalar("throughput/steps_per_s", (step - self._last_step) / (now - self._last_time), step)
        self._last_time, self._last_step = now, step

    def on_evaluate(self, trainer: "Trainer", evaluation: dict[str, Any]) -> None:
        """A validation every ``train.eval_steps`` steps: ``valid/<metric>`` at its step."""
        writer = self._writer
        if writer is None:
            return
        for key, value in (evaluation.get("valid") or {}).items():
            writer.add_scalar(f"valid/{key}", value, evaluation["step"])
        self._valid_step = evaluation["step"]
        self._last_time = time.perf_counter()  # validating is not training time

    def on_epoch_end(self, trainer: "Trainer", record: "EpochRecord") -> None:
        writer = self._writer
        if writer is None:
            return
        step = trainer.global_step
        if self._valid_step != step:  # a step evaluation on the epoch's last step already logged them
            for key, value in (record.valid or {}).items():
                writer.add_scalar(f"valid/{key}", value, step)
        writer.add_scalar("epoch/train_loss", record.train_loss, step)
        writer.add_scalar("throughput/samples_per_s", record.samples_per_s, step)
        # the last flush of the epoch has just run: time spent validating is not training time
        self._last_time = time.perf_counter()

    def on_fit_end(self, trainer: "Trainer", history: "History") -> None:
        self.close()

    def close(self) -> None:
        """Flush and close the event file; record its size and checksum in the run manifest."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        writer.close()
        if self.log_dir is None and self._run is not None:
            self._run.record_folder(TENSORBOARD_FOLDER, done=True)


def _summary_writer_class(where: str) -> Any:
    """``torch.utils.tensorboard.SummaryWriter``; ConfigError naming the install command without it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(where, "the TensorBoard log needs the tensorboard package, which is not installed",
                          "pip install tensorboard (or train.tensorboard: false)", "no tensorboard") from None
    return SummaryWriter
