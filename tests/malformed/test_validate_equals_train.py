"""``validate`` refuses everything ``train`` refuses before training, with the same error.

The config and data cases of ``test_configs_and_data.py`` (run there through ``train_run``) and
the registry cases of ``test_registries.py`` (run there through ``validate --no-data``) are run
here through both commands from real files: :meth:`Hostile.cli` runs every ``validate`` also as
``train`` and asserts the same exit status and error line (the other ``validate`` cases of this
suite, ``test_config_files.py`` and ``test_limits.py``, are compared the same way where they
are). The checks ``validate`` gained are covered by name: early stopping without validation
data, an empty validation file, data errors found while preprocessing, ``--output``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from tests.malformed import test_registries
from tests.malformed.conftest import Hostile, small_table
from tests.malformed.test_configs_and_data import CONFIG_CASES, _bad_data_cases


def _error(result: Any) -> str:
    lines = [line for line in result.output.splitlines() if line.startswith("error (")]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize("name,edit,error,parts", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_config_cases(hostile: Hostile, name: str, edit: Any, error: type, parts: list[str]) -> None:
    path = hostile.write_config(hostile.config(edit))
    line = _error(hostile.cli(["validate", str(path)]))  # train agrees (Hostile.cli)
    assert line.startswith(f"error ({error.__name__}): ")
    for part in parts:
        assert part in line, line


@pytest.mark.parametrize("index", range(len(_bad_data_cases(Path("/")))))
def test_data_cases(hostile: Hostile, index: int) -> None:
    name, edit, error, parts = _bad_data_cases(hostile.root)[index]
    path = hostile.write_config(hostile.config(edit))
    line = _error(hostile.cli(["validate", str(path)]))
    assert line.startswith(f"error ({error.__name__}): "), line
    for part in parts:
        assert part in line, f"{name}: {line}"


@pytest.mark.parametrize("override,where,problem,suggestion", test_registries.CASES,
                         ids=[c[2] for c in test_registries.CASES])
def test_registry_cases(hostile: Hostile, override: str, where: str, problem: str, suggestion: str) -> None:
    config = copy.deepcopy(test_registries.CONFIG)
    config["data"] = {"train": str(hostile.data()), "valid": str(hostile.data())}
    path = hostile.write_config(config)
    line = _error(hostile.cli(["validate", str(path), "--set", override]))
    assert f"{where}: {problem}; expected one of [" in line and f"did you mean '{suggestion}'?" in line


def test_the_twin_check_runs_train_for_an_accepted_config(hostile: Hostile) -> None:
    path = hostile.write_config(hostile.config())
    validated = hostile.cli(["validate", str(path)], twin=False)
    assert validated.exit_code == 0 and "config OK" in validated.output
    trained = hostile.train_agrees(["validate", str(path)], validated)
    assert "run directory:" in trained.output


NEW_CHECKS = [
    ("early stopping without validation data", lambda c: (c["data"].pop("valid"),
                                                         c["train"].update(early_stopping={"metric": "auc"})),
     "ConfigError", ["train.early_stopping: early stopping needs validation data"]),
    ("no training data", lambda c: c.pop("data"), "ConfigError", ["data.train: no training data"]),
    ("an empty validation file", "empty-valid", "DataError", ["empty.parquet: the data has no rows"]),
    ("a label outside [0, 1] in the test file", "bad-test", "DataError", ["label"]),
    ("an early-stopping metric the task does not report",
     lambda c: c["train"].update(early_stopping={"metric": "rmse"}), "ConfigError", ["train.early_stopping.metric"]),
]


@pytest.mark.parametrize("name,edit,error,parts", NEW_CHECKS, ids=[c[0] for c in NEW_CHECKS])
def test_checks_validate_gained(hostile: Hostile, name: str, edit: Any, error: str, parts: list[str]) -> None:
    if edit == "empty-valid":
        empty = hostile.data("empty.parquet", small_table().slice(0, 0))
        edit = lambda c: c["data"].update(valid=str(empty))  # noqa: E731
    elif edit == "bad-test":
        table = small_table()
        bad = hostile.data("test.parquet", table.set_column(0, "label", table.column("price")))
        edit = lambda c: c["data"].update(test=str(bad))  # noqa: E731
    path = hostile.write_config(hostile.config(edit))
    line = _error(hostile.cli(["validate", str(path)]))
    assert line.startswith(f"error ({error}): "), line
    for part in parts:
        assert part in line, line


def test_output_checked_as_train_checks_it(hostile: Hostile) -> None:
    path = hostile.write_config(hostile.config())
    foreign = hostile.root / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    run = hostile.trained_run("run")
    (hostile.root / "a-file").write_text("x")
    cases = [(["-o", str(foreign)], "the folder is not empty and holds no recblocks run"),
             (["-o", str(foreign), "--overwrite"], "recblocks did not write these files"),
             (["-o", str(run)], "pass --overwrite"),
             (["-o", str(hostile.root / "a-file")], "the run directory path is a file")]
    for extra, part in cases:
        before = hostile.root.stat().st_mtime_ns, sorted(p.name for p in hostile.root.iterdir())
        validated = hostile.cli(["validate", str(path), *extra])
        trained = hostile.cli(["train", str(path), *extra])
        assert _error(validated) == _error(trained)
        assert part in _error(validated)
        assert sorted(p.name for p in hostile.root.iterdir()) == before[1]
    accepted = hostile.cli(["validate", str(path), "-o", str(run), "--overwrite"])
    assert accepted.exit_code == 0, accepted.output
    assert (run / "model.safetensors").is_file()  # nothing deleted
    assert hostile.cli(["validate", str(path), "-o", str(hostile.root / "new")]).exit_code == 0
    assert not (hostile.root / "new").exists()  # nothing created
