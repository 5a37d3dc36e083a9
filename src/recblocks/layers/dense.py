"""Keras ``Dense``, with Keras' kernel/bias regularizers and Monolith's kernel weight-norm.

Regularizers are penalties on the weights, not on a batch, so they are not added per forward
pass: a component answers :meth:`~recblocks.layers.base.Component.regularization_loss` and
the model adds every such penalty to its ``regularization`` loss term (logged as
``regularization``, beside ``model_params.l2_regularization``). A layer used twice (a shared
package) is counted once, as in Keras.

A regularizer is written as Keras writes it: ``'l1'``, ``'l2'``, ``'l1_l2'`` (factor 0.01,
Keras' default), a mapping ``{l1: 0.001, l2: 0.0001}``, or Keras' serialized form
``{class_name: L2, config: {l2: 0.001}}``. Keras' penalties have no factor 1/2:
``l1 * sum|W| + l2 * sum W^2``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from pydantic import Field, model_validator
from torch import nn

from recblocks.core.errors import ConfigError
from recblocks.core.limits import MAX_LAYER_WIDTH
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec
from recblocks.layers.activations import initialize, initializer_key, make_activation
from recblocks.layers.base import Component
from recblocks.layers.keras import float_tensor_spec

__all__ = ["Dense", "DenseParams", "RegularizerParams"]

_KERAS_FACTOR = 0.01
_NAMED = {"l1": (_KERAS_FACTOR, 0.0), "l2": (0.0, _KERAS_FACTOR), "l1_l2": (_KERAS_FACTOR, _KERAS_FACTOR),
          "l1l2": (_KERAS_FACTOR, _KERAS_FACTOR)}
_NORM_FLOOR = 1e-6


class RegularizerParams(Params):
    """A Keras weight penalty ``l1 * sum|W| + l2 * sum W^2``: ``'l2'``, ``{l2: 1e-4}`` or ``{class_name, config}``."""

    l1: float = Field(default=0.0, ge=0.0, le=1e6)
    l2: float = Field(default=0.0, ge=0.0, le=1e6)

    @model_validator(mode="before")
    @classmethod
    def _keras_forms(cls, data: Any) -> Any:
        if isinstance(data, str):
            key = data.strip().lower()
            if key not in _NAMED:
                raise ValueError(f"unknown regularizer {data!r}; expected one of {sorted(_NAMED)} or {{l1: .., l2: ..}}")
            l1, l2 = _NAMED[key]
            return {"l1": l1, "l2": l2}
        if isinstance(data, Mapping) and "class_name" in data:
            name = str(data["class_name"]).lower()
            if name not in _NAMED:
                raise ValueError(f"unknown regularizer class {data['class_name']!r}; expected L1, L2 or L1L2")
            config = dict(data.get("config") or {})
            if not config:
                l1, l2 = _NAMED[name]
                return {"l1": l1, "l2": l2}
            return config
        return data

    def penalty(self, weight: torch.Tensor) -> torch.Tensor:
        total = weight.new_zeros(())
        if self.l1:
            total = total + self.l1 * weight.abs().sum()
        if self.l2:
            total = total + self.l2 * weight.pow(2).sum()
        return total


class DenseParams(Params):
    """Parameters of :class:`Dense` (Keras names; Monolith's for the kernel norm)."""

    units: int = Field(le=MAX_LAYER_WIDTH, description=f"output width, at most {MAX_LAYER_WIDTH:,}")
    activation: str | None = None
    use_bias: bool = True
    kernel_initializer: str = "glorot_uniform"
    bias_initializer: str = "zeros"
    kernel_regularizer: RegularizerParams | None = None
    bias_regularizer: RegularizerParams | None = None
    allow_kernel_norm: bool = False
    kernel_norm_trainable: bool = False


@COMPONENTS.register(
    "Dense", params=DenseParams, input_kind="tensor", positional=("units", "activation"),
    examples=[
        ({"units": 3}, TensorSpec((4,))),
        ({"units": 2.0, "activation": "sigmoid", "use_bias": False}, TensorSpec((5, 4))),
        ({"units": 3, "activation": "prelu", "kernel_initializer": "he_normal", "bias_initializer": "ones"},
         TensorSpec((4,))),
        ({"units": 2, "allow_kernel_norm": True, "kernel_regularizer": "l2", "bias_regularizer": {"l1": 0.1}},
         TensorSpec((3,))),
        ({"units": 2, "allow_kernel_norm": True, "kernel_norm_trainable": True}, TensorSpec((2, 3))),
    ])
class Dense(Component):
    """Fully connected layer ``y = act(x K + b)`` (Keras ``Dense``; Monolith's kernel weight-norm).

    ``K = W`` by default. With ``allow_kernel_norm`` (Salimans & Kingma, arXiv:1602.07868;
    Monolith ``Dense``) each output unit's kernel column is normalised and rescaled:
    ``K[:, j] = g_j W[:, j] / sqrt(max(sum_i W[i, j]^2, 1e-6))`` with ``g_j = |W_init[:, j]|``, so
    the layer starts equal to the plain one. ``g`` is learned when ``kernel_norm_trainable``,
    else fixed at the initial norms (Monolith's documented semantics, components.md §11; its
    code uses ``g = 1``). The kernel starts Glorot-uniform, as in Keras (not torch's default).
    Regularizers add ``l1 sum|W| + l2 sum W^2`` (the raw kernel ``W``) to the model's
    ``regularization`` term (see the module docstring).

    Args:
        units: output width ``H`` (positive).
        activation: activation name (default none).
        use_bias: add a bias.
        kernel_initializer: kernel initializer name (Keras semantics).
        bias_initializer: bias initializer name.
        kernel_regularizer: penalty on the kernel (``'l2'``, ``{l1: .., l2: ..}``...).
        bias_regularizer: penalty on the bias.
        allow_kernel_norm: normalise the kernel columns and rescale them by ``g``.
        kernel_norm_trainable: learn ``g`` (else it stays at the initial column norms).

    Shape:
        - Input: ``(B, ..., D)``.
        - Output: ``(B, ..., H)``.

    Example:
        >>> dense = Dense.from_spec(DenseParams(units=1, kernel_initializer="ones"), TensorSpec((2,)))
        >>> dense(torch.tensor([[1.0, 2.0]]))
        tensor([[3.]], grad_fn=<AddmmBackward0>)
        >>> normed = Dense.from_spec(DenseParams(units=1, allow_kernel_norm=True, kernel_regularizer="l2"),
        ...                          TensorSpec((2,)))
        >>> with torch.no_grad():
        ...     _ = normed.linear.weight.copy_(torch.tensor([[6.0, 8.0]]))
        ...     _ = normed.kernel_norm.fill_(5.0)
        >>> normed(torch.tensor([[1.0, 1.0]])).item(), normed.regularization_loss().item()
        (7.0, 1.0)
    """

    def __init__(self, params: DenseParams, input_dim: int, where: str = "Dense") -> None:
        super().__init__(params)
        self.where = where
        if params.units < 1:
            raise ConfigError(join_path(where, "units"), "units must be positive", "an int >= 1", params.units)
        self.input_dim = input_dim
        self.linear = nn.Linear(input_dim, params.units, bias=params.use_bias)
        initialize(self.linear.weight, params.kernel_initializer, join_path(where, "kernel_initializer"))
        initializer_key(params.bias_initializer, join_path(where, "bias_initializer"))
        if params.use_bias:
            initialize(self.linear.bias, params.bias_initializer, join_path(where, "bias_initializer"),
                       fan_in=input_dim, fan_out=params.units)
        self.act = make_activation(params.activation, join_path(where, "activation"), width=params.units)
        if params.allow_kernel_norm:
            norms = self.linear.weight.detach().norm(dim=1).clone()
            if params.kernel_norm_trainable:
                self.kernel_norm = nn.Parameter(norms)
            else:
                self.register_buffer("kernel_norm", norms)

    @classmethod
    def from_spec(cls, params: DenseParams, input_spec: Any, where: str = "") -> "Dense":
        return cls(params, float_tensor_spec(input_spec, where or "Dense").last_dim, where or "Dense")

    def output_spec(self, input_spec: Any) -> TensorSpec:
        spec = float_tensor_spec(input_spec, self.where, last_dim=self.input_dim)
        return TensorSpec((*spec.shape[:-1], self.params.units))

    def regularization_loss(self) -> torch.Tensor | None:
        """The kernel and bias penalties (None when neither regularizer is set)."""
        params = self.params
        if params.kernel_regularizer is None and (params.bias_regularizer is None or not params.use_bias):
            return None
        total = self.linear.weight.new_zeros(())
        if params.kernel_regularizer is not None:
            total = total + params.kernel_regularizer.penalty(self.linear.weight)
        if params.bias_regularizer is not None and params.use_bias:
            total = total + params.bias_regularizer.penalty(self.linear.bias)
        return total

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.params.allow_kernel_norm:
            return self.act(self.linear(x))
        weight = self.linear.weight
        scale = self.kernel_norm * torch.rsqrt(weight.pow(2).sum(dim=1).clamp_min(_NORM_FLOOR))
        return self.act(nn.functional.linear(x, weight * scale[:, None], self.linear.bias))
