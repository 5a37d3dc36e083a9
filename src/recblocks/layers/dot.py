"""Pairwise dot-product interaction of DLRM."""

from __future__ import annotations

from typing import Any, Literal

import torch

from recblocks.core.errors import ShapeError
from recblocks.core.params import Params
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.base import Component, field_list_spec

__all__ = ["DotInteraction", "DotInteractionParams", "pair_indices"]


class DotInteractionParams(Params):
    """Parameters of :class:`DotInteraction`."""

    self_interaction: bool = False
    skip_gather: bool = False
    order: Literal["triu_row", "tril_row"] = "triu_row"


def pair_indices(num_fields: int, self_interaction: bool, order: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column indices of the selected Gram entries, in output order.

    ``triu_row``: pairs ``i < j`` (``i <= j`` with self-interaction) row-major, i.e.
    ``torch.triu_indices``; ``tril_row``: pairs ``i > j`` (``i >= j``) row-major, the order of
    TFRS/EasyRec ``DotInteraction``.

    Example:
        >>> rows, cols = pair_indices(3, False, "tril_row")
        >>> list(zip(rows.tolist(), cols.tolist()))
        [(1, 0), (2, 0), (2, 1)]
    """
    offset = 0 if self_interaction else 1
    if order == "triu_row":
        rows, cols = torch.triu_indices(num_fields, num_fields, offset=offset)
    else:
        rows, cols = torch.tril_indices(num_fields, num_fields, offset=-offset)
    return rows, cols


@COMPONENTS.register(
    "DotInteraction", params=DotInteractionParams, input_kind="fields",
    examples=[
        ({}, [TensorSpec((3,))] * 4),
        ({}, TensorSpec((4, 3))),
        ({"self_interaction": True, "order": "tril_row"}, [TensorSpec((2,))] * 3),
        ({"skip_gather": True}, TensorSpec((3, 2))),
        ({"self_interaction": True}, [TensorSpec((2,))]),
    ])
class DotInteraction(Component):
    """All distinct pairwise dot products of field vectors (DLRM; Naumov et al., 2019, arXiv:1906.00091).

    ``G = X X^T`` per sample with ``X`` the ``(F, D)`` field matrix (one batched matmul); the
    output gathers the entries ``G[i, j]`` for ``i < j`` (``i <= j`` with ``self_interaction``)
    in row-major upper-triangle order (``order='triu_row'``, as TorchRec/Merlin), or ``i > j``
    in row-major lower-triangle order (``order='tril_row'``, TFRS/EasyRec parity). With
    ``skip_gather`` the whole ``F x F`` matrix is returned flattened row-major, the entries not
    selected set to 0 (TFRS). No weights; the gather indices are a buffer computed once.

    Args:
        self_interaction: include the diagonal ``<x_i, x_i>``.
        skip_gather: return the masked ``F*F`` matrix instead of the gathered pairs.
        order: ``'triu_row'`` (default) or ``'tril_row'``.

    Shape:
        - Input: field list ``F x (B, D)`` or ``(B, F, D)``; ``F >= 2`` (``F >= 1`` with
          ``self_interaction``).
        - Output: ``(B, F(F-1)/2)``; ``(B, F(F+1)/2)`` with ``self_interaction``;
          ``(B, F*F)`` with ``skip_gather``.

    Example:
        >>> x = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]]])
        >>> dot = DotInteraction.from_spec(DotInteractionParams(), TensorSpec((4, 2)))
        >>> dot(x)
        tensor([[0., 1., 2., 1., 0., 2.]])
        >>> dot.output_spec([TensorSpec((2,))] * 4)
        TensorSpec(shape=(6,), dtype='float')
    """

    def __init__(self, params: DotInteractionParams, num_fields: int, where: str = "DotInteraction") -> None:
        super().__init__(params)
        self.where = where
        self.num_fields = num_fields
        self.skip_gather = params.skip_gather
        rows, cols = pair_indices(num_fields, params.self_interaction, params.order)
        flat = rows * num_fields + cols
        mask = torch.zeros(num_fields * num_fields)
        mask[flat] = 1.0
        # derived from the params, so not part of the state dict
        self.register_buffer("flat_index", flat, persistent=False)
        self.register_buffer("mask", mask, persistent=False)
        self.num_outputs = num_fields * num_fields if params.skip_gather else int(flat.numel())

    @classmethod
    def from_spec(cls, params: DotInteractionParams, input_spec: Any, where: str = "") -> "DotInteraction":
        where = where or "DotInteraction"
        num_fields, _ = cls._fields(input_spec, where, 1 if params.self_interaction else 2)
        return cls(params, num_fields, where)

    @staticmethod
    def _fields(input_spec: Any, where: str, min_fields: int) -> tuple[int, int]:
        num_fields, dim = field_list_spec(input_spec, where, min_fields=min_fields)
        specs = input_spec if isinstance(input_spec, (list, tuple)) else [input_spec]
        if any(s.dtype != "float" for s in specs):
            raise ShapeError(where, "fields must be float tensors", "float", describe_spec(input_spec))
        return num_fields, dim

    def output_spec(self, input_spec: Any) -> TensorSpec:
        num_fields, _ = self._fields(input_spec, self.where, 1)
        if num_fields != self.num_fields:
            raise ShapeError(self.where, "the number of fields differs from the one this layer was built for",
                             f"{self.num_fields} fields", num_fields)
        return TensorSpec((self.num_outputs,))

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        fields = x if isinstance(x, torch.Tensor) else torch.stack(x, dim=1)
        gram = torch.bmm(fields, fields.transpose(1, 2)).flatten(1)
        if self.skip_gather:
            return gram * self.mask
        return gram.index_select(1, self.flat_index)
