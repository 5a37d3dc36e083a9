"""TorchRec's view of one fused embedding width: tables as ``EmbeddingConfig``, features as KJT keys.

The plain :class:`~recblocks.layers.embedding.EmbeddingCollection` keeps every table of one
width as a row range of one ``nn.Embedding`` (``fused["dim16"]``). :class:`TorchRecTables`
replaces such an entry one-to-one: one TorchRec ``EmbeddingConfig`` per table key
(``<namespace>__<table>``, features sharing a table key share its rows), one
``KeyedJaggedTensor`` key per feature and namespace (``<namespace>__<feature>``), a
non-pooled TorchRec ``EmbeddingCollection`` doing the lookup (DistributedModelParallel shards
it). Ids of multi-valued and sequence features are jagged: the ``PADDING_ID`` positions are
left out and each row's length comes from the padding mask; single-valued features have
length 1. The looked-up rows are scattered back to ``(B, L, D)`` (zeros at padding) and
pooled by the same rules as the plain collection, so the :class:`FeatureEmbeddings` and
everything downstream are unchanged.

FBGEMM's fused kernels need widths that are multiples of 4: a table of width ``D`` is kept
``ceil(D / 4) * 4`` wide and its first ``D`` columns are used (the extra columns never get a
gradient). The padding row (id 0) of a list feature is not looked up, so the model's
``embedding_regularization`` does not cover it (the plain collection looks it up and
regularizes it; its vector never reaches an output in either backend).

This module imports TorchRec when a :class:`TorchRecTables` is built, never at import time.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from recblocks.core.errors import ConfigError
from recblocks.features.schema import PADDING_ID
from recblocks.layers.embedding import EmbeddingSlot, FeatureEmbeddings, pool_list

__all__ = ["TableLayout", "TorchRecTables", "padded_dim", "table_layouts", "torchrec_name"]

#: FBGEMM's table-batched kernels take widths that are multiples of this.
DIM_MULTIPLE = 4


def padded_dim(dim: int) -> int:
    """The TorchRec width of a table of width ``dim`` (the next multiple of 4)."""
    return -(-dim // DIM_MULTIPLE) * DIM_MULTIPLE


def torchrec_name(namespace: str, name: str, where: str) -> str:
    """``<namespace>__<name>``: a TorchRec table or KJT key (no dots: TorchRec's names are module paths)."""
    if "." in name or "." in namespace:
        raise ConfigError(where, "a name with a dot cannot be a TorchRec table or feature key (TorchRec "
                          "builds module paths from them)", "a name without '.'", repr(name))
    return f"{namespace}__{name}"


@dataclass(frozen=True)
class TableLayout:
    """Where one TorchRec table lives in the plain layout.

    Args:
        plain_key: the fused weight's key in the plain model's ``state_dict``
            (``embeddings.fused.dim16.table.weight``).
        torchrec_key: the table's key in the wrapped model's ``state_dict``
            (``embeddings.fused.dim16.collection.embeddings.deep__user_id.weight``).
        name: the TorchRec table name.
        row_offset, rows: the table's row range in the fused weight.
        dim, torchrec_dim: the width, and the (padded) width TorchRec holds.
    """

    plain_key: str
    torchrec_key: str
    name: str
    row_offset: int
    rows: int
    dim: int
    torchrec_dim: int


def table_layouts(prefix: str, width_key: str, slots: list[EmbeddingSlot],
                  table_offsets: dict[str, int]) -> list[TableLayout]:
    """The layout of every table of one fused width (``prefix`` is the collection's module path)."""
    plain_key = f"{prefix}fused.{width_key}.table.weight"
    out: dict[str, TableLayout] = {}
    for slot in slots:
        name = torchrec_name(slot.namespace, str(slot.table), f"feature '{slot.feature}'")
        if name in out:
            continue
        out[name] = TableLayout(plain_key, f"{prefix}fused.{width_key}.collection.embeddings.{name}.weight", name,
                                table_offsets[f"{slot.namespace}:{slot.table}"], slot.num_embeddings, slot.dim,
                                padded_dim(slot.dim))
    return list(out.values())


class TorchRecTables(nn.Module):
    """Every table of one width as a TorchRec ``EmbeddingCollection`` (drop-in for a plain fused width).

    Args:
        dim: the width ``D`` of every table here.
        slots: the slots the plain fused width served (same order).
        layouts: their tables (:func:`table_layouts`).
        name_prefix: prepended to table names (unique names across several collections).

    Shape:
        - Input: ``Batch.features`` ids ``(B,)``, ``(B, L)`` or ``(B, L, K)`` int64.
        - Output: fills ``out.pooled`` ``(B, D)``, ``out.sequences`` ``(B, L, D)`` and
          ``out.lengths`` ``(B,)`` like the plain collection; ``out.looked_up`` gets the looked-up
          rows ``(N, D)`` of each feature.
    """

    def __init__(self, dim: int, slots: list[EmbeddingSlot], layouts: list[TableLayout]) -> None:
        super().__init__()
        from torchrec.modules.embedding_configs import EmbeddingConfig
        from torchrec.modules.embedding_modules import EmbeddingCollection as TRCollection

        self.dim = dim
        self.slots = slots
        self.keys = [torchrec_name(s.namespace, s.feature, f"feature '{s.feature}'") for s in slots]
        features: dict[str, list[str]] = {layout.name: [] for layout in layouts}
        for slot, key in zip(slots, self.keys):
            features[torchrec_name(slot.namespace, str(slot.table), f"feature '{slot.feature}'")].append(key)
        configs = [EmbeddingConfig(name=layout.name, embedding_dim=layout.torchrec_dim, num_embeddings=layout.rows,
                                   feature_names=features[layout.name]) for layout in layouts]
        self.collection = TRCollection(tables=configs, device=torch.device("meta"))

    def forward(self, features: dict[str, torch.Tensor], out: FeatureEmbeddings) -> None:
        from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

        values, lengths, ids_of = [], [], []
        for slot in self.slots:
            ids = features[slot.feature]
            if ids.dim() == 3:
                ids = ids.flatten(1)  # (B, L * K): the elements' ids side by side
            if slot.is_list:
                present = ids != PADDING_ID
                values.append(ids[present])
                lengths.append(present.sum(dim=1))
            else:
                ids = ids.reshape(-1)
                values.append(ids)
                lengths.append(torch.ones_like(ids))
            ids_of.append(ids)
        kjt = KeyedJaggedTensor(keys=self.keys, values=torch.cat(values), lengths=torch.cat(lengths).to(torch.int32))
        looked = self.collection(kjt)
        for slot, key, ids in zip(self.slots, self.keys, ids_of):
            rows = looked[key].values()[:, : self.dim]
            out.looked_up.append(rows)
            if not slot.is_list:
                out.pooled[slot.key] = rows
                continue
            chunk = rows.new_zeros((*ids.shape, self.dim)).masked_scatter((ids != PADDING_ID).unsqueeze(-1), rows)
            pool_list(slot, chunk, ids, features, out)
