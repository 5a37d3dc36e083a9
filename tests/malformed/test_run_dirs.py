"""Hostile run directories: locked, killed, crashed, failed, without manifest, or with damaged files.

``evaluate``/``predict`` (and the Python path that opens a run) must refuse a run that is
unfinished or damaged with one line that names the run or the file and says why; the
training lock must stop a second writer at once. Real processes are used where a process
matters (a second training while the first holds the lock, SIGKILL, SIGTERM); everything
else runs in-process on byte-identical copies of one finished run.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from recblocks.core.errors import DataError
from recblocks.runs import RunDir, RunLockedError, UnfinishedRunError
from recblocks.training import TrainConfig, build_optimizer
from recblocks.runs import evaluate_run, predict_run


def _outside(sums: dict[str, str], folder: str) -> dict[str, str]:
    """Checksums of the files outside ``folder`` (the run a case lets recblocks write)."""
    return {k: v for k, v in sums.items() if not k.startswith(folder + "/")}


def _manifest(run: Path) -> dict[str, Any]:
    return json.loads((run / "run.json").read_text())


def _set_manifest(run: Path, **changes: Any) -> None:
    (run / "run.json").write_text(json.dumps({**_manifest(run), **changes}))


def _predict(hostile: Any, run: Path, data: Path, *extra: str) -> Any:
    return hostile.cli(["predict", str(run), "--data", str(data), "--output", str(hostile.root / "scores.parquet"),
                        *extra])


@pytest.fixture()
def run(hostile: Any, runs: Any) -> Path:
    """A byte-identical copy of the finished run in the test's folder (data next to it)."""
    hostile.data("score.parquet")
    return runs.copy(hostile.root / "run")


def _refuses(hostile: Any, runs: Any, run: Path, error: str, *parts: str) -> str:
    """predict and evaluate both refuse the run with ``error``; nothing in the folder changes."""
    data = hostile.root / "score.parquet"
    before = runs.checksums(hostile.root)
    line = hostile.expect_error(_predict(hostile, run, data), error, *parts)
    hostile.expect_error(hostile.cli(["evaluate", str(run), "--data", str(data)]), error, *parts)
    assert runs.checksums(hostile.root) == before
    return line


# -- real processes: the lock, SIGTERM, SIGKILL --------------------------------------------------------
def _long_training(hostile: Any, output: Path) -> tuple[subprocess.Popen[str], Path]:
    """A ``recblocks train`` process that runs for minutes unless stopped (tiny data, many epochs)."""
    config = hostile.write_config(hostile.config(lambda c: c["train"].update(epochs=1_000_000)), "long.yaml")
    command = [sys.executable, "-m", "recblocks.cli.main", "train", str(config), "--output", str(output)]
    process = subprocess.Popen(command, cwd=hostile.root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    return process, config


def _wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not path.is_file():
        assert process.poll() is None, f"training ended early: {process.stderr.read() if process.stderr else ''}"
        assert time.monotonic() < deadline, f"{path} not written within {timeout} s"
        time.sleep(0.1)


def _stop(process: subprocess.Popen[str], sig: int) -> int:
    process.send_signal(sig)
    try:
        return process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_second_training_into_a_locked_run_refuses_at_once(hostile: Any, runs: Any) -> None:
    output = hostile.root / "run"
    first, config = _long_training(hostile, output)
    try:
        _wait_for(output / "epochs.jsonl", first)
        start = time.monotonic()
        second = hostile.subprocess(["train", str(config), "--output", str(output), "--overwrite"], timeout=120)
        assert first.poll() is None, "the first training must still hold the lock"
        hostile.expect_error(second, "RunLockedError", str(output), f"being written by process {first.pid}",
                             "recblocks train")
        assert time.monotonic() - start < 110  # refused, not queued behind the first training
        # readers refuse the run being written, in-process too
        hostile.data("score.parquet")
        hostile.expect_error(_predict(hostile, output, hostile.root / "score.parquet"), "RunLockedError",
                             "being written", "--allow-unfinished")
    finally:
        code = _stop(first, signal.SIGTERM)
    assert code == 130  # SIGTERM is an interruption: the run is marked failed on the way out
    manifest = _manifest(output)
    assert manifest["status"] == "failed" and "SIGTERM" in manifest["error"]
    _refuses(hostile, runs, output, "UnfinishedRunError", "its training failed", "SIGTERM")


def test_sigkilled_run_is_refused_by_predict_as_unfinished(hostile: Any, runs: Any) -> None:
    output = hostile.root / "run"
    process, _ = _long_training(hostile, output)
    try:
        _wait_for(output / "model.safetensors", process)
    finally:
        _stop(process, signal.SIGKILL)
    assert _manifest(output)["status"] == "running"  # nobody could mark it
    hostile.data("score.parquet")
    line = _refuses(hostile, runs, output, "UnfinishedRunError", str(output), "the run is unfinished",
                    "killed, crashed", f"process {process.pid}", "--allow-unfinished")
    assert "status running" in line
    assert not (hostile.root / "scores.parquet").exists()
    # the killed run is recblocks' own: --overwrite may replace it (leftover temporary files included)
    config = hostile.write_config(hostile.config(), "cfg.yaml")
    result = hostile.cli(["train", str(config), "--output", str(output), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert _manifest(output)["status"] == "complete"


# -- unfinished runs, in-process ---------------------------------------------------------------------
def test_a_crash_during_training_marks_the_run_failed(hostile: Any, runs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from recblocks.training.trainer import Trainer

    def crash(self: Any, loader: Any) -> dict[str, float]:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(Trainer, "evaluate", crash)
    config = hostile.write_config(hostile.config(), "cfg.yaml")
    before = runs.checksums(hostile.root)
    result = hostile.cli(["train", str(config), "--output", "crashed"])
    assert _outside(runs.checksums(hostile.root), "crashed") == before
    assert result.exit_code == 1 and "internal error (RuntimeError)" in result.output and "--debug" in result.output
    assert "Traceback" not in result.output
    manifest = _manifest(hostile.root / "crashed")
    assert manifest["status"] == "failed" and manifest["error"].startswith("RuntimeError: CUDA error")
    monkeypatch.undo()
    hostile.data("score.parquet")
    _refuses(hostile, runs, hostile.root / "crashed", "UnfinishedRunError", "its training failed", "CUDA error")


def test_a_run_without_manifest_is_refused(hostile: Any, runs: Any, run: Path) -> None:
    (run / "run.json").unlink()  # e.g. written by an older recblocks, or by hand
    _refuses(hostile, runs, run, "UnfinishedRunError", "no run manifest (run.json)", "--allow-unfinished")


def test_a_folder_of_user_files_is_not_a_run(hostile: Any, runs: Any) -> None:
    folder = hostile.root / "notes"
    folder.mkdir()
    (folder / "config.yaml").write_text("mine: true\n")
    hostile.data("score.parquet")
    _refuses(hostile, runs, folder, "UnfinishedRunError", "not a finished recblocks run")


def test_allow_unfinished_uses_a_killed_run_with_a_warning(hostile: Any, runs: Any, run: Path) -> None:
    _set_manifest(run, status="running", finished=None)  # what SIGKILL leaves behind
    result = _predict(hostile, run, hostile.root / "score.parquet", "--allow-unfinished")
    assert result.exit_code == 0, result.output
    assert "warning: " in result.output and "killed, crashed" in result.output
    assert (hostile.root / "scores.parquet").is_file()


def test_python_evaluate_refuses_unfinished_and_warns_when_allowed(hostile: Any, run: Path) -> None:
    _set_manifest(run, status="failed", error="DataError: disk full")
    data = hostile.root / "score.parquet"
    with pytest.raises(UnfinishedRunError, match="its training failed"):
        evaluate_run(run, data)
    warnings: list[str] = []
    metrics, _ = evaluate_run(run, data, allow_unfinished=True, warn=warnings.append)
    assert "auc" in metrics and len(warnings) == 1 and "disk full" in warnings[0]


def test_python_open_of_a_run_this_process_is_writing(hostile: Any) -> None:
    writer = RunDir(hostile.root / "live", config={"a": 1})
    try:
        with pytest.raises(RunLockedError, match="this process"):
            RunDir.open(writer.path)
        with pytest.raises(RunLockedError, match="being written"):
            RunDir(writer.path, overwrite=True)
    finally:
        writer.finish()
    assert RunDir.open(writer.path).read_config() == {"a": 1}


def test_a_run_file_deleted_after_the_run_finished(hostile: Any, runs: Any, run: Path) -> None:
    (run / "preprocess.json").unlink()
    _refuses(hostile, runs, run, "DataError", "preprocess.json", "the run file is missing")


def test_weights_truncated_after_the_run_finished(hostile: Any, runs: Any, run: Path) -> None:
    weights = run / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    _refuses(hostile, runs, run, "DataError", "model.safetensors", "changed after the run finished",
             "the manifest records")


def test_a_file_swapped_for_a_folder(hostile: Any, runs: Any, run: Path) -> None:
    (run / "optimizer.pt").unlink()
    (run / "optimizer.pt").mkdir()
    _refuses(hostile, runs, run, "DataError", "optimizer.pt", "not a regular file")


# -- damaged files, opened anyway (--allow-unfinished skips the manifest check) ---------------------
def _damaged(hostile: Any, runs: Any, run: Path, name: str, content: bytes, *parts: str) -> None:
    (run / name).write_bytes(content)
    data = hostile.root / "score.parquet"
    before = runs.checksums(hostile.root)
    for command in (["predict", str(run), "--data", str(data), "-o", str(hostile.root / "s.parquet")],
                    ["evaluate", str(run), "--data", str(data)]):
        result = hostile.cli([*command, "--allow-unfinished"])
        hostile.expect_error(result, "DataError", *parts)
        assert "warning: " in result.output and "changed after the run finished" in result.output
    assert runs.checksums(hostile.root) == before


WEIGHTS = [
    ("empty", b"", "header too small"),
    ("header only", b"\x10\x00\x00\x00\x00\x00\x00\x00", "invalid header length"),
    ("garbage", b"not a safetensors file at all, just words" * 4, "header too large"),
    ("bad header json", b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}", "not a valid safetensors"),
]


@pytest.mark.parametrize("name,content,problem", WEIGHTS, ids=[w[0] for w in WEIGHTS])
def test_damaged_weights(hostile: Any, runs: Any, run: Path, name: str, content: bytes, problem: str) -> None:
    _damaged(hostile, runs, run, "model.safetensors", content, "model.safetensors", "not a valid safetensors",
             problem)


def test_truncated_weights(hostile: Any, runs: Any, run: Path) -> None:
    content = (run / "model.safetensors").read_bytes()
    _damaged(hostile, runs, run, "model.safetensors", content[: len(content) - 40], "model.safetensors",
             "not a valid safetensors", "not fully covered")


def test_weights_of_another_model(hostile: Any, runs: Any, run: Path) -> None:
    from safetensors.torch import save

    _damaged(hostile, runs, run, "model.safetensors", save({"other.weight": torch.zeros(3)}), "model.safetensors",
             "do not fit this model", "unexpected ['other.weight']")


CONFIGS = [
    ("invalid yaml", b"features: [unclosed\nmodel: {", ["config.yaml:", "not valid", "invalid YAML"]),
    ("a list, not a mapping", b"- features\n- model\n", ["config.yaml", "mapping"]),
    ("not UTF-8", b"features: \xff\xfe\x00bad\n", ["config.yaml", "not UTF-8"]),
    ("valid YAML, invalid config", yaml.safe_dump({"features": [], "model": {"nope": 1}}).encode(),
     ["config.yaml", "the run's config is not valid"]),
]


@pytest.mark.parametrize("name,content,parts", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_damaged_config(hostile: Any, runs: Any, run: Path, name: str, content: bytes, parts: list[str]) -> None:
    _damaged(hostile, runs, run, "config.yaml", content, *parts)


PREPROCESS = [
    ("corrupt json", b'{"format": "recblocks.preprocess", "voc', ["not valid JSON"]),
    ("a list", b"[1, 2, 3]", ["not a valid preprocessing state"]),
    ("another format", b'{"format": "sklearn"}', ["not a valid preprocessing state", "sklearn"]),
]


@pytest.mark.parametrize("name,content,parts", PREPROCESS, ids=[p[0] for p in PREPROCESS])
def test_damaged_preprocess_json(hostile: Any, runs: Any, run: Path, name: str, content: bytes,
                                 parts: list[str]) -> None:
    _damaged(hostile, runs, run, "preprocess.json", content, "preprocess.json", *parts)


def test_preprocess_json_of_other_features(hostile: Any, runs: Any, run: Path) -> None:
    state = json.loads((run / "preprocess.json").read_text())
    state["schema"] = [f for f in state["schema"] if f["name"] != "tags"]
    _damaged(hostile, runs, run, "preprocess.json", json.dumps(state).encode(), "preprocess.json",
             "fitted for other features")


def test_missing_preprocess_json_when_forced(hostile: Any, runs: Any, run: Path) -> None:
    (run / "preprocess.json").unlink()
    data = hostile.root / "score.parquet"
    before = runs.checksums(hostile.root)
    hostile.expect_error(hostile.cli(["evaluate", str(run), "--data", str(data), "--allow-unfinished"]),
                         "DataError", "preprocess.json", "not found in the run directory")
    assert runs.checksums(hostile.root) == before


MANIFESTS = [
    ("garbage", b"\x00\x01binary", ["run.json", "corrupt"]),
    ("someone else's run.json", b'{"experiment": "mine"}', ["run.json", "not a recblocks run manifest"]),
    ("newer format", json.dumps({"format": "recblocks-run", "format_version": 99,
                                 "recblocks_version": "9.0"}).encode(), ["run.json", "newer recblocks", "99"]),
    ("wrong field type", json.dumps({"format": "recblocks-run", "status": "done"}).encode(),
     ["run.json: status", "corrupt"]),
]


@pytest.mark.parametrize("name,content,parts", MANIFESTS, ids=[m[0] for m in MANIFESTS])
def test_corrupt_manifest(hostile: Any, runs: Any, run: Path, name: str, content: bytes, parts: list[str]) -> None:
    (run / "run.json").write_bytes(content)
    _refuses(hostile, runs, run, "DataError", *parts, "--allow-unfinished")


def test_run_dir_that_is_a_file(hostile: Any, runs: Any) -> None:
    hostile.data("score.parquet")
    (hostile.root / "run").write_text("not a folder\n")
    _refuses(hostile, runs, hostile.root / "run", "DataError", "run", "is a file, not a folder")


def test_run_dir_that_does_not_exist(hostile: Any, runs: Any) -> None:
    hostile.data("score.parquet")
    _refuses(hostile, runs, hostile.root / "nowhere", "DataError", "nowhere", "run directory not found")


OPTIMIZER = [
    ("garbage", b"garbage" * 10, "not a valid optimizer state"),
    ("empty", b"", "not a valid optimizer state"),
]


@pytest.mark.parametrize("name,content,problem", OPTIMIZER, ids=[o[0] for o in OPTIMIZER])
def test_damaged_optimizer_state(runs: Any, run: Path, fake_model: Any, name: str, content: bytes,
                                 problem: str) -> None:
    (run / "optimizer.pt").write_bytes(content)
    before = runs.checksums(run)
    opened = RunDir.open(run, allow_unfinished=True, warn=lambda message: None)
    with pytest.raises(DataError, match=problem) as info:
        opened.load_optimizer(build_optimizer(fake_model, TrainConfig()))
    assert "optimizer.pt" in str(info.value) and "\n" not in str(info.value)
    assert runs.checksums(run) == before


def test_optimizer_state_of_another_model(runs: Any, run: Path, fake_model: Any) -> None:
    torch.save({"state": {}, "param_groups": [{"params": [0, 1, 2, 3, 4, 5, 6, 7]}]}, run / "optimizer.pt")
    before = runs.checksums(run)
    opened = RunDir.open(run, allow_unfinished=True, warn=lambda message: None)
    with pytest.raises(DataError, match="does not fit this optimizer"):
        opened.load_optimizer(build_optimizer(fake_model, TrainConfig()))
    assert runs.checksums(run) == before


@pytest.fixture()
def fake_model() -> Any:
    from torch import nn

    class Tiny(nn.Module):
        tasks: list[Any] = []

        def __init__(self) -> None:
            super().__init__()
            self.dense = nn.Linear(2, 1)

        def embedding_parameters(self) -> list[Any]:
            return []

        def dense_parameters(self) -> list[Any]:
            return list(self.parameters())

    return Tiny()


# -- the manifest and atomic writes ----------------------------------------------------------------------
def test_manifest_lists_every_file_with_its_writer_size_and_checksum(run: Path) -> None:
    import hashlib

    manifest = _manifest(run)
    assert manifest["format"] == "recblocks-run" and manifest["format_version"] == 1
    assert manifest["status"] == "complete" and manifest["command"] == "train" and manifest["finished"]
    files = {p.name for p in run.iterdir()} - {"run.json"}
    assert set(manifest["files"]) == files == {"config.yaml", "preprocess.json", "model.safetensors",
                                               "optimizer.pt", "epochs.jsonl", "metrics.json", "tensorboard"}
    folder = manifest["files"].pop("tensorboard")  # the event log: a folder entry listing its files
    assert folder["kind"] == "folder" and folder["state"] == "written"
    assert set(folder["files"]) == {p.name for p in (run / "tensorboard").iterdir()}
    for name, entry in [*manifest["files"].items(), *((f"tensorboard/{n}", e) for n, e in folder["files"].items())]:
        data = (run / name).read_bytes()
        assert entry["state"] == "written" and entry["writer"].startswith(("RunDir.", "TensorBoardCallback"))
        assert entry["bytes"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()


def test_disk_full_while_saving_weights_leaves_a_failed_run_and_no_partial_file(
        hostile: Any, runs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import recblocks.training.checkpoint as checkpoint

    def full(tensors: Any, path: str, metadata: Any = None) -> None:
        Path(path).write_bytes(b"\x00" * 64)  # half a file, then the device is full
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(checkpoint, "save_file", full)
    config = hostile.write_config(hostile.config(), "cfg.yaml")
    before = runs.checksums(hostile.root)
    hostile.expect_error(hostile.cli(["train", str(config), "--output", "run"]), "FileAccessError",
                         "model.safetensors", "no space left on the device")
    assert _outside(runs.checksums(hostile.root), "run") == before
    run = hostile.root / "run"
    assert not (run / "model.safetensors").exists()
    assert [p.name for p in run.iterdir() if p.name.endswith(".tmp")] == []
    manifest = _manifest(run)
    assert manifest["status"] == "failed" and "no space left" in manifest["error"]
    assert manifest["files"]["model.safetensors"]["state"] == "writing"
    monkeypatch.undo()
    hostile.data("score.parquet")
    _refuses(hostile, runs, run, "UnfinishedRunError", "its training failed", "no space left")
    result = hostile.cli(["train", str(config), "--output", "run", "--overwrite"])  # a failed run can be replaced
    assert result.exit_code == 0, result.output


def test_an_os_error_reaching_the_cli_is_one_line(hostile: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last resort of the CLI: an OSError nobody converted names its file, exit 2."""
    import recblocks.runs as experiment

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.EIO, "Input/output error", "/mnt/flaky/disk.parquet")

    monkeypatch.setattr(experiment, "evaluate_run", broken)
    hostile.expect_error(hostile.cli(["evaluate", "run", "--data", "x.parquet"]), "FileAccessError",
                         "/mnt/flaky/disk.parquet", "input/output error")


def test_debug_shows_the_traceback_of_an_internal_error(hostile: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import recblocks.runs as experiment

    def bug(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(experiment, "evaluate_run", bug)
    plain = hostile.cli(["evaluate", "run", "--data", "x.parquet"])
    assert plain.exit_code == 1 and plain.output.startswith("internal error (KeyError)")
    debug = hostile.cli(["evaluate", "run", "--data", "x.parquet", "--debug"])
    assert isinstance(debug.exception, KeyError)


def test_python_predict_refuses_its_own_weights_as_output(hostile: Any, runs: Any, run: Path) -> None:
    from recblocks.runs import OutputPathError

    before = runs.checksums(run)
    with pytest.raises(OutputPathError, match="inside the run directory"):
        predict_run(run, hostile.root / "score.parquet", run / "model.safetensors", overwrite=True)
    assert runs.checksums(run) == before


def test_permission_denied_reading_the_data(hostile: Any, runs: Any, run: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """pyarrow answers EACCES, as for a file without read permission (simulated: tests may run as root)."""
    import pyarrow.parquet as pq

    def denied(path: Any, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(pq, "read_schema", denied)
    before = runs.checksums(hostile.root)
    hostile.expect_error(hostile.cli(["evaluate", str(run), "--data", str(hostile.root / "score.parquet")]),
                         "DataError", "score.parquet", "Permission denied")
    assert runs.checksums(hostile.root) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_really_unreadable_data(hostile: Any, run: Path) -> None:
    data = hostile.root / "score.parquet"
    data.chmod(0)
    try:
        hostile.expect_error(hostile.cli(["evaluate", str(run), "--data", str(data)]), "DataError", "score.parquet")
    finally:
        data.chmod(0o600)
