"""Learning-rate schedules (EasyRec ``learning_rate`` oneof: constant, exponential decay).

A schedule gives the learning rate of the *dense* optimizer at a global step (0-based: the
step about to be taken). Every optimizer group is scaled by the same factor
``lr(step) / lr(0)``, so an embedding optimizer with its own base learning rate decays in step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import Field

from recblocks.core.params import Params

__all__ = ["ConstantSchedule", "ExponentialDecaySchedule", "Schedule", "normalize_schedule"]


class ConstantSchedule(Params):
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
        """The learning rate this schedule sets itself (None: use ``optimizer.lr``)."""
        return self.learning_rate

    def learning_rate_at(self, step: int, base_lr: float) -> float:
        """Learning rate for the 0-based ``step``."""
        return self.learning_rate or base_lr

    def multiplier(self, step: int, base_lr: float) -> float:
        """Factor applied to every group's base learning rate at ``step`` (always 1)."""
        return 1.0


class ExponentialDecaySchedule(Params):
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
        """The learning rate this schedule sets itself (None: use ``optimizer.lr``)."""
        return self.initial_learning_rate

    def learning_rate_at(self, step: int, base_lr: float) -> float:
        """Learning rate for the 0-based ``step``."""
        lr0 = self.initial_learning_rate or base_lr
        periods = step / self.decay_steps
        if self.staircase:
            periods = math.floor(periods)
        return max(lr0 * self.decay_factor ** periods, self.min_learning_rate)

    def multiplier(self, step: int, base_lr: float) -> float:
        """Factor applied to every group's base learning rate at ``step``."""
        lr0 = self.initial_learning_rate or base_lr
        return self.learning_rate_at(step, base_lr) / lr0


Schedule = Annotated[Union[ConstantSchedule, ExponentialDecaySchedule], Field(discriminator="type")]

_TYPE_ALIASES = {
    "constant": "constant",
    "constant_learning_rate": "constant",
    "exponential_decay": "exponential_decay",
    "exponential_decay_learning_rate": "exponential_decay",
    "exponential": "exponential_decay",
}
_DECAY_KEYS = {"initial_learning_rate", "decay_steps", "decay_factor", "staircase", "min_learning_rate"}


def normalize_schedule(value: Any) -> Any:
    """Accept EasyRec's spellings: ``{"exponential_decay_learning_rate": {...}}``,
    ``{"learning_rate": {"constant_learning_rate": {...}}}``, a bare type name, or a dict whose
    keys reveal the type; return a dict with ``type`` (anything else is passed on unchanged).

    Example:
        >>> normalize_schedule({"exponential_decay_learning_rate": {"decay_steps": 10}})
        {'type': 'exponential_decay', 'decay_steps': 10}
    """
    if value is None:
        return {"type": "constant"}
    if isinstance(value, str):
        return {"type": _TYPE_ALIASES.get(value, value)}
    if not isinstance(value, Mapping):
        return value
    data = dict(value)
    if len(data) == 1 and "learning_rate" in data and isinstance(data["learning_rate"], Mapping):
        data = dict(data["learning_rate"])
    if len(data) == 1:
        (key, inner), = data.items()
        if key in _TYPE_ALIASES and key not in ("constant", "exponential_decay", "exponential") and (
                inner is None or isinstance(inner, Mapping)):
            return {"type": _TYPE_ALIASES[key], **dict(inner or {})}
    if "type" in data:
        data["type"] = _TYPE_ALIASES.get(data["type"], data["type"])
    elif _DECAY_KEYS & set(data):
        data["type"] = "exponential_decay"
    else:
        data["type"] = "constant"
    return data
