"""Embeddings of numeric features: PeriodicEmbedding, AutoDisEmbedding, NaryDisEmbedding.

Each takes ``(B, N)`` numbers (one column per numeric feature, e.g. a ``dense`` group) and
gives every feature its own vector; names and defaults follow EasyRec's
``numerical_embedding.py`` / ``layer.proto``. All three share EasyRec's output forms: the flat
``(B, N*E)`` tensor alone, or the tuple ``(flat, [N x (B, E)])`` with ``output_tensor_list``,
or ``(flat, (B, N, E))`` with ``output_3d_tensor`` (the list wins when both are set); a block
picks one with ``input_slice: '[0]'`` / ``'[1]'``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from recblocks.core.errors import ConfigError, ShapeError
from recblocks.core.limits import MAX_BUCKETS, MAX_EMBEDDING_DIM, MAX_LAYERS
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.activations import initialize, make_activation
from recblocks.layers.base import Component

__all__ = [
    "AutoDisEmbedding", "AutoDisEmbeddingParams", "NaryDisEmbedding", "NaryDisEmbeddingParams",
    "PeriodicEmbedding", "PeriodicEmbeddingParams",
]


def _numbers_spec(spec: Any, where: str, component: str) -> int:
    """Check ``spec`` is one float ``(B, N)`` tensor; return ``N``."""
    if not isinstance(spec, TensorSpec) or spec.rank != 2 or spec.dtype != "float":
        raise ShapeError(where, f"{component} embeds a 2-D tensor of numbers", "(B, N) float",
                         describe_spec(spec))
    return spec.shape[0]


def _output_spec(num: int, dim: int, list_out: bool, out_3d: bool) -> Any:
    flat = TensorSpec((num * dim,))
    if list_out:
        return (flat, [TensorSpec((dim,))] * num)
    return (flat, TensorSpec((num, dim))) if out_3d else flat


def _outputs(emb: torch.Tensor, list_out: bool, out_3d: bool) -> Any:
    """``(B, N, E)`` -> the output form the flags ask for."""
    flat = emb.reshape(emb.shape[0], -1)
    if list_out:
        return (flat, list(emb.unbind(dim=1)))
    return (flat, emb) if out_3d else flat


class _NumericEmbedding(Component):
    """Shared checks of the three numeric embeddings (built for ``N`` features)."""

    def __init__(self, params: Params, num_features: int, dim: int, where: str) -> None:
        super().__init__(params)
        self.where = where
        self.num_features = num_features
        self.dim = dim

    def output_spec(self, input_spec: Any) -> Any:
        num = _numbers_spec(input_spec, self.where, self.registry_name)
        if num != self.num_features:
            raise ShapeError(self.where, f"{self.registry_name} was built for another number of features",
                             f"(B, {self.num_features})", describe_spec(input_spec))
        return _output_spec(num, self.dim, self.params.output_tensor_list, self.params.output_3d_tensor)


# ----------------------------------------------------------------------------- PeriodicEmbedding


class PeriodicEmbeddingParams(Params):
    """Parameters of :class:`PeriodicEmbedding` (EasyRec names)."""

    embedding_dim: int = Field(ge=2, le=MAX_EMBEDDING_DIM)
    sigma: float = Field(gt=0.0, le=1e4)
    add_linear_layer: bool = True
    linear_activation: str | None = "relu"
    output_tensor_list: bool = False
    output_3d_tensor: bool = False


@COMPONENTS.register(
    "PeriodicEmbedding", params=PeriodicEmbeddingParams, input_kind="tensor", positional=("embedding_dim", "sigma"),
    examples=[
        ({"embedding_dim": 4, "sigma": 0.1}, TensorSpec((3,))),
        ({"embedding_dim": 2, "sigma": 1.0, "output_tensor_list": True}, TensorSpec((2,))),
        ({"embedding_dim": 4, "sigma": 0.5, "add_linear_layer": False, "output_3d_tensor": True}, TensorSpec((3,))),
    ])
class PeriodicEmbedding(_NumericEmbedding):
    """Sin/cos features of learned frequencies per numeric feature (Gorishniy et al., arXiv:2203.05556).

    ``v = 2 pi c_n x_n`` with ``c (N, E/2) ~ Normal(0, sigma)``; ``e_n = [sin v, cos v]``; with
    ``add_linear_layer`` a separate linear map per feature follows,
    ``e_n = act(e_n W_n + b_n)`` (``W_n (E, E)``, ``b_n`` zero at start).

    Args:
        embedding_dim: width ``E`` of each feature's vector (even).
        sigma: standard deviation of the initial frequencies (data-sensitive: tune it on a
            log scale, e.g. 1e-2 .. 1e2).
        add_linear_layer: add the per-feature linear map.
        linear_activation: activation after it (default ``relu``).
        output_tensor_list: also return the per-feature list ``[N x (B, E)]``.
        output_3d_tensor: also return ``(B, N, E)`` (ignored when ``output_tensor_list``).

    Shape:
        - Input: ``(B, N)`` float.
        - Output: ``(B, N*E)``, or ``((B, N*E), [N x (B, E)])``, or ``((B, N*E), (B, N, E))``.

    Example:
        >>> layer = PeriodicEmbedding.from_spec(
        ...     PeriodicEmbeddingParams(embedding_dim=2, sigma=1.0, add_linear_layer=False), TensorSpec((1,)))
        >>> with torch.no_grad():
        ...     _ = layer.coefficients.fill_(0.25)
        >>> layer(torch.tensor([[1.0], [0.5]])).detach().round(decimals=4)
        tensor([[1.0000, -0.0000],
                [0.7071, 0.7071]])
    """

    def __init__(self, params: PeriodicEmbeddingParams, num_features: int, where: str) -> None:
        super().__init__(params, num_features, params.embedding_dim, where)
        if params.embedding_dim % 2:
            raise ConfigError(join_path(where, "embedding_dim"), "PeriodicEmbedding embedding_dim must be even",
                              "an even int", params.embedding_dim)
        dim = params.embedding_dim
        self.coefficients = nn.Parameter(torch.randn(num_features, dim // 2) * params.sigma)
        if params.add_linear_layer:
            self.weight = nn.Parameter(torch.empty(num_features, dim, dim))
            initialize(self.weight, "glorot_uniform", where, fan_in=dim, fan_out=dim)
            self.bias = nn.Parameter(torch.zeros(num_features, dim))
            self.act = make_activation(params.linear_activation, join_path(where, "linear_activation"), width=dim)

    @classmethod
    def from_spec(cls, params: PeriodicEmbeddingParams, input_spec: Any, where: str = "") -> "PeriodicEmbedding":
        where = where or "PeriodicEmbedding"
        return cls(params, _numbers_spec(input_spec, where, "PeriodicEmbedding"), where)

    def forward(self, x: torch.Tensor) -> Any:
        v = 2 * math.pi * self.coefficients * x.unsqueeze(-1)  # (B, N, E/2)
        emb = torch.cat([torch.sin(v), torch.cos(v)], dim=-1)  # (B, N, E)
        if self.params.add_linear_layer:
            emb = self.act(torch.einsum("bnd,nde->bne", emb, self.weight) + self.bias)
        return _outputs(emb, self.params.output_tensor_list, self.params.output_3d_tensor)


# ----------------------------------------------------------------------------- AutoDisEmbedding


class AutoDisEmbeddingParams(Params):
    """Parameters of :class:`AutoDisEmbedding` (EasyRec names)."""

    embedding_dim: int = Field(ge=1, le=MAX_EMBEDDING_DIM)
    num_bins: int = Field(ge=1, le=MAX_BUCKETS)
    temperature: float = Field(gt=0.0)
    keep_prob: float = Field(default=0.8, ge=0.0, le=1.0)
    output_tensor_list: bool = False
    output_3d_tensor: bool = False


@COMPONENTS.register(
    "AutoDisEmbedding", params=AutoDisEmbeddingParams, input_kind="tensor",
    positional=("embedding_dim", "num_bins", "temperature"),
    examples=[
        ({"embedding_dim": 3, "num_bins": 4, "temperature": 0.5}, TensorSpec((2,))),
        ({"embedding_dim": 2, "num_bins": 3, "temperature": 1.0, "output_tensor_list": True}, TensorSpec((3,))),
        ({"embedding_dim": 2, "num_bins": 2, "temperature": 2.0, "output_3d_tensor": True}, TensorSpec((2,))),
    ])
class AutoDisEmbedding(_NumericEmbedding):
    """Soft discretisation of each number over learned meta-embeddings (AutoDis, Guo et al., arXiv:2012.08986).

    Per feature ``n``: ``h = leaky_relu(w_n x_n)`` (slope 0.2, EasyRec/TF's, which the
    components.md hand case uses) ``(B, N, H)``; ``z = W_n h + keep_prob * h``;
    ``p = softmax(z / temperature)`` over the ``H`` bins; ``e_n = sum_h p_h ME_n[h]``.
    Weights start Glorot-uniform, as EasyRec's.

    Args:
        embedding_dim: width ``D`` of each feature's vector.
        num_bins: number ``H`` of meta-embeddings per feature.
        temperature: softmax temperature (``> 0``).
        keep_prob: weight ``alpha`` of the skip term ``alpha * h``.
        output_tensor_list: also return the per-feature list ``[N x (B, D)]``.
        output_3d_tensor: also return ``(B, N, D)`` (ignored when ``output_tensor_list``).

    Shape:
        - Input: ``(B, N)`` float.
        - Output: ``(B, N*D)``, or ``((B, N*D), [N x (B, D)])``, or ``((B, N*D), (B, N, D))``.

    Example:
        >>> layer = AutoDisEmbedding.from_spec(
        ...     AutoDisEmbeddingParams(embedding_dim=2, num_bins=2, temperature=1.0), TensorSpec((1,)))
        >>> with torch.no_grad():
        ...     _ = layer.projection.copy_(torch.tensor([[1.0, -1.0]]))
        ...     _ = layer.mixing.zero_()
        ...     _ = layer.meta_embedding.copy_(torch.eye(2)[None])
        >>> layer(torch.tensor([[2.0]])).detach().round(decimals=4)
        tensor([[0.8721, 0.1279]])
    """

    def __init__(self, params: AutoDisEmbeddingParams, num_features: int, where: str) -> None:
        super().__init__(params, num_features, params.embedding_dim, where)
        bins, dim = params.num_bins, params.embedding_dim
        self.projection = nn.Parameter(torch.empty(num_features, bins))
        self.mixing = nn.Parameter(torch.empty(num_features, bins, bins))
        self.meta_embedding = nn.Parameter(torch.empty(num_features, bins, dim))
        initialize(self.projection, "glorot_uniform", where, fan_in=num_features, fan_out=bins)
        initialize(self.mixing, "glorot_uniform", where, fan_in=bins, fan_out=bins)
        initialize(self.meta_embedding, "glorot_uniform", where, fan_in=bins, fan_out=dim)

    @classmethod
    def from_spec(cls, params: AutoDisEmbeddingParams, input_spec: Any, where: str = "") -> "AutoDisEmbedding":
        where = where or "AutoDisEmbedding"
        return cls(params, _numbers_spec(input_spec, where, "AutoDisEmbedding"), where)

    def forward(self, x: torch.Tensor) -> Any:
        hidden = nn.functional.leaky_relu(self.projection * x.unsqueeze(-1), 0.2)  # (B, N, H)
        mixed = torch.einsum("nik,bnk->bni", self.mixing, hidden) + self.params.keep_prob * hidden
        weights = torch.softmax(mixed / self.params.temperature, dim=-1)
        emb = torch.einsum("bnh,nhd->bnd", weights, self.meta_embedding)
        return _outputs(emb, self.params.output_tensor_list, self.params.output_3d_tensor)


# ----------------------------------------------------------------------------- NaryDisEmbedding

_MAX_VALUE = 4294967295  # EasyRec encodes unsigned 32-bit values


def _positions(carry: int) -> int:
    """Digits of the largest 32-bit value in base ``carry`` (EasyRec's ``max_length / carry``)."""
    digits, value = 0, _MAX_VALUE
    while value:
        value //= carry
        digits += 1
    return digits


class NaryDisEmbeddingParams(Params):
    """Parameters of :class:`NaryDisEmbedding` (EasyRec names)."""

    embedding_dim: int = Field(ge=1, le=MAX_EMBEDDING_DIM)
    carries: list[int] = Field(default=[2, 9], min_length=1, max_length=MAX_LAYERS)
    multiplier: float = 1.0
    intra_ary_pooling: Literal["sum", "mean"] = "sum"
    inter_ary_pooling: Literal["concat"] = "concat"
    num_replicas: int = Field(default=1, ge=1, le=MAX_LAYERS)
    output_tensor_list: bool = False
    output_3d_tensor: bool = False


@COMPONENTS.register(
    "NaryDisEmbedding", params=NaryDisEmbeddingParams, input_kind="tensor", positional=("embedding_dim", "carries"),
    examples=[
        ({"embedding_dim": 2, "carries": [2, 3]}, TensorSpec((2,))),
        ({"embedding_dim": 3, "carries": [4], "intra_ary_pooling": "mean", "multiplier": 10.0,
          "output_tensor_list": True}, TensorSpec((2,))),
        ({"embedding_dim": 2, "carries": [2], "output_3d_tensor": True}, TensorSpec((3,))),
        ({"embedding_dim": 2, "carries": [2, 3], "num_replicas": 2, "output_3d_tensor": True}, TensorSpec((2,))),
    ])
class NaryDisEmbedding(_NumericEmbedding):
    """Hybrid N-ary encoding of numbers: sum of per-digit embeddings in several bases (CIKM 2022).

    Mao et al., "Numerical Feature Representation with Hybrid N-ary Encoding", CIKM 2022
    (doi 10.1145/3511808.3557090). Each value is scaled by ``multiplier`` and truncated to an
    integer ``v`` (negative values count as 0, values above ``2^32 - 1`` as ``2^32 - 1``). For
    each carry ``c``, ``v``'s base-``c`` digits ``d_p`` (``p = 0`` the least significant; ``v = 0``
    has the one digit 0) select rows ``(p, d_p)`` of the feature's own table for that carry;
    their embeddings are summed (or averaged, ``intra_ary_pooling: mean``). The vectors of the
    ``C`` carries are concatenated: width ``C*D`` per feature. With ``num_replicas = R`` each
    row is ``R*D`` wide and the output is EasyRec's list ``[flat_1..flat_R]`` followed by the
    per-replica lists or 3-D tensors when asked.

    Args:
        embedding_dim: width ``D`` of one digit embedding.
        carries: the bases (each ``>= 2``), EasyRec's default ``[2, 9]``.
        multiplier: scale applied before truncation (e.g. 100 keeps two decimals).
        intra_ary_pooling: ``sum`` or ``mean`` over the digits of one base.
        inter_ary_pooling: ``concat`` (the only one EasyRec supports).
        num_replicas: independent copies of the embedding (``R``).
        output_tensor_list: also return the per-feature list ``[N x (B, C*D)]``.
        output_3d_tensor: also return ``(B, N, C*D)`` (ignored when ``output_tensor_list``).

    Shape:
        - Input: ``(B, N)`` float (or integer-valued) numbers.
        - Output: ``(B, N*C*D)``, or ``((B, N*C*D), [N x (B, C*D)])``, or ``((B, N*C*D), (B, N, C*D))``;
          with ``R > 1`` the list ``[R x (B, N*C*D)] + [R x extra]``.

    Example:
        >>> layer = NaryDisEmbedding.from_spec(NaryDisEmbeddingParams(embedding_dim=1, carries=[2]),
        ...                                    TensorSpec((1,)))
        >>> with torch.no_grad():
        ...     _ = layer.table.copy_(torch.arange(64.0)[:, None])  # row (p, d) holds 2p + d
        >>> layer(torch.tensor([[5.0]]))  # 5 = 101 in base 2: rows 1, 2, 5
        tensor([[8.]], grad_fn=<ViewBackward0>)
    """

    def __init__(self, params: NaryDisEmbeddingParams, num_features: int, where: str) -> None:
        super().__init__(params, num_features, params.embedding_dim * len(params.carries), where)
        bad = [c for c in params.carries if not 2 <= c <= 1024]
        if bad:
            raise ConfigError(join_path(where, "carries"), "NaryDisEmbedding carries must be bases from 2 to 1024",
                              "ints in [2, 1024]", bad)
        self.positions = [_positions(c) for c in params.carries]
        offsets, offset = [], 0
        for carry, positions in zip(params.carries, self.positions):
            offsets.append(offset)
            offset += carry * positions
        self.offsets = offsets
        self.rows_per_feature = offset
        width = params.embedding_dim * params.num_replicas
        self.table = nn.Parameter(torch.empty(num_features * offset, width))
        initialize(self.table, "glorot_uniform", where, fan_in=offset, fan_out=width)
        for i, carry in enumerate(params.carries):
            powers = torch.tensor([carry**p for p in range(self.positions[i])], dtype=torch.long)
            self.register_buffer(f"powers_{i}", powers, persistent=False)
            starts = offsets[i] + torch.arange(self.positions[i], dtype=torch.long) * carry  # row of (p, 0)
            self.register_buffer(f"starts_{i}", starts, persistent=False)
        self.register_buffer("feature_offsets", torch.arange(num_features, dtype=torch.long) * offset,
                             persistent=False)

    @classmethod
    def from_spec(cls, params: NaryDisEmbeddingParams, input_spec: Any, where: str = "") -> "NaryDisEmbedding":
        where = where or "NaryDisEmbedding"
        return cls(params, _numbers_spec(input_spec, where, "NaryDisEmbedding"), where)

    def output_spec(self, input_spec: Any) -> Any:
        one = super().output_spec(input_spec)
        replicas = self.params.num_replicas
        if replicas == 1:
            return one
        if isinstance(one, TensorSpec):
            return [one] * replicas
        return [one[0]] * replicas + [one[1]] * replicas

    def forward(self, x: torch.Tensor) -> Any:
        params = self.params
        scaled = x * params.multiplier if params.multiplier != 1.0 else x
        # clamped in float64, where 2^32 - 1 is exact (ONNX Runtime mis-clamps int64 at that bound)
        values = scaled.to(torch.float64).clamp(0, _MAX_VALUE).to(torch.long).unsqueeze(-1)  # (B, N, 1)
        pooled = []
        for i, carry in enumerate(params.carries):
            powers = getattr(self, f"powers_{i}")  # (P,)
            digits = torch.div(values, powers, rounding_mode="floor") % carry  # (B, N, P)
            valid = (values >= powers) | (powers == 1)  # leading zeros are not digits; 0 has one digit
            rows = self.feature_offsets[:, None] + getattr(self, f"starts_{i}") + digits
            emb = self.table[rows] * valid.unsqueeze(-1)  # (B, N, P, R*D)
            total = emb.sum(dim=2)
            if params.intra_ary_pooling == "mean":
                total = total / valid.sum(dim=2, keepdim=True)
            pooled.append(total)
        emb = torch.stack(pooled, dim=2)  # (B, N, C, R*D)
        if params.num_replicas == 1:
            return _outputs(emb.flatten(2), params.output_tensor_list, params.output_3d_tensor)
        parts = emb.unflatten(-1, (params.num_replicas, params.embedding_dim)).unbind(dim=3)  # R x (B, N, C, D)
        outs = [_outputs(p.flatten(2), params.output_tensor_list, params.output_3d_tensor) for p in parts]
        if isinstance(outs[0], torch.Tensor):
            return outs
        return [o[0] for o in outs] + [o[1] for o in outs]
