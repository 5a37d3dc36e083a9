"""Malformed configs and data: each gives a precise recblocks error naming the place, before training.

Every case runs the real pipeline (``train_run``: config validation, data reading, fitting,
model build) on a small Parquet/CSV file, and asserts the exact error class and message parts.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from recblocks.cli.main import cli
from recblocks.core.errors import ConfigError, DataError, RecBlocksError, SchemaError, ShapeError
from recblocks.runs import train_run
from tests.malformed.conftest import BASE, ROWS, small_table



def _table(rows: int = ROWS) -> pa.Table:
    return small_table(rows)


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    path = tmp_path / "train.parquet"
    pq.write_table(_table(), path)
    return path


def _config(data: Path, edit: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    config = copy.deepcopy(BASE)
    config["data"] = {"train": str(data), "valid": str(data)}
    if edit:
        edit(config)
    return config


def _blocks(c: dict[str, Any]) -> list[dict[str, Any]]:
    return c["model"]["backbone"]["blocks"]


def _write(tmp: Path, table: pa.Table, name: str = "bad.parquet") -> str:
    path = tmp / name
    pq.write_table(table, path)
    return str(path)


CONFIG_CASES: list[tuple[str, Callable[[dict[str, Any]], None], type[RecBlocksError], list[str]]] = [
    ("unknown component", lambda c: _blocks(c)[1]["component"].update(class_name="FMM"),
     ConfigError, ["blocks[1].component.class_name", "did you mean 'FM'"]),
    ("unknown component param", lambda c: _blocks(c)[2]["component"]["params"].update(hiden_units=[2]),
     ConfigError, ["blocks[2].component.params.hiden_units", "did you mean 'hidden_units'"]),
    ("unknown feature in group", lambda c: c["model"]["feature_groups"][0]["feature_names"].append("itme"),
     ConfigError, ["feature_groups[0].feature_names[3]", "did you mean 'item'"]),
    ("unknown group", lambda c: _blocks(c)[0]["inputs"][0].update(feature_group_name="al"),
     ConfigError, ["blocks[0].inputs[0].feature_group_name", "did you mean 'all'"]),
    ("unknown block", lambda c: _blocks(c)[3]["inputs"][0].update(block_name="fn"),
     ConfigError, ["blocks[3].inputs[0].block_name", "did you mean 'fm'"]),
    ("cycle", lambda c: _blocks(c)[1]["inputs"].append({"block_name": "out"}),
     ConfigError, ["cycle", "fm -> out -> fm"]),
    ("duplicate block names", lambda c: _blocks(c)[2].update(name="fm"),
     ConfigError, ["blocks[2].name", "duplicate block name"]),
    ("two bodies", lambda c: _blocks(c)[1].update({"lambda": {"expression": "lambda x: x"}}),
     ConfigError, ["block 'fm'", "only one body"]),
    ("input_slice out of range", lambda c: _blocks(c)[1]["inputs"][0].update(input_slice="[2]"),
     ShapeError, ["block 'fm'", "input_slice"]),
    ("disallowed expression", lambda c: _blocks(c)[1]["inputs"][0].update(input_fn="lambda x: open('/etc/passwd')"),
     ConfigError, ["block 'fm'", "input_fn", "open"]),
    ("dunder escape", lambda c: _blocks(c)[1]["inputs"][0].update(input_fn="lambda x: x.__class__"),
     ConfigError, ["block 'fm'", "__class__"]),
    ("3-D stack with unequal dims", lambda c: (c["features"][1].update(embedding_dim=8),
                                               _blocks(c)[0]["input_layer"].update(only_output_3d_tensor=True)),
     SchemaError, ["feature group 'all'", "equal embedding dims", "'item': 8"]),
    ("empty group", lambda c: c["model"]["feature_groups"][1].update(feature_names=[]),
     SchemaError, ["feature group 'num'", "empty"]),
    ("unknown feature kind", lambda c: c["features"][0].update(kind="sparce"),
     ConfigError, ["features[0].kind", "did you mean 'sparse'"]),
    ("unknown train key", lambda c: c["train"].update(epoch=2),
     ConfigError, ["train.epoch", "did you mean 'epochs'"]),
    ("widths that cannot meet", lambda c: _blocks(c)[2]["inputs"][1].update(input_fn="lambda x: tf.expand_dims(x, 1)"),
     ShapeError, ["block 'deep'", "concatenate"]),
    ("FM on a 2-D input", lambda c: _blocks(c)[1]["inputs"][0].update(input_slice="[0]"),
     ShapeError, ["block 'fm'"]),
    ("unknown task type", lambda c: c["model"]["task"].update(type="binay"),
     ConfigError, ["model.tasks[0].type: unknown task type", "did you mean 'binary'?"]),
    ("unknown model class", lambda c: c["model"].update(model_class="RankModle"),
     ConfigError, ["model.model_class: unknown model class", "did you mean 'RankModel'?"]),
    ("unknown task metric", lambda c: c["model"]["task"].update(metrics=["auc", "logloos"]),
     ConfigError, ["model.tasks[0].metrics[1]: unknown metric", "did you mean 'logloss'?"]),
    ("metric of another task kind", lambda c: c["model"]["task"].update(metrics=["rmse", "accuracy"], type="l2_loss"),
     ConfigError, ["model.tasks[0].metrics[1]", "does not apply to a regression task"]),
    ("unknown optimizer", lambda c: c["train"].update(optimizer={"name": "adamm"}),
     ConfigError, ["train.optimizer.name: unknown optimizer", "did you mean 'adam'?"]),
    ("unknown embedding optimizer", lambda c: c["train"].update(embedding_optimizer={"name": "sdg"}),
     ConfigError, ["train.embedding_optimizer.name: unknown optimizer", "did you mean 'sgd'?"]),
    ("unknown schedule", lambda c: c["train"].update(lr_schedule={"type": "exponential_decai"}),
     ConfigError, ["train.lr_schedule.type: unknown learning-rate schedule", "did you mean 'exponential_decay'?"]),
    ("unknown early-stopping metric", lambda c: c["train"].update(early_stopping={"metric": "acu"}),
     ConfigError, ["train.early_stopping.metric", "did you mean 'auc'?"]),
]


@pytest.mark.parametrize("name,edit,error,parts", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_malformed_config(tmp_path: Path, data: Path, name: str, edit: Any, error: type, parts: list[str]) -> None:
    out = tmp_path / "run"
    with pytest.raises(error) as info:
        train_run(_config(data, edit), out)
    message = str(info.value)
    for part in parts:
        assert part in message, f"{name}: {message}"
    assert not (out / "model.safetensors").exists()  # raised before training


def _bad_data_cases(tmp: Path) -> list[tuple[str, Callable[[dict[str, Any]], None], type[RecBlocksError], list[str]]]:
    base = _table()
    return [
        ("missing label column", lambda c: c["data"].update(train=_write(tmp, base.drop(["label"]))),
         DataError, ["label", "missing"]),
        ("missing feature column", lambda c: c["data"].update(train=_write(tmp, base.drop(["item"]))),
         DataError, ["feature 'item'"]),
        ("wrong column type (dense column of lists)",
         lambda c: c["data"].update(train=_write(tmp, base.set_column(4, "price", pa.array([[1.0]] * ROWS))))
         , DataError, ["feature 'price'"]),
        ("label strings", lambda c: c["data"].update(train=_write(tmp, base.set_column(0, "label",
                                                                                        pa.array(["yes"] * ROWS)))),
         DataError, ["label"]),
        ("NaN in dense data with allow_missing false",
         lambda c: (c["features"][3].update(allow_missing=False),
                    c["data"].update(train=_write(tmp, base.set_column(4, "price",
                                                                       pa.array([float("nan")] + [1.0] * (ROWS - 1)))))),
         DataError, ["feature 'price'", "missing"]),
        ("missing data file", lambda c: c["data"].update(train=str(tmp / "nope.parquet")),
         DataError, ["nope.parquet"]),
        ("every label bad", lambda c: c["data"].update(train=_write(tmp, base.set_column(
            0, "label", pa.array([None] * ROWS, pa.float64())))), DataError, ["rows"]),
    ]


@pytest.mark.parametrize("index", range(7))
def test_malformed_data(tmp_path: Path, data: Path, index: int) -> None:
    name, edit, error, parts = _bad_data_cases(tmp_path)[index]
    with pytest.raises(error) as info:
        train_run(_config(data, edit), tmp_path / "run")
    message = str(info.value)
    for part in parts:
        assert part in message, f"{name}: {message}"


def test_unseen_ids_and_nan_are_counted_and_reported_not_fatal(tmp_path: Path, data: Path) -> None:
    valid = _table()
    valid = valid.set_column(1, "user", pa.array(["new_user"] * 5 + valid.column("user").to_pylist()[5:]))
    valid = valid.set_column(4, "price", pa.array([None] * 3 + valid.column("price").to_pylist()[3:], pa.float64()))
    config = _config(data)
    config["data"]["valid"] = _write(tmp_path, valid, "valid.parquet")
    result = train_run(config, tmp_path / "run")
    assert "user: 5 unseen ids" in result.data_report
    assert "price: 3 missing values" in result.data_report


def test_bad_rows_are_dropped_counted_and_reported(tmp_path: Path, data: Path) -> None:
    table = _table()
    labels = table.column("label").to_pylist()
    table = table.set_column(0, "label", pa.array([None, None] + labels[2:], pa.float64()))
    config = _config(data)
    config["data"]["train"] = _write(tmp_path, table)
    result = train_run(config, tmp_path / "run")
    assert "2 bad rows dropped" in result.data_report


def test_cli_prints_one_line_without_traceback(tmp_path: Path, data: Path) -> None:
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_config(data, CONFIG_CASES[0][1])))
    result = CliRunner().invoke(cli, ["train", str(path), "--output", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "did you mean 'FM'" in result.output
    assert "Traceback" not in result.output


def test_second_train_into_same_run_dir_refuses_without_overwrite(tmp_path: Path, data: Path) -> None:
    train_run(_config(data), tmp_path / "run")
    with pytest.raises(RecBlocksError) as info:
        train_run(_config(data), tmp_path / "run")
    assert "--overwrite" in str(info.value)
    train_run(_config(data), tmp_path / "run", overwrite=True)
