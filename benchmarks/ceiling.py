"""The speed ceiling: a minimal hand-written PyTorch DeepFM, the same model recblocks builds.

What it is (and what ``benchmarks/throughput.py`` compares recblocks against):

* ONE offset-indexed ``nn.Embedding(sparse=True)`` for the deep (width ``D``) embeddings of
  every id field and ONE for the first-order (width 1, "wide") weights; each field's local
  ids (0 = padding, 1 = unseen, 2.. = values, recblocks' layout) are shifted by its row offset.
* The multi-valued field (ml100k ``genres``) is a padded ``(B, L)`` id matrix in the same two
  tables, mean-pooled with its padding mask.
* Dense features (synthetic workload) enter like recblocks' ``embedding_dim: 16`` dense
  features: the deep field is ``value x learned D-vector``, the wide term ``value x learned
  scalar``.
* logit = wide sum + FM second-order term over all fields + MLP(concat of fields), MLP being
  Linear(+ReLU) layers with no batch norm and, like the recblocks configs (EasyRec defaults
  ``use_bias: false``, ``use_final_bias: false``), no biases.
* BCE-with-logits loss; ``SparseAdam`` for the two tables, ``Adam`` for the rest (recblocks'
  default optimizer pairing); optional EasyRec-style regularization (``reg``) with the same
  math as recblocks (``0.5 * c * sum(e^2)`` over looked-up rows, ``0.5 * c * sum(W^2)`` over
  kernels) for ``--reg`` runs.
* Data: whole columns as tensors, one ``(N, S)`` int64 id matrix; each epoch draws one
  permutation and every batch is ``index_select`` of a slice of it (done inside the timed loop,
  as recblocks' InMemoryLoader does).

The data pipeline here (``encode_table``) is deliberately simple (pyarrow dictionary encoding);
it only exists so that the ceiling can also report an end-to-end figure.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EncodedData", "encode_table", "pad_lists", "read_encoded", "CeilingDeepFM", "CeilingTrainer"]


# ----------------------------------------------------------------------------------- data
@dataclass
class EncodedData:
    """Whole-column tensors: ``ids`` (N, S) local ids, ``multi`` (N, L) or None, ``dense`` (N, nd)."""

    ids: torch.Tensor
    multi: torch.Tensor | None
    dense: torch.Tensor | None
    labels: torch.Tensor
    vocab_sizes: list[int]  # rows per single-valued field (2 reserved + values)
    multi_vocab: int = 0
    names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def _encode_strings(column: pa.Array) -> tuple[np.ndarray, int]:
    encoded = pc.dictionary_encode(column)
    ids = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64) + 2
    return ids, len(encoded.dictionary) + 2


def pad_lists(lists: pa.Array, values: np.ndarray, max_len: int) -> np.ndarray:
    """``(rows, max_len)`` ids: each list's first ``max_len`` ``values`` (its flattened ids), 0-padded;
    an empty list reads one unseen id (1)."""
    parents = pc.list_parent_indices(lists).to_numpy()
    counts = np.bincount(parents, minlength=len(lists))
    pos = np.arange(len(parents)) - (np.cumsum(counts) - counts)[parents]
    keep = pos < max_len
    out = np.zeros((len(lists), max_len), dtype=np.int64)
    out[parents[keep], pos[keep]] = values[keep]
    out[counts == 0, 0] = 1
    return out


def encode_table(table: pa.Table, sparse: list[str], dense: list[str], multi: str | None = None,
                 separator: str = "^", max_len: int = 6, label: str = "label") -> EncodedData:
    """Dictionary-encode id columns, log1p dense columns (nulls -> 0), pad the multi column."""
    columns, sizes = [], []
    for name in sparse:
        ids, size = _encode_strings(table.column(name).combine_chunks().cast(pa.string()))
        columns.append(ids)
        sizes.append(size)
    ids = torch.from_numpy(np.ascontiguousarray(np.stack(columns, axis=1)))
    multi_ids, multi_vocab = None, 0
    if multi is not None:
        lists = pc.split_pattern(table.column(multi).combine_chunks().cast(pa.string()), pattern=separator)
        values, multi_vocab = _encode_strings(pc.list_flatten(lists))
        multi_ids = torch.from_numpy(pad_lists(lists, values, max_len))
    dense_t = None
    if dense:
        mats = []
        for name in dense:
            v = pc.fill_null(table.column(name).combine_chunks().cast(pa.float64()), 0.0).to_numpy()
            mats.append(np.sign(v) * np.log1p(np.abs(v)))
        dense_t = torch.from_numpy(np.stack(mats, axis=1).astype(np.float32))
    labels = torch.from_numpy(table.column(label).to_numpy().astype(np.float32))
    return EncodedData(ids, multi_ids, dense_t, labels, sizes, multi_vocab, list(sparse))


def read_encoded(path: str, sparse: list[str], dense: list[str], multi: str | None = None,
                 separator: str = "^", max_len: int = 6, label: str = "label") -> EncodedData:
    """Read only the needed Parquet columns and encode them."""
    names = [label, *dense, *sparse, *([multi] if multi else [])]
    return encode_table(pq.read_table(path, columns=names), sparse, dense, multi, separator, max_len, label)


# ---------------------------------------------------------------------------------- model
class CeilingDeepFM(nn.Module):
    """DeepFM with one deep table and one wide table (see the module docstring)."""

    def __init__(self, vocab_sizes: list[int], multi_vocab: int, num_dense: int, dim: int,
                 hidden: list[int], init_std: float = 0.01) -> None:
        super().__init__()
        sizes = list(vocab_sizes) + ([multi_vocab] if multi_vocab else [])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        rows = int(sum(sizes))
        self.register_buffer("offsets", torch.from_numpy(offsets[: len(vocab_sizes)].copy()), persistent=False)
        self.multi_offset = int(offsets[-1]) if multi_vocab else 0
        self.has_multi = bool(multi_vocab)
        self.num_single = len(vocab_sizes)
        self.deep = nn.Embedding(rows, dim, sparse=True)
        self.wide = nn.Embedding(rows, 1, sparse=True)
        nn.init.normal_(self.deep.weight, std=init_std)
        nn.init.normal_(self.wide.weight, std=init_std)
        self.num_dense = num_dense
        if num_dense:
            self.dense_deep = nn.Parameter(torch.randn(num_dense, dim) * init_std)
            self.dense_wide = nn.Parameter(torch.randn(num_dense, 1) * init_std)
        num_fields = self.num_single + int(self.has_multi) + num_dense
        layers: list[nn.Module] = []
        width = num_fields * dim
        for units in hidden:
            layers += [nn.Linear(width, units, bias=False), nn.ReLU()]
            width = units
        layers.append(nn.Linear(width, 1, bias=False))
        self.mlp = nn.Sequential(*layers)
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.kaiming_uniform_(m.weight, a=0.0, nonlinearity="relu")
        self.looked_up: list[torch.Tensor] = []

    def table_parameters(self) -> list[nn.Parameter]:
        return [self.deep.weight, self.wide.weight]

    def dense_parameters(self) -> list[nn.Parameter]:
        tables = {id(p) for p in self.table_parameters()}
        return [p for p in self.parameters() if id(p) not in tables]

    def kernels(self) -> list[nn.Parameter]:
        return [m.weight for m in self.mlp if isinstance(m, nn.Linear)]

    def forward(self, ids: torch.Tensor, multi: torch.Tensor | None, dense: torch.Tensor | None) -> torch.Tensor:
        rows = ids + self.offsets
        if self.has_multi:
            rows = torch.cat([rows, multi + self.multi_offset], dim=1)
        e = self.deep(rows)  # (B, S [+ L], D)
        w = self.wide(rows).squeeze(-1)  # (B, S [+ L])
        self.looked_up = [e, w]
        s = self.num_single
        fields = [e[:, :s]]
        wide = w[:, :s].sum(dim=1, keepdim=True)
        if self.has_multi:
            mask = (multi != 0).to(e.dtype)
            count = mask.sum(dim=1, keepdim=True).clamp_min(1.0)
            fields.append(((e[:, s:] * mask.unsqueeze(-1)).sum(dim=1) / count).unsqueeze(1))
            wide = wide + (w[:, s:] * mask).sum(dim=1, keepdim=True) / count
        if self.num_dense:
            fields.append(dense.unsqueeze(-1) * self.dense_deep)
            wide = wide + dense @ self.dense_wide
        x = torch.cat(fields, dim=1) if len(fields) > 1 else fields[0]  # (B, F, D)
        fm = 0.5 * (x.sum(dim=1).pow(2) - x.pow(2).sum(dim=1)).sum(dim=1, keepdim=True)
        deep = self.mlp(x.flatten(1))
        return (wide + fm + deep).squeeze(-1)


# -------------------------------------------------------------------------------- training
class CeilingTrainer:
    """The minimal loop: permutation -> index_select -> forward -> BCE -> backward -> 2 optimizers."""

    def __init__(self, model: CeilingDeepFM, lr: float = 1e-3, embedding_reg: float = 0.0,
                 l2: float = 0.0) -> None:
        self.model = model
        self.sparse_opt = torch.optim.SparseAdam(model.table_parameters(), lr=lr)
        self.dense_opt = torch.optim.Adam(model.dense_parameters(), lr=lr)
        self.embedding_reg = embedding_reg
        self.l2 = l2

    def loss(self, ids: torch.Tensor, multi: torch.Tensor | None, dense: torch.Tensor | None,
             y: torch.Tensor) -> torch.Tensor:
        loss = F.binary_cross_entropy_with_logits(self.model(ids, multi, dense), y)
        if self.embedding_reg:
            loss = loss + 0.5 * self.embedding_reg * sum(t.pow(2).sum() for t in self.model.looked_up)
        if self.l2:
            loss = loss + 0.5 * self.l2 * sum(k.pow(2).sum() for k in self.model.kernels())
        return loss

    def step(self, ids: torch.Tensor, multi: torch.Tensor | None, dense: torch.Tensor | None,
             y: torch.Tensor) -> torch.Tensor:
        loss = self.loss(ids, multi, dense, y)
        self.sparse_opt.zero_grad(set_to_none=True)
        self.dense_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.sparse_opt.step()
        self.dense_opt.step()
        return loss.detach()

    def epoch(self, data: EncodedData, batch_size: int, seed: int, epoch: int,
              on_step: Callable[[], None] | None = None) -> tuple[float, float, int]:
        """One shuffled pass; returns (seconds, mean train loss, samples). ``on_step`` runs after each step."""
        self.model.train()
        start = time.perf_counter()
        n = len(data)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        losses = []
        for begin in range(0, n, batch_size):
            idx = order[begin:begin + batch_size]
            losses.append(self.step(data.ids.index_select(0, idx),
                                    data.multi.index_select(0, idx) if data.multi is not None else None,
                                    data.dense.index_select(0, idx) if data.dense is not None else None,
                                    data.labels.index_select(0, idx)))
            if on_step is not None:
                on_step()
        mean_loss = float(torch.stack(losses).mean())
        seconds = time.perf_counter() - start
        if not math.isfinite(mean_loss):
            raise RuntimeError(f"ceiling: non-finite loss {mean_loss}")
        return seconds, mean_loss, n
