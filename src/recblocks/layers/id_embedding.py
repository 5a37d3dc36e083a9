"""Embedding lookups of id tensors inside a backbone: Keras ``Embedding`` and EasyRec ``EmbeddingLayer``.

These look up ids a block receives as a tensor (e.g. a bucketized value produced by another
block); the embeddings of the model's features are the input layer's (one table per feature,
:mod:`recblocks.layers.embedding`). Ids must lie in ``[0, vocabulary)``: they are not checked
in the forward pass (that would need a host sync); torch raises on an id out of range.
Float inputs are truncated to integer ids, as Keras casts them.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from recblocks.core.errors import ShapeError
from recblocks.core.limits import MAX_EMBEDDING_DIM, MAX_TABLE_ROWS
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.features.schema import PADDING_ID
from recblocks.layers.activations import initialize
from recblocks.layers.base import Component
from recblocks.layers.dense import RegularizerParams

__all__ = ["Embedding", "EmbeddingLayer", "EmbeddingLayerParams", "EmbeddingParams", "GroupIdEmbedding"]


class EmbeddingParams(Params):
    """Parameters of :class:`Embedding` (Keras names)."""

    input_dim: int = Field(ge=1, le=MAX_TABLE_ROWS)
    output_dim: int = Field(ge=1, le=MAX_EMBEDDING_DIM)
    embeddings_initializer: str = "uniform"
    embeddings_regularizer: RegularizerParams | None = None


@COMPONENTS.register(
    "Embedding", params=EmbeddingParams, input_kind="tensor", positional=("input_dim", "output_dim"),
    examples=[({"input_dim": 5, "output_dim": 3}, TensorSpec((), "long")),
              ({"input_dim": 4, "output_dim": 2, "embeddings_initializer": "glorot_uniform",
                "embeddings_regularizer": "l2"}, TensorSpec((3,), "long"))],
)
class Embedding(Component):
    """Look up ids in a table of ``input_dim`` rows: ``y[..., :] = E[x[...]]`` (Keras ``Embedding``).

    The table starts uniform in ``[-0.05, 0.05]`` (Keras' default ``uniform``);
    ``embeddings_regularizer`` is added to the model's regularization as Dense's is.

    Args:
        input_dim: vocabulary size (ids ``0..input_dim-1``).
        output_dim: embedding width ``D``.
        embeddings_initializer: initializer name.
        embeddings_regularizer: penalty on the table (``'l2'``, ``{l1: .., l2: ..}``...).

    Shape:
        - Input: ids ``(B, ...)`` (long; floats are truncated).
        - Output: ``(B, ..., D)``.

    Example:
        >>> layer = Embedding.from_spec(EmbeddingParams(input_dim=3, output_dim=2), TensorSpec((), "long"))
        >>> with torch.no_grad():
        ...     _ = layer.embeddings.copy_(torch.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]]))
        >>> layer(torch.tensor([2, 1])).tolist()
        [[3.0, 4.0], [1.0, 2.0]]
    """

    def __init__(self, params: EmbeddingParams, where: str) -> None:
        super().__init__(params)
        self.where = where
        self.embeddings = nn.Parameter(torch.empty(params.input_dim, params.output_dim))
        if params.embeddings_initializer.strip().lower() in ("uniform", "random_uniform", "randomuniform"):
            nn.init.uniform_(self.embeddings, -0.05, 0.05)
        else:
            initialize(self.embeddings, params.embeddings_initializer, join_path(where, "embeddings_initializer"))

    @classmethod
    def from_spec(cls, params: EmbeddingParams, input_spec: Any, where: str = "") -> "Embedding":
        module = cls(params, where or "Embedding")
        module.output_spec(input_spec)
        return module

    def output_spec(self, input_spec: Any) -> TensorSpec:
        if not isinstance(input_spec, TensorSpec) or input_spec.dtype == "bool":
            raise ShapeError(self.where, "Embedding looks up one tensor of ids", "ids (B, ...)",
                             describe_spec(input_spec))
        return TensorSpec((*input_spec.shape, self.params.output_dim))

    def regularization_loss(self) -> torch.Tensor | None:
        reg = self.params.embeddings_regularizer
        return None if reg is None else reg.penalty(self.embeddings)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.embedding(x.long(), self.embeddings)


class EmbeddingLayerParams(Params):
    """Parameters of :class:`EmbeddingLayer` (EasyRec ``EmbeddingLayer`` message)."""

    embedding_dim: int = Field(ge=1, le=MAX_EMBEDDING_DIM)
    vocab_size: int = Field(ge=1, le=MAX_TABLE_ROWS)
    combiner: Literal["weight", "mean", "sum", "max", "min"] = "weight"
    concat: bool = True


def _id_list(spec: Any, where: str) -> list[TensorSpec]:
    expected = "a list of ids, each (B,) or (B, L) (multi-valued)"
    specs = [spec] if isinstance(spec, TensorSpec) else spec
    if (not isinstance(specs, (list, tuple)) or not specs or not all(isinstance(s, TensorSpec) for s in specs)
            or any(s.rank > 2 or s.dtype == "bool" for s in specs)):
        raise ShapeError(where, "EmbeddingLayer looks up id tensors", expected, describe_spec(spec))
    return list(specs)


@COMPONENTS.register(
    "EmbeddingLayer", params=EmbeddingLayerParams, input_kind="fields", positional=("embedding_dim", "vocab_size"),
    examples=[({"embedding_dim": 3, "vocab_size": 6}, [TensorSpec((), "long"), TensorSpec((4,), "long")]),
              ({"embedding_dim": 2, "vocab_size": 5, "combiner": "max", "concat": False},
               [TensorSpec((3,), "long"), TensorSpec((), "long")])],
)
class EmbeddingLayer(Component):
    """One shared table for several id inputs, multi-valued ones pooled (EasyRec ``EmbeddingLayer``).

    Each input ``(B,)`` gives ``E[x]``; a multi-valued ``(B, L)`` input gives its ``L``
    embeddings combined by ``combiner`` (``mean``, ``sum``, ``max``, ``min``; ``weight`` is the
    weighted mean with EasyRec's per-id weights, and without weights, as here, the mean).
    Negative ids in a multi-valued input are padding and left out (a row of padding only gives
    zeros). The vectors are concatenated (``concat``, default) or returned as a list.
    EasyRec builds this layer on a feature group's bucketized ids (its ``embedding_layer``
    block); here it takes the id tensors a block receives.

    Args:
        embedding_dim: width ``D`` of the shared table.
        vocab_size: rows of the shared table.
        combiner: pooling of multi-valued inputs.
        concat: concatenate the vectors (else a list).

    Shape:
        - Input: ids ``n x (B,)`` or ``(B, L)`` (a list, or one tensor).
        - Output: ``(B, n*D)``, or ``n x (B, D)`` without ``concat``.

    Example:
        >>> layer = EmbeddingLayer.from_spec(EmbeddingLayerParams(embedding_dim=1, vocab_size=4),
        ...                                  [TensorSpec((), "long"), TensorSpec((3,), "long")])
        >>> with torch.no_grad():
        ...     _ = layer.embeddings.copy_(torch.tensor([[0.0], [1.0], [2.0], [3.0]]))
        >>> layer([torch.tensor([3]), torch.tensor([[1, 2, -1]])]).tolist()
        [[3.0, 1.5]]
    """

    def __init__(self, params: EmbeddingLayerParams, num_inputs: int, where: str) -> None:
        super().__init__(params)
        self.where = where
        self.num_inputs = num_inputs
        self.embeddings = nn.Parameter(torch.empty(params.vocab_size, params.embedding_dim))
        nn.init.uniform_(self.embeddings, -0.05, 0.05)

    @classmethod
    def from_spec(cls, params: EmbeddingLayerParams, input_spec: Any, where: str = "") -> "EmbeddingLayer":
        where = where or "EmbeddingLayer"
        return cls(params, len(_id_list(input_spec, where)), where)

    def output_spec(self, input_spec: Any) -> Any:
        count = len(_id_list(input_spec, self.where))
        dim = self.params.embedding_dim
        return TensorSpec((count * dim,)) if self.params.concat else [TensorSpec((dim,))] * count

    def _pool(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.dim() == 1:
            return nn.functional.embedding(ids, self.embeddings)
        valid = ids >= 0
        emb = nn.functional.embedding(ids.clamp(min=0), self.embeddings)  # (B, L, D)
        mask = valid.unsqueeze(-1)
        combiner = self.params.combiner
        if combiner in ("max", "min"):
            fill = float("-inf") if combiner == "max" else float("inf")
            pooled = emb.masked_fill(~mask, fill)
            pooled = pooled.amax(dim=1) if combiner == "max" else pooled.amin(dim=1)
            return torch.where(valid.any(dim=1, keepdim=True), pooled, torch.zeros_like(pooled))
        total = (emb * mask).sum(dim=1)
        if combiner == "sum":
            return total
        return total / valid.sum(dim=1, keepdim=True).clamp(min=1)

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> Any:
        inputs = [x] if isinstance(x, torch.Tensor) else list(x)
        vectors = [self._pool(ids.long()) for ids in inputs]
        return torch.cat(vectors, dim=-1) if self.params.concat else vectors


class GroupIdEmbedding(nn.Module):
    """The body of an ``embedding_layer`` block: a feature group's ids in one shared table (EasyRec).

    Each feature gets its own row range (offset by the vocabularies of the features before it,
    as EasyRec offsets bucketized ids), so the table has ``sum_f V_f`` rows of width
    ``embedding_dim``; multi-valued features are pooled by ``combiner`` (their padding id 0
    left out). Dense features cannot be read: EasyRec assumes them bucketized, here they are
    real values. The table is a dense parameter of the block (dense optimizer, and
    ``model_params.l2_regularization`` applies to it as to other weights).

    Shape:
        - Input: the batch's ids of the group's ``F`` features, ``(B,)`` or ``(B, L)``.
        - Output: ``(B, F*D)``, or ``F x (B, D)`` without ``concat``.
    """

    def __init__(self, group: str, slots: list[Any], params: EmbeddingLayerParams, where: str) -> None:
        super().__init__()
        dense = [s.feature for s in slots if s.kind == "dense"]
        if dense:
            raise ShapeError(where, f"an embedding_layer reads id features; group '{group}' has dense features",
                             "id features only (sparse, hashed, bucketized, multi, sequence)", dense)
        nested = [s.feature for s in slots if getattr(s, "element_len", 0) or getattr(s, "weighted", False)]
        if nested:
            raise ShapeError(where, f"an embedding_layer reads plain ids; group '{group}' has weighted ids or "
                             "sequences of several ids per element", "features without weight_separator or "
                             "element_separator", nested)
        self.group = group
        self.features = [s.feature for s in slots]
        self.is_list = [s.is_list for s in slots]
        offsets, rows = [], 0
        for slot in slots:
            offsets.append(rows)
            rows += slot.num_embeddings
        self.offsets = offsets
        self.lookup = EmbeddingLayer(params.model_copy(update={"vocab_size": rows}), len(slots), where)
        self.spec = [TensorSpec((), "long") if not s.is_list else TensorSpec((s.max_len,), "long") for s in slots]

    def output_spec(self) -> Any:
        return self.lookup.output_spec(self.spec)

    def forward(self, emb: Any) -> Any:
        ids = []
        for name, offset, is_list in zip(self.features, self.offsets, self.is_list):
            x = emb.features[name].long()
            ids.append(torch.where(x == PADDING_ID, -1, x + offset) if is_list else x + offset)
        return self.lookup(ids)
