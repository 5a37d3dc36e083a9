"""data.hard_negatives: a retrieval run reads its (user, item) edge table once and trains with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recblocks.core.errors import ConfigError
from recblocks.runs import train_run
from tests.models.test_match_model import raw_config


def _edges(path: Path) -> Path:
    """Graph-learn's edge file: a typed header, then user, item, weight; users see the next cluster's items."""
    lines = ["userid:int64\titemid:int64\tweight:float"]
    lines += [f"u{u}\ti{(u + 1) % 5 + 5 * k}\t1.0" for u in range(60) for k in range(3)]
    lines.append("u_unknown\ti1\t1.0")  # a user the training data never had: left out
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_match_run_trains_with_each_users_hard_negatives(tmp_path: Path) -> None:
    raw = raw_config(tmp_path, loss_type="SAMPLED_SOFTMAX", num_negatives=8, num_hard_negatives=2)
    raw["train"].update(epochs=2, batch_size=256, tensorboard=False)
    raw["data"]["hard_negatives"] = {
        "source": {"path": str(_edges(tmp_path / "noclk_edge")), "format": "csv", "delimiter": "\t",
                   "column_names": ["src_id", "dst_id", "weight"]},
        "user_column": "src_id", "item_column": "dst_id"}
    result = train_run(raw, tmp_path / "run")
    hard = result.model.hard_negatives
    assert hard.items.numel() > 0 and int((hard.indptr[1:] - hard.indptr[:-1]).max()) == 3
    epochs = [json.loads(line) for line in (result.run_dir / "epochs.jsonl").read_text().splitlines()]
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert result.valid_metrics["recall@10"] > 0.3, result.valid_metrics


def test_edges_and_num_hard_negatives_go_together(tmp_path: Path) -> None:
    raw = raw_config(tmp_path, num_hard_negatives=2)
    raw["train"]["epochs"] = 1
    with pytest.raises(ConfigError, match=r"^data.hard_negatives: model_params.num_hard_negatives reads each user"):
        train_run(raw, tmp_path / "run")
    raw = raw_config(tmp_path)
    raw["train"]["epochs"] = 1
    raw["data"]["hard_negatives"] = {"source": str(_edges(tmp_path / "edges.csv"))}
    with pytest.raises(ConfigError, match=r"^data.hard_negatives: the model reads no hard negatives"):
        train_run(raw, tmp_path / "run2")
