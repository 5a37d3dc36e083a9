"""Factorization machine second-order term."""

from __future__ import annotations

from typing import Any

import torch

from recblocks.core.params import Params
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec
from recblocks.layers.base import Component, field_list_spec, stack_fields

__all__ = ["FM", "FMParams"]


class FMParams(Params):
    """Parameters of :class:`FM`."""

    use_variant: bool = False


@COMPONENTS.register(
    "FM", params=FMParams, input_kind="fields",
    examples=[
        ({}, [TensorSpec((4,))] * 3),
        ({"use_variant": True}, TensorSpec((3, 4))),
    ])
class FM(Component):
    """Second-order factorization machine term over field embeddings (Rendle, ICDM 2010).

    ``s = sum_f e_f``; ``v = 0.5 * (s^2 - sum_f e_f^2)`` element-wise; the output is
    ``sum_d v_d`` (the sum of all pairwise inner products) or ``v`` itself when
    ``use_variant`` (NFM's bi-interaction pooling). No weights.

    Args:
        use_variant: return the per-dimension vector ``(B, D)`` instead of ``(B, 1)``.

    Shape:
        - Input: field list ``F x (B, D)`` or ``(B, F, D)``, ``F >= 2``.
        - Output: ``(B, 1)``, or ``(B, D)`` when ``use_variant``.

    Example:
        >>> fm = FM.from_spec(FMParams(), TensorSpec((2, 2)))
        >>> fm(torch.tensor([[[1.0, 2.0], [3.0, 4.0]]]))
        tensor([[11.]])
    """

    @classmethod
    def from_spec(cls, params: FMParams, input_spec: Any, where: str = "") -> "FM":
        field_list_spec(input_spec, where, min_fields=2)
        return cls(params)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        _, dim = field_list_spec(input_spec, "FM")
        return TensorSpec((dim,)) if self.params.use_variant else TensorSpec((1,))

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        fields = stack_fields(x)
        square_of_sum = fields.sum(dim=1).pow(2)
        sum_of_square = fields.pow(2).sum(dim=1)
        cross = 0.5 * (square_of_sum - sum_of_square)
        return cross if self.params.use_variant else cross.sum(dim=1, keepdim=True)
