"""Error classes of recblocks and the did-you-mean helper.

Every user-facing error derives from :class:`RecBlocksError` and reads
``<where>: <problem>; expected <X>, got <Y>[; did you mean <Z>?]`` where ``<where>``
is a dotted config path, a block name or a feature name.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "RecBlocksError",
    "ConfigError",
    "SchemaError",
    "DataError",
    "ShapeError",
    "did_you_mean",
    "format_message",
]


def did_you_mean(name: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    """Return the choice closest to ``name`` (case-insensitive), or None when nothing is close."""
    options = sorted({str(c) for c in choices})
    if not options:
        return None
    by_lower = {c.lower(): c for c in options}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    if len(name) <= 3:  # one wrong letter in a short name is a large relative change
        cutoff = min(cutoff, 0.5)
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[close[0]] if close else None


def format_message(
    where: str,
    problem: str,
    expected: object | None = None,
    got: object | None = None,
    suggestion: str | None = None,
) -> str:
    """Build the canonical error text ``<where>: <problem>; expected X, got Y; did you mean Z?``."""
    text = f"{where}: {problem}" if where else problem
    if expected is not None or got is not None:
        text += f"; expected {expected}, got {got}"
    if suggestion:
        text += f"; did you mean '{suggestion}'?"
    return text


class RecBlocksError(Exception):
    """Base of every error recblocks raises for bad user input.

    Args:
        where: the place: dotted config path, block name or feature name.
        problem: what is wrong, in a few words.
        expected: what was expected (optional).
        got: what was found (optional).
        choices: valid names; when given, the nearest one to ``got`` is suggested.
    """

    def __init__(
        self,
        where: str,
        problem: str,
        expected: object | None = None,
        got: object | None = None,
        choices: Iterable[str] | None = None,
    ) -> None:
        suggestion = None
        if choices is not None and got is not None:
            suggestion = did_you_mean(str(got).strip("'\""), choices)
        self.where = where
        self.problem = problem
        self.expected = expected
        self.got = got
        self.suggestion = suggestion
        super().__init__(format_message(where, problem, expected, got, suggestion))


class ConfigError(RecBlocksError):
    """A config is invalid: unknown names, bad values, cycles, disallowed expressions."""


class SchemaError(RecBlocksError):
    """Feature schema or feature groups are inconsistent (unknown features, unequal dims...)."""


class DataError(RecBlocksError):
    """Input data does not fit the schema: missing columns, wrong types, unreadable files."""


class ShapeError(RecBlocksError):
    """Tensor shapes cannot meet: found while planning a model, before any data flows."""
