"""Errors raised by training, run directories and their outputs."""

from __future__ import annotations

from recblocks.core.errors import ConfigError, DataError
from recblocks.core.files import OutputPathError

__all__ = ["RunDirExistsError", "RunLockedError", "UnfinishedRunError", "OutputPathError", "NonFiniteLossError"]


class RunDirExistsError(ConfigError):
    """A run directory cannot be written: it is not empty, or ``--overwrite`` would delete files
    recblocks did not write (it replaces only a recognised recblocks run)."""


class RunLockedError(DataError):
    """Another process holds the run directory's lock (a training writing it, or a reader)."""


class UnfinishedRunError(DataError):
    """A run directory's training did not finish (killed, crashed, failed, or no manifest);
    ``--allow-unfinished`` (``allow_unfinished=True``) uses it anyway, with a warning."""



class NonFiniteLossError(DataError):
    """The training loss became NaN or infinite; ``step`` is the 1-based global step."""

    def __init__(self, step: int, epoch: int, value: float) -> None:
        self.step = step
        self.epoch = epoch
        super().__init__(
            f"train step {step} (epoch {epoch + 1})",
            "the training loss is not finite; check the inputs for NaN/inf, lower the learning rate "
            "or set train.grad_clip_norm",
            "a finite loss",
            value,
        )
