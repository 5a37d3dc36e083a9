"""Every zoo config in ``configs/`` validates and trains (one step) from another working directory.

The configs name their data relative to their own folder. ``configs/ml100k_ctr`` reads the
fixed split in ``../shared/data/ml-100k-ctr`` beside the repository; ``configs/movielens`` reads
``data/movielens`` of the repository, ``configs/ml100k_seq`` ``data/ml100k_seq`` and
``configs/ml100k_multitask`` ``data/ml100k_multitask`` (written by ``recblocks datasets prepare
movielens``, the second with ``--history``, the third with ``--format ctr --like``): when such a folder is
absent, the configs are copied into a temporary tree with the same layout and the data prepared
there from ``../shared/data/ml-100k``, as each folder's configs say. A config whose data exists
nowhere is skipped, naming what is missing.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from recblocks.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
CONFIGS = sorted((REPO / "configs").rglob("*.yaml"))
SPLITS = ("train", "valid", "test")


def _has_split(folder: Path) -> bool:
    return all((folder / f"{s}.parquet").is_file() for s in SPLITS)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    """Config name (``movielens/deepfm.yaml``) -> the config file to use, or why it is skipped."""
    out: dict[str, Path | str] = {}
    prepared: dict[str, Path | None] = {}
    # zoo folder -> how its configs' data is prepared (their comments give the same command)
    recipes = {"movielens": {"split": "random", "seed": 2024},
               "ml100k_seq": {"split": "temporal", "label": {"threshold": 4}, "history": 20, "history_ratings": True},
               "ml100k_multitask": {"split": "random", "seed": 2024, "format": "ctr", "like": True},
               "ml100k_retrieval": None}  # leave-last-out interactions with 20-movie histories (datasets.retrieval)
    root = tmp_path_factory.mktemp("zoo")
    for folder, recipe in recipes.items():
        if _has_split(REPO / "data" / folder):
            prepared[folder] = REPO / "configs" / folder
        elif (SHARED / "ml-100k" / "u.data").is_file():
            from recblocks.datasets.movielens import prepare_movielens
            from recblocks.datasets.retrieval import write_retrieval_splits

            shutil.copytree(REPO / "configs" / folder, root / "configs" / folder)
            if recipe is None:
                write_retrieval_splits(SHARED / "ml-100k", root / "data" / folder, history=20)
            else:
                prepare_movielens(SHARED / "ml-100k", root / "data" / folder, **recipe)
            prepared[folder] = root / "configs" / folder
        else:
            prepared[folder] = None
    for path in CONFIGS:
        name = path.relative_to(REPO / "configs").as_posix()
        if name.startswith("ml100k_ctr/"):
            out[name] = path if _has_split(SHARED / "ml-100k-ctr") else \
                f"the ML-100K CTR split is absent ({SHARED / 'ml-100k-ctr'}/train|valid|test.parquet)"
        elif name.split("/")[0] in prepared:
            folder = name.split("/")[0]
            found = prepared[folder]
            out[name] = found / path.name if found else \
                f"neither {REPO / 'data' / folder} nor {SHARED / 'ml-100k'} (to prepare it from) exists"
        elif name.startswith("multitask/"):
            out[name] = "synthetic multi-task data (no files): tests/models/test_multitask_zoo.py trains it"
        else:
            out[name] = f"no data rule for {name}: add one to this test"
    return out


@pytest.mark.parametrize("name", [p.relative_to(REPO / "configs").as_posix() for p in CONFIGS])
def test_zoo_config_validates_and_trains_from_another_directory(name: str, zoo: dict[str, Path | str],
                                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    config = zoo[name]
    if isinstance(config, str):
        assert "no data rule" not in config, config
        assert not name.startswith(("ml100k_ctr/", "movielens/", "ml100k_seq/", "ml100k_retrieval/",
                                    "ml100k_multitask/")) or "absent" in config or \
            "exists" in config
        pytest.skip(config)
    monkeypatch.chdir(tmp_path)
    given = os.path.relpath(config, tmp_path)  # e.g. ../../work/repo/configs/...: as a user would type it
    result = CliRunner().invoke(cli, ["validate", given])
    assert result.exit_code == 0, result.output
    assert "config OK" in result.output and "embedding rows fitted on /" in result.output, result.output
    result = CliRunner().invoke(cli, ["train", given, "-o", "run", "--set", "train.max_steps=1",
                                      "--set", "train.epochs=1", "--set", "train.progress=false"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["global_step"] == 1
    expected = {"auc", "logloss"}
    if name.startswith("ml100k_retrieval/"):
        expected = {"recall@10", "ndcg@10"}
    elif name.startswith("ml100k_multitask/"):  # one tower per label: ctr (label) and like
        expected = {f"{tower}/{metric}" for tower in ("ctr", "like") for metric in ("auc", "logloss")}
    assert set(metrics["valid"]) >= expected and set(metrics["test"]) >= expected
