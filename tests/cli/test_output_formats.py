"""Every file recblocks writes is checked by extension before anything is read or written:
``predict -o``, ``validate --plot``, ``datasets prepare -o`` and ``Model.save_config``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from tests.malformed.conftest import Hostile

from recblocks.cli.main import cli
from recblocks.core.files import OutputPathError
from recblocks.runs import Model


def _one_error(result, error: str, *parts: str) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error (")]
    assert len(lines) == 1 and lines[0].startswith(f"error ({error}): "), result.output
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("name", ["x.csv", "x.json", "x"])
def test_prepare_without_split_writes_only_a_parquet_name(tmp_path: Path, name: str) -> None:
    result = CliRunner().invoke(cli, ["datasets", "prepare", "movielens", "--source", str(tmp_path / "none"),
                                      "-o", str(tmp_path / name)])
    _one_error(result, "OutputPathError", "datasets prepare writes one Parquet file without --split",
               "expected a path ending in .parquet")
    assert list(tmp_path.iterdir()) == []


def test_prepare_with_split_refuses_a_file_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["datasets", "prepare", "movielens", "--source", str(tmp_path / "none"),
                                      "-o", str(tmp_path / "ml.parquet"), "--split", "random"])
    _one_error(result, "OutputPathError", "the output is a folder of train/valid/test.parquet")
    assert list(tmp_path.iterdir()) == []


def test_prepare_with_a_good_name_gets_to_the_source(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["datasets", "prepare", "movielens", "--source", str(tmp_path / "none"),
                                      "-o", str(tmp_path / "ml.parquet")])
    assert result.exit_code == 2 and "OutputPathError" not in result.output, result.output


@pytest.mark.parametrize("name", ["p.json", "p.txt", "p"])
def test_predict_refuses_an_unknown_extension(tmp_path: Path, name: str) -> None:
    hostile = Hostile(tmp_path)
    run = hostile.trained_run()
    result = hostile.cli(["predict", str(run), "--data", str(tmp_path / "train.parquet"), "-o", name])
    _one_error(result, "OutputPathError", "unknown output format")
    assert not (tmp_path / name).exists()


def test_validate_plot_refuses_an_unknown_extension(tmp_path: Path) -> None:
    hostile = Hostile(tmp_path)
    path = hostile.write_config(hostile.config())
    result = hostile.cli(["validate", str(path), "--plot", "model.jpg"])
    assert result.exit_code == 2 and "model.jpg" in result.output, result.output
    assert not (tmp_path / "model.jpg").exists()


def test_save_config_writes_by_extension(tmp_path: Path) -> None:
    hostile = Hostile(tmp_path)
    model = Model.from_config(hostile.write_config(hostile.config()))
    as_yaml = yaml.safe_load(model.save_config(tmp_path / "c.yml").read_text())
    as_json = json.loads(model.save_config(tmp_path / "c.json").read_text())
    assert as_yaml == as_json and as_json["model"]
    with pytest.raises(OutputPathError, match="unknown config format"):
        model.save_config(tmp_path / "c.txt")
    assert not (tmp_path / "c.txt").exists()
