"""Which validation key picks the best epoch, and in which direction.

The keys come from the model's evaluator (:class:`~recblocks.training.protocol.Evaluator`),
never from the trainer: a ranking model reports ``auc``/``logloss``/``loss``, a multi-task
model ``<task>/<metric>``, a retrieval model ``recall@10``.
"""

from __future__ import annotations

from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.metrics import METRICS, metric_mode
from recblocks.training.config import EarlyStoppingConfig

__all__ = ["resolve_monitor"]

_WHERE = "train.early_stopping.metric"


def resolve_monitor(evaluator: Any, early_stopping: EarlyStoppingConfig | None) -> tuple[str, str]:
    """``(key, "max" | "min")``: the early-stopping metric resolved against ``evaluator.keys``
    (through ``evaluator.resolve`` when the evaluator has it), else the evaluator's default.

    The direction is the configured ``mode``, else the natural one of a catalogue metric or
    ``loss``, else the evaluator default's when the key is the default.

    Raises:
        ConfigError: the metric is not one of the keys (with a did-you-mean), or its
            direction cannot be inferred.
    """
    keys = list(evaluator.keys)
    if early_stopping is None:
        return evaluator.default_monitor
    name = early_stopping.metric
    resolve = getattr(evaluator, "resolve", None)
    key = name if name in keys or resolve is None else resolve(name)
    if key not in keys:
        raise ConfigError(_WHERE, "the metric is not reported", f"one of {keys}", repr(name), choices=keys)
    if early_stopping.mode is not None:
        return key, early_stopping.mode
    base = key.rpartition("/")[2]
    if base == "loss" or base in METRICS:
        return key, metric_mode(key)
    default_key, default_mode = evaluator.default_monitor
    if key == default_key:
        return key, default_mode
    raise ConfigError("train.early_stopping.mode", f"the direction of metric '{key}' is not known",
                      "mode: max or mode: min", "no mode")
