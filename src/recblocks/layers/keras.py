"""Keras-named primitives that EasyRec configs use as ``keras_layer`` with ``st_params``.

They are registered under their Keras class names and keep Keras argument names (``units``,
``rate``, ``axis``, ``epsilon``...) so an EasyRec ``st_params`` Struct maps one to one; this is
the one place where the library vocabulary yields to Keras'. Keras axes count the batch axis
(``axis=1`` is the first feature axis, ``-1`` the last). ``BatchNormalization`` and
``LayerNormalization`` live in :mod:`recblocks.layers.normalization`, ``Dense`` (with its
regularizers and kernel norm) in :mod:`recblocks.layers.dense`, ``Reshape`` and ``Permute`` in
:mod:`recblocks.layers.reshape`, ``Embedding`` in :mod:`recblocks.layers.id_embedding`.

Any other Keras class name (``GRU``, ``Conv2D``, ``Lambda``...) is not a component: a
``keras_layer``/``component`` naming it is a ``ConfigError`` at the block's config path
("unknown component; expected one of [the registered names], got 'GRU'"), with the nearest
registered name suggested; nothing is imported or guessed from Keras. ``recblocks components``
lists what is supported; ``lambda`` bodies cover element-wise and slicing expressions.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from pydantic import Field
from torch import nn

from recblocks.core.errors import ConfigError, ShapeError
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.activations import make_activation
from recblocks.layers.base import Component

__all__ = [
    "SameShape", "float_tensor_spec", "tensor_list_spec",
    "Activation", "ActivationParams", "Add", "AddParams", "Concatenate", "ConcatenateParams",
    "Dropout", "DropoutParams", "Flatten", "FlattenParams",
]

def float_tensor_spec(spec: Any, where: str, min_rank: int = 2, last_dim: int | None = None,
                      name: str = "input") -> TensorSpec:
    """Check ``spec`` is one float tensor ``(B, ..., D)`` of rank >= ``min_rank`` (and width)."""
    if not isinstance(spec, TensorSpec):
        raise ShapeError(where, f"{name} must be a single tensor", "(B, ..., D)", describe_spec(spec))
    if spec.rank < min_rank:
        raise ShapeError(where, f"{name} has too few axes", f"rank >= {min_rank} (B, ..., D)", describe_spec(spec))
    if spec.dtype != "float":
        raise ShapeError(where, f"{name} must be a float tensor", "float", describe_spec(spec))
    if last_dim is not None and spec.shape[-1] != last_dim:
        raise ShapeError(where, f"{name} width differs from the one this layer was built for",
                         f"(B, ..., {last_dim})", describe_spec(spec))
    return spec


def tensor_list_spec(spec: Any, where: str, hint: str = "") -> list[TensorSpec]:
    """Check ``spec`` is a non-empty list/tuple of float tensors and return it as a list."""
    if not isinstance(spec, (list, tuple)) or not spec or not all(isinstance(s, TensorSpec) for s in spec):
        raise ShapeError(where, "input must be a list of tensors" + hint, "[(B, ...), ...]", describe_spec(spec))
    if any(s.dtype != "float" for s in spec):
        raise ShapeError(where, "every input must be a float tensor", "float tensors", describe_spec(spec))
    return list(spec)


def _keras_axis(axis: int, rank: int, where: str) -> int:
    """Keras axis (batch axis counted) -> non-negative torch dim; the batch axis is refused."""
    dim = axis + rank if axis < 0 else axis
    if not 1 <= dim < rank:
        raise ConfigError(join_path(where, "axis"), "axis out of range (the batch axis cannot be used)",
                          f"1..{rank - 1} or -{rank - 1}..-1", axis)
    return dim


# ----------------------------------------------------------------------------- shape-preserving layers


class SameShape(Component):
    """Base of layers whose output spec is their input spec, built with the last-axis width ``D``.

    Subclasses set ``min_rank`` (2: ``(B, ..., D)``; 1: any float tensor) and take
    ``(params, input_dim, where)`` in their constructor.
    """

    min_rank = 2

    def __init__(self, params: Params, input_dim: int, where: str) -> None:
        super().__init__(params)
        self.where = where
        self.input_dim = input_dim

    @classmethod
    def from_spec(cls, params: Params, input_spec: Any, where: str = "") -> "SameShape":
        where = where or cls.registry_name
        spec = float_tensor_spec(input_spec, where, min_rank=cls.min_rank)
        return cls(params, spec.shape[-1] if spec.shape else 1, where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        width = self.input_dim if self.min_rank >= 2 else None
        return float_tensor_spec(input_spec, self.where, min_rank=self.min_rank, last_dim=width)


class DropoutParams(Params):
    """Parameters of :class:`Dropout`."""

    rate: float
    noise_shape: list[int | None] | None = Field(
        default=None, description="shape of the drop mask, batch axis included (Keras ``noise_shape``): each "
        "entry 1 (one draw shared along that axis) or None / the input's size; None: one draw per value")


@COMPONENTS.register(
    "Dropout", params=DropoutParams, input_kind="tensor", positional=("rate",),
    examples=[
        ({"rate": 0.5}, TensorSpec((6,))),
        ({"rate": 0.0}, TensorSpec((2, 3))),
        ({"rate": 0.5, "noise_shape": [None, 1]}, TensorSpec((4,))),
    ])
class Dropout(SameShape):
    """Inverted dropout: zero each value with probability ``rate`` and scale the rest by ``1/(1-rate)``.

    Training only; identity in eval mode (Srivastava et al., JMLR 2014). With ``noise_shape``
    (Keras) the mask has that shape and is broadcast: ``[None, 1]`` keeps or drops each row's
    whole vector (EasyRec DropoutNet's ``bernoulli_dropout``).

    Args:
        rate: drop probability in ``[0, 1)``.
        noise_shape: shape of the drop mask, batch axis included; an entry is 1 (one draw shared
            along that axis) or None / the input's size.

    Shape:
        - Input: ``(B, ...)`` float.
        - Output: same shape.

    Example:
        >>> drop = Dropout.from_spec(DropoutParams(rate=0.5), TensorSpec((3,))).eval()
        >>> drop(torch.ones(1, 3))
        tensor([[1., 1., 1.]])
    """

    min_rank = 1

    def __init__(self, params: DropoutParams, input_dim: int, where: str = "Dropout") -> None:
        super().__init__(params, input_dim, where)
        if not 0.0 <= params.rate < 1.0:
            raise ConfigError(join_path(where, "rate"), "invalid dropout rate", "a value in [0, 1)", params.rate)
        self.dropout = nn.Dropout(params.rate)
        self.noise_shape = params.noise_shape
        shape = self.noise_shape
        if shape is not None and (len(shape) < 2 or any(n is not None and n < 1 for n in shape)
                                  or shape[-1] not in (None, 1, input_dim)):
            raise ConfigError(join_path(where, "noise_shape"), "the mask shape holds the batch axis and one entry "
                              "per input axis, each 1, None or the input's size", f"e.g. [None, 1] for (B, {input_dim})",
                              shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.noise_shape is None or not self.training or self.params.rate == 0.0:
            return self.dropout(x)
        keep = 1.0 - self.params.rate
        if len(self.noise_shape) != x.dim():
            raise ShapeError(join_path(self.where, "noise_shape"), "the mask shape needs one entry per input axis",
                             f"{x.dim()} entries", self.noise_shape)
        shape = [x.shape[i] if n is None else n for i, n in enumerate(self.noise_shape)]
        mask = torch.bernoulli(torch.full(shape, keep, dtype=x.dtype, device=x.device))
        return x * mask / keep


class ActivationParams(Params):
    """Parameters of :class:`Activation`."""

    activation: str | None


@COMPONENTS.register(
    "Activation", params=ActivationParams, input_kind="tensor", positional=("activation",),
    examples=[
        ({"activation": "relu"}, TensorSpec((3,))),
        ({"activation": "tf.nn.leaky_relu"}, TensorSpec((2, 3))),
        ({"activation": "prelu"}, TensorSpec((3,))),
        ({"activation": "dice"}, TensorSpec((2, 3))),
        ({"activation": "softmax"}, TensorSpec((5,))),
    ])
class Activation(SameShape):
    """Apply a named activation element-wise (Keras ``Activation``), e.g. ``sigmoid(x)``.

    Args:
        activation: activation name, resolved by :func:`~recblocks.layers.activations.make_activation`
            (``prelu``/``dice`` learn one weight per unit of the last axis).

    Shape:
        - Input: ``(B, ..., D)`` float.
        - Output: same shape.

    Example:
        >>> act = Activation.from_spec(ActivationParams(activation="tf.nn.relu"), TensorSpec((2,)))
        >>> act(torch.tensor([[-1.0, 2.0]]))
        tensor([[0., 2.]])
    """

    def __init__(self, params: ActivationParams, input_dim: int, where: str = "Activation") -> None:
        super().__init__(params, input_dim, where)
        self.act = make_activation(params.activation, join_path(where, "activation"), width=input_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x)


class FlattenParams(Params):
    """Parameters of :class:`Flatten` (none)."""


@COMPONENTS.register(
    "Flatten", params=FlattenParams, input_kind="tensor",
    examples=[
        ({}, TensorSpec((2, 3))),
        ({}, TensorSpec((4,))),
    ])
class Flatten(Component):
    """Flatten every axis but the batch axis (Keras ``Flatten``): ``(B, d1, d2, ...) -> (B, d1*d2*...)``.

    Shape:
        - Input: ``(B, ...)`` (a ``(B,)`` input becomes ``(B, 1)``).
        - Output: ``(B, prod(...))``.

    Example:
        >>> flat = Flatten.from_spec(FlattenParams(), TensorSpec((2, 3)))
        >>> flat(torch.zeros(4, 2, 3)).shape
        torch.Size([4, 6])
    """

    def __init__(self, params: FlattenParams, where: str = "Flatten") -> None:
        super().__init__(params)
        self.where = where

    @classmethod
    def from_spec(cls, params: FlattenParams, input_spec: Any, where: str = "") -> "Flatten":
        module = cls(params, where or "Flatten")
        module.output_spec(input_spec)
        return module

    def output_spec(self, input_spec: Any) -> TensorSpec:
        if not isinstance(input_spec, TensorSpec):
            raise ShapeError(self.where, "input must be a single tensor", "(B, ...)", describe_spec(input_spec))
        return TensorSpec((math.prod(input_spec.shape),), input_spec.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)


# ----------------------------------------------------------------------------- Add / Concatenate


class AddParams(Params):
    """Parameters of :class:`Add` (none)."""


@COMPONENTS.register(
    "Add", params=AddParams, input_kind="fields",
    examples=[
        ({}, [TensorSpec((1,)), TensorSpec((1,))]),
        ({}, [TensorSpec((1,)), TensorSpec((3,)), TensorSpec((3,))]),
        ({}, [TensorSpec((2, 3))]),
    ])
class Add(Component):
    """Element-wise sum of a list of tensors ``y = x_1 + ... + x_n`` (Keras ``Add``).

    Shapes must be equal or broadcastable (e.g. ``(B, 1) + (B, 1)``; ``(B, 1) + (B, H)``).

    Shape:
        - Input: list ``n x (B, ...)`` with broadcast-compatible shapes, ``n >= 1``.
        - Output: ``(B, ...)``, the broadcast shape.

    Example:
        >>> add = Add.from_spec(AddParams(), [TensorSpec((1,)), TensorSpec((1,))])
        >>> add([torch.tensor([[1.0]]), torch.tensor([[2.5]])])
        tensor([[3.5000]])
    """

    def __init__(self, params: AddParams, where: str = "Add") -> None:
        super().__init__(params)
        self.where = where

    @classmethod
    def from_spec(cls, params: AddParams, input_spec: Any, where: str = "") -> "Add":
        module = cls(params, where or "Add")
        module.output_spec(input_spec)
        return module

    def output_spec(self, input_spec: Any) -> TensorSpec:
        where = self.where
        specs = tensor_list_spec(input_spec, where, " (set merge_inputs_into_list on the block)")
        if len({s.rank for s in specs}) != 1:
            raise ShapeError(where, "inputs to add must have the same rank", "equal ranks", describe_spec(input_spec))
        try:
            shape = torch.broadcast_shapes(*[s.shape for s in specs])
        except RuntimeError:
            raise ShapeError(where, "inputs to add have incompatible shapes", "equal or broadcastable shapes",
                             describe_spec(input_spec)) from None
        return TensorSpec(tuple(shape))

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        total = x[0]
        for value in x[1:]:
            total = total + value
        return total


class ConcatenateParams(Params):
    """Parameters of :class:`Concatenate`."""

    axis: int = -1


@COMPONENTS.register(
    "Concatenate", params=ConcatenateParams, input_kind="fields", positional=("axis",),
    examples=[
        ({}, [TensorSpec((1,)), TensorSpec((2,)), TensorSpec((3,))]),
        ({"axis": 1}, [TensorSpec((2, 4)), TensorSpec((3, 4))]),
        ({"axis": -2}, [TensorSpec((2, 4)), TensorSpec((1, 4))]),
    ])
class Concatenate(Component):
    """Concatenate a list of tensors along one axis (Keras ``Concatenate``; the axis counts the batch).

    Args:
        axis: Keras axis, ``-1`` (last, default) or ``1..rank-1``; the batch axis is refused.

    Shape:
        - Input: list ``n x (B, ..., D_i)``, equal ranks, equal sizes except on ``axis``.
        - Output: ``(B, ..., sum_i D_i)``.

    Example:
        >>> cat = Concatenate.from_spec(ConcatenateParams(), [TensorSpec((1,)), TensorSpec((2,))])
        >>> cat([torch.tensor([[1.0]]), torch.tensor([[2.0, 3.0]])])
        tensor([[1., 2., 3.]])
    """

    def __init__(self, params: ConcatenateParams, dim: int, where: str = "Concatenate") -> None:
        super().__init__(params)
        self.dim = dim
        self.where = where

    @classmethod
    def from_spec(cls, params: ConcatenateParams, input_spec: Any, where: str = "") -> "Concatenate":
        where = where or "Concatenate"
        specs = tensor_list_spec(input_spec, where, " (set merge_inputs_into_list on the block)")
        module = cls(params, _keras_axis(params.axis, specs[0].rank, where), where)
        module.output_spec(input_spec)
        return module

    def output_spec(self, input_spec: Any) -> TensorSpec:
        specs = tensor_list_spec(input_spec, self.where)
        dim = self.dim - 1
        ranks = {s.rank for s in specs}
        others = {s.shape[:dim] + s.shape[dim + 1:] for s in specs if s.rank > dim}
        if len(ranks) != 1 or len(others) != 1:
            raise ShapeError(self.where, f"inputs differ on an axis other than the concat axis {self.params.axis}",
                             "equal ranks and sizes except on the concat axis", describe_spec(input_spec))
        first = specs[0].shape
        return TensorSpec((*first[:dim], sum(s.shape[dim] for s in specs), *first[dim + 1:]))

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(list(x), dim=self.dim)
