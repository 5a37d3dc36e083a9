"""Monolith's explicit interaction layers: ``GroupInt`` (alias ``FFM``), ``AllInt`` and ``CDot``.

All three cross field embeddings without forming FM's full pairwise output: ``GroupInt`` crosses
two developer-chosen groups, ``AllInt`` and ``CDot`` compress one side of ``X X^T`` first so
the cost is ``O(F * D * c)`` instead of ``O(F^2 * D)``. Monolith's ``regularizer`` arguments
are not parameters here: use the model's ``l2_regularization``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import torch
from pydantic import Field
from torch import nn

from recblocks.core.errors import ConfigError
from recblocks.core.limits import MAX_LAYER_WIDTH, MAX_LAYERS
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.activations import check_activation, initialize, make_activation
from recblocks.layers.base import Component, stack_fields
from recblocks.layers.field_inputs import fields_of, named_error, spec_list

__all__ = ["GroupInt", "GroupIntParams", "AllInt", "AllIntParams", "CDot", "CDotParams"]

_Width = Annotated[int, Field(ge=1, le=MAX_LAYER_WIDTH)]


def _mlp(widths: list[int], in_dim: int, activation: str | None, initializer: str, where: str) -> nn.Sequential:
    """Dense layers of ``widths``: ``activation`` after every layer but the last (linear)."""
    layers: list[nn.Module] = []
    for index, width in enumerate(widths):
        linear = nn.Linear(in_dim, width)
        initialize(linear.weight, initializer, where)
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if index < len(widths) - 1:
            layers.append(make_activation(activation, where, width))
        in_dim = width
    return nn.Sequential(*layers)


class GroupIntParams(Params):
    """Parameters of :class:`GroupInt` (Monolith ``GroupInt``/``FFM`` names)."""

    interaction_type: Literal["multiply", "dot"] = "multiply"
    use_attention: bool = False
    attention_units: list[_Width] = Field(default_factory=list, max_length=MAX_LAYERS)
    activation: str | None = "relu"
    initializer: str = "glorot_normal"
    out_type: Literal["concat", "stack"] = "concat"
    keep_list: bool = False


@COMPONENTS.register(
    "GroupInt", params=GroupIntParams, input_kind="fields", aliases=("FFM",),
    examples=[
        ({}, [[TensorSpec((3,))] * 2, [TensorSpec((3,))] * 3]),
        ({"interaction_type": "dot", "keep_list": True}, [TensorSpec((2, 4)), TensorSpec((3, 4))]),
        ({"use_attention": True, "attention_units": [4, 1], "out_type": "stack"},
         [TensorSpec((2, 3)), [TensorSpec((3,))]]),
    ])
class GroupInt(Component):
    """Explicit crosses between two groups of field embeddings (Monolith ``GroupInt``, alias ``FFM``).

    For every left field ``l`` and right field ``r`` (left-major, pair ``l * R + r``):
    ``multiply`` gives ``o_lr = left_l * right_r`` (element-wise, ``D`` values), ``dot`` gives
    ``o_lr = <left_l, right_r>`` (one value). With ``use_attention`` (multiply only) every
    ``o_lr`` is scaled by ``a_lr = MLP(o_lr)``: an MLP of ``attention_units`` (last width 1,
    linear; no softmax, as in Monolith). Reference: Monolith's ``GroupInt``; the idea is FM's
    (Rendle, ICDM 2010) restricted to chosen groups, with AFM-style attention.

    Args:
        interaction_type: ``multiply`` (vectors) or ``dot`` (scalars).
        use_attention: weight each crossed vector by an attention MLP (multiply only).
        attention_units: widths of the attention MLP; the last must be 1.
        activation: activation of the attention MLP's hidden layers.
        initializer: kernel initializer of the attention MLP.
        out_type: ``concat`` (one flat vector) or ``stack`` (one row per pair).
        keep_list: return ``[out]`` instead of ``out``.

    Shape:
        - Input: ``[left, right]``, each a field list ``F x (B, D)`` or a ``(B, F, D)`` tensor,
          one ``D`` for all (in a backbone: two inputs with ``merge_inputs_into_list: true``).
        - Output: concat ``(B, L*R*D)`` (multiply) or ``(B, L*R)`` (dot); stack ``(B, L*R, D)``
          or ``(B, L*R)``.

    Example:
        >>> g = GroupInt.from_spec(GroupIntParams(interaction_type="dot"), [TensorSpec((2, 2)), TensorSpec((1, 2))])
        >>> g([torch.tensor([[[1.0, 2.0], [0.0, 1.0]]]), torch.tensor([[[3.0, 4.0]]])])
        tensor([[11.,  4.]])
    """

    def __init__(self, params: GroupIntParams, left: int, right: int, dim: int, where: str = "") -> None:
        super().__init__(params)
        self.left, self.right, self.dim = left, right, dim
        self.attention = None
        if params.use_attention:
            self.attention = _mlp(params.attention_units, dim, params.activation, params.initializer, where)

    @classmethod
    def from_spec(cls, params: GroupIntParams, input_spec: Any, where: str = "") -> "GroupInt":
        if params.use_attention:
            if params.interaction_type != "multiply":
                raise ConfigError(join_path(where, "use_attention"), "attention needs interaction_type 'multiply'",
                                  "use_attention: false with 'dot'", params.interaction_type)
            if not params.attention_units or params.attention_units[-1] != 1:
                raise ConfigError(join_path(where, "attention_units"), "the attention MLP must end in width 1",
                                  "a list of widths ending in 1", params.attention_units)
            check_activation(params.activation, join_path(where, "activation"))
        left, right = spec_list(input_spec, where, "GroupInt", 2, "[left fields, right fields]")
        num_left, dim = fields_of(left, where, "GroupInt", min_fields=1)
        num_right, right_dim = fields_of(right, where, "GroupInt", min_fields=1)
        if right_dim != dim:
            raise named_error(where, "GroupInt", "left and right fields must have one width",
                              f"right fields of width {dim}", describe_spec(right))
        return cls(params, num_left, num_right, dim, where)

    def output_spec(self, input_spec: Any) -> Any:
        pairs, dot = self.left * self.right, self.params.interaction_type == "dot"
        if self.params.out_type == "stack":
            out = TensorSpec((pairs,)) if dot else TensorSpec((pairs, self.dim))
        else:
            out = TensorSpec((pairs,) if dot else (pairs * self.dim,))
        return [out] if self.params.keep_list else out

    def forward(self, x: list[Any]) -> Any:
        left, right = stack_fields(x[0]), stack_fields(x[1])  # (B, L, D), (B, R, D)
        batch = left.shape[0]
        if self.params.interaction_type == "dot":
            out = torch.bmm(left, right.transpose(1, 2)).reshape(batch, -1)  # (B, L*R), left-major
        else:
            crossed = (left.unsqueeze(2) * right.unsqueeze(1)).reshape(batch, -1, self.dim)  # (B, L*R, D)
            if self.attention is not None:
                crossed = crossed * self.attention(crossed)
            out = crossed if self.params.out_type == "stack" else crossed.reshape(batch, -1)
        return [out] if self.params.keep_list else out


class AllIntParams(Params):
    """Parameters of :class:`AllInt` (Monolith names)."""

    cmp_dim: int = Field(ge=1, le=MAX_LAYER_WIDTH, description="compressed width c")
    initializer: str = "glorot_normal"
    use_bias: bool = True
    out_type: Literal["concat", "stack", "list"] = "concat"
    keep_list: bool = False


@COMPONENTS.register(
    "AllInt", params=AllIntParams, input_kind="tensor3d", positional=("cmp_dim",),
    examples=[
        ({"cmp_dim": 2}, TensorSpec((3, 4))),
        ({"cmp_dim": 3, "use_bias": False, "out_type": "stack", "keep_list": True}, [TensorSpec((2,))] * 3),
        ({"cmp_dim": 1, "out_type": "list"}, TensorSpec((2, 3))),
    ])
class AllInt(Component):
    """All pairwise interactions compressed to ``c`` columns (Monolith ``AllInt``).

    ``M = X^T C + b`` ``(B, D, c)`` (the bias broadcast over ``D``), then ``O = X M`` ``(B, F, c)``,
    which equals ``X X^T C`` plus the bias term without forming the ``F x F`` matrix: cost
    ``O(F * D * c)``. ``C`` ``(F, c)`` is Glorot-normal, ``b`` zeros.

    Args:
        cmp_dim: compressed width ``c``.
        initializer: initializer of ``C``.
        use_bias: learn ``b``.
        out_type: ``concat`` ``(B, F*c)``, ``stack`` ``(B, F, c)`` or ``list`` (``F x (B, c)``;
            Monolith's ``None``).
        keep_list: wrap a concat/stack output in a list.

    Shape:
        - Input: ``(B, F, D)`` or a field list ``F x (B, D)``.
        - Output: ``(B, F*c)``, ``(B, F, c)`` or ``F x (B, c)``.

    Example:
        >>> layer = AllInt.from_spec(AllIntParams(cmp_dim=1), TensorSpec((2, 2)))
        >>> with torch.no_grad():
        ...     _ = layer.compress.fill_(1.0)
        >>> layer(torch.tensor([[[1.0, 2.0], [3.0, 4.0]]]))
        tensor([[16., 36.]], grad_fn=<ViewBackward0>)
    """

    def __init__(self, params: AllIntParams, num_fields: int, where: str = "") -> None:
        super().__init__(params)
        self.num_fields = num_fields
        self.compress = nn.Parameter(initialize(torch.empty(num_fields, params.cmp_dim), params.initializer, where,
                                                fan_in=num_fields, fan_out=params.cmp_dim))
        self.bias = nn.Parameter(torch.zeros(params.cmp_dim)) if params.use_bias else None

    @classmethod
    def from_spec(cls, params: AllIntParams, input_spec: Any, where: str = "") -> "AllInt":
        num_fields, _ = fields_of(input_spec, where, "AllInt", min_fields=1)
        return cls(params, num_fields, where)

    def output_spec(self, input_spec: Any) -> Any:
        fields, width = self.num_fields, self.params.cmp_dim
        if self.params.out_type == "list":
            return [TensorSpec((width,))] * fields
        out = TensorSpec((fields, width)) if self.params.out_type == "stack" else TensorSpec((fields * width,))
        return [out] if self.params.keep_list else out

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> Any:
        fields = stack_fields(x)  # (B, F, D)
        compressed = torch.matmul(fields.transpose(1, 2), self.compress)  # (B, D, c)
        if self.bias is not None:
            compressed = compressed + self.bias
        out = torch.bmm(fields, compressed)  # (B, F, c)
        if self.params.out_type == "list":
            return list(out.unbind(dim=1))
        if self.params.out_type == "concat":
            out = out.reshape(out.shape[0], -1)
        return [out] if self.params.keep_list else out


class CDotParams(Params):
    """Parameters of :class:`CDot` (Monolith names)."""

    project_dim: int = Field(ge=1, le=MAX_LAYER_WIDTH, description="projection width p")
    compress_units: list[_Width] = Field(default_factory=list, max_length=MAX_LAYERS)
    activation: str | None = "relu"
    initializer: str = "glorot_normal"


@COMPONENTS.register(
    "CDot", params=CDotParams, input_kind="tensor3d", positional=("project_dim",),
    examples=[
        ({"project_dim": 2}, TensorSpec((3, 4))),
        ({"project_dim": 1, "compress_units": [5], "activation": "tanh"}, [TensorSpec((3,))] * 2),
    ])
class CDot(Component):
    """Compression-and-dot: AllInt with an input-dependent compression (Monolith ``CDot``).

    ``proj = X^T P`` ``(B, D, p)`` with ``P`` ``(F, p)``; ``comp = MLP(flatten(proj))``
    ``(B, D*p)`` with widths ``compress_units + [D*p]`` (``activation`` on all but the last,
    which is linear); ``crossed = X reshape(comp, (B, D, p))`` ``(B, F, p)``; the output is
    ``concat(flatten(crossed), comp)``, so an upper MLP also sees the compressed features.
    Monolith's compression MLP uses weight-normalised layers by default; here they are plain
    dense layers with biases (zeros) and Glorot-normal kernels.

    Args:
        project_dim: projection width ``p``.
        compress_units: hidden widths of the compression MLP (may be empty).
        activation: activation of its hidden layers.
        initializer: initializer of ``P`` and the MLP kernels.

    Shape:
        - Input: ``(B, F, D)`` or a field list ``F x (B, D)``.
        - Output: ``(B, F*p + D*p)``.

    Example:
        >>> layer = CDot.from_spec(CDotParams(project_dim=1), TensorSpec((2, 2)))
        >>> with torch.no_grad():
        ...     _ = layer.project.fill_(1.0)
        ...     _ = layer.compress[0].weight.copy_(torch.eye(2))
        ...     _ = layer.compress[0].bias.zero_()
        >>> layer(torch.tensor([[[1.0, 2.0], [3.0, 4.0]]]))
        tensor([[16., 36.,  4.,  6.]], grad_fn=<CatBackward0>)
    """

    def __init__(self, params: CDotParams, num_fields: int, dim: int, where: str = "") -> None:
        super().__init__(params)
        self.num_fields, self.dim = num_fields, dim
        p = params.project_dim
        self.project = nn.Parameter(initialize(torch.empty(num_fields, p), params.initializer, where,
                                               fan_in=num_fields, fan_out=p))
        self.compress = _mlp([*params.compress_units, dim * p], dim * p, params.activation, params.initializer, where)

    @classmethod
    def from_spec(cls, params: CDotParams, input_spec: Any, where: str = "") -> "CDot":
        check_activation(params.activation, join_path(where, "activation"))
        num_fields, dim = fields_of(input_spec, where, "CDot", min_fields=1)
        return cls(params, num_fields, dim, where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        p = self.params.project_dim
        return TensorSpec((self.num_fields * p + self.dim * p,))

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        fields = stack_fields(x)  # (B, F, D)
        batch = fields.shape[0]
        projected = torch.matmul(fields.transpose(1, 2), self.project).reshape(batch, -1)  # (B, D*p)
        compressed = self.compress(projected)  # (B, D*p)
        crossed = torch.bmm(fields, compressed.reshape(batch, self.dim, -1))  # (B, F, p)
        return torch.cat([crossed.reshape(batch, -1), compressed], dim=1)
