"""Reset the optimizer state of embedding rows that a dynamic vocabulary gave to new ids.

When :class:`~recblocks.features.dynamic_vocab.DynamicVocabulary` recycles a row (an evicted
id's row taken by a newcomer), the embedding collection resets the row's weights; this module
resets what the optimizer remembers about that row, so the newcomer does not inherit the old
id's moments: Adagrad's ``sum`` and FTRL's ``accumulator`` go back to the group's
``initial_accumulator_value``, every other per-row state (Adam's moments, FTRL's ``linear``,
momentum buffers) to zero. Scalar state (Adam's step count) is shared by all rows and kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["assigning_modules", "reset_assigned_rows"]

#: per-row optimizer state that starts at the group's ``initial_accumulator_value``
_ACCUMULATORS = ("sum", "accumulator")


def assigning_modules(model: nn.Module) -> list[Any]:
    """The model's modules that hand out rows to new ids (those with ``pop_assigned_rows``)."""
    return [m for m in model.modules() if m is not model and callable(getattr(m, "pop_assigned_rows", None))]


def reset_assigned_rows(modules: Sequence[Any], optimizers: Sequence[torch.optim.Optimizer]) -> int:
    """Reset the optimizer state of the rows ``modules`` assigned since the last call (call it
    between ``backward`` and ``step``); returns how many rows were reset."""
    count = 0
    for module in modules:
        for weight, rows in module.pop_assigned_rows():
            count += len(rows)
            for opt in optimizers:
                state = opt.state.get(weight)
                if not state:
                    continue
                group = next(g for g in opt.param_groups if any(p is weight for p in g["params"]))
                for name, value in state.items():
                    if isinstance(value, torch.Tensor) and value.shape == weight.shape:
                        fill = float(group.get("initial_accumulator_value", 0.0)) if name in _ACCUMULATORS else 0.0
                        value[rows.to(value.device)] = fill
    return count
