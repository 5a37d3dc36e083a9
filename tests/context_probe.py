"""A test-only component that uses the forward context: an auxiliary head on its input.

It passes its input through unchanged and, through the :class:`ForwardContext`, adds

* the auxiliary loss ``loss_name`` (weight ``loss_weight``): binary cross-entropy of a linear
  score of the input against the label column ``label``, in training mode only (it reads the
  label and the training flag from the context);
* the extra output ``output_name``: the sigmoid of that score, ``(B,)``, in every mode.

This is the shape of EasyRec's ``AuxiliaryLoss`` and of MLP ``add_to_outputs``. It is
registered per test (:func:`register_probe`), never by importing this module.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from recblocks.core import COMPONENTS, ForwardContext, Params, TensorSpec
from recblocks.layers.base import Component, tensor_spec

__all__ = ["AuxiliaryProbe", "AuxiliaryProbeParams", "register_probe"]


class AuxiliaryProbeParams(Params):
    label: str = "label"
    loss_name: str = "aux"
    loss_weight: float = 1.0
    output_name: str | None = "aux_score"


class AuxiliaryProbe(Component):
    """Identity that adds an auxiliary BCE loss and an extra output through the context.

    Shape:
        (B, D) -> (B, D); extra output (B,); auxiliary loss ().
    """

    uses_context = True

    def __init__(self, params: AuxiliaryProbeParams, width: int) -> None:
        super().__init__(params)
        self.score = nn.Linear(width, 1)

    @classmethod
    def from_spec(cls, params: Params, input_spec: Any, where: str = "") -> "AuxiliaryProbe":
        spec = tensor_spec(input_spec, where, rank=2)
        return cls(params, spec.last_dim)  # type: ignore[arg-type]

    def output_spec(self, input_spec: Any) -> TensorSpec:
        return input_spec

    def forward(self, x: torch.Tensor, context: ForwardContext) -> torch.Tensor:
        params: AuxiliaryProbeParams = self.params  # type: ignore[assignment]
        score = self.score(x).squeeze(-1)
        if context.training:
            label = context.label(params.label)
            context.add_loss(params.loss_name, F.binary_cross_entropy_with_logits(score, label.to(score.dtype)),
                             weight=params.loss_weight)
        if params.output_name:
            context.add_output(params.output_name, torch.sigmoid(score))
        return x


def register_probe(monkeypatch: pytest.MonkeyPatch, name: str = "AuxiliaryProbe") -> type[AuxiliaryProbe]:
    """Register :class:`AuxiliaryProbe` in COMPONENTS for the current test only."""
    monkeypatch.setattr(COMPONENTS, "_entries", dict(COMPONENTS._entries))
    monkeypatch.setattr(COMPONENTS, "_aliases", dict(COMPONENTS._aliases))
    COMPONENTS.register(name, params=AuxiliaryProbeParams, uses_context=True,
                        examples=[({}, TensorSpec((4,)))])(AuxiliaryProbe)
    return AuxiliaryProbe
