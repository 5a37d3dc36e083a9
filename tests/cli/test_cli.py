"""The command line end to end: train, evaluate, predict, validate, components, datasets."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from recblocks.cli.main import cli
from recblocks.datasets import make_synthetic

CONFIG = {
    "features": [
        {"name": "I1", "kind": "dense", "normalization": "standard"},
        {"name": "C1", "kind": "sparse", "embedding_dim": 8},
        {"name": "C2", "kind": "sparse", "embedding_dim": 8},
        {"name": "C3", "kind": "hashed", "hash_bucket_size": 64, "embedding_dim": 8},
    ],
    "model": {
        "feature_groups": [{"group_name": "all", "feature_names": ["I1", "C1", "C2", "C3"]}],
        "backbone": {"blocks": [{"name": "deep", "inputs": [{"feature_group_name": "all"}],
                                 "component": {"class_name": "MLP", "params": {"hidden_units": [16, 8]}}}]},
        "task": {"type": "binary", "label": "label"},
    },
    "train": {"epochs": 2, "batch_size": 256, "progress": False, "gauc_group": "C1"},
}


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    table = make_synthetic(num_rows=3000, num_dense=1, vocab_sizes=[20, 50, 100], seed=3).drop(["true_prob"])
    paths = {}
    for name, part in (("train", table.slice(0, 2000)), ("valid", table.slice(2000, 500)), ("test", table.slice(2500))):
        paths[name] = root / f"{name}.parquet"
        pq.write_table(part, paths[name])
    paths["test_csv"] = root / "test.csv"
    pacsv.write_csv(table.slice(2500), paths["test_csv"])
    paths["config"] = root / "config.yaml"
    paths["config"].write_text(yaml.safe_dump(CONFIG))
    paths["root"] = root
    return paths


@pytest.fixture(scope="module")
def run_dir(files) -> Path:
    out = files["root"] / "run"
    result = CliRunner().invoke(cli, ["train", str(files["config"]), "--train", str(files["train"]), "--valid",
                                      str(files["valid"]), "--test", str(files["test"]), "--output", str(out),
                                      "--set", "train.seed=1"])
    assert result.exit_code == 0, result.output
    assert "test:  auc=" in result.output and "gauc=" in result.output
    return out


def test_train_writes_a_complete_run_directory(run_dir: Path) -> None:
    for name in ("config.yaml", "preprocess.json", "model.safetensors", "optimizer.pt", "epochs.jsonl", "metrics.json"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0.5 < metrics["test"]["auc"] <= 1.0
    assert len((run_dir / "epochs.jsonl").read_text().splitlines()) == 2
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["train"]["seed"] == 1  # --set applied


def test_train_refuses_existing_run_dir(files, run_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["train", str(files["config"]), "--train", str(files["train"]),
                                      "--output", str(run_dir)])
    assert result.exit_code == 2 and "--overwrite" in result.output


def test_evaluate_matches_training_test_metrics(files, run_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["evaluate", str(run_dir), "--data", str(files["test"])])
    assert result.exit_code == 0, result.output
    auc = float(result.output.split("auc=")[1].split()[0])
    expected = json.loads((run_dir / "metrics.json").read_text())["test"]["auc"]
    assert auc == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_predict_writes_one_score_column_plus_passthrough(files, run_dir: Path, suffix: str) -> None:
    out = files["root"] / f"scores{suffix}"
    data = files["test"] if suffix == ".parquet" else files["test_csv"]
    result = CliRunner().invoke(cli, ["predict", str(run_dir), "--data", str(data), "--output", str(out),
                                      "--passthrough", "C1"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out) if suffix == ".parquet" else pacsv.read_csv(out)
    assert table.column_names == ["C1", "ctr"] and table.num_rows == 500
    scores = table.column("ctr").to_pylist()
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_validate_prints_plan_with_shapes_and_params(files) -> None:
    result = CliRunner().invoke(cli, ["validate", str(files["config"]), "--set", f"data.train={files['train']}"])
    assert result.exit_code == 0, result.output
    assert "deep" in result.output and "(B, 8)" in result.output and "config OK" in result.output
    assert "fitted on" in result.output


def test_validate_reports_config_errors_with_exit_code_2(files) -> None:
    result = CliRunner().invoke(cli, ["validate", str(files["config"]), "--set",
                                      "model.backbone.blocks[0].component.class_name=MPL"])
    assert result.exit_code == 2
    assert "did you mean 'MLP'" in result.output and "Traceback" not in result.output


def test_components_lists_registry_with_params() -> None:
    result = CliRunner().invoke(cli, ["components"])
    assert result.exit_code == 0
    for name in ("MLP", "FM", "DotInteraction", "Cross", "CrossNet", "Dense", "Add"):
        assert name in result.output
    assert "hidden_units" in result.output
    assert "input: fields" in result.output and "python: MLPBlock(hidden_units, activation, ...)" in result.output
    as_json = json.loads(CliRunner().invoke(cli, ["components", "--json"]).output)
    assert {row["name"] for row in as_json} >= {"MLP", "FM"}
    fm = next(row for row in as_json if row["name"] == "FM")
    assert (fm["input_kind"], fm["uses_context"], fm["examples"]) == ("fields", False, 2)


@pytest.mark.parametrize(("kind", "expected"), [("task", "aliases: classification"), ("metric", "gauc"),
                                                ("optimizer", "sparse options"), ("schedule", "decay_steps"),
                                                ("model_class", "RankModel")])
def test_components_lists_the_other_registries(kind: str, expected: str) -> None:
    result = CliRunner().invoke(cli, ["components", "--kind", kind])
    assert result.exit_code == 0 and expected in result.output, result.output


def test_datasets_prepare_movielens(tmp_path: Path) -> None:
    src = tmp_path / "ml-100k"
    src.mkdir()
    (src / "u.data").write_text("1\t10\t5\t100\n1\t20\t3\t300\n2\t10\t1\t200\n2\t30\t4\t50\n")
    (src / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n")
    flags = "|".join(["0"] * 19)
    (src / "u.item").write_text("".join(f"{m}|Movie {m} (1995)|01-Jan-1995||http://x|{flags}\n" for m in (10, 20, 30)),
                                encoding="latin-1")
    out = tmp_path / "ml.parquet"
    result = CliRunner().invoke(cli, ["datasets", "prepare", "movielens", "--source", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_rows == 3  # the rating-3 row is dropped by the easyrec protocol
    assert table.column("label").to_pylist() == [1, 0, 1]


def test_unknown_command_data_file_is_a_short_error(files, run_dir: Path) -> None:
    result = CliRunner().invoke(cli, ["evaluate", str(run_dir), "--data", str(files["root"] / "missing.parquet")])
    assert result.exit_code == 2 and "missing.parquet" in result.output



def test_a_reader_that_goes_away_ends_the_listing_quietly() -> None:
    """``recblocks components | head -1``: once the reader has closed the pipe, the listing stops
    without an error line (the read end is closed before the command writes anything)."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "recblocks.cli.main", "components"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) in (0, 141) and "error" not in stderr.lower(), stderr
