"""Errors raised by training and run directories."""

from __future__ import annotations

from recblocks.core.errors import ConfigError, DataError

__all__ = ["RunDirExistsError", "NonFiniteLossError"]


class RunDirExistsError(ConfigError):
    """A run directory is not empty (pass ``--overwrite`` / ``overwrite=True`` to replace it)."""


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
