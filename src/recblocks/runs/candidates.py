"""Top-K candidates of a trained MatchModel: item-embedding export, user vectors, exact and ANN search.

* :func:`item_embeddings` — the catalogue's item ids and vectors (what a serving index holds);
  :func:`user_embeddings` — user vectors of feature rows (the user tower alone).
* :func:`exact_top_k` — brute-force top K by inner product (the reference), with each user's
  training items excluded by default (as in evaluation).
* :class:`HNSWIndex` — an approximate index (faiss ``IndexHNSWFlat``, inner product; install
  the ``ann`` extra: ``pip install recblocks[ann]``); a query asks for K plus the most seen
  items of any queried user, then drops the excluded ones.
* :func:`candidates_run` — for a run directory and a table of users: one row per distinct
  user with the K item values (decoded) and scores; :func:`overlap` compares two top-K lists.

For cosine models the vectors are unit length, so inner product ranks as cosine does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from recblocks.core.errors import ConfigError
from recblocks.runs.scoring import data_batch, open_run

__all__ = ["HNSWIndex", "candidates_run", "exact_top_k", "item_embeddings", "overlap", "user_embeddings"]


def item_embeddings(model: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids (M,), vectors (M, D))`` of the catalogue (item ids as the preprocessor encodes them)."""
    if not hasattr(model, "catalogue_vectors"):
        raise ConfigError("model.model_class", "item embeddings need a retrieval model", "MatchModel",
                          type(model).__name__)
    with torch.no_grad():
        ids = model.catalogue.item_ids()
        return ids, model.catalogue_vectors(ids)


def user_embeddings(model: Any, features: dict[str, torch.Tensor]) -> torch.Tensor:
    """User vectors ``(B, D)`` of preprocessed user feature rows (item features not needed)."""
    with torch.no_grad():
        return model.user_vectors(features)


def _excluded(model: Any, users: torch.Tensor | None, ids: torch.Tensor) -> torch.Tensor | None:
    if users is None or not model.user_id:
        return None
    return model.catalogue.seen_mask(users)[:, ids]


def exact_top_k(user_vectors: torch.Tensor, item_vectors: torch.Tensor, k: int,
                excluded: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(columns (B, K), scores (B, K))`` of the K best items by ``u · i``, excluded ones skipped.

    Example:
        >>> cols, _ = exact_top_k(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0], [0.5, 0], [0.9, 0]]), 2,
        ...                       torch.tensor([[False, False, True]]))
        >>> cols.tolist()
        [[0, 1]]
    """
    scores = user_vectors @ item_vectors.T
    if excluded is not None:
        scores = scores.masked_fill(excluded, float("-inf"))
    top = scores.topk(min(k, scores.shape[1]), dim=1)
    return top.indices, top.values


class HNSWIndex:
    """An HNSW graph over item vectors (faiss, inner product).

    Args:
        vectors: ``(M, D)`` item vectors.
        neighbours: graph degree (faiss ``M``).
        ef_search: candidate list length at query time (higher: better recall, slower).
    """

    def __init__(self, vectors: torch.Tensor, neighbours: int = 32, ef_search: int = 128,
                 ef_construction: int = 200) -> None:
        try:
            import faiss
        except ImportError:
            raise ConfigError("candidates --ann", "approximate search needs faiss", "pip install 'recblocks[ann]' "
                              "(faiss-cpu), or exact search", "faiss not installed") from None
        data = np.ascontiguousarray(vectors.detach().cpu().numpy(), dtype=np.float32)
        self.index = faiss.IndexHNSWFlat(data.shape[1], neighbours, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = ef_construction
        self.index.hnsw.efSearch = ef_search
        self.index.add(data)

    def search(self, user_vectors: torch.Tensor, k: int, excluded: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(columns (B, K), scores (B, K))``: the index's top K, excluded columns dropped."""
        extra = int(excluded.sum(dim=1).max()) if excluded is not None and excluded.numel() else 0
        wanted = min(k + extra, self.index.ntotal)
        self.index.hnsw.efSearch = max(self.index.hnsw.efSearch, wanted)
        scores, columns = self.index.search(np.ascontiguousarray(user_vectors.cpu().numpy(), dtype=np.float32),
                                            wanted)
        columns_t, scores_t = torch.from_numpy(columns), torch.from_numpy(scores)
        if excluded is not None:
            drop = excluded.cpu().gather(1, columns_t.clamp(min=0)) | (columns_t < 0)
            scores_t = scores_t.masked_fill(drop, float("-inf"))
        order = scores_t.argsort(dim=1, descending=True, stable=True)[:, :k]
        return columns_t.gather(1, order), scores_t.gather(1, order)


def overlap(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over rows of ``|a_row ∩ b_row| / K`` for two ``(B, K)`` top-K lists."""
    same = (a[:, :, None] == b[:, None, :]).any(dim=2)
    return float(same.float().mean()) if a.numel() else 1.0


def candidates_run(run_dir: str | Path, data: Any, k: int = 10, output: str | Path | None = None,
                   ann: bool = True, exclude_seen: bool = True) -> pa.Table:
    """Top-K items for every distinct user of ``data`` (a path or table with the user features).

    Returns (and writes to ``output`` as parquet when given) a table with the user id column,
    ``candidates`` (list of item values) and ``scores``; ``ann=False`` searches exactly.
    """
    _, _, _, preprocessor, model = open_run(run_dir)
    batch, _, _ = data_batch(data, preprocessor, {}, [])
    user_id = model.user_id
    if user_id:
        _, first = np.unique(batch.features[user_id].numpy(), return_index=True)
        batch = batch.take(torch.from_numpy(np.sort(first)))
    ids, vectors = item_embeddings(model)
    users = batch.features[user_id] if user_id else None
    user_vectors = user_embeddings(model, dict(batch.features))
    excluded = _excluded(model, users, ids) if exclude_seen else None
    if ann:
        columns, scores = HNSWIndex(vectors).search(user_vectors, k, excluded)
    else:
        columns, scores = exact_top_k(user_vectors, vectors, k, excluded)
    vocabulary = np.asarray(["<pad>", "<oov>", *preprocessor.vocabulary(model.item_id)], dtype=object)
    items = vocabulary[ids[columns].numpy()]
    table = {}
    if user_id:
        user_vocab = np.asarray(["<pad>", "<oov>", *preprocessor.vocabulary(user_id)], dtype=object)
        table[user_id] = user_vocab[users.numpy()].tolist()
    table["candidates"] = items.tolist()
    table["scores"] = scores.numpy().tolist()
    result = pa.table(table)
    if output is not None:
        pq.write_table(result, output)
    return result
