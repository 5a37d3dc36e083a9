"""The TensorBoard event log inside a run directory, and the run-level tracking callbacks.

The log is a folder entry of the run manifest (``tensorboard/``): read back with TensorBoard's
reader it holds the losses and the validation metrics; the finished run still passes every
manifest check (evaluate/predict), ``--overwrite`` removes it, and a file a user put in it (or
changed) makes the run refuse, deleting nothing. MLflow is tested against a local file store
when it is installed; without it, requesting it is a one-line error before training.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from recblocks.core import ConfigError
from recblocks.runs import Model, RunDir
from recblocks.training import TensorBoardCallback


def _manifest(run: Path) -> dict[str, Any]:
    return json.loads((run / "run.json").read_text())


def _scalars(folder: Path) -> dict[str, dict[int, float]]:
    reader = EventAccumulator(str(folder))
    reader.Reload()
    return {tag: {event.step: event.value for event in reader.Scalars(tag)} for tag in reader.Tags()["scalars"]}


def _score(hostile: Any, run: Path) -> None:
    data = hostile.data("score.parquet")
    for args in (["evaluate", str(run), "--data", str(data)],
                 ["predict", str(run), "--data", str(data), "--output", str(hostile.root / "p.parquet")]):
        result = hostile.cli(args)
        assert result.exit_code == 0, result.output


def test_a_run_writes_a_tensorboard_log_listed_in_its_manifest(hostile: Any, runs: Any) -> None:
    import hashlib

    run = runs.copy(hostile.root / "run")
    entry = _manifest(run)["files"]["tensorboard"]
    assert entry["kind"] == "folder" and entry["state"] == "written" and entry["writer"] == "TensorBoardCallback"
    events = sorted((run / "tensorboard").iterdir())
    assert [p.name for p in events] == list(entry["files"]) and events[0].name.startswith("events.out.tfevents.")
    data = events[0].read_bytes()
    assert entry["files"][events[0].name]["bytes"] == len(data)
    assert entry["files"][events[0].name]["sha256"] == hashlib.sha256(data).hexdigest()
    scalars = _scalars(run / "tensorboard")
    epochs = [json.loads(line) for line in (run / "epochs.jsonl").read_text().splitlines()]
    last_step = sum(e["steps"] for e in epochs)
    assert max(scalars["train/loss"]) == last_step
    assert [t for t in scalars if t.startswith("train/task/")] == ["train/task/ctr"]  # the one task, "ctr"
    assert scalars["valid/auc"][last_step] == pytest.approx(epochs[-1]["valid"]["auc"], rel=1e-6)
    assert scalars["epoch/train_loss"][last_step] == pytest.approx(epochs[-1]["train_loss"], rel=1e-6)
    assert set(scalars) >= {"lr/dense", "throughput/samples_per_s"}
    _score(hostile, run)  # the run with its log passes the manifest checks


def test_overwrite_removes_the_old_event_log(hostile: Any, runs: Any) -> None:
    run = runs.copy(hostile.root / "run")
    old = {p.name for p in (run / "tensorboard").iterdir()}
    config = hostile.write_config(hostile.config(lambda c: c["train"].update(tensorboard=False)), "cfg.yaml")
    result = hostile.cli(["train", str(config), "--output", str(run), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert not (run / "tensorboard").exists() and "tensorboard" not in _manifest(run)["files"]
    assert old  # the template's log existed and is gone
    _score(hostile, run)


def test_overwrite_of_a_killed_run_removes_its_growing_event_file(hostile: Any, runs: Any) -> None:
    run = runs.copy(hostile.root / "run")
    manifest = _manifest(run)  # as a run killed mid-training leaves it: running, the log still being written
    (name,) = manifest["files"]["tensorboard"]["files"]
    manifest["status"] = "running"
    manifest["files"]["tensorboard"].update(state="writing", files={name: {"writer": "TensorBoardCallback"}})
    (run / "run.json").write_text(json.dumps(manifest))
    with open(run / "tensorboard" / name, "ab") as handle:
        handle.write(b"more events")
    hostile.expect_error(hostile.cli(["evaluate", str(run), "--data", str(hostile.data("score.parquet"))]),
                         "UnfinishedRunError", "the run is unfinished")
    config = hostile.write_config(hostile.config(), "cfg.yaml")
    result = hostile.cli(["train", str(config), "--output", str(run), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert [p.name for p in (run / "tensorboard").iterdir()] == list(_manifest(run)["files"]["tensorboard"]["files"])
    assert name not in {p.name for p in (run / "tensorboard").iterdir()}


@pytest.mark.parametrize("change", ["added", "appended"])
def test_a_user_file_in_the_log_folder_is_refused_and_kept(hostile: Any, runs: Any, change: str) -> None:
    run = runs.copy(hostile.root / "run")
    (name,) = _manifest(run)["files"]["tensorboard"]["files"]
    if change == "added":
        (run / "tensorboard" / "events.out.tfevents.1.mine").write_bytes(b"user events")
        evaluate_parts, overwrite_parts = ("it holds files the run did not write", "events.out.tfevents.1.mine"), \
            ("files recblocks did not write", "tensorboard/events.out.tfevents.1.mine")
    else:
        with open(run / "tensorboard" / name, "ab") as handle:
            handle.write(b"user events")
        evaluate_parts, overwrite_parts = (f"{name}: ", "bytes"), ("changed since recblocks wrote them", name)
    data = hostile.data("score.parquet")
    before = runs.checksums(hostile.root)
    hostile.expect_error(hostile.cli(["evaluate", str(run), "--data", str(data)]), "DataError",
                         "changed after the run finished", *evaluate_parts)
    config = hostile.write_config(hostile.config(), "cfg.yaml")
    before = runs.checksums(run)
    hostile.expect_error(hostile.cli(["train", str(config), "--output", str(run), "--overwrite"]),
                         "RunDirExistsError", *overwrite_parts)
    assert runs.checksums(run) == before  # nothing deleted


def test_tensorboard_false_writes_no_log(hostile: Any) -> None:
    run = hostile.trained_run("run", lambda c: c["train"].update(tensorboard=False))
    assert not (run / "tensorboard").exists() and "tensorboard" not in _manifest(run)["files"]


def test_model_fit_writes_the_log_and_takes_callback_objects(hostile: Any, tmp_path: Path) -> None:
    config = hostile.config(lambda c: c["train"].update(epochs=1, batch_size=32, progress=False, log_every=1))
    model = Model.from_config(config)
    model.fit(output=tmp_path / "run")
    assert "tensorboard" in _manifest(tmp_path / "run")["files"]
    assert sorted(_scalars(tmp_path / "run" / "tensorboard")["train/loss"]) == [1, 2]  # 64 rows, 32 a batch
    with pytest.raises(ConfigError, match="TensorBoardCallback: the TensorBoard log has nowhere to go"):
        model.fit(callbacks=[TensorBoardCallback()])  # no run directory, no log_dir
    board = TensorBoardCallback(log_dir=tmp_path / "mine")
    model.fit(output=tmp_path / "run2", callbacks=[board])  # the object replaces the default log
    assert not (tmp_path / "run2" / "tensorboard").exists() and "train/loss" in _scalars(tmp_path / "mine")
    RunDir.open(tmp_path / "run2").close()


def test_mlflow_requested_without_mlflow_is_one_line_before_training(hostile: Any, monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)
    config = hostile.write_config(hostile.config(lambda c: c["train"].update(callbacks=[{"type": "mlflow"}])))
    hostile.expect_error(hostile.cli(["train", str(config), "--output", "run"]), "ConfigError",
                         "train.callbacks[0]", "pip install mlflow")
    assert not (hostile.root / "run").exists()


def test_mlflow_logs_params_metrics_and_the_run_directory(hostile: Any, monkeypatch: Any) -> None:
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # the local file store, no server, no network
    store = f"file:{hostile.root / 'mlruns'}"
    config = hostile.config(lambda c: c["train"].update(
        log_every=1, callbacks=[{"type": "mlflow", "tracking_uri": store, "experiment": "tests", "run_name": "r"}]))
    result = hostile.cli(["train", str(hostile.write_config(config)), "--output", "run"])
    assert result.exit_code == 0, result.output
    client = mlflow.tracking.MlflowClient(store)
    (found,) = client.search_runs([client.get_experiment_by_name("tests").experiment_id])
    assert found.info.status == "FINISHED" and found.info.run_name == "r"
    assert found.data.tags["recblocks.run_dir"] == str((hostile.root / "run").resolve())
    assert found.data.params["train.log_every"] == "1" and found.data.params["features.0.name"] == "user"
    epochs = [json.loads(line) for line in (hostile.root / "run" / "epochs.jsonl").read_text().splitlines()]
    steps = sum(e["steps"] for e in epochs)
    losses = client.get_metric_history(found.info.run_id, "train/loss")
    assert sorted(m.step for m in losses) == list(range(1, steps + 1))
    (auc,) = client.get_metric_history(found.info.run_id, "valid/auc")
    assert auc.step == steps and auc.value == pytest.approx(epochs[-1]["valid"]["auc"], rel=1e-6)
    assert mlflow.active_run() is None
