"""Logit transforms a task can apply before its loss and metrics (the ``pre`` hook)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LogitsTemperatureScaler"]


class LogitsTemperatureScaler(nn.Module):
    """Divide logits by a fixed temperature ``T`` (Hinton et al., 2015; Merlin Models).

    ``y = logits / T``. Applied in training and evaluation only, never to predictions.

    Args:
        temperature: ``T > 0``; ``T > 1`` softens, ``T < 1`` sharpens.

    Shape:
        any ``(B,)`` or ``(B, C)`` -> same shape.

    Example:
        >>> LogitsTemperatureScaler(2.0)(torch.tensor([2.0, -4.0]))
        tensor([ 1., -2.])
    """

    def __init__(self, temperature: float) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits / self.temperature

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
