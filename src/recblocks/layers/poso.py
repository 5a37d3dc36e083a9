"""POSO gates and gated layers (Dai et al., "POSO: Personalized Cold Start Modules", arXiv:2108.04690).

The form is NextRec's per-unit gate (components.md §3.5, §13): ``gate(pc) = C sigmoid(W_2
act(W_1 pc + b_1) + b_2)`` of the personalised-code features ``pc`` (user group, new-user
flags...), in ``(0, C)``. Parameter names follow the library vocabulary; NextRec's
(``out_dim``, ``dims``, ``gate_hidden_dim``) are accepted as aliases. Linear layers keep torch's
default initialisation, as NextRec's.
"""

from __future__ import annotations

from typing import Annotated, Any

import torch
from pydantic import Field
from torch import nn

from recblocks.core.errors import ShapeError
from recblocks.core.limits import MAX_LAYER_WIDTH, MAX_LAYERS
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.activations import make_activation
from recblocks.layers.base import Component

__all__ = ["POSOFC", "POSOFCParams", "POSOGate", "POSOGateParams", "POSOMLP", "POSOMLPParams"]


class _Gate(nn.Module):
    def __init__(self, pc_dim: int, output_dim: int, hidden_dim: int, scale: float, activation: str | None,
                 where: str) -> None:
        super().__init__()
        self.hidden = nn.Linear(pc_dim, hidden_dim)
        self.act = make_activation(activation, join_path(where, "activation"), width=hidden_dim)
        self.out = nn.Linear(hidden_dim, output_dim)
        self.scale = scale

    def forward(self, pc: torch.Tensor) -> torch.Tensor:
        return self.scale * torch.sigmoid(self.out(self.act(self.hidden(pc))))


def _pc_spec(spec: Any, where: str, component: str) -> int:
    if not isinstance(spec, TensorSpec) or spec.rank != 2 or spec.dtype != "float":
        raise ShapeError(where, f"{component} takes the personalised-code features", "pc (B, P) float",
                         describe_spec(spec))
    return spec.shape[0]


def _x_and_pc(spec: Any, where: str, component: str) -> tuple[int, int]:
    expected = "[x (B, D), pc (B, P)]"
    if (not isinstance(spec, (list, tuple)) or len(spec) != 2 or not all(isinstance(s, TensorSpec) for s in spec)
            or any(s.rank != 2 or s.dtype != "float" for s in spec)):
        raise ShapeError(where, f"{component} takes the input and the personalised-code features", expected,
                         describe_spec(spec))
    return spec[0].shape[0], spec[1].shape[0]


class POSOGateParams(Params):
    """Parameters of :class:`POSOGate`."""

    output_dim: int = Field(ge=1, le=MAX_LAYER_WIDTH, alias="out_dim")
    hidden_dim: int = Field(default=32, ge=1, le=MAX_LAYER_WIDTH)
    scale_factor: float = Field(default=2.0, gt=0.0, le=1e6)
    activation: str | None = "relu"


@COMPONENTS.register(
    "POSOGate", params=POSOGateParams, input_kind="tensor", positional=("output_dim",),
    examples=[({"output_dim": 3}, TensorSpec((2,))),
              ({"out_dim": 2, "hidden_dim": 4, "scale_factor": 1.0, "activation": "prelu"}, TensorSpec((3,)))],
)
class POSOGate(Component):
    """Personalised gate ``C sigmoid(W_2 act(W_1 pc + b_1) + b_2)`` in ``(0, C)`` (POSO, arXiv:2108.04690).

    Args:
        output_dim: gate width (alias ``out_dim``).
        hidden_dim: hidden width of the gate MLP.
        scale_factor: ``C`` (2: a gate of 1 when the last layer outputs 0).
        activation: hidden activation.

    Shape:
        - Input: ``pc (B, P)``.
        - Output: ``(B, output_dim)``.

    Example:
        >>> gate = POSOGate.from_spec(POSOGateParams(out_dim=2), TensorSpec((3,)))
        >>> with torch.no_grad():
        ...     _ = gate.gate.out.weight.zero_(), gate.gate.out.bias.zero_()
        >>> gate(torch.randn(1, 3))
        tensor([[1., 1.]], grad_fn=<MulBackward0>)
    """

    def __init__(self, params: POSOGateParams, pc_dim: int, where: str) -> None:
        super().__init__(params)
        self.where = where
        self.pc_dim = pc_dim
        self.gate = _Gate(pc_dim, params.output_dim, params.hidden_dim, params.scale_factor, params.activation, where)

    @classmethod
    def from_spec(cls, params: POSOGateParams, input_spec: Any, where: str = "") -> "POSOGate":
        where = where or "POSOGate"
        return cls(params, _pc_spec(input_spec, where, "POSOGate"), where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        if _pc_spec(input_spec, self.where, "POSOGate") != self.pc_dim:
            raise ShapeError(self.where, "POSOGate input width differs from the one it was built for",
                             f"pc (B, {self.pc_dim})", describe_spec(input_spec))
        return TensorSpec((self.params.output_dim,))

    def forward(self, pc: torch.Tensor) -> torch.Tensor:
        return self.gate(pc)


class POSOMLPParams(Params):
    """Parameters of :class:`POSOMLP`."""

    hidden_units: list[Annotated[int, Field(ge=1, le=MAX_LAYER_WIDTH)]] = Field(
        min_length=1, max_length=MAX_LAYERS, alias="dims")
    gate_hidden_dim: int = Field(default=32, ge=1, le=MAX_LAYER_WIDTH)
    scale_factor: float = Field(default=2.0, gt=0.0, le=1e6)
    activation: str | None = "relu"
    use_bias: bool = True
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)


class _POSOLayers(Component):
    """POSO-FC layers ``h = gate_l(pc) * act(W_l h + b_l)`` (then dropout), each with its own gate."""

    def __init__(self, params: Params, units: list[int], dims: tuple[int, int], where: str) -> None:
        super().__init__(params)
        self.where = where
        self.dims = dims
        p: Any = params
        width, linears, gates, acts = dims[0], [], [], []
        for u in units:
            linears.append(nn.Linear(width, u, bias=p.use_bias))
            acts.append(make_activation(p.activation, join_path(where, "activation"), width=u))
            gates.append(_Gate(dims[1], u, p.gate_hidden_dim, p.scale_factor, p.activation, where))
            width = u
        self.linears, self.gates, self.acts = nn.ModuleList(linears), nn.ModuleList(gates), nn.ModuleList(acts)
        self.dropout = nn.Dropout(getattr(p, "dropout", 0.0))
        self.output_dim = width

    @classmethod
    def from_spec(cls, params: Any, input_spec: Any, where: str = "") -> "_POSOLayers":
        where = where or cls.registry_name
        return cls(params, cls.units(params), _x_and_pc(input_spec, where, cls.registry_name), where)

    @staticmethod
    def units(params: Any) -> list[int]:
        raise NotImplementedError

    def output_spec(self, input_spec: Any) -> TensorSpec:
        dims = _x_and_pc(input_spec, self.where, self.registry_name)
        if dims != self.dims:
            raise ShapeError(self.where, f"{self.registry_name} input widths differ from the ones it was built for",
                             f"[x (B, {self.dims[0]}), pc (B, {self.dims[1]})]", describe_spec(input_spec))
        return TensorSpec((self.output_dim,))

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        h, pc = x[0], x[1]
        for linear, gate, act in zip(self.linears, self.gates, self.acts):
            h = self.dropout(gate(pc) * act(linear(h)))
        return h


@COMPONENTS.register(
    "POSOMLP", params=POSOMLPParams, input_kind="fields", positional=("hidden_units",),
    examples=[({"hidden_units": [4, 2]}, [TensorSpec((3,)), TensorSpec((2,))]),
              ({"dims": [3], "dropout": 0.5, "use_bias": False, "gate_hidden_dim": 2},
               [TensorSpec((4,)), TensorSpec((1,))])],
)
class POSOMLP(_POSOLayers):
    """Stack of POSO-FC layers, each with its own gate: ``h = g_l(pc) * act(W_l h + b_l)`` (arXiv:2108.04690).

    Args:
        hidden_units: layer widths (alias ``dims``).
        gate_hidden_dim: hidden width of every gate.
        scale_factor: the gates' ``C``.
        activation: activation of the layers and of the gates' hidden layers.
        use_bias: biases in the layers.
        dropout: dropout after every layer (training only).

    Shape:
        - Input: ``[x (B, D), pc (B, P)]``.
        - Output: ``(B, hidden_units[-1])``.

    Example:
        >>> mlp = POSOMLP.from_spec(POSOMLPParams(dims=[4, 2]), [TensorSpec((3,)), TensorSpec((2,))])
        >>> mlp([torch.randn(5, 3), torch.randn(5, 2)]).shape
        torch.Size([5, 2])
    """

    @staticmethod
    def units(params: Any) -> list[int]:
        return list(params.hidden_units)


class POSOFCParams(Params):
    """Parameters of :class:`POSOFC`."""

    output_dim: int = Field(ge=1, le=MAX_LAYER_WIDTH, alias="out_dim")
    gate_hidden_dim: int = Field(default=32, ge=1, le=MAX_LAYER_WIDTH)
    scale_factor: float = Field(default=2.0, gt=0.0, le=1e6)
    activation: str | None = "relu"
    use_bias: bool = True


@COMPONENTS.register(
    "POSOFC", params=POSOFCParams, input_kind="fields", positional=("output_dim",),
    examples=[({"output_dim": 3}, [TensorSpec((4,)), TensorSpec((2,))]),
              ({"out_dim": 2, "activation": "tanh", "use_bias": False}, [TensorSpec((3,)), TensorSpec((3,))])],
)
class POSOFC(_POSOLayers):
    """One gated fully connected layer ``gate(pc) * act(W x + b)`` (POSO, arXiv:2108.04690, Eq. 11).

    Args:
        output_dim: layer width (alias ``out_dim``).
        gate_hidden_dim: hidden width of the gate.
        scale_factor: the gate's ``C``.
        activation: activation of the layer and of the gate's hidden layer.
        use_bias: bias in the layer.

    Shape:
        - Input: ``[x (B, D), pc (B, P)]``.
        - Output: ``(B, output_dim)``.

    Example:
        >>> fc = POSOFC.from_spec(POSOFCParams(out_dim=2), [TensorSpec((3,)), TensorSpec((1,))])
        >>> fc([torch.randn(4, 3), torch.ones(4, 1)]).shape
        torch.Size([4, 2])
    """

    @staticmethod
    def units(params: Any) -> list[int]:
        return [params.output_dim]
