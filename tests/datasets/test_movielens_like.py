"""MovieLens' second label ``like`` (rating 5) and a two-task model trained on real ML-100K."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from recblocks.datasets.movielens import load_movielens, prepare_movielens
from recblocks.datasets.movielens_ctr import CTR_COLUMNS, load_movielens_ctr
from recblocks.runs import train_run

REAL = Path(__file__).parents[2] / ".." / "shared" / "data" / "ml-100k"
FIXED = REAL.parent / "ml-100k-ctr"


@pytest.fixture(scope="module")
def real() -> Path:
    if not (REAL / "u.data").is_file():
        pytest.skip(f"shared data not found at {REAL.resolve()} (ml-100k/u.data)")
    return REAL


def test_like_is_rating_five_beside_the_label(real: Path) -> None:
    table = load_movielens(real, like=True)
    assert table.column_names[:2] == ["label", "like"]
    rating, like, label = (table[c].to_numpy() for c in ("rating", "like", "label"))
    assert np.array_equal(like, (rating == 5).astype(np.int64))
    assert (like <= label).all()  # a 5 is a positive of the easyrec protocol
    assert "like" not in load_movielens(real).column_names


def test_like_in_the_ctr_format_is_the_fixed_split_plus_a_column(real: Path, tmp_path: Path) -> None:
    table = load_movielens_ctr(real, like=True)
    assert table.column_names == ["label", "like", *CTR_COLUMNS[1:]]
    ratings = load_movielens(real, {"threshold": 1})  # every rating, with its value
    by_pair = dict(zip(zip(ratings["user_id"].to_pylist(), ratings["movie_id"].to_pylist()),
                       ratings["rating"].to_pylist()))
    expected = [int(by_pair[pair] == 5) for pair in zip(table["user_id"].to_pylist(), table["movie_id"].to_pylist())]
    assert table["like"].to_pylist() == expected
    assert (table["like"].to_numpy() <= table["label"].to_numpy()).all()  # a 5 is a positive of rating >= 4
    if not (FIXED / "train.parquet").is_file():
        pytest.skip(f"the fixed split is absent ({FIXED.resolve()})")
    paths = prepare_movielens(real, tmp_path / "two", split="random", seed=2024, format="ctr", like=True)
    for name in ("train", "valid", "test"):
        part = pq.read_table(paths[name])
        assert part.drop_columns(["like", "timestamp"]).to_pylist() == pq.read_table(FIXED / f"{name}.parquet").to_pylist()


def test_two_task_mmoe_trains_on_movielens_two_labels(real: Path, tmp_path: Path) -> None:
    paths = prepare_movielens(real, tmp_path / "ml", split="temporal", like=True)
    assert pq.read_schema(paths["train"]).names[:2] == ["label", "like"]
    features = [{"name": n, "kind": "sparse", "embedding_dim": 8} for n in ("user_id", "movie_id", "gender", "age",
                                                                               "job_id")]
    features.append({"name": "genres", "kind": "multi", "separator": "|", "max_len": 6, "embedding_dim": 8})
    towers = [{"tower_name": name, "label_name": label, "dnn": {"hidden_units": [16]}, "metrics_set": ["auc"]}
              for name, label in (("ctr", "label"), ("like", "like"))]
    raw = {"data": {"train": str(paths["train"]), "valid": str(paths["valid"])},
           "features": features,
           "model": {"model_class": "MultiTaskModel",
                     "feature_groups": [{"group_name": "all", "feature_names": [f["name"] for f in features]}],
                     "backbone": {"blocks": [
                         {"name": "all", "inputs": [{"feature_group_name": "all"}], "input_layer": {}},
                         {"name": "mmoe", "inputs": [{"block_name": "all"}],
                          "component": {"class_name": "MMoE", "params": {"num_task": 2, "num_expert": 2,
                                                                         "expert_mlp": {"hidden_units": [32]}}}}]},
                     "model_params": {"task_towers": towers}},
           "train": {"epochs": 1, "max_steps": 60, "batch_size": 512, "progress": False, "optimizer": {"lr": 0.01}}}
    result = train_run(raw, tmp_path / "run")
    assert result.valid_metrics["ctr/auc"] > 0.6 and result.valid_metrics["like/auc"] > 0.6, result.valid_metrics
