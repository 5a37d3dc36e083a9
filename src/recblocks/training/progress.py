"""The tqdm progress bar of training epochs (shown only on a terminal)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm

__all__ = ["progress_bar"]


def progress_bar(loader: Iterable[Any], description: str, enabled: bool = True) -> tqdm:
    """A step bar sized by ``len(loader)`` when it has one; disabled off a terminal."""
    try:
        total: int | None = len(loader)  # type: ignore[arg-type]
    except TypeError:
        total = None
    return tqdm(total=total, desc=description, unit="step", disable=not enabled or not sys.stderr.isatty(),
                dynamic_ncols=True, leave=False)
