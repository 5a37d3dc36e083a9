"""Multi-layer perceptron with EasyRec's parameter set and defaults."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from pydantic import Field
from torch import nn

from recblocks.core.context import ForwardContext
from recblocks.core.errors import ConfigError
from recblocks.core.limits import MAX_LAYER_WIDTH, MAX_LAYERS
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec
from recblocks.layers.activations import check_activation, initialize, make_activation
from recblocks.layers.base import Component, block_name
from recblocks.layers.keras import float_tensor_spec
from recblocks.layers.normalization import KERAS_BN_EPSILON

__all__ = ["MLP", "MLPParams"]


class MLPParams(Params):
    """Parameters of :class:`MLP` (EasyRec ``MLP`` message; same names and defaults)."""

    hidden_units: list[Annotated[int, Field(le=MAX_LAYER_WIDTH)]] = Field(
        max_length=MAX_LAYERS, description=f"layer widths: at most {MAX_LAYERS:,} layers of at most {MAX_LAYER_WIDTH:,}")
    activation: str | None = "relu"
    use_bn: bool = True
    use_final_bn: bool = True
    final_activation: str | None = "relu"
    use_bias: bool = False
    use_final_bias: bool = False
    dropout_ratio: list[float] = []
    dropout: float = 0.0
    initializer: str = "he_uniform"
    use_bn_after_activation: bool = False
    bn_momentum: float = 0.9
    add_to_outputs: bool = False


def _check_params(params: MLPParams, where: str) -> list[float]:
    """Validate ``params``; return the dropout ratio of every layer."""
    units = params.hidden_units
    if not units:
        raise ConfigError(join_path(where, "hidden_units"), "an MLP needs at least one layer",
                          "a non-empty list of positive ints", units)
    if any(u < 1 for u in units):
        raise ConfigError(join_path(where, "hidden_units"), "layer widths must be positive",
                          "a non-empty list of positive ints", units)
    if len(params.dropout_ratio) > len(units):
        raise ConfigError(join_path(where, "dropout_ratio"), "more dropout ratios than layers",
                          f"at most {len(units)} values", params.dropout_ratio)
    if params.dropout_ratio and params.dropout:
        raise ConfigError(join_path(where, "dropout"), "set either dropout (every layer but the last) "
                          "or dropout_ratio (per layer), not both", "one of them", params.dropout)
    for name, values in (("dropout_ratio", params.dropout_ratio), ("dropout", [params.dropout])):
        if any(not 0.0 <= p < 1.0 for p in values):
            raise ConfigError(join_path(where, name), f"invalid {name}", "values in [0, 1)",
                              getattr(params, name))
    if not 0.0 <= params.bn_momentum < 1.0:
        raise ConfigError(join_path(where, "bn_momentum"), "invalid bn_momentum", "a value in [0, 1)",
                          params.bn_momentum)
    check_activation(params.activation, join_path(where, "activation"))
    check_activation(params.final_activation, join_path(where, "final_activation"))
    if params.dropout_ratio:
        return [*params.dropout_ratio, *[0.0] * (len(units) - len(params.dropout_ratio))]
    return [params.dropout] * (len(units) - 1) + [0.0]


@COMPONENTS.register(
    "MLP", params=MLPParams, input_kind="tensor", positional=("hidden_units", "activation"),
    examples=[
        ({"hidden_units": [8, 4]}, TensorSpec((5,))),
        ({"hidden_units": [8.0, 1.0], "use_final_bn": False, "final_activation": "linear", "use_final_bias": True,
          "dropout_ratio": [0.5]}, TensorSpec((5,))),
        ({"hidden_units": [6, 3], "use_bn_after_activation": True, "use_bias": True, "activation": "gelu",
          "dropout": 0.2}, TensorSpec((2, 5))),
        ({"hidden_units": [4], "use_bn": False, "use_final_bn": False, "initializer": "glorot_normal"},
         TensorSpec((3,))),
        ({"hidden_units": [4, 4], "activation": "dice", "final_activation": "prelu"}, TensorSpec((3,))),
        ({"hidden_units": [1], "use_final_bn": False, "final_activation": "sigmoid", "add_to_outputs": True},
         TensorSpec((3,))),
    ])
class MLP(Component):
    """Stack of fully connected layers with optional batch norm and dropout (EasyRec ``MLP``).

    Layer ``i`` computes ``z = x W_i (+ b_i)``, then ``BN -> act -> dropout`` (or
    ``act -> BN -> dropout`` when ``use_bn_after_activation``). The last layer uses the
    ``final`` settings (``use_final_bn``, ``final_activation``, ``use_final_bias``). Defaults are
    EasyRec's: every layer, the last one included, has BN + ReLU and no bias; for logits set
    ``final_activation=None``, ``use_final_bn=False``, ``use_final_bias=True``.
    BN uses epsilon 1e-3 (Keras) and ``bn_momentum`` 0.9 in Keras terms (torch ``momentum=0.1``):
    EasyRec's Keras 0.99 leaves the running statistics far from the data in short runs (a few
    hundred steps), so evaluation disagrees with training; biases start at zero.

    Args:
        hidden_units: widths ``H_1..H_n`` of the layers (required, non-empty, positive).
        activation: activation of the layers before the last (see :mod:`~recblocks.layers.activations`).
        use_bn: batch norm in the layers before the last.
        use_final_bn: batch norm in the last layer.
        final_activation: activation of the last layer (``None``/``'linear'`` for none).
        use_bias: bias in the layers before the last.
        use_final_bias: bias in the last layer.
        dropout_ratio: per-layer dropout (EasyRec); missing trailing entries mean 0 and an entry
            for the last layer applies to it.
        dropout: one dropout ratio for every layer but the last (shorthand; exclusive with
            ``dropout_ratio``). Ratios must lie in ``[0, 1)``.
        initializer: kernel initializer (Keras semantics; default ``he_uniform``).
        use_bn_after_activation: apply BN after the activation instead of before.
        bn_momentum: Keras-style momentum of the BN running statistics, in ``[0, 1)``:
            ``running = m * running + (1 - m) * batch``.
        add_to_outputs: also add the output to the model's extra outputs (EasyRec), named after
            the block, through :meth:`~recblocks.core.context.ForwardContext.add_output` in every
            mode (``predict`` writes it as a column); a ``(B, 1)`` output is added as ``(B,)``.

    Shape:
        - Input: ``(B, ..., D)``; acts on the last axis (leading axes are flattened for BN).
        - Output: ``(B, ..., H_n)`` with ``H_n = hidden_units[-1]``.

    Example:
        >>> mlp = MLP.from_spec(MLPParams(hidden_units=[8, 1], final_activation=None,
        ...                               use_final_bn=False, use_final_bias=True), TensorSpec((5,)))
        >>> mlp(torch.randn(4, 5)).shape
        torch.Size([4, 1])
        >>> mlp.output_spec(TensorSpec((5,)))
        TensorSpec(shape=(1,), dtype='float')
    """

    #: ``model_params.l2_regularization`` with ``l2_scope: easyrec`` reaches this module's kernels (as in EasyRec)
    easyrec_l2 = True
    #: EasyRec's MLP reads a Struct (``st_params``) with its own fallbacks, not the ``MLP`` message's
    #: defaults: without ``final_activation`` the last layer has no activation there
    struct_param_defaults = {"final_activation": None}

    def __init__(self, params: MLPParams, input_dim: int, where: str = "MLP") -> None:
        super().__init__(params)
        where = where or "MLP"
        dropouts = _check_params(params, where)
        self.input_dim = input_dim
        self.where = where
        layers: list[nn.Module] = []
        width = input_dim
        last = len(params.hidden_units) - 1
        for i, units in enumerate(params.hidden_units):
            final = i == last
            use_bias = params.use_final_bias if final else params.use_bias
            use_bn = params.use_final_bn if final else params.use_bn
            act_name = params.final_activation if final else params.activation
            act_where = join_path(where, "final_activation" if final else "activation")
            linear = nn.Linear(width, units, bias=use_bias)
            initialize(linear.weight, params.initializer, join_path(where, "initializer"))
            if use_bias:
                nn.init.zeros_(linear.bias)
            layers.append(linear)
            norm = nn.BatchNorm1d(units, eps=KERAS_BN_EPSILON, momentum=1.0 - params.bn_momentum) if use_bn else None
            act = make_activation(act_name, act_where, width=units)
            if norm is not None and not params.use_bn_after_activation:
                layers.append(norm)
            if not isinstance(act, nn.Identity):
                layers.append(act)
            if norm is not None and params.use_bn_after_activation:
                layers.append(norm)
            if dropouts[i] > 0.0:
                layers.append(nn.Dropout(dropouts[i]))
            width = units
        self.net = nn.Sequential(*layers)
        self.output_dim = width
        self.output_name = block_name(where)
        # per instance: only an MLP that adds its output reads the forward context
        self.uses_context = params.add_to_outputs  # type: ignore[misc]

    @classmethod
    def from_spec(cls, params: MLPParams, input_spec: Any, where: str = "") -> "MLP":
        spec = float_tensor_spec(input_spec, where or "MLP")
        return cls(params, spec.last_dim, where or "MLP")

    def output_spec(self, input_spec: Any) -> TensorSpec:
        spec = float_tensor_spec(input_spec, self.where, last_dim=self.input_dim)
        return TensorSpec((*spec.shape[:-1], self.output_dim))

    def forward(self, x: torch.Tensor, context: ForwardContext | None = None) -> torch.Tensor:
        if x.dim() == 2:
            out = self.net(x)
        else:
            out = self.net(x.reshape(-1, x.shape[-1])).reshape(list(x.shape[:-1]) + [self.output_dim])
        if context is not None and self.params.add_to_outputs:
            context.add_output(self.output_name, out.squeeze(1) if out.dim() == 2 and out.shape[1] == 1 else out)
        return out
