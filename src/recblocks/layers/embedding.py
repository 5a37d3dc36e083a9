"""Fused embedding lookups for every feature a model reads.

All id features whose tables have the same width live in ONE ``nn.Embedding`` (tables are
row ranges of it, found through per-feature offsets), so a batch costs one lookup per
distinct width, not a Python call per feature. Multi-valued features are pooled with a
padding mask; sequence features keep ``(B, L, D)`` and their lengths. Dense features are
passed through as ``(B, N)`` (``N`` = the feature's ``dim``, 1 for a number) or projected to
``D`` when they declare an ``embedding_dim``: EasyRec's rule for raw features, the sum of one
learned ``D``-vector per position weighted by the value, ``x W`` with ``W`` of shape ``(N, D)``.

Two namespaces exist: ``deep`` (each feature's own ``embedding_dim``) and ``wide``
(width ``wide_output_dim`` for WIDE groups, separate tables).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from recblocks.core.errors import SchemaError
from recblocks.features.dynamic_vocab import DynamicVocabulary
from recblocks.features.schema import PADDING_ID
from recblocks.features.weighted import weight_key
from recblocks.layers.row_sparse_lookup import row_sparse_lookup

__all__ = ["EmbeddingSlot", "FeatureEmbeddings", "EmbeddingCollection", "pool_list"]


@dataclass(frozen=True)
class EmbeddingSlot:
    """One feature embedded in one namespace.

    Args:
        feature: feature name (key in ``Batch.features``).
        namespace: ``deep`` or ``wide``.
        kind: the feature kind (``sparse``, ``hashed``, ``multi``, ``sequence``, ``bucketized``, ``dense``).
        dim: output width ``D`` (``width`` for a raw dense value).
        table: table key (features with the same key share rows); ``None`` for dense.
        num_embeddings: rows of the table (ids are local to it); 0 for dense.
        pooling: ``sum`` or ``mean`` for multi/sequence features.
        project: dense only: multiply the value by a learned ``D``-vector.
        max_len: multi/sequence only: padded length ``L``.
        width: dense and numeric sequences: numbers per row / element ``N`` (the feature's ``dim``).
        numeric: a sequence of raw numbers (``values: numbers`` without boundaries): no table; its
            ``(B, L)`` / ``(B, L, N)`` values (NaN = padding) are masked, and projected like a
            dense feature when ``project``.
        element_len: a sequence whose elements hold up to ``K`` ids each (``(B, L, K)``, ``0`` =
            padding): an element's vector is the ``pooling`` of its ids' vectors; 0 otherwise.
        weighted: a multi feature whose ids come with weights (``Batch.features[weight_key(feature)]``,
            ``(B, L)``): pooled as ``sum_i w_i e_i`` (``sum``) or divided by ``sum_i w_i`` (``mean``).
        vocabulary: a :class:`~recblocks.features.dynamic_vocab_config.DynamicVocabularyConfig` when
            the batch holds raw ids that a dynamic vocabulary maps to the table's rows; None otherwise.
    """

    feature: str
    namespace: str
    kind: str
    dim: int
    table: str | None = None
    num_embeddings: int = 0
    pooling: str = "mean"
    project: bool = False
    max_len: int = 0
    width: int = 1
    numeric: bool = False
    element_len: int = 0
    weighted: bool = False
    vocabulary: Any = field(default=None, compare=False, hash=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.feature)

    @property
    def is_list(self) -> bool:
        return self.kind in ("multi", "sequence")


@dataclass
class FeatureEmbeddings:
    """What one forward of :class:`EmbeddingCollection` produces.

    ``pooled[(namespace, feature)]`` is ``(B, D)``; ``sequences[(namespace, feature)]`` is
    ``(B, L, D)`` with ``lengths[(namespace, feature)]`` ``(B,)`` for sequence features;
    ``looked_up`` holds every looked-up embedding tensor (for embedding regularization);
    ``features`` the batch's raw feature tensors (an ``embedding_layer`` block reads its ids).
    """

    pooled: dict
    sequences: dict
    lengths: dict
    looked_up: list
    #: the batch's raw feature tensors (ids before lookup), for blocks that look ids up themselves
    features: dict = field(default_factory=dict)


class _FusedTable(nn.Module):
    """One embedding matrix for every table of one width; offsets locate each table."""

    def __init__(self, dim: int, slots: list[EmbeddingSlot], sparse: bool, init_std: float) -> None:
        super().__init__()
        self.dim = dim
        self.slots = slots
        offsets: dict[str, int] = {}
        rows = 0
        for slot in slots:
            table = f"{slot.namespace}:{slot.table}"
            if table not in offsets:
                offsets[table] = rows
                rows += slot.num_embeddings
        self.table_offsets = offsets
        self.table = nn.Embedding(rows, dim, sparse=sparse)
        nn.init.normal_(self.table.weight, std=init_std)
        self.sparse = sparse
        # (S,) offsets for the concatenated id columns of a batch, built lazily per max_len layout
        self.widths = [0] * len(slots)
        self._offsets_cache: dict[tuple[int, ...], torch.Tensor] = {}

    def slot_offsets(self, widths: tuple[int, ...]) -> torch.Tensor:
        cached = self._offsets_cache.get(widths)
        if cached is None:
            parts = [
                torch.full((w,), self.table_offsets[f"{s.namespace}:{s.table}"], dtype=torch.int64)
                for s, w in zip(self.slots, widths)
            ]
            cached = torch.cat(parts)
            self._offsets_cache[widths] = cached
        return cached

    def lookup(self, rows: torch.Tensor) -> torch.Tensor:
        """``(B, S)`` global row ids -> ``(B, S, D)`` vectors (another embedding backend overrides this).

        Sparse tables get their gradient already coalesced (:func:`row_sparse_lookup`), so the
        row-wise optimizers do not sort the batch's ids again."""
        if self.sparse:
            return row_sparse_lookup(rows, self.table.weight)
        return nn.functional.embedding(rows, self.table.weight)

    def forward(self, features: dict[str, torch.Tensor], out: FeatureEmbeddings) -> None:
        columns = []
        widths = []
        for slot in self.slots:
            ids = features[slot.feature]
            if ids.dim() == 1:
                ids = ids.unsqueeze(1)
            elif ids.dim() == 3:
                ids = ids.flatten(1)  # (B, L * K): the elements' ids side by side
            columns.append(ids)
            widths.append(ids.shape[1])
        local = torch.cat(columns, dim=1) if len(columns) > 1 else columns[0]
        offsets = self.slot_offsets(tuple(widths)).to(local.device)
        vectors = self.lookup(local + offsets)
        out.looked_up.append(vectors)
        # one split (its backward is a single concat) instead of a slice per feature, whose
        # backward would allocate and fill a full-size zero gradient each
        chunks = torch.split(vectors, widths, dim=1)
        id_chunks = torch.split(local, widths, dim=1)
        for slot, chunk, ids in zip(self.slots, chunks, id_chunks):
            if not slot.is_list:
                out.pooled[slot.key] = chunk.squeeze(1)
                continue
            pool_list(slot, chunk, ids, features, out)


def pool_list(slot: EmbeddingSlot, chunk: torch.Tensor, ids: torch.Tensor, features: dict[str, torch.Tensor],
              out: FeatureEmbeddings) -> None:
    """Pool a multi/sequence feature's looked-up vectors into ``out`` (the embedding backends share it).

    Shape:
        - Input: ``chunk`` ``(B, W, D)`` (``W = L``, or ``L * K`` for element lists), ``ids`` ``(B, W)``.
        - Output: ``out.pooled[slot.key]`` ``(B, D)``; for a sequence also ``out.sequences``
          ``(B, L, D)`` (padding zeroed) and ``out.lengths`` ``(B,)``.
    """
    if slot.element_len:
        chunk, ids = _pool_elements(slot, chunk, ids)
    mask = (ids != PADDING_ID).unsqueeze(-1).to(chunk.dtype)
    if slot.weighted:  # TensorFlow's weighted lookup: the weights scale, and divide for a mean
        weights = features[weight_key(slot.feature)].to(chunk.dtype).unsqueeze(-1) * mask
        total = (chunk * weights).sum(dim=1)
        if slot.pooling == "mean":
            sums = weights.sum(dim=1)
            total = total / torch.where(sums == 0, torch.ones_like(sums), sums)
        out.pooled[slot.key] = total
        return
    masked = chunk * mask
    total = masked.sum(dim=1)
    if slot.pooling == "mean":
        total = total / mask.sum(dim=1).clamp_min(1.0)
    out.pooled[slot.key] = total
    if slot.kind == "sequence":
        out.sequences[slot.key] = masked
        out.lengths[slot.key] = mask.squeeze(-1).sum(dim=1).to(torch.int64)


class EmbeddingCollection(nn.Module):
    """Every embedding of a model, looked up with one fused call per width.

    Args:
        slots: the features to embed (see :class:`EmbeddingSlot`).
        sparse: produce sparse gradients for tables (row-wise optimizer updates).
        init_std: standard deviation of the normal initializer of table rows.

    Shape:
        - Input: ``Batch.features`` — ids ``(B,)`` / ``(B, L)`` int64, dense ``(B,)`` / ``(B, N)`` float.
        - Output: :class:`FeatureEmbeddings` with ``(B, D)`` per slot.
    """

    def __init__(self, slots: list[EmbeddingSlot], sparse: bool = True, init_std: float = 1e-2) -> None:
        super().__init__()
        self.slots = {slot.key: slot for slot in slots}
        id_slots = [s for s in slots if s.kind != "dense" and not s.numeric]
        self._check_tables(id_slots)
        by_dim: dict[int, list[EmbeddingSlot]] = {}
        for slot in id_slots:
            by_dim.setdefault(slot.dim, []).append(slot)
        self.fused = nn.ModuleDict(
            {f"dim{d}": _FusedTable(d, group, sparse, init_std) for d, group in sorted(by_dim.items())}
        )
        self.init_std = init_std
        # dynamic vocabularies, one per table (features sharing a table share its mapping)
        self.vocabularies = nn.ModuleDict()
        self._vocabulary_features: dict[str, list[str]] = {}
        self._vocabulary_rows: dict[str, tuple[str, int]] = {}  # vocabulary -> (fused table, row offset)
        for slot in id_slots:
            if slot.vocabulary is None:
                continue
            key = f"{slot.namespace}__{slot.table}"
            if key not in self.vocabularies:
                self.vocabularies[key] = DynamicVocabulary(slot.vocabulary)
                fused = f"dim{slot.dim}"
                self._vocabulary_rows[key] = (fused, self.fused[fused].table_offsets[f"{slot.namespace}:{slot.table}"])
            self._vocabulary_features.setdefault(key, []).append(slot.feature)
        self._assigned: list[tuple[nn.Parameter, torch.Tensor]] = []
        self.dense_raw = [s for s in slots if s.kind == "dense" and not s.project]
        projected = [s for s in slots if s.kind == "dense" and s.project and s.width == 1]
        # a vector feature projects with its own (N, D) matrix (EasyRec: one D-vector per position)
        self.vector_slots = [s for s in slots if s.kind == "dense" and s.project and s.width > 1]
        self.vector_projections = nn.ParameterList()
        for slot in self.vector_slots:
            matrix = nn.Parameter(torch.empty(slot.width, slot.dim))
            nn.init.normal_(matrix, std=init_std)
            self.vector_projections.append(matrix)
        self.numeric_slots = [s for s in slots if s.numeric]
        self.numeric_projections = nn.ParameterList()
        for slot in self.numeric_slots:
            matrix = nn.Parameter(torch.empty(slot.width, slot.dim)) if slot.project else None
            if matrix is not None:
                nn.init.normal_(matrix, std=init_std)
                self.numeric_projections.append(matrix)
        self.dense_projections = nn.ParameterDict()
        self._projected: dict[int, list[EmbeddingSlot]] = {}
        for slot in projected:
            self._projected.setdefault(slot.dim, []).append(slot)
        for dim, group in sorted(self._projected.items()):
            weight = nn.Parameter(torch.empty(len(group), dim))
            nn.init.normal_(weight, std=init_std)
            self.dense_projections[f"dim{dim}"] = weight

    @staticmethod
    def _check_tables(slots: list[EmbeddingSlot]) -> None:
        seen: dict[tuple[str, str | None], EmbeddingSlot] = {}
        for slot in slots:
            other = seen.setdefault((slot.namespace, slot.table), slot)
            if (other.dim, other.num_embeddings, other.vocabulary) != (slot.dim, slot.num_embeddings,
                                                                       slot.vocabulary):
                raise SchemaError(
                    f"feature '{slot.feature}'",
                    f"shares table '{slot.table}' with '{other.feature}' but the sizes differ",
                    f"dim {other.dim} x {other.num_embeddings} rows, vocabulary {other.vocabulary}",
                    f"dim {slot.dim} x {slot.num_embeddings} rows, vocabulary {slot.vocabulary}",
                )

    def dynamic_vocabulary_features(self) -> list[str]:
        """The features whose ids a dynamic vocabulary maps to table rows, in table order."""
        return [name for names in self._vocabulary_features.values() for name in names]

    def table_parameters(self) -> list[nn.Parameter]:
        """The (fused) embedding tables: the parameters that get sparse, row-wise updates."""
        return [t.table.weight for t in self.fused.values()]

    def pop_assigned_rows(self) -> list[tuple[nn.Parameter, torch.Tensor]]:
        """``(table weight, rows)`` given to new ids by dynamic vocabularies since the last call:
        their weights were reset to the initializer; the trainer resets their optimizer state."""
        assigned, self._assigned = self._assigned, []
        return assigned

    def _map_dynamic_ids(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Raw ids of dynamic-vocabulary features -> table rows (one mapping call per table)."""
        features = dict(features)
        if self.training:
            self._assigned = []  # the trainer took the previous step's rows after its backward
        for key, vocabulary in self.vocabularies.items():
            names = self._vocabulary_features[key]
            raw = [features[name] for name in names]
            rows = vocabulary(torch.cat([r.reshape(-1) for r in raw]) if len(raw) > 1 else raw[0])
            for name, part in zip(names, torch.split(rows.reshape(-1), [r.numel() for r in raw])):
                features[name] = part.reshape(features[name].shape)
            if self.training and vocabulary.assigned_rows:
                fused, offset = self._vocabulary_rows[key]
                weight = self.fused[fused].table.weight
                global_rows = torch.tensor(vocabulary.assigned_rows, dtype=torch.int64, device=weight.device) + offset
                with torch.no_grad():  # a recycled row starts again from the initializer
                    weight[global_rows] = torch.randn(len(global_rows), weight.shape[1], device=weight.device,
                                                      dtype=weight.dtype) * self.init_std
                self._assigned.append((weight, global_rows))
        return features

    def forward(self, features: dict[str, torch.Tensor]) -> FeatureEmbeddings:
        if len(self.vocabularies):
            features = self._map_dynamic_ids(features)
        out = FeatureEmbeddings({}, {}, {}, [], features)
        for table in self.fused.values():
            table(features, out)
        for slot in self.dense_raw:
            values = features[slot.feature].to(torch.float32)
            out.pooled[slot.key] = values.unsqueeze(1) if values.dim() == 1 else values
        for slot, matrix in zip(self.vector_slots, self.vector_projections):
            out.pooled[slot.key] = features[slot.feature].to(torch.float32) @ matrix
        matrices = iter(self.numeric_projections)
        for slot in self.numeric_slots:
            _numeric_sequence(slot, features[slot.feature], next(matrices) if slot.project else None, out)
        for dim, group in self._projected.items():
            values = torch.stack([features[s.feature] for s in group], dim=1).to(torch.float32)
            vectors = values.unsqueeze(-1) * self.dense_projections[f"dim{dim}"]
            for slot, vector in zip(group, torch.unbind(vectors, dim=1)):
                out.pooled[slot.key] = vector
        return out


def _pool_elements(slot: EmbeddingSlot, chunk: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, L*K, D)`` vectors of ``(B, L*K)`` ids -> one ``(B, L, D)`` vector per element (the
    ``pooling`` of its ids' vectors) and a ``(B, L)`` stand-in id that is ``0`` for padding elements."""
    batch, width = ids.shape[0], slot.element_len
    ids = ids.reshape(batch, -1, width)
    mask = (ids != PADDING_ID).unsqueeze(-1).to(chunk.dtype)  # (B, L, K, 1)
    vectors = (chunk.reshape(batch, ids.shape[1], width, -1) * mask).sum(dim=2)
    counts = mask.sum(dim=2)  # (B, L, 1)
    if slot.pooling == "mean":
        vectors = vectors / counts.clamp_min(1.0)
    return vectors, (counts.squeeze(-1) > 0).to(torch.int64)


def _numeric_sequence(slot: EmbeddingSlot, values: torch.Tensor, matrix: torch.Tensor | None,
                      out: FeatureEmbeddings) -> None:
    """Mask a numeric sequence's padding (NaN), project its elements when ``matrix``, pool it."""
    values = values.to(torch.float32)
    if values.dim() == 2:
        values = values.unsqueeze(-1)  # (B, L, 1)
    mask = ~torch.isnan(values[..., :1])  # (B, L, 1)
    vectors = torch.nan_to_num(values, nan=0.0)
    if matrix is not None:
        vectors = vectors @ matrix  # EasyRec's raw projection: sum_n x_n w_n
    weights = mask.to(vectors.dtype)
    vectors = vectors * weights
    total = vectors.sum(dim=1)
    if slot.pooling == "mean":
        total = total / weights.sum(dim=1).clamp_min(1.0)
    out.pooled[slot.key] = total
    out.sequences[slot.key] = vectors
    out.lengths[slot.key] = mask.squeeze(-1).sum(dim=1).to(torch.int64)
