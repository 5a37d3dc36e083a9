"""Learning-rate schedules: the ``SCHEDULES`` registry (EasyRec ``learning_rate`` oneof).

A schedule gives the learning rate of the *dense* optimizer at a global step (0-based: the
step about to be taken). Every optimizer group is scaled by the same factor
``lr(step) / lr(0)``, so an embedding optimizer with its own base learning rate decays in step.

A schedule is a :class:`Schedule` subclass registered with ``@SCHEDULES.register("name",
aliases=(...))``; its ``type`` field defaults to the name. :func:`parse_schedule` reads any of
EasyRec's spellings into the registered class; an unknown type is a ConfigError with a suggestion.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, SerializationInfo, model_serializer

from recblocks.core.errors import ConfigError
from recblocks.core.params import Params, join_path, parse_params
from recblocks.core.registry import ClassEntry, Registry, describe_params

__all__ = ["SCHEDULES", "ConstantSchedule", "ExponentialDecaySchedule", "Schedule", "ScheduleSpec",
           "normalize_schedule", "parse_schedule"]

#: The schedule a train section without ``lr_schedule`` gets.
DEFAULT_SCHEDULE = "constant"


@dataclass(frozen=True, kw_only=True)
class ScheduleSpec(ClassEntry):
    """One learning-rate schedule: its :class:`Schedule` class (params with defaults and ranges)."""

    def facts(self) -> dict[str, Any]:
        return {"params": [p for p in describe_params(self.cls) if p["name"] != "type"]}


SCHEDULES: Registry[ScheduleSpec] = Registry("learning-rate schedule", ScheduleSpec, case_sensitive=False)


class Schedule(Params):
    """Base of the learning-rate schedules; a subclass sets ``type`` and the formula."""

    type: str

    @model_serializer(mode="wrap")
    def _type_always(self, handler: Any, info: SerializationInfo) -> Any:
        data = handler(self)
        return {"type": self.type, **data} if isinstance(data, dict) else data

    @property
    def base_learning_rate(self) -> float | None:
        """The learning rate this schedule sets itself (None: use ``optimizer.lr``)."""
        return None

    def learning_rate_at(self, step: int, base_lr: float) -> float:
        """Learning rate for the 0-based ``step``."""
        raise NotImplementedError

    def multiplier(self, step: int, base_lr: float) -> float:
        """Factor applied to every group's base learning rate at ``step``."""
        lr0 = self.base_learning_rate or base_lr
        return self.learning_rate_at(step, base_lr) / lr0


@SCHEDULES.register("constant", aliases=("constant_learning_rate",))
class ConstantSchedule(Schedule):
    """A constant learning rate.

    Args:
        learning_rate: overrides ``optimizer.lr`` when set (EasyRec ``constant_learning_rate``).

    Example:
        >>> ConstantSchedule().learning_rate_at(10_000, base_lr=0.01)
        0.01
    """

    type: Literal["constant"] = "constant"
    learning_rate: float | None = Field(default=None, gt=0.0)

    @property
    def base_learning_rate(self) -> float | None:
        return self.learning_rate

    def learning_rate_at(self, step: int, base_lr: float) -> float:
        return self.learning_rate or base_lr

    def multiplier(self, step: int, base_lr: float) -> float:
        """Always 1."""
        return 1.0


@SCHEDULES.register("exponential_decay", aliases=("exponential_decay_learning_rate", "exponential"))
class ExponentialDecaySchedule(Schedule):
    """EasyRec ``exponential_decay_learning_rate`` (defaults are EasyRec's).

    ``lr(step) = max(lr0 · decay_factor ** p, min_learning_rate)`` with
    ``p = floor(step / decay_steps)`` when ``staircase`` else ``step / decay_steps``.

    Args:
        initial_learning_rate: ``lr0``; overrides ``optimizer.lr`` when set.
        decay_steps: steps per decay period.
        decay_factor: multiplier per period.
        staircase: decay in whole periods (EasyRec default True).
        min_learning_rate: floor.

    Example:
        >>> s = ExponentialDecaySchedule(initial_learning_rate=1e-3, decay_steps=1000, decay_factor=0.5,
        ...                              min_learning_rate=1e-4)
        >>> [s.learning_rate_at(n, 1e-3) for n in (0, 999, 1000, 2500, 10_000)]
        [0.001, 0.001, 0.0005, 0.00025, 0.0001]
    """

    type: Literal["exponential_decay"] = "exponential_decay"
    initial_learning_rate: float | None = Field(default=None, gt=0.0)
    decay_steps: int = Field(default=4_000_000, gt=0)
    decay_factor: float = Field(default=0.95, gt=0.0, le=1.0)
    staircase: bool = True
    min_learning_rate: float = Field(default=0.0, ge=0.0)

    @property
    def base_learning_rate(self) -> float | None:
        return self.initial_learning_rate

    def learning_rate_at(self, step: int, base_lr: float) -> float:
        lr0 = self.initial_learning_rate or base_lr
        periods = step / self.decay_steps
        if self.staircase:
            periods = math.floor(periods)
        return max(lr0 * self.decay_factor ** periods, self.min_learning_rate)


def _type_from_keys(keys: set[str]) -> str:
    """The schedule whose fields cover most of ``keys`` (the default one when none or a tie)."""
    best, score = DEFAULT_SCHEDULE, 0
    for entry in SCHEDULES.entries():
        overlap = len(keys & (set(entry.cls.model_fields) - {"type"}))
        if overlap > score:
            best, score = entry.name, overlap
    return best


def normalize_schedule(value: Any) -> Any:
    """Accept EasyRec's spellings: ``{"exponential_decay_learning_rate": {...}}``,
    ``{"learning_rate": {"constant_learning_rate": {...}}}``, a bare type name, or a dict whose
    keys reveal the type; return a dict with a canonical ``type`` when it is registered
    (anything else is passed on unchanged).

    Example:
        >>> normalize_schedule({"exponential_decay_learning_rate": {"decay_steps": 10}})
        {'type': 'exponential_decay', 'decay_steps': 10}
    """
    if value is None:
        return {"type": DEFAULT_SCHEDULE}
    if isinstance(value, str):
        return {"type": SCHEDULES.canonical(value) or value}
    if not isinstance(value, Mapping):
        return value
    data = dict(value)
    if len(data) == 1 and "learning_rate" in data and isinstance(data["learning_rate"], Mapping):
        data = dict(data["learning_rate"])
    if len(data) == 1:
        (key, inner), = data.items()
        canonical = SCHEDULES.canonical(key)
        if canonical is not None and key != canonical and (inner is None or isinstance(inner, Mapping)):
            return {"type": canonical, **dict(inner or {})}
    if "type" in data:
        data["type"] = SCHEDULES.canonical(data["type"]) or data["type"]
    else:
        data["type"] = _type_from_keys(set(data))
    return data


def parse_schedule(value: Any, where: str = "train.lr_schedule") -> Schedule:
    """The registered :class:`Schedule` for ``value`` (any spelling :func:`normalize_schedule` accepts).

    Example:
        >>> parse_schedule({"type": "exponential_decy"})
        Traceback (most recent call last):
        ...
        recblocks.core.errors.ConfigError: train.lr_schedule.type: unknown learning-rate schedule; expected one of ['constant', 'exponential_decay'], got 'exponential_decy'; did you mean 'exponential_decay'?
    """
    if isinstance(value, Schedule):
        return value
    data = normalize_schedule(value)
    if not isinstance(data, Mapping):
        raise ConfigError(where, "a schedule must be a mapping or a type name",
                          "e.g. {type: exponential_decay, decay_steps: 1000}", type(value).__name__)
    entry = SCHEDULES.get(data["type"], join_path(where, "type"))
    return parse_params(entry.cls, {**data, "type": entry.name}, where)
