"""Batch and layer normalization over the last axis, with Keras names and defaults.

EasyRec configs use them as ``keras_layer`` with ``st_params``, so the Keras argument names
and defaults are kept and converted to torch: Keras BN ``momentum=0.99`` is torch
``momentum=0.01``; BN and LayerNorm ``epsilon=1e-3`` (torch uses 1e-5).
"""

from __future__ import annotations

import torch
from torch import nn

from recblocks.core.errors import ConfigError
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec
from recblocks.layers.keras import SameShape

__all__ = [
    "KERAS_BN_EPSILON", "KERAS_BN_MOMENTUM",
    "BatchNormalization", "BatchNormalizationParams", "LayerNormalization", "LayerNormalizationParams",
]

#: Keras BatchNormalization defaults (torch momentum = 1 - Keras momentum).
KERAS_BN_EPSILON = 1e-3
KERAS_BN_MOMENTUM = 0.99


class BatchNormalizationParams(Params):
    """Parameters of :class:`BatchNormalization` (Keras names and defaults)."""

    momentum: float = KERAS_BN_MOMENTUM
    epsilon: float = KERAS_BN_EPSILON
    center: bool = True
    scale: bool = True


@COMPONENTS.register(
    "BatchNormalization", params=BatchNormalizationParams, input_kind="tensor",
    examples=[
        ({}, TensorSpec((3,))),
        ({"momentum": 0.9, "epsilon": 1e-5}, TensorSpec((2, 3))),
        ({"center": False, "scale": False}, TensorSpec((3,))),
    ])
class BatchNormalization(SameShape):
    """Batch normalization over the last axis (Ioffe & Szegedy, ICML 2015, arXiv:1502.03167).

    ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta``; batch statistics in training,
    running statistics in eval. Keras semantics: ``momentum=0.99`` means
    ``running = 0.99 * running + 0.01 * batch`` (torch ``momentum=0.01``); ``epsilon=1e-3``.
    ``center=False`` / ``scale=False`` freeze ``beta`` at 0 / ``gamma`` at 1.

    Args:
        momentum: Keras momentum of the running statistics, in ``[0, 1)``.
        epsilon: added to the variance (positive).
        center: learn the offset ``beta``.
        scale: learn the scale ``gamma``.

    Shape:
        - Input: ``(B, D)`` or ``(B, ..., D)`` (statistics over every axis but the last).
        - Output: same shape.

    Example:
        >>> bn = BatchNormalization.from_spec(BatchNormalizationParams(), TensorSpec((2,))).eval()
        >>> bn(torch.tensor([[1.0, -1.0]]))
        tensor([[ 0.9995, -0.9995]], grad_fn=<NativeBatchNormBackward0>)
    """

    def __init__(self, params: BatchNormalizationParams, input_dim: int, where: str = "BatchNormalization") -> None:
        super().__init__(params, input_dim, where)
        if not 0.0 <= params.momentum < 1.0:
            raise ConfigError(join_path(where, "momentum"), "invalid Keras momentum", "a value in [0, 1)",
                              params.momentum)
        if params.epsilon <= 0.0:
            raise ConfigError(join_path(where, "epsilon"), "epsilon must be positive", "> 0", params.epsilon)
        self.bn = nn.BatchNorm1d(input_dim, eps=params.epsilon, momentum=1.0 - params.momentum)
        self.bn.weight.requires_grad_(params.scale)
        self.bn.bias.requires_grad_(params.center)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            return self.bn(x)
        return self.bn(x.reshape(-1, x.shape[-1])).reshape(x.shape)


class LayerNormalizationParams(Params):
    """Parameters of :class:`LayerNormalization` (Keras names and defaults)."""

    epsilon: float = KERAS_BN_EPSILON
    center: bool = True
    scale: bool = True


@COMPONENTS.register(
    "LayerNormalization", params=LayerNormalizationParams, input_kind="tensor",
    examples=[
        ({}, TensorSpec((4,))),
        ({"epsilon": 1e-5, "center": False}, TensorSpec((2, 4))),
    ])
class LayerNormalization(SameShape):
    """Layer normalization over the last axis (Ba, Kiros & Hinton, 2016, arXiv:1607.06450).

    ``y = gamma * (x - mean_D(x)) / sqrt(var_D(x) + epsilon) + beta`` per sample; Keras default
    ``epsilon=1e-3`` (torch uses 1e-5). ``center=False`` / ``scale=False`` freeze ``beta`` / ``gamma``.

    Args:
        epsilon: added to the variance (positive).
        center: learn the offset ``beta``.
        scale: learn the scale ``gamma``.

    Shape:
        - Input: ``(B, ..., D)``.
        - Output: same shape.

    Example:
        >>> ln = LayerNormalization.from_spec(LayerNormalizationParams(epsilon=1e-6), TensorSpec((2,)))
        >>> ln(torch.tensor([[1.0, 3.0]]))
        tensor([[-1.0000,  1.0000]], grad_fn=<NativeLayerNormBackward0>)
    """

    def __init__(self, params: LayerNormalizationParams, input_dim: int, where: str = "LayerNormalization") -> None:
        super().__init__(params, input_dim, where)
        if params.epsilon <= 0.0:
            raise ConfigError(join_path(where, "epsilon"), "epsilon must be positive", "> 0", params.epsilon)
        self.norm = nn.LayerNorm(input_dim, eps=params.epsilon)
        self.norm.weight.requires_grad_(params.scale)
        self.norm.bias.requires_grad_(params.center)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)
