"""Portable configs: relative data paths resolve against the config file's folder, command-line
paths against the current directory, run directories record absolute paths; ``--set`` names a
list element as ``[3]`` or ``.3`` and a bad path is one ConfigError naming the override."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from tests.malformed.conftest import BASE, small_table

import pyarrow.parquet as pq

from recblocks.cli.main import cli
from recblocks.core.errors import ConfigError
from recblocks.runs import Model, train_run
from recblocks.runs.config_file import apply_overrides, load_config_file
from recblocks.runs.run_dir import RunDir


def _config(data: dict[str, Any], **train: Any) -> dict[str, Any]:
    config = copy.deepcopy(BASE)
    config["data"] = data
    config["train"].update(train)
    return config


def _write(path: Path, config: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _parquet(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(small_table(), path)
    return path


@pytest.fixture()
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp/project/configs/ctr/run.yaml`` beside ``tmp/project/configs/ctr/data/*.parquet``;
    the current directory is ``tmp/elsewhere``."""
    folder = tmp_path / "project" / "configs" / "ctr"
    for name in ("train", "valid", "part-0", "part-1"):
        _parquet(folder / "data" / f"{name}.parquet")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    return folder


def test_relative_paths_resolve_against_the_config_folder(layout: Path) -> None:
    path = _write(layout / "run.yaml", _config({"train": "data/train.parquet",
                                                "valid": {"path": "data/valid.parquet", "format": "parquet"},
                                                "test": "data/part-*.parquet"}))
    data = load_config_file(path)["data"]
    assert data["train"] == str(layout / "data" / "train.parquet")
    assert data["valid"] == {"path": str(layout / "data" / "valid.parquet"), "format": "parquet"}
    assert data["test"] == str(layout / "data" / "part-*.parquet")


def test_absolute_paths_and_missing_files_are_kept_or_resolved(layout: Path, tmp_path: Path) -> None:
    absolute = str(layout / "data" / "train.parquet")
    path = _write(layout / "run.yaml", _config({"train": absolute, "valid": "data/none.parquet"}))
    data = load_config_file(path)["data"]
    assert data["train"] == absolute
    assert data["valid"] == str(layout / "data" / "none.parquet")  # the reader names this path
    assert load_config_file(path, resolve_data=False)["data"]["valid"] == "data/none.parquet"


def test_a_path_written_relative_to_the_current_directory_is_an_error_that_says_so(tmp_path: Path,
                                                                                   monkeypatch: pytest.MonkeyPatch
                                                                                   ) -> None:
    _parquet(tmp_path / "configs" / "data" / "x.parquet")
    path = _write(tmp_path / "a" / "b" / "run.yaml", _config({"train": "configs/data/x.parquet"}))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    message = str(info.value)
    assert message.startswith(f"data.train in {path}: relative paths in a config resolve against the config's "
                              f"folder {tmp_path / 'a' / 'b'}; configs/data/x.parquet is not there")
    assert "write ../../configs/data/x.parquet or an absolute path" in message
    glob = _write(tmp_path / "a" / "b" / "glob.yaml", _config({"train": {"path": "configs/data/*.parquet"}}))
    with pytest.raises(ConfigError, match=r"data.train.path in .*write ../../configs/data/\*.parquet"):
        load_config_file(glob)


def test_cli_train_from_another_directory_records_absolute_paths(layout: Path, tmp_path: Path) -> None:
    _parquet(tmp_path / "elsewhere" / "mine.parquet")
    path = _write(layout / "run.yaml", _config({"train": "data/train.parquet", "valid": "data/valid.parquet"},
                                               max_steps=1))
    result = CliRunner().invoke(cli, ["validate", "../project/configs/ctr/run.yaml"])
    assert result.exit_code == 0, result.output
    # --test typed on the command line is relative to the current directory
    result = CliRunner().invoke(cli, ["train", str(path), "--test", "mine.parquet", "-o", "run"])
    assert result.exit_code == 0, result.output
    with RunDir.open(tmp_path / "elsewhere" / "run") as run:
        data = run.read_config()["data"]
    assert data == {"train": str(layout / "data" / "train.parquet"), "valid": str(layout / "data" / "valid.parquet"),
                    "test": str(tmp_path / "elsewhere" / "mine.parquet")}


def test_train_run_records_absolute_paths_of_a_mapping(layout: Path, tmp_path: Path) -> None:
    config = _config({"train": str(layout / "data" / "train.parquet"), "valid": "../project/configs/ctr/data/valid.parquet"},
                     max_steps=1)
    result = train_run(config, tmp_path / "run")
    with RunDir.open(result.run_dir) as run:
        assert run.read_config()["data"]["valid"] == str(layout / "data" / "valid.parquet")


def test_model_from_config_and_fit_use_the_same_bases(layout: Path, tmp_path: Path) -> None:
    path = _write(layout / "run.yaml", _config({"train": "data/train.parquet"}, max_steps=1))
    model = Model.from_config(path)
    assert model.data_config == {"train": str(layout / "data" / "train.parquet")}
    model.fit(output=tmp_path / "run")
    with RunDir.open(tmp_path / "run") as run:
        assert run.read_config()["data"]["train"] == str(layout / "data" / "train.parquet")
    _parquet(tmp_path / "elsewhere" / "mine.parquet")
    model.fit("mine.parquet", valid={"path": "mine.parquet"}, output=tmp_path / "run2")  # the current directory
    with RunDir.open(tmp_path / "run2") as run:
        data = run.read_config()["data"]
    assert data["train"] == str(tmp_path / "elsewhere" / "mine.parquet")
    assert data["valid"] == {"path": str(tmp_path / "elsewhere" / "mine.parquet")}


# ----------------------------------------------------------------------------------- --set
def _raw() -> dict[str, Any]:
    return _config({"train": "x.parquet"})


@pytest.mark.parametrize("key", ["model.backbone.blocks[2].component.params.hidden_units",
                                 "model.backbone.blocks.2.component.params.hidden_units"])
def test_both_index_spellings_set_the_same_value(key: str) -> None:
    out = apply_overrides(_raw(), [f"{key}=[6, 1]"])
    assert out["model"]["backbone"]["blocks"][2]["component"]["params"]["hidden_units"] == [6, 1]
    assert out["model"]["backbone"]["blocks"][:2] == _raw()["model"]["backbone"]["blocks"][:2]


def test_dotted_index_at_the_end_and_into_nested_lists() -> None:
    out = apply_overrides(_raw(), ["model.feature_groups.0.feature_names.1=tags", "features.3.kind=dense",
                                   "model.backbone.blocks.0.inputs[0].feature_group_name=num",
                                   "model.backbone.blocks.2.component.params.dropout_ratio=[0.1]"])
    assert out["model"]["feature_groups"][0]["feature_names"] == ["user", "tags", "tags"]
    assert out["model"]["backbone"]["blocks"][0]["inputs"][0]["feature_group_name"] == "num"
    assert out["model"]["backbone"]["blocks"][2]["component"]["params"]["dropout_ratio"] == [0.1]  # a new leaf


def test_a_dotted_number_on_a_mapping_is_a_key() -> None:
    out = apply_overrides({"train": {"x": {3: "a"}}}, ["train.x.3=b", "train.y.4=c"])
    assert out == {"train": {"x": {3: "b"}, "y": {"4": "c"}}}


BAD_SET = [
    ("model.backbone.blocks.9.name=z", ["list index out of range for 'model.backbone.blocks'", "below 4", "got 9"]),
    ("model.backbone.blocks[9]=z", ["list index out of range for 'model.backbone.blocks'"]),
    ("model.backbone.blocks.-1.name=z", ["negative indexes are not supported"]),
    ("model.backbone.blocks.fm.name=z", ["'model.backbone.blocks' is a list, not a mapping",
                                         "expected an index like model.backbone.blocks[0] or model.backbone.blocks.0"]),
    ("model.backbone[0].name=z", ["'model.backbone' is a mapping, not a list"]),
    ("model.backbone.blocks.2.componnet.params.x=1", ["'model.backbone.blocks[2]' has no key 'componnet'",
                                                      "did you mean 'component'?"]),
    ("model.backbone.blocks[2].component.parms.hidden_units=[8]",
     ["'model.backbone.blocks[2].component' has no key 'parms'", "did you mean 'params'?"]),
    ("model.backbone.blocks.1.component.class_name.x=1", ["'model.backbone.blocks[1].component.class_name' is a "
                                                          "string ('FM'), not a mapping"]),
    ("features.1.x.y=1", ["'features[1]' has no key 'x'"]),
]


@pytest.mark.parametrize("override,parts", BAD_SET, ids=[c[0] for c in BAD_SET])
def test_bad_index_paths_are_one_line_errors_naming_the_override(tmp_path: Path, override: str,
                                                                 parts: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(_raw(), [override])
    message = str(info.value)
    assert message.startswith(f"--set {override}: "), message
    assert "\n" not in message
    for part in parts:
        assert part in message, message
    path = _write(tmp_path / "c.yaml", _raw())
    result = CliRunner().invoke(cli, ["validate", str(path), "--no-data", "--set", override])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"error (ConfigError): --set {override}: ")


def test_cli_help_documents_both_spellings() -> None:
    for command in ("train", "validate"):
        text = CliRunner().invoke(cli, [command, "--help"]).output
        assert "blocks[3]" in text and "blocks.3" in text, text
