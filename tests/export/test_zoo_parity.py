"""Export parity for the zoo: each config trained briefly, exported, scored like ``recblocks predict``.

For a zoo config (``configs/**``) trained for two steps on a slice of its data, the exported
package - its ``preprocess.json`` read back, then the graph in ONNX Runtime and in TorchScript
(and ``torch.export``) - gives the scores ``recblocks predict`` writes for held-out rows (the
whole test split, or 2,000 fresh synthetic rows) to 1e-6 absolute (relative for values beyond [-1, 1]:
retrieval scores reach 1/temperature = 10). The default run covers one config per
model class and input kind; ``RECBLOCKS_SLOW=1`` runs every zoo config. Data rules follow
tests/cli/test_zoo_anywhere.py (prepared from ``../shared/data/ml-100k`` when absent).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from recblocks.cli.main import cli
from recblocks.export import load_export
from recblocks.export.components import difference

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
CONFIGS = sorted(p.relative_to(REPO / "configs").as_posix() for p in (REPO / "configs").rglob("*.yaml"))
#: one config per model class and input kind: ESMM + log1p numbers (synthetic), RankModel with
#: hashed/vocabulary ids (CSV split), MatchModel with a shared-table sequence, DIN over sequences
DEFAULT = ("multitask/esmm.yaml", "ml100k_ctr/deepfm.yaml", "ml100k_retrieval/dssm.yaml", "ml100k_seq/din.yaml")
SELECTED = CONFIGS if os.environ.get("RECBLOCKS_SLOW") == "1" else [c for c in CONFIGS if c in DEFAULT]
#: zoo folder -> how its data is prepared from ml-100k (as tests/cli/test_zoo_anywhere.py does)
RECIPES = {"movielens": {"split": "random", "seed": 2024},
           "ml100k_seq": {"split": "temporal", "label": {"threshold": 4}, "history": 20, "history_ratings": True},
           "ml100k_multitask": {"split": "random", "seed": 2024, "format": "ctr", "like": True},
           "ml100k_retrieval": None}
SLICE = {"train": 3000, "valid": 300, "test": 300}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("zoo-data")


def _split_folder(name: str, root: Path) -> Path | None:
    """The folder of train/valid/test.parquet of a file-based zoo config (prepared if needed)."""
    folder = name.split("/")[0]
    if folder == "ml100k_ctr":
        return SHARED / "ml-100k-ctr" if (SHARED / "ml-100k-ctr" / "train.parquet").is_file() else None
    if (REPO / "data" / folder / "train.parquet").is_file():
        return REPO / "data" / folder
    target = root / folder
    if not (target / "train.parquet").is_file():
        if not (SHARED / "ml-100k" / "u.data").is_file():
            return None
        from recblocks.datasets.movielens import prepare_movielens
        from recblocks.datasets.retrieval import write_retrieval_splits

        if RECIPES[folder] is None:
            write_retrieval_splits(SHARED / "ml-100k", target, history=20)
        else:
            prepare_movielens(SHARED / "ml-100k", target, **RECIPES[folder])
    return target


def _train_args(name: str, config: dict, root: Path, work: Path) -> tuple[list[str], Path]:
    """``recblocks train`` options for two steps on a slice of the data; the held-out rows' file."""
    held_out = work / "held_out.parquet"
    if "synthetic" in config["data"]:
        from recblocks.datasets.synthetic import SyntheticConfig, make_synthetic

        synthetic = {**config["data"]["synthetic"], "num_rows": 2000, "seed": 99}
        pq.write_table(make_synthetic(SyntheticConfig(**synthetic)), held_out)
        return ["--set", "data.synthetic.num_rows=2000"], held_out
    folder = _split_folder(name, root)
    if folder is None:
        pytest.skip(f"no data for {name} (neither the split nor {SHARED / 'ml-100k'} to prepare it from)")
    args = []
    for split, rows in SLICE.items():
        table = pq.read_table(folder / f"{split}.parquet")
        pq.write_table(table.slice(0, rows), work / f"{split}.parquet")
        args += [f"--{split}", str(work / f"{split}.parquet")]
    pq.write_table(pq.read_table(folder / "test.parquet"), held_out)
    return args, held_out


@pytest.mark.parametrize("name", SELECTED)
def test_exported_zoo_model_scores_like_recblocks_predict(name: str, data_root: Path, tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "configs" / name).read_text(encoding="utf-8"))
    args, held_out = _train_args(name, config, data_root, tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["train", str(REPO / "configs" / name), "-o", str(tmp_path / "run"), *args,
                                 "--set", "train.max_steps=2", "--set", "train.epochs=1",
                                 "--set", "train.progress=false"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["predict", str(tmp_path / "run"), "--data", str(held_out),
                                 "-o", str(tmp_path / "scores.parquet")])
    assert result.exit_code == 0, result.output
    expected = pq.read_table(tmp_path / "scores.parquet")
    rows = pq.read_table(held_out)
    worst: dict[str, float] = {}
    formats = ("onnx", "torchscript", "torch-export") if name == DEFAULT[0] or len(SELECTED) > len(DEFAULT) \
        else ("onnx", "torchscript")
    for fmt in formats:
        result = runner.invoke(cli, ["export", str(tmp_path / "run"), "--format", fmt, "-o", str(tmp_path / fmt)])
        assert result.exit_code == 0, result.output
        exported = load_export(tmp_path / fmt)
        got = exported.predict(rows)
        assert exported.manifest["export_format"] == fmt and exported.manifest["parity_check"]["max_abs_diff"] <= 1e-6
        for output, values in got.items():
            columns = [output] if values.ndim == 1 else [f"{output}_{c}" for c in range(values.shape[1])]
            want = np.stack([expected.column(c).to_numpy() for c in columns], axis=-1).reshape(values.shape)
            assert values.dtype == np.float32 and values.shape[0] == rows.num_rows == expected.num_rows
            diff, ok = difference(want, values)
            assert ok, f"{name} {fmt} output {output}: max abs diff {diff}"
            worst[fmt] = max(worst.get(fmt, 0.0), diff)
        assert all(any(c == o or c.startswith(f"{o}_") for o in got) for c in expected.column_names)
    print(f"{name}: max abs diff vs recblocks predict over {rows.num_rows} rows: {worst}")


def test_every_zoo_config_has_a_data_rule() -> None:
    for name in CONFIGS:
        folder = name.split("/")[0]
        assert folder in RECIPES or folder in ("ml100k_ctr", "multitask"), f"no data rule for {name}: add one here"
        if folder == "multitask":
            assert "synthetic" in yaml.safe_load((REPO / "configs" / name).read_text(encoding="utf-8"))["data"]
