"""The error every export failure becomes: one line naming the component, block or run."""

from __future__ import annotations

import re
import traceback
from types import TracebackType

from torch import nn

from recblocks.core.errors import RecBlocksError

__all__ = ["ExportError", "failing_module", "first_line_of"]


class ExportError(RecBlocksError):
    """A model, block or component that cannot be written in a serving format."""


def first_line_of(exc: BaseException, limit: int = 300) -> str:
    """The first non-empty line of the innermost cause's text (torch's texts run over many lines
    and wrap the real reason, e.g. an operator without an ONNX translation), colours removed."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    for line in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines():
        if line.strip():
            text = line.strip()
            return text if len(text) <= limit else text[: limit - 3] + "..."
    return type(exc).__name__


def failing_module(tb: TracebackType | None, names: dict[int, str]) -> str | None:
    """The innermost module of ``names`` (``id(module) -> name``) whose code was running when
    the exporter failed, read from the traceback's frames (``self`` of each frame)."""
    found = None
    for frame, _ in traceback.walk_tb(tb):
        owner = frame.f_locals.get("self")
        if isinstance(owner, nn.Module) and id(owner) in names:
            found = names[id(owner)]
    return found
