"""Keras ``Reshape`` and ``Permute``: shape changes of the non-batch axes without a ``lambda``.

Like Keras, the shapes and axes leave the batch axis out: ``Reshape([2, -1])`` turns
``(B, 6)`` into ``(B, 2, 3)``; ``Permute([2, 1])`` swaps the two axes after the batch.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import torch
from pydantic import Field

from recblocks.core.errors import ShapeError
from recblocks.core.limits import MAX_LAYER_WIDTH
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.base import Component

__all__ = ["Permute", "PermuteParams", "Reshape", "ReshapeParams"]

_MAX_AXES = 16


def _single(spec: Any, where: str, component: str) -> TensorSpec:
    if not isinstance(spec, TensorSpec):
        raise ShapeError(where, f"{component} takes one tensor", "(B, ...)", describe_spec(spec))
    return spec


class ReshapeParams(Params):
    """Parameters of :class:`Reshape` (Keras names)."""

    target_shape: list[Annotated[int, Field(ge=-1, le=MAX_LAYER_WIDTH)]] = Field(min_length=1, max_length=_MAX_AXES)


@COMPONENTS.register(
    "Reshape", params=ReshapeParams, input_kind="tensor", positional=("target_shape",),
    examples=[({"target_shape": [2, 3]}, TensorSpec((6,))), ({"target_shape": [-1]}, TensorSpec((2, 3))),
              ({"target_shape": [3, -1, 2]}, TensorSpec((2, 6)))],
)
class Reshape(Component):
    """Reshape the non-batch axes to ``target_shape`` (Keras ``Reshape``; one entry may be ``-1``).

    Args:
        target_shape: the new shape without the batch axis; one ``-1`` is inferred.

    Shape:
        - Input: ``(B, d_1, ..., d_k)``.
        - Output: ``(B, *target_shape)`` with the same number of values per row.

    Example:
        >>> layer = Reshape.from_spec(ReshapeParams(target_shape=[2, -1]), TensorSpec((6,)))
        >>> layer(torch.arange(6.0).reshape(1, 6)).tolist()
        [[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]]
    """

    def __init__(self, params: ReshapeParams, shape: tuple[int, ...], where: str) -> None:
        super().__init__(params)
        self.where = where
        self.shape = shape

    @staticmethod
    def _target(params: ReshapeParams, spec: TensorSpec, where: str) -> tuple[int, ...]:
        target = list(params.target_shape)
        size = math.prod(spec.shape)
        known = math.prod(d for d in target if d != -1)
        unknown = target.count(-1)
        if 0 in target or unknown > 1 or (unknown == 0 and known != size) or (unknown == 1 and size % known):
            raise ShapeError(where, "Reshape target_shape does not hold the input's values",
                             f"a shape of {size} values (one -1 at most)", params.target_shape)
        return tuple(size // known if d == -1 else d for d in target)

    @classmethod
    def from_spec(cls, params: ReshapeParams, input_spec: Any, where: str = "") -> "Reshape":
        where = where or "Reshape"
        spec = _single(input_spec, where, "Reshape")
        return cls(params, cls._target(params, spec, join_path(where, "target_shape")), where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        spec = _single(input_spec, self.where, "Reshape")
        return TensorSpec(self._target(self.params, spec, join_path(self.where, "target_shape")), spec.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


class PermuteParams(Params):
    """Parameters of :class:`Permute` (Keras names)."""

    dims: list[Annotated[int, Field(ge=1, le=_MAX_AXES)]] = Field(min_length=1, max_length=_MAX_AXES)


@COMPONENTS.register(
    "Permute", params=PermuteParams, input_kind="tensor", positional=("dims",),
    examples=[({"dims": [2, 1]}, TensorSpec((2, 3))), ({"dims": [1, 3, 2]}, TensorSpec((2, 3, 4)))],
)
class Permute(Component):
    """Permute the non-batch axes (Keras ``Permute``): ``dims`` lists them 1-based in their new order.

    Args:
        dims: a permutation of ``1..k`` (the batch axis stays first).

    Shape:
        - Input: ``(B, d_1, ..., d_k)``.
        - Output: ``(B, d_dims[0], ..., d_dims[k-1])``.

    Example:
        >>> layer = Permute.from_spec(PermuteParams(dims=[2, 1]), TensorSpec((2, 3)))
        >>> layer(torch.zeros(4, 2, 3)).shape
        torch.Size([4, 3, 2])
    """

    def __init__(self, params: PermuteParams, where: str) -> None:
        super().__init__(params)
        self.where = where
        self.order = (0, *params.dims)

    @classmethod
    def from_spec(cls, params: PermuteParams, input_spec: Any, where: str = "") -> "Permute":
        module = cls(params, where or "Permute")
        module.output_spec(input_spec)
        return module

    def output_spec(self, input_spec: Any) -> TensorSpec:
        spec = _single(input_spec, self.where, "Permute")
        dims = self.params.dims
        if sorted(dims) != list(range(1, len(spec.shape) + 1)):
            raise ShapeError(join_path(self.where, "dims"), "Permute dims must order every non-batch axis once",
                             f"a permutation of {list(range(1, len(spec.shape) + 1))}", dims)
        return TensorSpec(tuple(spec.shape[d - 1] for d in dims), spec.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(self.order)
