"""Errors raised by run directories and their outputs."""

from __future__ import annotations

from recblocks.core.errors import ConfigError, DataError
from recblocks.core.files import OutputPathError

__all__ = ["RunDirExistsError", "RunLockedError", "UnfinishedRunError", "ResumeError", "OutputPathError"]


class RunDirExistsError(ConfigError):
    """A run directory cannot be written: it is not empty, or ``--overwrite`` would delete files
    recblocks did not write (it replaces only a recognised recblocks run)."""


class RunLockedError(DataError):
    """Another process holds the run directory's lock (a training writing it, or a reader)."""


class UnfinishedRunError(DataError):
    """A run directory's training did not finish (killed, crashed, failed, or no manifest);
    ``--allow-unfinished`` (``allow_unfinished=True``) uses it anyway, with a warning."""


class ResumeError(ConfigError):
    """``recblocks train --resume`` cannot continue this run: not a run, already complete, or
    asked to continue with another config or other data (named)."""
