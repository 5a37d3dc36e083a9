"""The model zoo in ``configs/``: every YAML validates and plans without data, and DeepFM trains.

* Every ``configs/**/*.yaml`` is loaded, validated and planned with placeholder vocabularies
  (``plan_rows(raw, fit_data=False)``: no data read), and the planned model runs one forward
  pass on random ids with the planned output width.
* ``configs/ml100k_ctr/deepfm.yaml`` trains for 20 steps on the real ML-100K CTR split
  (``../shared/data/ml-100k-ctr``), skipped with a reason when that data is absent.
* Every ``configs/ml100k_ctr/*.yaml`` trains 2 steps on the first 3,000 rows of that split
  (copied into ``tmp_path``; skipped likewise).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from recblocks.core.shapes import TensorSpec
from recblocks.runs.config_file import apply_overrides, load_config_file
from recblocks.runs import plan_rows, train_run

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").rglob("*.yaml"))
ML100K_CTR = REPO.parent / "shared" / "data" / "ml-100k-ctr"


ZOO_CTR = ("deepfm", "widedeep", "dcn_v2", "dlrm", "mlp", "xdeepfm", "autoint", "fibinet", "dcn_mix", "pnn", "afm")


def test_the_zoo_is_not_empty() -> None:
    names = {p.relative_to(REPO / "configs").as_posix() for p in CONFIGS}
    for folder in ("ml100k_ctr", "movielens"):
        for model in ("deepfm", "widedeep", "dcn_v2", "dlrm", "mlp"):
            assert f"{folder}/{model}.yaml" in names
    for model in ZOO_CTR:
        assert f"ml100k_ctr/{model}.yaml" in names


def _random_features(model: Any, batch: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Ids in ``[1, rows)`` for every embedded feature ((B, L) for list kinds), floats for dense."""
    features: dict[str, torch.Tensor] = {}
    for slot in model.embeddings.slots.values():
        if slot.feature in features:
            continue
        if slot.kind == "dense":
            features[slot.feature] = torch.randn(batch, generator=generator)
            continue
        shape = (batch, slot.max_len) if slot.is_list else (batch,)
        features[slot.feature] = torch.randint(1, max(slot.num_embeddings, 2), shape, generator=generator)
    return features


@pytest.mark.parametrize("path", CONFIGS, ids=[p.relative_to(REPO / "configs").as_posix() for p in CONFIGS])
def test_config_plans_without_data(path: Path) -> None:
    raw = load_config_file(path)
    model, rows, note = plan_rows(raw, fit_data=False)
    assert rows, "empty plan"
    assert "placeholder" in note
    blocks = [r["block"] for r in rows]
    assert blocks[0] == "embeddings"
    assert len(blocks) >= 3, blocks  # embeddings, at least one block, an output
    for row in rows:
        assert row["output"], row
    if not hasattr(model, "tasks"):  # a MatchModel: its towers are checked in tests/models/test_match_zoo.py
        return
    # The backbone ends in one (B, D) tensor with a sane width; every task gets its own output width.
    spec = model.backbone.output_spec
    for one in spec if isinstance(spec, list) else [spec]:  # a list: one output per task tower (MMoE...)
        assert isinstance(one, TensorSpec) and one.rank == 2, spec
        assert 1 <= one.last_dim <= 4096, spec
    towers = getattr(model, "towers", None)
    for task in model.tasks:
        if towers is not None:
            final = towers[task.name].output.out_features if task.name in towers else 1  # ESMM's ctcvr: a product
        else:
            final = model.heads[task.name].out_features if task.name in model.heads else spec.last_dim
        assert final == task.output_dim, (task.name, final)
    # The plan matches what the model computes.
    model.eval()
    with torch.no_grad():
        out = model(_random_features(model, 8, torch.Generator().manual_seed(0))).logits
    for task in model.tasks:
        logits = out[task.name]
        assert logits.shape == ((8,) if task.output_dim == 1 else (8, task.output_dim))
        assert torch.isfinite(logits).all()


def test_deepfm_trains_on_ml100k_ctr(tmp_path: Path) -> None:
    if not all((ML100K_CTR / f"{s}.parquet").is_file() for s in ("train", "valid")):
        pytest.skip(f"the ML-100K CTR split is absent ({ML100K_CTR}/train.parquet, valid.parquet); "
                    "it lives in ../shared/data beside the repository")
    raw = load_config_file(REPO / "configs" / "ml100k_ctr" / "deepfm.yaml")
    raw = apply_overrides(raw, ["train.epochs=1", "train.max_steps=20", "train.progress=false", "train.seed=0",
                                "data.test=null"])
    result = train_run(raw, tmp_path / "run")  # data paths resolved against the config folder
    metrics = json.loads((result.run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["global_step"] == 20
    assert math.isfinite(result.valid_metrics["logloss"])
    assert 0.6 < result.valid_metrics["auc"] <= 1.0, result.valid_metrics  # 20 steps already learn something
    assert result.samples_per_second > 0
    for name in ("config.yaml", "preprocess.json", "model.safetensors", "epochs.jsonl", "metrics.json"):
        assert (result.run_dir / name).is_file(), name


@pytest.fixture(scope="module")
def small_ctr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 3,000 rows of each part of ml-100k-ctr (train and valid), copied to a temp folder."""
    if not all((ML100K_CTR / f"{s}.parquet").is_file() for s in ("train", "valid")):
        pytest.skip(f"the ML-100K CTR split is absent ({ML100K_CTR}/train.parquet, valid.parquet); "
                    "it lives in ../shared/data beside the repository")
    import pyarrow.parquet as pq

    folder = tmp_path_factory.mktemp("small_ctr")
    for part in ("train", "valid"):
        pq.write_table(pq.read_table(ML100K_CTR / f"{part}.parquet").slice(0, 3000), folder / f"{part}.parquet")
    return folder


@pytest.mark.parametrize("model", ZOO_CTR)
def test_zoo_model_trains_steps(model: str, small_ctr: Path, tmp_path: Path) -> None:
    raw = load_config_file(REPO / "configs" / "ml100k_ctr" / f"{model}.yaml")
    raw = apply_overrides(raw, ["train.epochs=1", "train.max_steps=2", "train.batch_size=256", "train.progress=false",
                                f"data.train={small_ctr / 'train.parquet'}", f"data.valid={small_ctr / 'valid.parquet'}",
                                "data.test=null"])
    result = train_run(raw, tmp_path / "run")
    assert math.isfinite(result.valid_metrics["logloss"]), result.valid_metrics
    assert json.loads((result.run_dir / "metrics.json").read_text(encoding="utf-8"))["global_step"] == 2
