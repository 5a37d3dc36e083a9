"""Small data for the zoo configs (a few hundred rows each), and a few-step training of one config.

Each zoo folder reads the layout its configs name (tests/cli/test_zoo_anywhere.py has the full
recipes); here the same recipes run on the first 3,000 ratings of ``../shared/data/ml-100k``, the
CTR split is a slice of ``../shared/data/ml-100k-ctr/test.parquet`` and ``multitask/`` draws its
synthetic rows, so one config trains in about a second.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml
from click.testing import CliRunner

from recblocks.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
CONFIGS = sorted(p.relative_to(REPO / "configs").as_posix() for p in (REPO / "configs").rglob("*.yaml"))
RECIPES: dict[str, dict[str, Any] | None] = {
    "movielens": {"split": "random", "seed": 2024},
    "ml100k_seq": {"split": "temporal", "label": {"threshold": 4}, "history": 20, "history_ratings": True},
    "ml100k_multitask": {"split": "random", "seed": 2024, "format": "ctr", "like": True},
    "ml100k_retrieval": None,  # leave-last-out interactions with 20-movie histories
}
RATINGS = 3000


def _synthetic(name: str, out: Path) -> Path:
    from recblocks.datasets.synthetic import SyntheticConfig, make_synthetic

    section = yaml.safe_load((REPO / "configs" / name).read_text(encoding="utf-8"))["data"]["synthetic"]
    table = make_synthetic(SyntheticConfig.model_validate({**section, "num_rows": 600}))
    out.mkdir(parents=True, exist_ok=True)
    for split, rows in (("train", slice(0, 400)), ("valid", slice(400, 500)), ("test", slice(500, 600))):
        pq.write_table(table.slice(rows.start, rows.stop - rows.start), out / f"{split}.parquet")
    return out


def small_data(folder: str, root: Path, name: str = "") -> Path | str:
    """The folder with ``train/valid/test.parquet`` for the configs of ``folder``, or why it is absent."""
    out = root / folder
    if (out / "test.parquet").is_file():
        return out
    if folder == "multitask":
        return _synthetic(name, out)
    if folder == "ml100k_ctr":
        source = SHARED / "ml-100k-ctr" / "test.parquet"
        if not source.is_file():
            return f"{source} is absent"
        table = pq.read_table(source)
        out.mkdir(parents=True)
        for split, start in (("train", 0), ("valid", 2000), ("test", 2500)):
            pq.write_table(table.slice(start, 2000 if split == "train" else 300), out / f"{split}.parquet")
        return out
    if folder not in RECIPES:
        return f"no data rule for {folder}: add one to tests/runs/small_zoo.py"
    if not (SHARED / "ml-100k" / "u.data").is_file():
        return f"{SHARED / 'ml-100k'} is absent"
    from recblocks.datasets.movielens import prepare_movielens
    from recblocks.datasets.retrieval import write_retrieval_splits

    source = root / "ml-100k-small"
    if not source.is_dir():
        source.mkdir()
        lines = (SHARED / "ml-100k" / "u.data").read_text(encoding="latin-1").splitlines()[:RATINGS]
        (source / "u.data").write_text("\n".join(lines) + "\n", encoding="latin-1")
        for extra in ("u.user", "u.item"):
            shutil.copy(SHARED / "ml-100k" / extra, source / extra)
    recipe = RECIPES[folder]
    if recipe is None:
        write_retrieval_splits(source, out, history=20)
    else:
        prepare_movielens(source, out, **recipe)
    return out


def train_small(name: str, data: Path, run: Path, steps: int = 2) -> Path:
    """``recblocks train configs/<name>`` for ``steps`` steps on ``data`` into ``run``."""
    args = ["train", str(REPO / "configs" / name), "-o", str(run), "--set", f"train.max_steps={steps}",
            "--set", "train.epochs=1", "--set", "train.progress=false"]
    if name.startswith("multitask/"):  # synthetic rows: the same draw, fewer of them
        args += ["--set", "data.synthetic.num_rows=600"]
    else:
        args += ["--train", str(data / "train.parquet"), "--valid", str(data / "valid.parquet"),
                 "--test", str(data / "test.parquet")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return run
