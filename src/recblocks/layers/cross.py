"""Explicit feature crossing of the Deep & Cross networks: DCN-v2 ``Cross`` and DCN-v1 ``CrossNet``."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from recblocks.core.errors import ConfigError, ShapeError
from recblocks.core.limits import MAX_LAYER_WIDTH, MAX_LAYERS
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.activations import check_activation, initialize, initializer_key, make_activation
from recblocks.layers.base import Component
from recblocks.layers.keras import float_tensor_spec

__all__ = ["Cross", "CrossParams", "CrossNet", "CrossNetParams"]


class CrossParams(Params):
    """Parameters of :class:`Cross` (TFRS/EasyRec names and defaults)."""

    projection_dim: int | None = Field(default=None, le=MAX_LAYER_WIDTH,
                                       description=f"rank of the low-rank kernel, at most {MAX_LAYER_WIDTH:,}")
    diag_scale: float = 0.0
    use_bias: bool = True
    preactivation: str | None = None
    kernel_initializer: str = "truncated_normal"
    bias_initializer: str = "zeros"


@COMPONENTS.register(
    "Cross", params=CrossParams, input_kind="tensor",
    examples=[
        ({}, TensorSpec((4,))),
        ({}, [TensorSpec((4,)), TensorSpec((4,))]),
        ({"projection_dim": 2.0, "diag_scale": 0.5, "preactivation": "tanh"}, [TensorSpec((6,)), TensorSpec((6,))]),
        ({"use_bias": False}, TensorSpec((2, 4))),
    ])
class Cross(Component):
    """One DCN-v2 cross layer ``x_{l+1} = x_0 * (W x_l + b) + x_l`` (Wang et al., 2021).

    Paper: "DCN V2: Improved Deep & Cross Network...", WWW 2021, arXiv:2008.13535.
    ``p = preactivation(W x_l + b)``; with ``diag_scale`` ``p += diag_scale * x_l``; output
    ``x_0 * p + x_l`` (bias inside the product, as the paper, TFRS and TorchRec). With
    ``projection_dim = r`` the kernel is low rank, ``W = V U`` (``U: D -> r`` without bias,
    ``V: r -> D`` with the bias). Stack layers with separate weights by feeding ``[x_0, x_l]``
    (EasyRec ``recurrent`` with ``fixed_input_index: 0``). Kernels are initialised with a
    truncated normal of std 0.05 (Keras ``'truncated_normal'``).

    Args:
        projection_dim: rank ``r`` of the low-rank kernel; ``None`` for a full ``D x D`` kernel.
        diag_scale: non-negative weight of the added identity (``W + diag_scale * I``).
        use_bias: learn the bias ``b``.
        preactivation: activation applied to ``W x_l + b`` (default none).
        kernel_initializer: kernel initializer name (Keras semantics).
        bias_initializer: bias initializer name.

    Shape:
        - Input: a pair ``[x_0, x_l]`` of ``(B, ..., D)`` tensors of equal shape, or one tensor
          ``(B, ..., D)`` used as both.
        - Output: ``(B, ..., D)``.

    Example:
        >>> cross = Cross.from_spec(CrossParams(), TensorSpec((2,)))
        >>> with torch.no_grad():
        ...     _ = cross.dense.weight.copy_(torch.eye(2))
        ...     cross(torch.tensor([[1.0, 2.0]]))
        tensor([[2., 6.]])
    """

    def __init__(self, params: CrossParams, input_dim: int, where: str = "Cross") -> None:
        super().__init__(params)
        self.where = where
        self.input_dim = input_dim
        rank = params.projection_dim
        if rank is not None and rank < 1:
            raise ConfigError(join_path(where, "projection_dim"), "projection_dim must be positive",
                              "an int >= 1 or None", rank)
        if params.diag_scale < 0.0:
            raise ConfigError(join_path(where, "diag_scale"), "diag_scale should be non-negative", ">= 0",
                              params.diag_scale)
        kernel_where = join_path(where, "kernel_initializer")
        bias_where = join_path(where, "bias_initializer")
        initializer_key(params.bias_initializer, bias_where)
        check_activation(params.preactivation, join_path(where, "preactivation"))
        self.project = None
        if rank is not None:
            self.project = nn.Linear(input_dim, rank, bias=False)
            initialize(self.project.weight, params.kernel_initializer, kernel_where)
        self.dense = nn.Linear(rank or input_dim, input_dim, bias=params.use_bias)
        initialize(self.dense.weight, params.kernel_initializer, kernel_where)
        if params.use_bias:
            initialize(self.dense.bias, params.bias_initializer, bias_where, fan_in=rank or input_dim,
                       fan_out=input_dim)
        self.preact = make_activation(params.preactivation, join_path(where, "preactivation"), width=input_dim)
        self.diag_scale = float(params.diag_scale)

    @classmethod
    def from_spec(cls, params: CrossParams, input_spec: Any, where: str = "") -> "Cross":
        where = where or "Cross"
        return cls(params, cls._check(input_spec, where).last_dim, where)

    @staticmethod
    def _check(input_spec: Any, where: str, input_dim: int | None = None) -> TensorSpec:
        if isinstance(input_spec, (list, tuple)):
            if len(input_spec) != 2:
                raise ShapeError(where, "a list input must be the pair [x0, xi]", "2 tensors",
                                 describe_spec(input_spec))
            x0 = float_tensor_spec(input_spec[0], where, last_dim=input_dim, name="x0")
            xi = float_tensor_spec(input_spec[1], where, last_dim=input_dim, name="xi")
            if x0.shape != xi.shape:
                raise ShapeError(where, "x0 and xi must have the same shape", "equal shapes",
                                 describe_spec(input_spec))
            return x0
        return float_tensor_spec(input_spec, where, last_dim=input_dim)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        return self._check(input_spec, self.where, self.input_dim)

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        if isinstance(x, torch.Tensor):
            x0 = xi = x
        else:
            x0, xi = x
        hidden = xi if self.project is None else self.project(xi)
        prod = self.preact(self.dense(hidden))
        if self.diag_scale != 0.0:
            prod = prod + self.diag_scale * xi
        return x0 * prod + xi


class CrossNetParams(Params):
    """Parameters of :class:`CrossNet`."""

    num_layers: int = Field(default=3, le=MAX_LAYERS, description=f"cross layers, at most {MAX_LAYERS:,}")
    kernel_initializer: str = "glorot_normal"
    bias_initializer: str = "zeros"


@COMPONENTS.register(
    "CrossNet", params=CrossNetParams, input_kind="tensor", positional=("num_layers",),
    examples=[
        ({}, TensorSpec((5,))),
        ({"num_layers": 1}, TensorSpec((2, 5))),
    ])
class CrossNet(Component):
    """DCN-v1 vector cross network ``x_{l+1} = x_0 (x_l . w_l) + b_l + x_l`` (Wang et al., 2017).

    Paper: "Deep & Cross Network for Ad Click Predictions", ADKDD 2017, arXiv:1708.05123. Each of the ``num_layers`` layers has its own vector ``w_l`` (Glorot/Xavier normal with fans
    ``(D, 1)``) and bias ``b_l`` (zeros); ``x_l . w_l`` is one scalar per sample.

    Args:
        num_layers: number of cross layers ``L`` (positive).
        kernel_initializer: initializer of every ``w_l`` (Keras semantics, fans ``D`` and 1).
        bias_initializer: initializer of every ``b_l``.

    Shape:
        - Input: ``(B, ..., D)``.
        - Output: ``(B, ..., D)``.

    Example:
        >>> net = CrossNet.from_spec(CrossNetParams(num_layers=2), TensorSpec((2,)))
        >>> with torch.no_grad():
        ...     _ = net.kernels.fill_(1.0)
        ...     net(torch.tensor([[1.0, 2.0]]))
        tensor([[16., 32.]])
    """

    def __init__(self, params: CrossNetParams, input_dim: int, where: str = "CrossNet") -> None:
        super().__init__(params)
        self.where = where
        self.input_dim = input_dim
        if params.num_layers < 1:
            raise ConfigError(join_path(where, "num_layers"), "num_layers must be positive", "an int >= 1",
                              params.num_layers)
        self.num_layers = params.num_layers
        self.kernels = nn.Parameter(torch.empty(params.num_layers, input_dim))
        self.biases = nn.Parameter(torch.empty(params.num_layers, input_dim))
        for layer in range(params.num_layers):
            initialize(self.kernels.data[layer], params.kernel_initializer,
                       join_path(where, "kernel_initializer"), fan_in=input_dim, fan_out=1)
            initialize(self.biases.data[layer], params.bias_initializer,
                       join_path(where, "bias_initializer"), fan_in=input_dim, fan_out=1)

    @classmethod
    def from_spec(cls, params: CrossNetParams, input_spec: Any, where: str = "") -> "CrossNet":
        where = where or "CrossNet"
        return cls(params, float_tensor_spec(input_spec, where).last_dim, where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        return float_tensor_spec(input_spec, self.where, last_dim=self.input_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = x
        for layer in range(self.num_layers):
            scale = torch.matmul(x, self.kernels[layer].unsqueeze(-1))
            x = x0 * scale + self.biases[layer] + x
        return x
