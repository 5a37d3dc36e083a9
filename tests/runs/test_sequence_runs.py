"""Behaviour histories end to end: list columns from add_histories -> shared tables -> DIN / DIEN / BST -> GAUC.

Also EasyRec's ``sequence_features`` group spelling, and its errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from recblocks.core.errors import ConfigError, SchemaError, ShapeError
from recblocks.datasets import add_histories
from recblocks.runs import plan_rows, train_run

FEATURES = """
- {name: user_id, kind: sparse, embedding_dim: 4}
- {name: movie_id, kind: sparse, embedding_dim: 4, embedding_name: movie}
- {name: genre, kind: sparse, embedding_dim: 4, embedding_name: genre}
- {name: hist_movie_id, kind: sequence, max_len: 5, embedding_dim: 4, embedding_name: movie}
- {name: hist_genre, kind: sequence, max_len: 5, embedding_dim: 4, embedding_name: genre}
"""

SEQUENCE_BLOCKS = {
    "DIN": {"class_name": "DIN", "params": {"attention_dnn": {"hidden_units": [4, 1]}}},
    "DIEN": {"class_name": "DIEN", "params": {"num_units": 4}},
    "BST": {"class_name": "BST", "params": {"hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 1,
                                            "intermediate_size": 4, "max_position_embeddings": 6,
                                            "output_all_token_embeddings": False}},
}


@pytest.fixture(scope="module")
def history_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 ratings of 12 users on 20 movies; a user likes a movie whose genre they watched before."""
    rng = np.random.default_rng(0)
    n = 300
    users = rng.integers(0, 12, n)
    movies = rng.integers(0, 20, n)
    genres = np.array(["Action", "Drama", "Comedy", "War"])[movies % 4]
    table = pa.table({"user_id": users.astype(str), "movie_id": movies.astype(str), "genres": genres,
                      "timestamp": rng.integers(0, 100, n)})
    table = add_histories(table, 5)
    seen = [g in h for g, h in zip(table["genre"].to_pylist(), table["hist_genre"].to_pylist())]
    table = table.append_column("label", pa.array(np.asarray(seen, dtype=np.int64)))
    out = tmp_path_factory.mktemp("histories")
    for name, part in (("train", table.slice(0, 200)), ("valid", table.slice(200, 100))):
        pq.write_table(part, out / f"{name}.parquet")
    return out


def run_config(data: Path, component: dict[str, Any], groups: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "data": {"train": str(data / "train.parquet"), "valid": str(data / "valid.parquet")},
        "features": yaml.safe_load(FEATURES),
        "model": {
            "feature_groups": groups or [
                {"group_name": "user", "feature_names": ["user_id"]},
                {"group_name": "seq", "feature_names": ["hist_movie_id", "hist_genre", "movie_id", "genre"]}],
            "backbone": {"blocks": [
                {"name": "seq_input", "inputs": [{"feature_group_name": "seq"}],
                 "input_layer": {"output_seq_and_normal_feature": True}},
                {"name": "attn", "inputs": [{"block_name": "seq_input"}], "component": component},
                {"name": "user_in", "inputs": [{"feature_group_name": "user"}]}],
                "concat_blocks": ["attn", "user_in"], "top_mlp": {"hidden_units": [8]}},
            "task": {"type": "binary", "label": "label"}},
        "train": {"epochs": 1, "batch_size": 64, "progress": False, "gauc_group": "user_id"},
    }


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
@pytest.mark.parametrize("name", list(SEQUENCE_BLOCKS))
def test_histories_train_with_shared_tables_and_report_gauc(history_data: Path, tmp_path: Path, name: str) -> None:
    raw = run_config(history_data, SEQUENCE_BLOCKS[name])
    model, rows, _ = plan_rows(raw, fit_data=True)
    assert next(r for r in rows if r["block"] == "seq_input")["output"] == "((B, 5, 8), (B) long, (B, 8))"
    tables = {slot.feature: slot.table for slot in model.embeddings.slots.values()}
    assert tables["hist_movie_id"] == tables["movie_id"] and tables["hist_genre"] == tables["genre"]
    result = train_run(raw, tmp_path / "run")
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["valid"]["gauc"] <= 1.0 and 0.0 <= metrics["valid"]["auc"] <= 1.0


def easyrec_groups(**seq_att_map: Any) -> list[dict[str, Any]]:
    return [{"group_name": "user", "feature_names": ["user_id"],
             "sequence_features": {"group_name": "seq", "seq_att_map": seq_att_map}}]


def test_easyrec_sequence_features_spelling_plans_like_a_group(history_data: Path) -> None:
    raw = run_config(history_data, SEQUENCE_BLOCKS["DIN"], easyrec_groups(
        key=["movie_id", "genre"], hist_seq=["hist_movie_id", "hist_genre"]))
    model, rows, _ = plan_rows(raw, fit_data=False)
    assert next(r for r in rows if r["block"] == "seq_input")["output"] == "((B, 5, 8), (B) long, (B, 8))"
    assert model.groups["seq"].feature_names == ["hist_movie_id", "hist_genre", "movie_id", "genre"]
    written = model.groups.to_config()
    assert [g["group_name"] for g in written] == ["user"] and written[0]["sequence_features"][0]["group_name"] == "seq"


def test_easyrec_allow_key_search_is_accepted_and_changes_nothing(history_data: Path) -> None:
    plans = []
    for allow in (True, False):
        groups = easyrec_groups(key=["movie_id"], hist_seq=["hist_movie_id"])
        groups[0]["sequence_features"]["allow_key_search"] = allow
        model, rows, _ = plan_rows(run_config(history_data, SEQUENCE_BLOCKS["DIN"], groups), fit_data=False)
        assert model.groups["seq"].feature_names == ["hist_movie_id", "movie_id"]
        plans.append([(r["block"], r["output"]) for r in rows])
    assert plans[0] == plans[1]


def test_sequence_feature_errors_name_the_group_or_block(history_data: Path) -> None:
    # key and hist_seq need not pair up one to one (EasyRec only needs the widths to meet; DIN zero-pads a
    # narrower key): one key over two histories plans
    raw = run_config(history_data, SEQUENCE_BLOCKS["DIN"], easyrec_groups(key=["movie_id"],
                                                                           hist_seq=["hist_movie_id", "hist_genre"]))
    plan_rows(raw, fit_data=False)
    raw = run_config(history_data, SEQUENCE_BLOCKS["DIN"], easyrec_groups(key="movie_id", hist_seq="genre"))
    with pytest.raises(SchemaError, match=r"feature group 'seq': hist_seq 'genre' is not a sequence feature"):
        plan_rows(raw, fit_data=False)
    raw = run_config(history_data, SEQUENCE_BLOCKS["DIN"], easyrec_groups(key="movie_id", hist_seq="hist_moive_id"))
    with pytest.raises(ConfigError, match=r"hist_seq\[0\]: unknown feature.*did you mean 'hist_movie_id'"):
        plan_rows(raw, fit_data=False)
    # DIN needs the target: a sequence group without key features.
    no_target = [{"group_name": "user", "feature_names": ["user_id"]},
                 {"group_name": "seq", "feature_names": ["hist_movie_id", "hist_genre"]}]
    with pytest.raises(ShapeError, match=r"block 'attn' \(model.backbone.blocks\[1\]\): DIN needs a target"):
        plan_rows(run_config(history_data, SEQUENCE_BLOCKS["DIN"], no_target), fit_data=False)
