"""Candidates of a trained MatchModel run: exact search is the reference; HNSW (faiss) overlaps it."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from recblocks.runs import train_run
from recblocks.runs.candidates import HNSWIndex, candidates_run, exact_top_k, item_embeddings, overlap
from tests.models.test_match_model import raw_config


def test_candidates_exclude_seen_items_and_ann_matches_exact(tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    raw = raw_config(tmp_path)
    raw["train"]["epochs"] = 1
    result = train_run(raw, tmp_path / "run")
    ids, vectors = item_embeddings(result.model)
    assert ids.shape == (50,) and vectors.shape == (50, 16)
    exact = candidates_run(result.run_dir, raw["data"]["test"], k=10, ann=False, output=tmp_path / "exact.parquet")
    approx = candidates_run(result.run_dir, raw["data"]["test"], k=10)
    assert exact.num_rows == 60 and pq.read_table(tmp_path / "exact.parquet").column_names == [
        "user_id", "candidates", "scores"]
    train = pq.read_table(raw["data"]["train"]).to_pylist()
    seen: dict[str, set[str]] = {}
    for row in train:
        seen.setdefault(row["user_id"], set()).add(row["item_id"])
    for row in exact.to_pylist():
        assert len(row["candidates"]) == 10 and not seen[row["user_id"]] & set(row["candidates"])
        assert row["scores"] == sorted(row["scores"], reverse=True)
    same = [len(set(a) & set(b)) / 10 for a, b in zip(exact.column("candidates").to_pylist(),
                                                       approx.column("candidates").to_pylist())]
    assert sum(same) / len(same) >= 0.95


def test_hnsw_search_agrees_with_exact_search_on_random_vectors() -> None:
    pytest.importorskip("faiss")
    g = torch.Generator().manual_seed(0)
    items = torch.nn.functional.normalize(torch.randn(2000, 16, generator=g), dim=1)
    users = torch.nn.functional.normalize(torch.randn(100, 16, generator=g), dim=1)
    excluded = torch.rand(100, 2000, generator=g) < 0.01
    exact, _ = exact_top_k(users, items, 10, excluded)
    approx, _ = HNSWIndex(items).search(users, 10, excluded)
    assert not excluded.gather(1, approx).any()
    assert overlap(exact, approx) >= 0.95
