"""Error classes of recblocks and the did-you-mean helper.

Every user-facing error derives from :class:`RecBlocksError` and reads
``<where>: <problem>; expected <X>, got <Y>[; did you mean <Z>?]`` where ``<where>``
is a dotted config path, a block name or a feature name.

Every part is shortened to a bounded length (:func:`shorten`), so an error line stays short
whatever value a config holds: a 5 MB string shows as its first characters and
``... (5,000,000 characters)``.
"""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable

__all__ = [
    "RecBlocksError",
    "ConfigError",
    "SchemaError",
    "DataError",
    "ShapeError",
    "did_you_mean",
    "format_message",
    "shorten",
    "MAX_PART_CHARS",
]

#: Longest ``where``/``expected``/``got`` text an error message embeds (longer ones are cut).
MAX_PART_CHARS = 300
#: Longest ``problem`` text an error message embeds.
MAX_PROBLEM_CHARS = 600



def _describe_int(value: int) -> str:
    if value.bit_length() <= 256:
        return str(value)
    return f"an integer of about {int(value.bit_length() * 0.30103) + 1:,} digits"  # str() may refuse it


class _BoundedRepr(reprlib.Repr):
    """reprlib with bounded depth/lengths that also survives integers too long for ``str``."""

    def repr_int(self, x: int, level: int) -> str:
        return _describe_int(x)


_REPR = _BoundedRepr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict, _REPR.maxset = 4, 40, 40, 40, 40
_REPR.maxstring = _REPR.maxother = MAX_PART_CHARS


def shorten(value: object, limit: int = MAX_PART_CHARS) -> str:
    """``str(value)`` cut to about ``limit`` characters, ending ``... (N characters)`` when cut.

    Containers are rendered with bounded depth and length first (a deeply shared or huge
    structure never gets fully rendered), so the cost is bounded too.

    Example:
        >>> shorten("x" * 5_000_000, 10)
        'xxxxxxxxxx... (5,000,000 characters)'
        >>> shorten([1, 2, 3])
        '[1, 2, 3]'
    """
    if isinstance(value, str):
        text = value
    elif isinstance(value, int) and not isinstance(value, bool):
        text = _describe_int(value)
    elif isinstance(value, (list, tuple, dict, set, frozenset)):
        text = _REPR.repr(value)
    else:
        text = str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


def did_you_mean(name: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    """Return the choice closest to ``name`` (case-insensitive), or None when nothing is close.

    A choice with exactly the same letters (two letters swapped, the commonest typo) wins over
    spelling similarity, so ``MPL`` suggests ``MLP`` even beside ``PLE``.

    Example:
        >>> did_you_mean("MPL", ["MLP", "PLE"]), did_you_mean("PEL", ["MLP", "PLE"])
        ('MLP', 'PLE')
    """
    if len(name) > MAX_PART_CHARS:
        return None
    options = sorted({str(c) for c in choices})
    if not options:
        return None
    by_lower = {c.lower(): c for c in options}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    swapped = [c for c in by_lower if sorted(c) == sorted(name.lower())]
    if len(swapped) == 1:
        return by_lower[swapped[0]]
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
    """Build the canonical error text ``<where>: <problem>; expected X, got Y; did you mean Z?``.

    Each part is shortened (:func:`shorten`), so the text stays short whatever the values.
    """
    problem = shorten(problem, MAX_PROBLEM_CHARS)
    text = f"{shorten(where)}: {problem}" if where else problem
    if expected is not None or got is not None:
        text += f"; expected {shorten(expected)}, got {shorten(got)}"
    if suggestion:
        text += f"; did you mean '{shorten(suggestion)}'?"
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


class ShapeError(ConfigError):
    """Tensor shapes cannot meet: found while planning a model, before any data flows.

    A kind of :class:`ConfigError` (the config asks for blocks whose inputs do not fit, e.g. DIN
    over a group without a target), so code that handles config errors handles these too.
    """
