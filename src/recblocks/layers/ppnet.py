"""PPNet: an MLP whose hidden units are scaled by gates computed from prior features (EasyRec ``PPNet``)."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from recblocks.core.errors import ConfigError, ShapeError
from recblocks.core.limits import MAX_LAYER_WIDTH
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.activations import initialize, make_activation
from recblocks.layers.base import Component
from recblocks.layers.mlp import MLP, MLPParams
from recblocks.layers.normalization import KERAS_BN_EPSILON

__all__ = ["GateNN", "GateNNParams", "PPNet", "PPNetParams"]


class GateNNParams(Params):
    """Parameters of every gate of a :class:`PPNet` (EasyRec ``GateNN`` message)."""

    output_dim: int | None = Field(default=None, ge=1, le=MAX_LAYER_WIDTH)
    hidden_dim: int | None = Field(default=None, ge=1, le=MAX_LAYER_WIDTH)
    activation: str | None = "relu"
    use_bn: bool = False
    dropout_rate: float = Field(default=0.0, ge=0.0, lt=1.0)


class GateNN(nn.Module):
    """``g(z) = 2 sigmoid(W_2 act(W_1 z + b_1) + b_2)``, in ``(0, 2)`` (biases dropped with BN)."""

    def __init__(self, params: GateNNParams, input_dim: int, output_dim: int, where: str) -> None:
        super().__init__()
        hidden = params.hidden_dim or output_dim
        layers: list[nn.Module] = [nn.Linear(input_dim, hidden, bias=not params.use_bn)]
        if params.use_bn:
            layers.append(nn.BatchNorm1d(hidden, eps=KERAS_BN_EPSILON))
        layers.append(make_activation(params.activation, join_path(where, "activation"), width=hidden))
        if params.dropout_rate > 0:
            layers.append(nn.Dropout(params.dropout_rate))
        layers.append(nn.Linear(hidden, output_dim, bias=not params.use_bn))
        for layer in layers:
            if isinstance(layer, nn.Linear):
                initialize(layer.weight, "he_uniform", where)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return 2.0 * torch.sigmoid(self.net(z))


class PPNetParams(Params):
    """Parameters of :class:`PPNet` (EasyRec ``PPNet`` message)."""

    mlp: MLPParams
    gate_params: GateNNParams = Field(default_factory=GateNNParams)
    mode: Literal["eager", "lazy"] = "eager"
    full_gate_input: bool = True


def _ppnet_inputs(spec: Any, where: str) -> tuple[int, int]:
    expected = "[x (B, D_x), gate_input (B, D_g)]"
    if (not isinstance(spec, (list, tuple)) or len(spec) != 2 or not all(isinstance(s, TensorSpec) for s in spec)
            or any(s.rank != 2 or s.dtype != "float" for s in spec)):
        raise ShapeError(where, "PPNet takes the main input and the gate input", expected, describe_spec(spec))
    return spec[0].shape[0], spec[1].shape[0]


def _layer_params(params: MLPParams, index: int) -> MLPParams:
    """The one-layer MLP of layer ``index`` (hidden settings before the last layer, final ones on it)."""
    units = params.hidden_units
    final = index == len(units) - 1
    if params.dropout_ratio:
        dropout = params.dropout_ratio[index] if index < len(params.dropout_ratio) else 0.0
    else:
        dropout = 0.0 if final else params.dropout
    return params.model_copy(update={
        "hidden_units": [units[index]], "dropout_ratio": [dropout] if dropout else [], "dropout": 0.0,
        "use_final_bn": params.use_final_bn if final else params.use_bn,
        "use_final_bias": params.use_final_bias if final else params.use_bias,
        "final_activation": params.final_activation if final else params.activation,
    })


@COMPONENTS.register(
    "PPNet", params=PPNetParams, input_kind="fields", positional=("mlp",),
    examples=[
        ({"mlp": {"hidden_units": [4, 3]}, "gate_params": {"output_dim": 5}}, [TensorSpec((5,)), TensorSpec((2,))]),
        ({"mlp": {"hidden_units": [4, 2], "use_bn": False, "use_final_bn": False, "dropout_ratio": [0.5]},
          "mode": "lazy", "full_gate_input": False, "gate_params": {"hidden_dim": 3, "use_bn": True,
                                                                    "dropout_rate": 0.2}},
         [TensorSpec((3,)), TensorSpec((2,))]),
    ])
class PPNet(Component):
    """MLP with gated hidden units ``h <- h * g_l(z)`` (Kuaishou PPNet; PEPNet, Chang et al., arXiv:2302.01115).

    Every gate is a :class:`GateNN` ``2 sigmoid(W_2 act(W_1 z + b_1) + b_2)`` with its own
    weights (He-uniform kernels, zero biases), range ``(0, 2)``. ``z = [stop_gradient(x),
    gate_input]`` when ``full_gate_input``, else ``gate_input``. ``eager`` (EasyRec's proto
    default): the input is gated first, then every layer but the last is followed by its gate;
    ``lazy``: no input gate, every layer including the last is followed by its gate. The layers
    are the MLP's (EasyRec ``MLP`` parameters and defaults).

    Args:
        mlp: the MLP (``hidden_units`` required).
        gate_params: the gates' ``output_dim`` (eager: the input gate's width; must equal
            ``D_x``, the default), ``hidden_dim`` (default: the gate's output width),
            ``activation``, ``use_bn`` (EasyRec's proto default false), ``dropout_rate``.
        mode: ``eager`` or ``lazy``.
        full_gate_input: feed ``x`` (without its gradient) to the gates besides ``gate_input``.

    Shape:
        - Input: ``[x (B, D_x), gate_input (B, D_g)]``.
        - Output: ``(B, hidden_units[-1])``.

    Example:
        >>> net = PPNet.from_spec(PPNetParams(mlp={"hidden_units": [4, 2]}), [TensorSpec((3,)), TensorSpec((2,))])
        >>> net([torch.randn(5, 3), torch.randn(5, 2)]).shape
        torch.Size([5, 2])
    """

    #: ``model_params.l2_regularization`` with ``l2_scope: easyrec`` reaches this module's kernels (as in EasyRec)
    easyrec_l2 = True

    def __init__(self, params: PPNetParams, x_dim: int, gate_dim: int, where: str) -> None:
        super().__init__(params)
        self.where = where
        self.dims = (x_dim, gate_dim)
        units = params.mlp.hidden_units
        if not units:
            raise ConfigError(join_path(where, "mlp", "hidden_units"), "PPNet needs at least one layer",
                              "a non-empty list", units)
        z_dim = gate_dim + (x_dim if params.full_gate_input else 0)
        gates = params.gate_params
        self.input_gate = None
        if params.mode == "eager":
            if gates.output_dim is not None and gates.output_dim != x_dim:
                raise ConfigError(join_path(where, "gate_params", "output_dim"),
                                  "the eager input gate must be as wide as the PPNet input",
                                  f"{x_dim} (the width of x) or unset", gates.output_dim)
            self.input_gate = GateNN(gates, z_dim, x_dim, join_path(where, "gate_params"))
        self.layers = nn.ModuleList()
        width = x_dim
        for i in range(len(units)):
            self.layers.append(MLP(_layer_params(params.mlp, i), width, join_path(where, "mlp")))
            width = units[i]
        gated = len(units) if params.mode == "lazy" else len(units) - 1
        self.gates = nn.ModuleList(GateNN(gates, z_dim, units[i], join_path(where, "gate_params"))
                                   for i in range(gated))
        self.output_dim = units[-1]

    @classmethod
    def from_spec(cls, params: PPNetParams, input_spec: Any, where: str = "") -> "PPNet":
        where = where or "PPNet"
        return cls(params, *_ppnet_inputs(input_spec, where), where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        if _ppnet_inputs(input_spec, self.where) != self.dims:
            raise ShapeError(self.where, "PPNet input widths differ from the ones it was built for",
                             f"[x (B, {self.dims[0]}), gate_input (B, {self.dims[1]})]", describe_spec(input_spec))
        return TensorSpec((self.output_dim,))

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        h, gate_input = x[0], x[1]
        z = torch.cat([h.detach(), gate_input], dim=-1) if self.params.full_gate_input else gate_input
        if self.input_gate is not None:
            h = h * self.input_gate(z)
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.gates):
                h = h * self.gates[i](z)
        return h
