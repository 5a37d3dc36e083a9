"""``recblocks candidates``: top-K items per user of a MatchModel run, item-embedding export, its errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from recblocks.cli.main import cli
from recblocks.runs import train_run
from tests.models.test_match_model import raw_config

RANK_CONFIG = {
    "data": {"synthetic": {"num_rows": 300, "num_dense": 1, "vocab_sizes": [20, 30], "seed": 1}},
    "features": [{"name": "I1", "kind": "dense"}, {"name": "C1", "kind": "sparse", "embedding_dim": 4}],
    "model": {"feature_groups": [{"group_name": "all", "feature_names": ["I1", "C1"]}],
              "backbone": {"blocks": [{"name": "deep", "inputs": [{"feature_group_name": "all"}],
                                       "component": {"class_name": "MLP", "params": {"hidden_units": [4]}}}]},
              "task": {"type": "binary", "label": "label"}},
    "train": {"epochs": 1, "batch_size": 64, "progress": False},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("candidates")
    raw = raw_config(root)
    raw["train"]["epochs"] = 2
    result = train_run(raw, root / "run")
    users = pq.read_table(raw["data"]["test"]).select(["user_id"])
    pq.write_table(users, root / "users.parquet")
    seen: dict[str, set[str]] = {}
    for row in pq.read_table(raw["data"]["train"]).to_pylist():
        seen.setdefault(row["user_id"], set()).add(row["item_id"])
    return {"root": root, "run": result.run_dir, "users": root / "users.parquet", "seen": seen}  # type: ignore


def invoke(*args: object):
    return CliRunner().invoke(cli, ["candidates", *map(str, args)])


def test_candidates_of_every_user_without_their_training_items(run) -> None:
    out = run["root"] / "top5.parquet"
    result = invoke(run["run"], "--input", run["users"], "-k", 5, "-o", out)
    assert result.exit_code == 0, result.output
    assert "wrote 5 candidates for 60 users" in result.output
    table = pq.read_table(out)
    assert table.column_names == ["user_id", "candidates", "scores"] and table.num_rows == 60
    for row in table.to_pylist():
        assert len(row["candidates"]) == 5 and not run["seen"][row["user_id"]] & set(row["candidates"])
        assert row["scores"] == sorted(row["scores"], reverse=True)
    # --include-seen ranks the training items too: the user's own cluster items come back
    seen_out = run["root"] / "with_seen.parquet"
    assert invoke(run["run"], "--input", run["users"], "-k", 5, "-o", seen_out, "--include-seen").exit_code == 0
    rows = pq.read_table(seen_out).to_pylist()
    assert sum(bool(run["seen"][r["user_id"]] & set(r["candidates"])) for r in rows) > 30


def test_item_export_holds_the_vectors_the_candidates_were_ranked_by(run) -> None:
    items_out, out = run["root"] / "items.parquet", run["root"] / "top3.parquet"
    result = invoke(run["run"], "--export-items", items_out, "--input", run["users"], "-k", 3, "-o", out,
                    "--include-seen")
    assert result.exit_code == 0, result.output
    items = pq.read_table(items_out)
    assert items.column_names == ["item_id", "embedding"] and items.num_rows == 50
    vectors = np.asarray(items.column("embedding").to_pylist())
    assert vectors.shape == (50, 16)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)  # cosine model: unit vectors
    # only the item export, no users
    alone = run["root"] / "items_only.parquet"
    assert invoke(run["run"], "--export-items", alone).exit_code == 0 and pq.read_table(alone).num_rows == 50


def test_outputs_are_checked_as_predict_checks_them(run) -> None:
    out = run["root"] / "again.parquet"
    assert invoke(run["run"], "--input", run["users"], "-o", out).exit_code == 0
    result = invoke(run["run"], "--input", run["users"], "-o", out)
    assert result.exit_code == 2 and "--overwrite" in result.output
    assert invoke(run["run"], "--input", run["users"], "-o", out, "--overwrite").exit_code == 0
    result = invoke(run["run"], "--input", run["users"], "-o", run["users"], "--overwrite")
    assert result.exit_code == 2 and "is an input" in result.output
    assert pq.read_table(run["users"]).column_names == ["user_id"]  # untouched
    result = invoke(run["run"], "--input", run["users"], "-o", run["run"] / "cands.parquet")
    assert result.exit_code == 2 and "inside the run directory" in result.output
    result = invoke(run["run"], "--input", run["users"], "-o", run["root"] / "cands.csv")
    assert result.exit_code == 2 and ".parquet" in result.output and "Traceback" not in result.output
    result = invoke(run["run"], "--input", run["users"], "-o", out, "--export-items", out, "--overwrite")
    assert result.exit_code == 2 and "two different files" in result.output
    assert invoke(run["run"], "--input", run["users"]).exit_code == 2  # --input needs --output


def test_one_line_errors(run, tmp_path: Path, monkeypatch) -> None:
    renamed = tmp_path / "renamed.parquet"
    pq.write_table(pa.table({"userid": ["u1", "u2"]}), renamed)
    result = invoke(run["run"], "--input", renamed, "-o", tmp_path / "x.parquet")
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "column 'user_id' (read by the user tower) is missing" in result.output
    assert "did you mean 'userid'" in result.output
    rank = train_run(RANK_CONFIG, tmp_path / "rank").run_dir
    result = invoke(rank, "--export-items", tmp_path / "items.parquet")
    assert result.exit_code == 2 and "need a retrieval model (model_class: MatchModel)" in result.output
    assert "got a RankModel" in result.output
    monkeypatch.setitem(sys.modules, "faiss", None)  # faiss not installed
    result = invoke(run["run"], "--input", run["users"], "-o", tmp_path / "ann.parquet", "--ann")
    assert result.exit_code == 2 and "recblocks[ann]" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "ann.parquet").exists()


def test_ann_candidates_agree_with_exact_ones(run, tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    exact, approx = tmp_path / "exact.parquet", tmp_path / "ann.parquet"
    assert invoke(run["run"], "--input", run["users"], "-o", exact).exit_code == 0
    assert invoke(run["run"], "--input", run["users"], "-o", approx, "--ann").exit_code == 0
    a, b = (pq.read_table(p).column("candidates").to_pylist() for p in (exact, approx))
    assert np.mean([len(set(x) & set(y)) / 10 for x, y in zip(a, b)]) >= 0.95
