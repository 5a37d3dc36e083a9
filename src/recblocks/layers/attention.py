"""Dot-product attention layers: Keras-style ``Attention`` and ``MultiHeadAttention``, and ``AutoInt``."""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from recblocks.core.limits import MAX_LAYER_WIDTH, MAX_LAYERS
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.activations import initialize
from recblocks.layers.base import Component, stack_fields
from recblocks.layers.field_inputs import fields_of, named_error

__all__ = ["Attention", "AttentionParams", "AutoInt", "AutoIntParams", "MultiHeadAttention",
           "MultiHeadAttentionParams", "attend", "key_mask", "parse_qkv"]

_QKV = "[query (B, Lq, Dq), value (B, Lv, Dv)] or [query, value, key], optionally + lengths (B,) long"


def parse_qkv(spec: Any, where: str, component: str) -> tuple[TensorSpec, TensorSpec, TensorSpec, bool]:
    """``(query, value, key, has_lengths)`` specs of an attention input list."""
    if not isinstance(spec, (list, tuple)) or not 2 <= len(spec) <= 4:
        raise named_error(where, component, "input must be a list of query, value (and key, lengths)", _QKV,
                          describe_spec(spec))
    parts = list(spec)
    has_lengths = isinstance(parts[-1], TensorSpec) and parts[-1].dtype == "long"
    if has_lengths:
        if parts[-1].rank != 1:
            raise named_error(where, component, "lengths must be a (B,) long tensor", _QKV, describe_spec(spec))
        parts = parts[:-1]
    if len(parts) not in (2, 3) or any(not isinstance(p, TensorSpec) or p.rank != 3 or p.dtype != "float"
                                       for p in parts):
        raise named_error(where, component, "query, value and key must be 3-D float tensors", _QKV,
                          describe_spec(spec))
    query, value = parts[0], parts[1]
    key = parts[2] if len(parts) == 3 else value
    if key.shape[0] != value.shape[0]:
        raise named_error(where, component, "key and value lengths differ", "equal Lv", describe_spec(spec))
    return query, value, key, has_lengths


def split_qkv(x: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Runtime counterpart of :func:`parse_qkv`: ``(query, value, key, lengths or None)``."""
    parts = list(x)
    lengths = parts.pop() if not parts[-1].is_floating_point() else None
    key = parts[2] if len(parts) == 3 else parts[1]
    return parts[0], parts[1], key, lengths


def key_mask(lengths: torch.Tensor | None, num_keys: int, num_queries: int, causal: bool,
             device: torch.device) -> torch.Tensor | None:
    """Boolean ``(B or 1, Lq, Lk)`` mask of allowed positions (True = attend), or None."""
    mask = None
    if lengths is not None:
        mask = (torch.arange(num_keys, device=device) < lengths.unsqueeze(-1)).unsqueeze(1)
    if causal:
        tri = torch.ones(num_queries, num_keys, dtype=torch.bool, device=device).tril().unsqueeze(0)
        mask = tri if mask is None else mask & tri
    return mask


def attend(scores: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None,
           dropout: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax over the key axis (masked keys excluded; a row with none allowed gives zeros)."""
    if mask is not None:
        while mask.dim() < scores.dim():
            mask = mask.unsqueeze(1)
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = torch.nan_to_num(weights, nan=0.0)
    weights = dropout(weights)
    return weights @ value, weights


class AttentionParams(Params):
    """Parameters of :class:`Attention` (EasyRec ``Attention`` message / Keras ``Attention``)."""

    use_scale: bool = False
    scale_by_dim: bool = False
    score_mode: Literal["dot", "concat"] = "dot"
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    return_attention_scores: bool = False
    use_causal_mask: bool = False


@COMPONENTS.register(
    "Attention", params=AttentionParams, input_kind="fields",
    examples=[
        ({}, [TensorSpec((2, 3)), TensorSpec((4, 3))]),
        ({"use_scale": True, "scale_by_dim": True, "dropout": 0.5, "return_attention_scores": True},
         [TensorSpec((2, 3)), TensorSpec((4, 5)), TensorSpec((4, 3)), TensorSpec((), "long")]),
        ({"score_mode": "concat", "use_scale": True, "use_causal_mask": True}, [TensorSpec((3, 2))] * 2),
    ])
class Attention(Component):
    """Dot-product (Luong) or additive (Bahdanau-style ``concat``) attention of a query over values.

    Reference: Vaswani et al., "Attention Is All You Need", NeurIPS 2017, arXiv:1706.03762
    (scaled dot product); Keras ``Attention`` semantics as EasyRec uses them. ``dot``:
    ``s = q k^T`` times a learned scalar when ``use_scale`` (starts at 1), divided by
    ``sqrt(D)`` when ``scale_by_dim``; ``concat``: ``s_ij = c * sum_d tanh(a (q_i + k_j))`` with
    learned scalars ``c`` and (``use_scale``) ``a``. ``out = softmax(s) v`` over the keys; keys
    at or after a row's length and (``use_causal_mask``) keys after the query are excluded;
    dropout acts on the weights in training. No projections (see MultiHeadAttention).

    Args:
        use_scale: learn a scalar scale of the scores.
        scale_by_dim: divide dot scores by ``sqrt(D)``.
        score_mode: ``dot`` or ``concat``.
        dropout: dropout rate on the attention weights.
        return_attention_scores: also return the weights ``(B, Lq, Lv)``.
        use_causal_mask: query ``i`` attends to keys ``j <= i`` only.

    Shape:
        - Input: ``[query (B, Lq, D), value (B, Lv, Dv)]`` or ``[query, value, key (B, Lv, D)]``,
          optionally followed by value lengths ``(B,)`` long.
        - Output: ``(B, Lq, Dv)``, or ``((B, Lq, Dv), (B, Lq, Lv))`` with the scores.

    Example:
        >>> att = Attention.from_spec(AttentionParams(), [TensorSpec((1, 2)), TensorSpec((2, 2))])
        >>> att([torch.tensor([[[1.0, 0.0]]]), torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])])
        tensor([[[0.7311, 0.2689]]])
    """

    def __init__(self, params: AttentionParams, query: TensorSpec, value: TensorSpec, key: TensorSpec,
                 where: str) -> None:
        super().__init__(params)
        self.where = where
        if query.shape[-1] != key.shape[-1]:
            raise named_error(where, "Attention", "query and key widths differ", "equal D",
                              f"{query.shape[-1]} and {key.shape[-1]}")
        self.scale = nn.Parameter(torch.ones(())) if params.use_scale else None
        self.concat_weight = nn.Parameter(torch.ones(())) if params.score_mode == "concat" else None
        self.dropout = nn.Dropout(params.dropout)

    @classmethod
    def from_spec(cls, params: AttentionParams, input_spec: Any, where: str = "") -> "Attention":
        where = where or "Attention"
        query, value, key, _ = parse_qkv(input_spec, where, "Attention")
        return cls(params, query, value, key, where)

    def output_spec(self, input_spec: Any) -> Any:
        query, value, key, _ = parse_qkv(input_spec, self.where, "Attention")
        out = TensorSpec((query.shape[0], value.shape[-1]))
        return (out, TensorSpec((query.shape[0], value.shape[0]))) if self.params.return_attention_scores else out

    def forward(self, x: list[torch.Tensor]) -> Any:
        query, value, key, lengths = split_qkv(x)
        if self.concat_weight is None:
            scores = query @ key.transpose(-1, -2)
            if self.scale is not None:
                scores = scores * self.scale
            if self.params.scale_by_dim:
                scores = scores / math.sqrt(query.shape[-1])
        else:
            pairs = query.unsqueeze(2) + key.unsqueeze(1)
            if self.scale is not None:
                pairs = pairs * self.scale
            scores = self.concat_weight * torch.tanh(pairs).sum(-1)
        mask = key_mask(lengths, key.shape[1], query.shape[1], self.params.use_causal_mask, query.device)
        out, weights = attend(scores, value, mask, self.dropout)
        return (out, weights) if self.params.return_attention_scores else out


class MultiHeadAttentionParams(Params):
    """Parameters of :class:`MultiHeadAttention` (EasyRec ``MultiHeadAttention`` / Keras names)."""

    num_heads: int = Field(ge=1, le=MAX_LAYER_WIDTH)
    key_dim: int = Field(ge=1, le=MAX_LAYER_WIDTH)
    value_dim: int | None = Field(default=None, ge=1, le=MAX_LAYER_WIDTH)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    use_bias: bool = True
    return_attention_scores: bool = False
    use_causal_mask: bool = False
    output_shape: int | None = Field(default=None, ge=1, le=MAX_LAYER_WIDTH)
    kernel_initializer: str = "glorot_uniform"


@COMPONENTS.register(
    "MultiHeadAttention", params=MultiHeadAttentionParams, input_kind="fields", positional=("num_heads", "key_dim"),
    examples=[
        ({"num_heads": 2, "key_dim": 3}, [TensorSpec((2, 4)), TensorSpec((3, 5))]),
        ({"num_heads": 1, "key_dim": 2, "value_dim": 3, "output_shape": 6, "use_bias": False, "dropout": 0.5,
          "return_attention_scores": True, "use_causal_mask": True},
         [TensorSpec((3, 4)), TensorSpec((3, 4)), TensorSpec((3, 2)), TensorSpec((), "long")]),
    ])
class MultiHeadAttention(Component):
    """Multi-head scaled dot-product attention with input and output projections (Vaswani et al., 2017).

    Paper: "Attention Is All You Need", NeurIPS 2017, arXiv:1706.03762; Keras
    ``MultiHeadAttention`` semantics (EasyRec). Per head ``h``: ``Q_h = q W^Q_h``,
    ``K_h = k W^K_h`` (``key_dim`` wide), ``V_h = v W^V_h`` (``value_dim``, default ``key_dim``);
    ``O_h = softmax(Q_h K_h^T / sqrt(key_dim)) V_h``; ``out = concat_h(O_h) W^O`` to
    ``output_shape`` (default the query width). Masks and dropout as in :class:`Attention`.
    Keras' ``attention_axes`` is not supported (attention runs over the sequence axis).

    Args:
        num_heads: number of heads.
        key_dim: width of each query/key head.
        value_dim: width of each value head (default ``key_dim``).
        dropout: dropout rate on the attention weights.
        use_bias: biases in the four projections (zeros).
        return_attention_scores: also return the weights ``(B, heads, Lq, Lv)``.
        use_causal_mask: query ``i`` attends to keys ``j <= i`` only.
        output_shape: output width (default the query width).
        kernel_initializer: initializer of the projections (Keras default ``glorot_uniform``).

    Shape:
        - Input: ``[query (B, Lq, Dq), value (B, Lv, Dv)]`` or ``[query, value, key]``, optionally
          followed by value lengths ``(B,)`` long.
        - Output: ``(B, Lq, output_shape or Dq)`` (and the scores ``(B, heads, Lq, Lv)``).

    Example:
        >>> mha = MultiHeadAttention.from_spec(MultiHeadAttentionParams(num_heads=2, key_dim=4),
        ...                                    [TensorSpec((3, 8)), TensorSpec((5, 8))])
        >>> mha([torch.randn(2, 3, 8), torch.randn(2, 5, 8)]).shape
        torch.Size([2, 3, 8])
    """

    def __init__(self, params: MultiHeadAttentionParams, query: TensorSpec, value: TensorSpec, key: TensorSpec,
                 where: str) -> None:
        super().__init__(params)
        self.where = where
        heads, key_dim = params.num_heads, params.key_dim
        value_dim = params.value_dim or key_dim
        self.output_dim = params.output_shape or query.shape[-1]
        init, init_where = params.kernel_initializer, join_path(where, "kernel_initializer")
        self.query = nn.Linear(query.shape[-1], heads * key_dim, bias=params.use_bias)
        self.key = nn.Linear(key.shape[-1], heads * key_dim, bias=params.use_bias)
        self.value = nn.Linear(value.shape[-1], heads * value_dim, bias=params.use_bias)
        self.out = nn.Linear(heads * value_dim, self.output_dim, bias=params.use_bias)
        for layer in (self.query, self.key, self.value, self.out):
            initialize(layer.weight, init, init_where)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        self.dropout = nn.Dropout(params.dropout)

    @classmethod
    def from_spec(cls, params: MultiHeadAttentionParams, input_spec: Any, where: str = "") -> "MultiHeadAttention":
        where = where or "MultiHeadAttention"
        query, value, key, _ = parse_qkv(input_spec, where, "MultiHeadAttention")
        return cls(params, query, value, key, where)

    def output_spec(self, input_spec: Any) -> Any:
        query, value, _, _ = parse_qkv(input_spec, self.where, "MultiHeadAttention")
        out = TensorSpec((query.shape[0], self.output_dim))
        if self.params.return_attention_scores:
            return out, TensorSpec((self.params.num_heads, query.shape[0], value.shape[0]))
        return out

    def attention(self, query: torch.Tensor, value: torch.Tensor, key: torch.Tensor,
                  mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Projected multi-head attention: ``(out (B, Lq, W), weights (B, h, Lq, Lv))``."""
        heads = self.params.num_heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(t.shape[0], t.shape[1], heads, -1).transpose(1, 2)

        q, k, v = split(self.query(query)), split(self.key(key)), split(self.value(value))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.params.key_dim)
        out, weights = attend(scores, v, mask, self.dropout)
        out = out.transpose(1, 2).reshape(query.shape[0], query.shape[1], -1)
        return self.out(out), weights

    def forward(self, x: list[torch.Tensor]) -> Any:
        query, value, key, lengths = split_qkv(x)
        mask = key_mask(lengths, key.shape[1], query.shape[1], self.params.use_causal_mask, query.device)
        out, weights = self.attention(query, value, key, mask)
        return (out, weights) if self.params.return_attention_scores else out


class AutoIntParams(Params):
    """Parameters of :class:`AutoInt` (FuxiCTR defaults; Monolith's parameter-free form via ``projection``)."""

    num_layers: int = Field(default=2, ge=1, le=MAX_LAYERS)
    num_heads: int = Field(default=1, ge=1, le=MAX_LAYER_WIDTH)
    attention_dim: int | None = Field(default=None, ge=1, le=MAX_LAYER_WIDTH)
    use_residual: bool = True
    use_scale: bool = False
    use_layer_norm: bool = Field(default=False, alias="layer_norm")
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    projection: bool = True
    out_type: Literal["stack", "concat"] = "stack"


@COMPONENTS.register(
    "AutoInt", params=AutoIntParams, input_kind="tensor3d", aliases=("InteractingLayer",),
    examples=[
        ({}, TensorSpec((3, 4))),
        ({"num_layers": 1, "num_heads": 2, "attention_dim": 6, "use_scale": True, "layer_norm": True,
          "dropout": 0.5, "out_type": "concat"}, [TensorSpec((4,))] * 3),
        ({"projection": False}, TensorSpec((3, 2))),
    ])
class AutoInt(Component):
    """Multi-head self-attention over fields with residual connections (AutoInt, Song et al., 2019).

    Paper: "AutoInt: Automatic Feature Interaction Learning via Self-Attentive Neural Networks",
    CIKM 2019, arXiv:1810.11921. Per layer: ``Q = X W_Q``, ``K = X W_K``, ``V = X W_V``
    (``D -> A``, no bias) split into heads; ``O = softmax(Q K^T [/ sqrt(A / heads)]) V``, heads
    concatenated; with ``use_residual`` ``O += X W_res`` (``W_res`` only when ``D != A``, else
    ``+ X``, FuxiCTR); optional LayerNorm; ``O = relu(O)``. Defaults follow FuxiCTR (2 layers,
    1 head; DeepCTR uses 3 and 2). ``projection=False`` is Monolith's parameter-free form
    ``X <- softmax(X X^T) X`` per layer (no residual, no ReLU).

    Args:
        num_layers: number of attention layers.
        num_heads: heads per layer (``A`` must be divisible by it).
        attention_dim: total width ``A`` over the heads (default the field width ``D``).
        use_residual: add the (projected) input back.
        use_scale: divide scores by ``sqrt(A / heads)``.
        use_layer_norm: LayerNorm after the residual (alias ``layer_norm``).
        dropout: dropout rate on the attention weights.
        projection: learn ``W_Q, W_K, W_V`` (False: Monolith's parameter-free form).
        out_type: ``stack`` ``(B, F, A)`` or ``concat`` ``(B, F * A)``.

    Shape:
        - Input: ``(B, F, D)`` or a field list ``F x (B, D)``.
        - Output: ``(B, F, A)`` or ``(B, F * A)`` (``A = D`` without projection).

    Example:
        >>> layer = AutoInt.from_spec(AutoIntParams(num_layers=1, projection=False), TensorSpec((2, 2)))
        >>> layer(torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]))
        tensor([[[0.7311, 0.2689],
                 [0.2689, 0.7311]]])
    """

    def __init__(self, params: AutoIntParams, num_fields: int, dim: int, where: str) -> None:
        super().__init__(params)
        self.where = where
        self.num_fields, self.input_dim = num_fields, dim
        width = params.attention_dim or dim
        self.output_dim = width if params.projection else dim
        if params.projection and width % params.num_heads:
            raise named_error(where, "AutoInt", "attention_dim must be divisible by num_heads",
                              f"a multiple of {params.num_heads}", width)
        self.layers = nn.ModuleList()
        in_dim = dim
        for _ in range(params.num_layers if params.projection else 0):
            layer = nn.Module()
            layer.query, layer.key, layer.value = (nn.Linear(in_dim, width, bias=False) for _ in range(3))
            layer.residual = nn.Linear(in_dim, width, bias=False) if params.use_residual and in_dim != width else None
            layer.norm = nn.LayerNorm(width) if params.use_layer_norm else None
            for lin in (layer.query, layer.key, layer.value, layer.residual):
                if lin is not None:
                    initialize(lin.weight, "glorot_normal")
            self.layers.append(layer)
            in_dim = width
        self.dropout = nn.Dropout(params.dropout)

    @classmethod
    def from_spec(cls, params: AutoIntParams, input_spec: Any, where: str = "") -> "AutoInt":
        where = where or "AutoInt"
        num_fields, dim = fields_of(input_spec, where, "AutoInt", min_fields=1)
        return cls(params, num_fields, dim, where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        num_fields, dim = fields_of(input_spec, self.where, "AutoInt", min_fields=1)
        if dim != self.input_dim:
            raise named_error(self.where, "AutoInt", "field width differs from the one it was built for",
                              f"(B, F, {self.input_dim})", describe_spec(input_spec))
        if self.params.out_type == "concat":
            return TensorSpec((num_fields * self.output_dim,))
        return TensorSpec((num_fields, self.output_dim))

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        h = stack_fields(x)
        if not self.params.projection:
            for _ in range(self.params.num_layers):
                h = torch.softmax(h @ h.transpose(-1, -2), dim=-1) @ h
        heads = self.params.num_heads
        for layer in self.layers:
            def split(t: torch.Tensor) -> torch.Tensor:
                return t.reshape(t.shape[0], t.shape[1], heads, -1).transpose(1, 2)

            q, k, v = split(layer.query(h)), split(layer.key(h)), split(layer.value(h))
            scores = q @ k.transpose(-1, -2)
            if self.params.use_scale:
                scores = scores / math.sqrt(q.shape[-1])
            out, _ = attend(scores, v, None, self.dropout)
            out = out.transpose(1, 2).reshape(h.shape[0], h.shape[1], -1)
            if self.params.use_residual:
                out = out + (h if layer.residual is None else layer.residual(h))
            if layer.norm is not None:
                out = layer.norm(out)
            h = torch.relu(out)
        return h.flatten(1) if self.params.out_type == "concat" else h
