"""Resume: a ``recblocks train`` process killed with SIGKILL mid-epoch, resumed with
``--resume``, finishes bit-identical to a run that was never interrupted; warm start.

Real processes only where they matter (the kill); everything else runs in-process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner
from safetensors.torch import load_file

from recblocks.cli.main import cli

ROWS, BATCH = 2000, 16  # 125 steps per epoch
STEPS_PER_EPOCH = ROWS // BATCH
CHECKPOINT_EVERY = 48  # never an epoch's last step within the run (lcm(125, 48) = 6000)
WALL_CLOCK = ("seconds", "samples_per_s")


def _table(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    user = rng.integers(0, 40, rows)
    item = rng.integers(0, 60, rows)
    price = rng.normal(size=rows)
    logit = (user % 3 - 1) + 0.8 * price
    return pa.table({"label": (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64),
                     "user": [f"u{u}" for u in user], "item": [f"i{i}" for i in item], "price": price})


def _config(root: Path, epochs: int = 6, **train: Any) -> dict[str, Any]:
    """Dropout, a decaying learning rate, step evaluations, early stopping, frequent checkpoints."""
    for name, rows, seed in (("train", ROWS, 0), ("valid", 400, 1)):
        if not (root / f"{name}.parquet").exists():
            pq.write_table(_table(rows, seed), root / f"{name}.parquet")
    return {
        "data": {"train": str(root / "train.parquet"), "valid": str(root / "valid.parquet")},
        "features": [{"name": "user", "kind": "sparse", "embedding_dim": 4},
                     {"name": "item", "kind": "sparse", "embedding_dim": 4},
                     {"name": "price", "kind": "dense"}],
        "model": {
            "feature_groups": [{"group_name": "all", "feature_names": ["user", "item", "price"]}],
            "backbone": {"blocks": [{"name": "deep", "inputs": [{"feature_group_name": "all"}],
                                     "component": {"class_name": "MLP", "params": {
                                         "hidden_units": [16, 8], "dropout": 0.3, "use_bn": False}}}]},
            "task": {"type": "binary", "label": "label"},
        },
        "train": {"epochs": epochs, "batch_size": BATCH, "progress": False, "num_threads": 1, "seed": 7,
                  "log_every": 10, "save_checkpoints_steps": CHECKPOINT_EVERY, "keep_checkpoint_max": 2,
                  "eval_steps": 100, "early_stopping": {"metric": "auc", "patience": 50},
                  "lr_schedule": {"type": "exponential_decay", "initial_learning_rate": 0.01, "decay_steps": 50,
                                  "decay_factor": 0.9},
                  **train},
    }


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "recblocks.cli.main", "train", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}


def _manifest(run: Path) -> dict[str, Any]:
    return json.loads((run / "run.json").read_text())


def _written_checkpoints(run: Path) -> list[int]:
    try:
        return [c["step"] for c in _manifest(run).get("checkpoints", {}).values() if c["state"] == "written"]
    except (OSError, ValueError):
        return []  # the manifest is being replaced right now


def _epochs(run: Path) -> list[dict[str, Any]]:
    lines = (run / "epochs.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in WALL_CLOCK} for line in lines]


def _metrics(run: Path) -> dict[str, Any]:
    metrics = json.loads((run / "metrics.json").read_text())
    metrics.pop("train_samples_per_second")
    return metrics


def _same_weights(a: Path, b: Path) -> None:
    left, right = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert sorted(left) == sorted(right)
    for name in left:
        assert left[name].dtype == right[name].dtype and left[name].shape == right[name].shape
        assert bool((left[name] == right[name]).all()), f"{name} differs"


def test_sigkilled_run_resumes_bit_identical_to_an_uninterrupted_one(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(_config(tmp_path)))
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    uninterrupted = subprocess.Popen(_command(str(config), "--output", str(reference)), env=_env(),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    process = subprocess.Popen(_command(str(config), "--output", str(killed)), env=_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _written_checkpoints(killed):  # at least one checkpoint, then kill at once
            assert process.poll() is None, f"training ended before a checkpoint: {process.stderr.read()}"
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        assert uninterrupted.wait(timeout=300) == 0, uninterrupted.stderr.read()
    finally:
        for p in (process, uninterrupted):
            if p.poll() is None:
                p.kill()
                p.wait()
    manifest = _manifest(killed)
    assert manifest["status"] == "running"  # killed: nobody marked it
    last = max(_written_checkpoints(killed))
    assert last % STEPS_PER_EPOCH != 0  # the checkpoint resumed from is mid-epoch
    total_steps = _manifest(reference) and json.loads((reference / "metrics.json").read_text())["global_step"]
    assert last < total_steps, "the process finished before it was killed"

    resumed = subprocess.run(_command("--resume", str(killed)), env=_env(), capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    manifest = _manifest(killed)
    assert manifest["status"] == "complete"
    assert manifest["resumes"][-1]["previous_status"] == "running"
    assert manifest["resumes"][-1]["checkpoint"] == f"step-{last:06d}"

    _same_weights(reference, killed)
    assert _epochs(killed) == _epochs(reference)
    assert _metrics(killed) == _metrics(reference)
    assert (killed / "evaluations.jsonl").read_text() == (reference / "evaluations.jsonl").read_text()
    assert sorted(_written_checkpoints(killed)) == sorted(_written_checkpoints(reference))  # keep the 2 newest
    assert sorted(os.listdir(killed / "checkpoints")) == sorted(os.listdir(reference / "checkpoints"))


def _train(args: list[str]) -> Any:
    return CliRunner().invoke(cli, ["train", *args])


def test_resume_of_a_run_killed_before_its_first_checkpoint_trains_from_scratch(tmp_path: Path) -> None:
    """A failed run without checkpoints restarts from step 0 in the same folder (same result)."""
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(_config(tmp_path, epochs=1, save_checkpoints_steps=None, eval_steps=None,
                                             early_stopping=None)))
    reference, run = tmp_path / "reference", tmp_path / "run"
    assert _train([str(config), "--output", str(reference)]).exit_code == 0
    assert _train([str(config), "--output", str(run)]).exit_code == 0
    manifest = _manifest(run)
    manifest.update(status="failed", error="KeyboardInterrupt: interrupted", finished="x")
    (run / "run.json").write_text(json.dumps(manifest))  # what Ctrl-C leaves behind
    result = _train(["--resume", str(run)])
    assert result.exit_code == 0, result.output
    manifest = _manifest(run)
    assert manifest["status"] == "complete" and manifest["error"] is None
    assert manifest["resumes"] == [{**manifest["resumes"][0], "previous_status": "failed", "checkpoint": None}]
    _same_weights(reference, run)
    assert _epochs(run) == _epochs(reference)


@pytest.fixture()
def finished(tmp_path: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(_config(tmp_path, epochs=1, eval_steps=None, early_stopping=None)))
    assert _train([str(config), "--output", str(tmp_path / "first")]).exit_code == 0
    return tmp_path / "first"


def test_warm_start_loads_matching_weights_and_reports_the_rest(tmp_path: Path, finished: Path) -> None:
    raw = _config(tmp_path, epochs=1, eval_steps=None, early_stopping=None, save_checkpoints_steps=None)
    blocks = raw["model"]["backbone"]["blocks"]
    blocks[0]["component"]["params"]["hidden_units"] = [16, 4]  # the last layer changes shape
    config = tmp_path / "warm.yaml"
    config.write_text(yaml.safe_dump(raw))
    result = _train([str(config), "--output", str(tmp_path / "warm"), "--init-from", str(finished)])
    assert result.exit_code == 0, result.output
    assert f"warm start from {finished}" in result.output
    report = _manifest(tmp_path / "warm")["init_from"]
    assert report == json.loads((tmp_path / "warm" / "metrics.json").read_text())["init_from"]
    first = load_file(str(finished / "model.safetensors"))
    warm = load_file(str(tmp_path / "warm" / "model.safetensors"))
    reshaped = {e["name"]: (e["saved"], e["model"]) for e in report["reshaped"]}
    assert reshaped == {n: ([*first[n].shape], [*warm[n].shape]) for n in first if first[n].shape != warm[n].shape}
    assert "backbone.blocks.deep.net.3.weight" in reshaped and "heads.ctr.weight" in reshaped
    assert sorted(report["loaded"]) == sorted(n for n in first if first[n].shape == warm[n].shape)
    assert "backbone.blocks.deep.net.0.weight" in report["loaded"] and report["skipped"] == []
    # the loaded tensors started from the first run's weights: same config, no training => same values
    config.write_text(yaml.safe_dump({**raw, "train": {**raw["train"], "max_steps": 1, "optimizer": {
        "lr": 1e-30}, "lr_schedule": {"type": "constant"}}}))
    assert _train([str(config), "--output", str(tmp_path / "w2"), "--init-from", str(finished)]).exit_code == 0
    first, warm = load_file(str(finished / "model.safetensors")), load_file(str(tmp_path / "w2" / "model.safetensors"))
    assert bool((first["backbone.blocks.deep.net.0.weight"] == warm["backbone.blocks.deep.net.0.weight"]).all())


def _adam_steps(state: dict[str, Any]) -> set[int]:
    return {int(s["step"]) for opt in state["optimizers"].values() for s in opt["state"].values() if "step" in s}


def test_model_fit_again_continues_and_reset_restarts() -> None:
    from recblocks.runs import Model

    demo = Path(__file__).resolve().parents[2] / "src/recblocks/resources/demo.yaml"
    model = Model.from_config(demo)
    options = {"data": {"synthetic": {**model.data_config["synthetic"], "num_rows": 2000}}, "epochs": 1,
               "max_steps": 3, "batch_size": 256, "progress": False}
    first = model.fit(**options)
    weights = {k: v.clone() for k, v in model.module.state_dict().items()}
    assert _adam_steps(first.optimizer_state) == {3}
    second = model.fit(**options)  # continues: same network, 3 more Adam steps on the same moments
    assert second.model is first.model
    assert _adam_steps(second.optimizer_state) == {6}
    assert any(not torch.equal(weights[k], v) for k, v in model.module.state_dict().items())
    third = model.fit(**options, reset=True)  # from scratch: the first fit again, bit for bit
    assert third.model is not first.model and _adam_steps(third.optimizer_state) == {3}
    assert all(torch.equal(weights[k], v) for k, v in model.module.state_dict().items())
