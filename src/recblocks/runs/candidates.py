"""Top-K candidates of a trained MatchModel: item-embedding export, user vectors, exact and ANN search.

* :func:`item_embeddings` — the catalogue's item ids and vectors (what a serving index holds);
  :func:`user_embeddings` — user vectors of feature rows (the user tower alone).
* :func:`exact_top_k` — brute-force top K by inner product (the reference), with each user's
  training items excluded by default (as in evaluation).
* :class:`HNSWIndex` — an approximate index (faiss ``IndexHNSWFlat``, inner product; install
  the ``ann`` extra: ``pip install recblocks[ann]``); a query asks for K plus the most seen
  items of any queried user, then drops the excluded ones.
* :func:`top_k_candidates` — for a trained model and a table of users (only the user tower's
  columns are needed): one row per distinct user with the K item values and scores;
  :func:`candidates_run` does it for a run directory (``recblocks candidates``) and writes
  Parquet as ``recblocks predict`` does; :func:`overlap` compares two top-K lists.
* :func:`item_table` / :func:`user_table` — item and user embeddings as tables (id + vector).

For cosine models the vectors are unit length, so inner product ranks as cosine does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from recblocks.core.errors import ConfigError, DataError
from recblocks.core.files import OutputPathError
from recblocks.data.readers import as_source, naming_source, read_columns, read_table
from recblocks.features.batch import Batch
from recblocks.models.match_model import tower_groups
from recblocks.runs.predictions import check_prediction_output, write_predictions
from recblocks.runs.scoring import as_table, open_run

__all__ = ["HNSWIndex", "candidates_run", "exact_top_k", "item_embeddings", "item_table", "overlap",
           "retrieval_model", "top_k_candidates", "user_embeddings", "user_rows", "user_table",
           "user_tower_features"]


def item_embeddings(model: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids (M,), vectors (M, D))`` of the catalogue (item ids as the preprocessor encodes them)."""
    if not hasattr(model, "catalogue_vectors"):
        raise ConfigError("model.model_class", "item embeddings need a retrieval model", "MatchModel",
                          type(model).__name__)
    with torch.no_grad(), _eval_mode(model):
        ids = model.catalogue.item_ids()
        return ids, model.catalogue_vectors(ids)


def user_embeddings(model: Any, features: dict[str, torch.Tensor]) -> torch.Tensor:
    """User vectors ``(B, D)`` of preprocessed user feature rows (item features not needed)."""
    with torch.no_grad(), _eval_mode(model):
        return model.user_vectors(features)


@contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    """Eval mode (no dropout, batch-norm statistics) while embedding; the mode is restored after."""
    training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(training)


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


def retrieval_model(model: Any, where: str) -> Any:
    """``model`` if it is a retrieval model (a MatchModel), else a one-line ConfigError."""
    if not hasattr(model, "catalogue_vectors"):
        raise ConfigError(where, "candidates and embeddings need a retrieval model (model_class: MatchModel)",
                          "a MatchModel run", f"a {type(model).__name__}")
    return model


def user_tower_features(model: Any) -> list[str]:
    """The features the user tower reads (the catalogue side is not needed to embed users)."""
    groups = tower_groups(model.config.backbone, model.user_block)
    return list(dict.fromkeys(n for g in groups for n in model.groups[g].feature_names))


def user_rows(model: Any, preprocessor: Any, data: Any, where: str = "--input") -> tuple[Batch, pa.Table]:
    """Preprocessed user rows of ``data`` (a path or table holding the user tower's columns).

    Only the user tower's columns are read; every other feature is given as missing (null),
    which the item tower never sees. A missing user column is a DataError naming the feature,
    with the nearest column of the input.
    """
    schema = preprocessor.schema
    wanted = {(name, column): column for name in user_tower_features(model) for column in schema[name].source_columns}
    table = as_table(data)
    if table is None:
        source = as_source(data, where)
        available, name = read_columns(source), source.name
    else:
        available, name = list(table.column_names), "the table"
    for (feature, _), column in wanted.items():
        if column not in available:
            shown = available if len(available) <= 12 else [*available[:12], "..."]
            raise DataError(f"{where} feature '{feature}'", f"column '{column}' (read by the user tower) is missing "
                            f"from {name}", f"one of {shown}", repr(column), choices=available)
    columns = list(dict.fromkeys(wanted.values()))
    table = read_table(source, columns) if table is None else table.select(columns)
    if table.num_rows == 0:
        raise DataError(name, "no users", "at least one data row", "0 rows (an empty or header-only file)")
    filled = table
    for feature in schema:
        for column in feature.source_columns:
            if column not in filled.column_names:
                kind = pa.float64() if feature.kind in ("dense", "bucketized") else pa.string()
                filled = filled.append_column(column, pa.nulls(table.num_rows, kind))
    preprocessor.reset_report()
    with naming_source(name):
        batch, _ = preprocessor.transform(filled)
    return batch, table


def _embedding_column(vectors: torch.Tensor) -> pa.Array:
    data = np.ascontiguousarray(vectors.detach().cpu().numpy(), dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(data.reshape(-1)), data.shape[1])


def item_table(model: Any, preprocessor: Any) -> pa.Table:
    """The catalogue as a table: the item id (as in the data) and its ``embedding`` (what an index holds)."""
    ids, vectors = item_embeddings(retrieval_model(model, "item embeddings"))
    vocabulary = np.asarray(["<pad>", "<oov>", *preprocessor.vocabulary(model.item_id)], dtype=object)
    return pa.table({model.item_id: vocabulary[ids.cpu().numpy()].tolist(), "embedding": _embedding_column(vectors)})


def user_table(model: Any, preprocessor: Any, data: Any, where: str = "--input") -> pa.Table:
    """One row per input row: the user id (when the model has one, as in the data) and its ``embedding``."""
    batch, table = user_rows(retrieval_model(model, "user embeddings"), preprocessor, data, where)
    columns: dict[str, Any] = {}
    if model.user_id:
        columns[model.user_id] = table.column(preprocessor.schema[model.user_id].source_column)
    columns["embedding"] = _embedding_column(user_embeddings(model, dict(batch.features)))
    return pa.table(columns)


def top_k_candidates(model: Any, preprocessor: Any, data: Any, k: int = 10, ann: bool = False,
                     exclude_seen: bool = True, where: str = "--input") -> pa.Table:
    """Top-K items for every distinct user of ``data`` (every row when the model has no user id).

    Returns a table with the user id column (values as in the data), ``candidates`` (list of
    item values) and ``scores``; ``ann`` searches an HNSW index instead of exactly.
    """
    if not isinstance(k, int) or k < 1:
        raise ConfigError("-k", "the number of candidates must be a positive integer", ">= 1", k)
    retrieval_model(model, "candidates")
    batch, table = user_rows(model, preprocessor, data, where)
    user_id = model.user_id
    raw_users = None
    if user_id:
        raw_users = table.column(preprocessor.schema[user_id].source_column)
        _, first = np.unique(np.asarray(raw_users.to_pylist(), dtype=object).astype(str), return_index=True)
        keep = np.sort(first)
        batch, raw_users = batch.take(torch.from_numpy(keep)), raw_users.take(pa.array(keep))
    ids, vectors = item_embeddings(model)
    users = batch.features[user_id] if user_id else None
    user_vectors = user_embeddings(model, dict(batch.features))
    excluded = _excluded(model, users, ids) if exclude_seen else None
    if ann:
        columns, scores = HNSWIndex(vectors).search(user_vectors, k, excluded)
    else:
        columns, scores = exact_top_k(user_vectors, vectors, k, excluded)
    vocabulary = np.asarray(["<pad>", "<oov>", *preprocessor.vocabulary(model.item_id)], dtype=object)
    result: dict[str, Any] = {}
    if raw_users is not None:
        result[user_id] = raw_users
    result["candidates"] = vocabulary[ids[columns].numpy()].tolist()
    result["scores"] = scores.numpy().tolist()
    return pa.table(result)


def _parquet_output(output: str | Path, sources: list[Any], run_dir: Path, overwrite: bool, where: str) -> Path:
    """``check_prediction_output`` (never an input or a run file; overwrite only recblocks' own file), Parquet only."""
    if Path(str(output)).suffix.lower() != ".parquet":
        raise OutputPathError(f"{where} {output}", "candidates and embeddings hold lists", "a file name ending in "
                              ".parquet", repr(Path(str(output)).suffix or Path(str(output)).name))
    return check_prediction_output(output, sources, run_dir, overwrite, where)


def candidates_run(run_dir: str | Path, data: Any = None, k: int = 10, output: str | Path | None = None,
                   ann: bool = True, exclude_seen: bool = True, *, overwrite: bool = False,
                   export_items: str | Path | None = None, allow_unfinished: bool = False,
                   warn: Callable[[str], None] | None = None) -> pa.Table | None:
    """:func:`top_k_candidates` of a run directory for ``data``; ``output`` / ``export_items`` Parquet files.

    Both outputs are checked before any work as ``recblocks predict`` checks its output (never
    an input, never inside a run directory, ``overwrite`` replaces only recblocks' own earlier
    file) and written atomically. Returns the candidates table (None without ``data``).
    """
    if not isinstance(k, int) or k < 1:
        raise ConfigError("-k", "the number of candidates must be a positive integer", ">= 1", k)
    sources = [as_source(data, "--input")] if data is not None and as_table(data) is None else []
    paths = {}
    for where, target in (("--output", output), ("--export-items", export_items)):
        if target is not None:
            paths[where] = _parquet_output(target, sources, Path(run_dir), overwrite, where)
    if len(set(paths.values())) < len(paths):
        raise OutputPathError(f"--export-items {export_items}", "the item embeddings would replace the candidates",
                              "two different files", str(paths["--output"]))
    run, _, _, preprocessor, model = open_run(run_dir, allow_unfinished, warn)
    retrieval_model(model, f"{run_dir}: model.model_class")
    result = None
    if data is not None:
        result = top_k_candidates(model, preprocessor, data, k, ann, exclude_seen)
        if "--output" in paths:
            write_predictions(result, paths["--output"], run.path)
    if "--export-items" in paths:
        write_predictions(item_table(model, preprocessor), paths["--export-items"], run.path)
    return result
