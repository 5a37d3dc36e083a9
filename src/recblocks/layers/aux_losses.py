"""Auxiliary losses added to the model's loss through the forward context (EasyRec ``AuxiliaryLoss``)."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator

from recblocks.core.context import ForwardContext
from recblocks.core.errors import ShapeError
from recblocks.core.params import Params
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.base import Component, block_name

__all__ = ["AuxiliaryLoss", "AuxiliaryLossParams", "info_nce_loss", "l2_loss", "nce_loss"]

_SHORT = {"l2": "l2_loss", "nce": "nce_loss", "infonce": "info_nce"}


def l2_loss(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """``mean_b sum_d (x1 - x2)^2``."""
    return (x1 - x2).pow(2).sum(dim=-1).mean()


def info_nce_loss(query: torch.Tensor, positive: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE: ``S = q p^T / tau``; cross-entropy of each row against its own index (other rows' positives are negatives)."""
    scores = query @ positive.T / temperature
    return F.cross_entropy(scores, torch.arange(scores.shape[0], device=scores.device))


def nce_loss(x1: torch.Tensor, x2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent: over ``Z = [x1; x2]``, row ``k``'s positive is its pair ``k +- B``; every other row but itself is a negative."""
    z = torch.cat([x1, x2], dim=0)
    n = x1.shape[0]
    scores = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    targets = (torch.arange(2 * n, device=z.device) + n) % (2 * n)
    return F.cross_entropy(scores, targets)


class AuxiliaryLossParams(Params):
    """Parameters of :class:`AuxiliaryLoss` (EasyRec names and defaults)."""

    loss_type: Literal["l2_loss", "info_nce", "nce_loss"]
    loss_weight: float = Field(default=1.0, ge=0.0, le=1e6)
    temperature: float = Field(default=0.1, gt=0.0, le=1e6)
    loss_name: str | None = Field(default=None, min_length=1, pattern=r"^[^/]+$")

    @field_validator("loss_type", mode="before")
    @classmethod
    def _short_names(cls, value: Any) -> Any:
        return _SHORT.get(value, value) if isinstance(value, str) else value


@COMPONENTS.register(
    "AuxiliaryLoss", params=AuxiliaryLossParams, input_kind="fields", uses_context=True, positional=("loss_type",),
    examples=[
        ({"loss_type": "info_nce", "loss_weight": 0.1, "temperature": 0.2}, [TensorSpec((4,))] * 2),
        ({"loss_type": "l2"}, [TensorSpec((3,))] * 2),
        ({"loss_type": "nce_loss", "loss_name": "cl"}, TensorSpec((2, 4))),
    ])
class AuxiliaryLoss(Component):
    """A weighted auxiliary loss between two representations, added to the model's loss.

    EasyRec ``AuxiliaryLoss``; InfoNCE from van den Oord et al.,
    arXiv:1807.03748; NT-Xent as in CL4SRec (arXiv:2010.14395). For ``[x1, x2]``:

    * ``l2_loss``: ``mean_b sum_d (x1 - x2)^2``;
    * ``info_nce``: ``S = x1 x2^T / tau``, ``mean_b CE(S_b, b)`` (no normalisation inside:
      L2-normalise the inputs first for cosine similarity);
    * ``nce_loss`` (NT-Xent): ``Z = [x1; x2]``, ``S = Z Z^T / tau``; row ``k``'s positive is its
      pair, the ``2B - 2`` other rows are negatives.

    The loss is added in training only, through
    :meth:`~recblocks.core.context.ForwardContext.add_loss` as ``loss_name`` (default
    ``<block>_<loss_type>``, EasyRec's key; the trainer logs it as ``aux/<name>``) with weight
    ``loss_weight``. The block output only orders the graph (list it with ``ignore_input``):
    the weighted loss repeated per row in training, zeros otherwise.

    Args:
        loss_type: ``'l2_loss'``, ``'info_nce'`` or ``'nce_loss'`` (``'l2'``, ``'nce'`` accepted).
        loss_weight: weight of the loss in the model's total.
        temperature: ``tau`` of ``info_nce`` and ``nce_loss``.
        loss_name: name of the added loss (no ``/``); default ``<block>_<loss_type>``.

    Shape:
        - Input: ``[x1 (B, D), x2 (B, D)]`` (or ``(B, 2, D)``).
        - Output: ``(B, 1)``; added loss ``()``.

    Example:
        >>> aux = AuxiliaryLoss.from_spec(AuxiliaryLossParams(loss_type="l2_loss"), [TensorSpec((2,))] * 2, "aux")
        >>> context = ForwardContext(training=True)
        >>> _ = aux([torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]])], context)
        >>> context.losses["aux_l2_loss"][0]
        tensor(25.)
    """

    def __init__(self, params: AuxiliaryLossParams, dim: int, where: str) -> None:
        super().__init__(params)
        self.where, self.dim = where, dim
        self.loss_name = params.loss_name or f"{block_name(where)}_{params.loss_type}"

    @staticmethod
    def _pair(spec: Any, where: str) -> int:
        expected = "two representations [x1 (B, D), x2 (B, D)] or (B, 2, D)"
        if isinstance(spec, TensorSpec) and spec.rank == 3 and spec.shape[0] == 2:
            return spec.shape[1]
        if not (isinstance(spec, (list, tuple)) and len(spec) == 2 and all(isinstance(s, TensorSpec) for s in spec)):
            raise ShapeError(where, "AuxiliaryLoss needs two inputs", expected, describe_spec(spec))
        if any(s.rank != 2 for s in spec):
            raise ShapeError(where, "AuxiliaryLoss: each input must have 2 dimensions", expected, describe_spec(spec))
        if spec[0].shape != spec[1].shape:
            raise ShapeError(where, "AuxiliaryLoss: the two inputs differ in width", expected, describe_spec(spec))
        return spec[0].shape[0]

    @classmethod
    def from_spec(cls, params: AuxiliaryLossParams, input_spec: Any, where: str = "") -> "AuxiliaryLoss":
        where = where or "AuxiliaryLoss"
        return cls(params, cls._pair(input_spec, where), where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        self._pair(input_spec, self.where)
        return TensorSpec((1,))

    def loss(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """The unweighted loss of the pair."""
        kind, tau = self.params.loss_type, self.params.temperature
        if kind == "l2_loss":
            return l2_loss(x1, x2)
        return info_nce_loss(x1, x2, tau) if kind == "info_nce" else nce_loss(x1, x2, tau)

    def forward(self, x: Any, context: ForwardContext) -> torch.Tensor:
        x1, x2 = x.unbind(dim=1) if isinstance(x, torch.Tensor) else x
        if not context.training:
            return x1.new_zeros(x1.shape[0], 1)
        value = self.loss(x1, x2)
        context.add_loss(self.loss_name, value, weight=self.params.loss_weight)
        return (value * self.params.loss_weight).expand(x1.shape[0], 1)
