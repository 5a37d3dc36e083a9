"""Basic components of components.md §1: Highway, Gate, L2Norm and LogitCorrection.

Parameter names follow EasyRec (``HighWayTower``, ``WeightedGate``) and Monolith
(``LogitCorrection``); where EasyRec's documentation and its code disagree, the code's value
is the default (components.md §11/§13: Highway's activation is ``relu``, not ``gelu``).
``LogitsTemperatureScaler`` (§1.8) is not a component here: it is the task's ``pre``
transform (:class:`recblocks.tasks.LogitsTemperatureScaler`, set by ``logits_temperature``),
since only a task head knows whether it is predicting.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from recblocks.core.errors import ShapeError
from recblocks.core.limits import MAX_LAYER_WIDTH, MAX_LAYERS
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.activations import initialize, make_activation
from recblocks.layers.base import Component
from recblocks.layers.keras import float_tensor_spec
from recblocks.layers.mlp import MLP, MLPParams

__all__ = [
    "Gate", "GateParams", "Highway", "HighwayParams", "L2Norm", "L2NormParams", "LogitCorrection",
    "LogitCorrectionParams",
]


# ----------------------------------------------------------------------------- Highway


class HighwayParams(Params):
    """Parameters of :class:`Highway` (EasyRec ``HighWayTower`` names)."""

    emb_size: int | None = Field(default=None, ge=1, le=MAX_LAYER_WIDTH)
    num_layers: int = Field(default=1, ge=1, le=MAX_LAYERS)
    activation: str | None = "relu"
    dropout_rate: float = Field(default=0.0, ge=0.0, lt=1.0)
    init_gate_bias: float = -3.0


@COMPONENTS.register(
    "Highway", params=HighwayParams, input_kind="tensor", positional=("emb_size",), aliases=("HighWayTower",),
    examples=[
        ({}, TensorSpec((4,))),
        ({"emb_size": 3, "num_layers": 2, "dropout_rate": 0.5, "activation": "gelu"}, TensorSpec((5,))),
    ])
class Highway(Component):
    """Gated residual layers ``x <- T * H + (1 - T) * x`` (Srivastava et al., arXiv:1505.00387).

    Per layer: ``T = sigmoid(x W_T + b_T)`` with ``b_T`` starting at ``init_gate_bias`` (so the
    layer starts close to the identity), ``H = dropout(act(x W_H + b_H))``. When ``emb_size``
    is set and differs from ``D`` the input is first projected linearly to ``emb_size``. Kernels
    start Glorot-uniform and biases at zero, as Keras' ``Dense`` in EasyRec's layer.

    Args:
        emb_size: output width (default: the input width ``D``).
        num_layers: number of highway layers, each with its own weights.
        activation: activation of ``H`` (EasyRec's code default ``relu``).
        dropout_rate: dropout on ``H`` in training, in ``[0, 1)``.
        init_gate_bias: initial value of the gate bias ``b_T``.

    Shape:
        - Input: ``(B, D)``.
        - Output: ``(B, emb_size)`` or ``(B, D)``.

    Example:
        >>> layer = Highway.from_spec(HighwayParams(), TensorSpec((2,)))
        >>> layer(torch.zeros(3, 2)).shape
        torch.Size([3, 2])
    """

    def __init__(self, params: HighwayParams, input_dim: int, where: str) -> None:
        super().__init__(params)
        self.where = where
        self.input_dim = input_dim
        width = params.emb_size or input_dim
        self.project = nn.Linear(input_dim, width) if width != input_dim else None
        self.transforms = nn.ModuleList(nn.Linear(width, width) for _ in range(params.num_layers))
        self.gates = nn.ModuleList(nn.Linear(width, width) for _ in range(params.num_layers))
        for layer in [*self.transforms, *self.gates, *([self.project] if self.project is not None else [])]:
            initialize(layer.weight, "glorot_uniform", where)  # Keras Dense defaults
            nn.init.zeros_(layer.bias)
        for gate in self.gates:
            nn.init.constant_(gate.bias, params.init_gate_bias)
        self.acts = nn.ModuleList(make_activation(params.activation, join_path(where, "activation"), width)
                                  for _ in range(params.num_layers))
        self.dropout = nn.Dropout(params.dropout_rate)
        self.output_dim = width

    @classmethod
    def from_spec(cls, params: HighwayParams, input_spec: Any, where: str = "") -> "Highway":
        where = where or "Highway"
        spec = float_tensor_spec(input_spec, where, name="Highway input")
        return cls(params, spec.last_dim, where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        spec = float_tensor_spec(input_spec, self.where, last_dim=self.input_dim, name="Highway input")
        return TensorSpec((*spec.shape[:-1], self.output_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.project is not None:
            x = self.project(x)
        for transform, gate, act in zip(self.transforms, self.gates, self.acts):
            t = torch.sigmoid(gate(x))
            x = t * self.dropout(act(transform(x))) + (1.0 - t) * x
        return x


# ----------------------------------------------------------------------------- Gate


class GateParams(Params):
    """Parameters of :class:`Gate` (EasyRec ``WeightedGate``)."""

    weight_index: int = Field(default=0, ge=0, le=MAX_LAYERS)
    mlp: MLPParams | None = None


def _gate_inputs(spec: Any, where: str, weight_index: int) -> tuple[int, TensorSpec]:
    """Check ``[w, x_1..x_n]`` (weights at ``weight_index``); return ``n`` and the spec of each ``x_j``."""
    expected = "a list [w (B, n), x_1 (B, D), ..., x_n (B, D)]"
    if not isinstance(spec, (list, tuple)) or len(spec) < 2 or not all(isinstance(s, TensorSpec) for s in spec):
        raise ShapeError(where, "the input of Gate must be a list of at least 2 tensors", expected, describe_spec(spec))
    if weight_index >= len(spec):
        raise ShapeError(join_path(where, "weight_index"), "Gate weight_index is past the end of the input list",
                         f"an index below {len(spec)}", weight_index)
    weights = spec[weight_index]
    values = [s for i, s in enumerate(spec) if i != weight_index]
    if weights.rank != 2 or weights.shape[0] != len(values):
        raise ShapeError(where, "the Gate weights must have one column per gated input", f"w (B, {len(values)})",
                         describe_spec(weights))
    if len(set(values)) != 1 or values[0].rank < 2:
        raise ShapeError(where, "the inputs gated by Gate must have one shape", expected, describe_spec(spec))
    return len(values), values[0]


@COMPONENTS.register(
    "Gate", params=GateParams, input_kind="fields", positional=("weight_index",), aliases=("WeightedGate",),
    examples=[
        ({}, [TensorSpec((2,)), TensorSpec((3,)), TensorSpec((3,))]),
        ({"weight_index": 2, "mlp": {"hidden_units": [4], "use_bn": False, "use_final_bn": False}},
         [TensorSpec((3,)), TensorSpec((3,)), TensorSpec((2,))]),
    ])
class Gate(Component):
    """Per-sample weighted sum of inputs ``y = sum_j w[:, j] * x_j`` (EasyRec ``Gate``, CDN, arXiv:2210.14309).

    The weights are used as given (no softmax: produce them with e.g. a softmax Dense); an
    optional MLP is applied to the sum.

    Args:
        weight_index: position of the weights ``w`` in the input list.
        mlp: optional MLP (EasyRec ``MLP`` parameters) applied to the result.

    Shape:
        - Input: list ``[w (B, n), x_1 (B, D), ..., x_n (B, D)]`` (``w`` at ``weight_index``).
        - Output: ``(B, D)``, or ``(B, hidden_units[-1])`` with an MLP.

    Example:
        >>> gate = Gate.from_spec(GateParams(), [TensorSpec((2,)), TensorSpec((2,)), TensorSpec((2,))])
        >>> gate([torch.tensor([[0.25, 0.75]]), torch.tensor([[4.0, 8.0]]), torch.tensor([[0.0, 4.0]])])
        tensor([[1., 5.]])
    """

    def __init__(self, params: GateParams, num_inputs: int, value_spec: TensorSpec, where: str) -> None:
        super().__init__(params)
        self.where = where
        self.num_inputs = num_inputs
        self.mlp = MLP(params.mlp, value_spec.last_dim, join_path(where, "mlp")) if params.mlp else None

    @classmethod
    def from_spec(cls, params: GateParams, input_spec: Any, where: str = "") -> "Gate":
        where = where or "Gate"
        num_inputs, value_spec = _gate_inputs(input_spec, where, params.weight_index)
        return cls(params, num_inputs, value_spec, where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        _, value_spec = _gate_inputs(input_spec, self.where, self.params.weight_index)
        return self.mlp.output_spec(value_spec) if self.mlp is not None else value_spec

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        index = self.params.weight_index
        weights = x[index]
        values = torch.stack([v for i, v in enumerate(x) if i != index], dim=1)  # (B, n, D)
        out = (values * weights.unsqueeze(-1)).sum(dim=1)
        return self.mlp(out) if self.mlp is not None else out


# ----------------------------------------------------------------------------- L2Norm


class L2NormParams(Params):
    """Parameters of :class:`L2Norm`."""

    axis: int = -1
    epsilon: float = Field(default=1e-12, gt=0.0, le=1.0)


@COMPONENTS.register(
    "L2Norm", params=L2NormParams, input_kind="tensor", positional=("axis",), aliases=("L2Normalize",),
    examples=[({}, TensorSpec((3,))), ({"axis": 1}, TensorSpec((2, 3)))],
)
class L2Norm(Component):
    """L2-normalise along one axis ``y = x / sqrt(max(sum(x^2), eps))`` (Merlin Models ``L2Norm``).

    ``eps`` bounds the *squared* norm as ``tf.nn.l2_normalize`` does; a zero vector stays zero.

    Args:
        axis: axis to normalise, counting the batch axis (``-1`` the last; the batch axis is refused).
        epsilon: floor of the squared norm.

    Shape:
        - Input: ``(B, ..., D)``.
        - Output: same shape.

    Example:
        >>> norm = L2Norm.from_spec(L2NormParams(), TensorSpec((2,)))
        >>> norm(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
        tensor([[0.6000, 0.8000],
                [0.0000, 0.0000]])
    """

    def __init__(self, params: L2NormParams, dim: int, where: str) -> None:
        super().__init__(params)
        self.dim = dim
        self.where = where

    @classmethod
    def from_spec(cls, params: L2NormParams, input_spec: Any, where: str = "") -> "L2Norm":
        where = where or "L2Norm"
        spec = float_tensor_spec(input_spec, where, name="L2Norm input")
        dim = params.axis + spec.rank if params.axis < 0 else params.axis
        if not 1 <= dim < spec.rank:
            raise ShapeError(join_path(where, "axis"), "L2Norm axis is out of range (the batch axis cannot be used)",
                             f"1..{spec.rank - 1} or -{spec.rank - 1}..-1", params.axis)
        return cls(params, dim, where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        spec = float_tensor_spec(input_spec, self.where, min_rank=self.dim + 1, name="L2Norm input")
        return spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squared = x.pow(2).sum(dim=self.dim, keepdim=True)
        return x * torch.rsqrt(squared.clamp_min(self.params.epsilon))


# ----------------------------------------------------------------------------- LogitCorrection


class LogitCorrectionParams(Params):
    """Parameters of :class:`LogitCorrection` (Monolith names)."""

    activation: str | None = None
    sample_bias: bool = False


_MIN_RATE = 1e-12


def _logit_inputs(spec: Any, where: str) -> tuple[TensorSpec, TensorSpec | None]:
    expected = "logits (B,) or (B, 1), optionally with a sample rate of the same shape: [logits, rate]"
    if isinstance(spec, TensorSpec):
        logits, rate = spec, None
    elif isinstance(spec, (list, tuple)) and len(spec) in (1, 2) and all(isinstance(s, TensorSpec) for s in spec):
        logits, rate = spec[0], (spec[1] if len(spec) == 2 else None)
    else:
        raise ShapeError(where, "LogitCorrection takes logits and an optional sample rate", expected,
                         describe_spec(spec))
    if logits.shape not in ((), (1,)) or logits.dtype != "float":
        raise ShapeError(where, "LogitCorrection logits must be one float per row", expected, describe_spec(spec))
    if rate is not None and (rate.shape != logits.shape or rate.dtype != "float"):
        raise ShapeError(where, "the LogitCorrection sample rate must have the shape of the logits", expected,
                         describe_spec(spec))
    return logits, rate


@COMPONENTS.register(
    "LogitCorrection", params=LogitCorrectionParams, input_kind="fields", positional=("sample_bias",),
    examples=[
        ({}, [TensorSpec((1,)), TensorSpec((1,))]),
        ({"sample_bias": True, "activation": "sigmoid"}, TensorSpec(())),
        ({"sample_bias": True}, [TensorSpec(()), TensorSpec(())]),
    ])
class LogitCorrection(Component):
    """Correct logits for sampling: ``y = act(f(l) - log r)`` (Monolith; Yi et al., RecSys 2019).

    ``f(l) = l``, or ``log sigmoid(l)`` (computed stably) when ``sample_bias``; the ``- log r``
    term only when a sample rate ``r`` is given. Keeping negatives with rate ``r`` multiplies the
    odds by ``1/r``; training on the shifted logit leaves the raw logit an estimate of the
    unsampled probability. Rates must lie in ``(0, 1]``; checking them in the forward pass
    would need a host sync, so they are clamped to ``[1e-12, 1]`` instead (a rate of 0
    gives a correction of ``log 1e12 = 27.6``, not ``+inf``).

    Args:
        activation: activation applied to the corrected logits (default none).
        sample_bias: use ``log sigmoid(l)`` instead of ``l``.

    Shape:
        - Input: logits ``(B,)`` or ``(B, 1)``, or the list ``[logits, rate]`` of two such tensors.
        - Output: the shape of the logits.

    Example:
        >>> layer = LogitCorrection.from_spec(LogitCorrectionParams(), [TensorSpec((1,))] * 2)
        >>> layer([torch.tensor([[0.0]]), torch.tensor([[0.5]])])
        tensor([[0.6931]])
    """

    def __init__(self, params: LogitCorrectionParams, where: str) -> None:
        super().__init__(params)
        self.where = where
        self.act = make_activation(params.activation, join_path(where, "activation"), width=1)

    @classmethod
    def from_spec(cls, params: LogitCorrectionParams, input_spec: Any, where: str = "") -> "LogitCorrection":
        where = where or "LogitCorrection"
        _logit_inputs(input_spec, where)
        return cls(params, where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        return _logit_inputs(input_spec, self.where)[0]

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        logits, rate = (x, None) if isinstance(x, torch.Tensor) else (x[0], x[1] if len(x) == 2 else None)
        y = nn.functional.logsigmoid(logits) if self.params.sample_bias else logits
        if rate is not None:
            y = y - torch.log(rate.clamp(_MIN_RATE, 1.0))
        return self.act(y)
