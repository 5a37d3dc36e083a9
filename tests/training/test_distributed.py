"""Data-parallel training (issue 14, acceptance 1): 2 processes over gloo against one process.

One torchrun launch of ``test_distributed_worker.py`` (2 ranks, module fixture) trains a small
model (no dropout, no batch norm; Adagrad on the dense weights and, row-wise on sparse
gradients, on the embedding tables) for 30 steps of 8 rows per rank; the test process trains
the same model alone on batches of 16 rows. The loader gives rank ``r`` the ``r``-th half of
each global batch of 16, DDP averages the ranks' gradients (each the gradient of its mean
loss over 8 rows), so every step is the step of the mean loss over the global batch: the
weights must agree to 1e-6. The CLI test runs ``recblocks train --nproc 2``.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from click.testing import CliRunner

from recblocks.data.loader import InMemoryLoader, sharded_bounds
from recblocks.features.batch import Batch
from recblocks.training import distributed

pytestmark = pytest.mark.skipif(not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
                                reason="torch.distributed with the gloo backend is not available")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from test_distributed_worker import CONFIG, PER_RANK_BATCH, recording_loader, with_row_ids  # noqa: E402


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(HERE.parents[1] / "src")}


@pytest.fixture(scope="module")
def ddp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ddp")
    command = distributed.launch_command(2, [])[:-2] + [str(HERE / "test_distributed_worker.py"), str(out)]
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _report(out: Path, rank: int) -> dict[str, Any]:
    return json.loads((out / f"rank{rank}.json").read_text())


def _single_process() -> tuple[Any, Any, Any, list[list[int]]]:
    """The reference: the same model trained alone on the global batches (16 rows)."""
    from recblocks.runs.experiment import Experiment, build_model
    from recblocks.training.trainer import Trainer, seed_everything

    experiment = Experiment.from_raw(copy.deepcopy(CONFIG))
    preprocessor = experiment.fit_preprocessor()
    train = with_row_ids(experiment.batch("train", preprocessor))
    seed_everything(CONFIG["train"]["seed"])
    model = build_model(experiment.config, experiment.schema, preprocessor)
    loader = recording_loader(InMemoryLoader)(train, 2 * PER_RANK_BATCH, shuffle=True, seed=CONFIG["train"]["seed"])
    loader.seen = []
    trainer = Trainer(model, experiment.config.train)
    trainer.fit(loader)
    return experiment, preprocessor, trainer, loader.seen


def test_ddp_model_equals_the_single_process_model_on_the_global_batches(ddp: Path) -> None:
    ranks = [_report(ddp, 0), _report(ddp, 1)]
    assert [r["steps"] for r in ranks] == [30, 30] and all(r["sparse_gradients"] for r in ranks)
    _, _, trainer, seen = _single_process()
    assert trainer.global_step == 30
    # the ranks' batches, concatenated in rank order, are the single process's batches
    assert [a + b for a, b in zip(ranks[0]["seen"], ranks[1]["seen"])] == seen
    ddp_state = torch.load(ddp / "ddp_state.pt")
    reference = trainer.model.state_dict()
    assert ddp_state.keys() == reference.keys()  # the plain layout: no "module." prefix
    worst = max(float((ddp_state[k].double() - reference[k].double()).abs().max()) for k in reference)
    assert worst < 1e-6, worst
    moved = max(float((ddp_state[k] - v).abs().max()) for k, v in _initial_state().items())
    assert moved > 1e-3  # the 30 steps did train


def _initial_state() -> dict[str, torch.Tensor]:
    from recblocks.runs.experiment import Experiment, build_model
    from recblocks.training.trainer import seed_everything

    experiment = Experiment.from_raw(copy.deepcopy(CONFIG))
    preprocessor = experiment.fit_preprocessor()
    seed_everything(CONFIG["train"]["seed"])
    return build_model(experiment.config, experiment.schema, preprocessor).state_dict()


def test_each_rank_trained_on_a_disjoint_shard_and_together_on_every_row(ddp: Path) -> None:
    ranks = [_report(ddp, 0), _report(ddp, 1)]
    rows = ranks[0]["train_rows"]
    steps_per_epoch = rows // (2 * PER_RANK_BATCH)  # 400 rows: 25 global batches of 16
    first = [{i for batch in r["seen"][:steps_per_epoch] for i in batch} for r in ranks]
    assert not first[0] & first[1]
    assert first[0] | first[1] == set(range(rows))
    assert [len(s) for s in first] == [rows // 2, rows // 2]
    assert all(len(batch) == PER_RANK_BATCH for r in ranks for batch in r["seen"])
    assert ranks[0]["epoch_samples"] == [rows, 5 * 2 * PER_RANK_BATCH]  # epochs count every rank's rows


def test_gathered_metrics_are_exactly_the_single_process_metrics(ddp: Path) -> None:
    from recblocks.metrics import MetricCollection

    ranks = [_report(ddp, 0), _report(ddp, 1)]
    assert ranks[0]["gathered"] == ranks[1]["gathered"]
    whole = MetricCollection(["auc", "gauc", "logloss"], "binary", group_key="user")
    whole.update(*(torch.tensor(ranks[0]["parts"][k] + ranks[1]["parts"][k]) for k in ("preds", "labels", "groups")))
    assert ranks[0]["gathered"] == whole.compute()  # AUC and GAUC over all 90 rows, not a mean of two
    means = [MetricCollection(["auc"], "binary") for _ in ranks]
    for part, r in zip(means, ranks):
        part.update(torch.tensor(r["parts"]["preds"]), torch.tensor(r["parts"]["labels"]))
    assert abs(sum(m.compute()["auc"] for m in means) / 2 - whole.compute()["auc"]) > 1e-4  # averaging would differ


def test_sharded_validation_equals_one_process_on_the_whole_split(ddp: Path) -> None:
    from recblocks.training.trainer import Trainer

    ranks = [_report(ddp, 0), _report(ddp, 1)]
    experiment, preprocessor, trainer, _ = _single_process()
    valid = experiment.batch("valid", preprocessor)
    assert ranks[0]["valid_rows_here"] + ranks[1]["valid_rows_here"] == len(valid)
    model = trainer.model
    model.load_state_dict(torch.load(ddp / "ddp_state.pt"))
    whole = Trainer(model, experiment.config.train).evaluate(InMemoryLoader(valid, 16, shuffle=False))
    assert ranks[0]["valid_sharded"] == ranks[1]["valid_sharded"]
    assert ranks[0]["valid_sharded"] == pytest.approx(whole, abs=1e-6)


def test_a_two_process_checkpoint_resumes_in_one_process(ddp: Path) -> None:
    from recblocks.runs import resume_run

    run = ddp / "run_ddp"
    assert _report(ddp, 0)["interrupted"] and json.loads((run / "run.json").read_text())["status"] == "failed"
    assert not (run / "epochs.jsonl").exists()  # interrupted inside epoch 1, after the checkpoint at step 7
    result = resume_run(run)
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["status"] == "complete" and manifest["resumes"][0]["checkpoint"] == "step-000007"
    epochs = [json.loads(line) for line in (run / "epochs.jsonl").read_text().splitlines()]
    # 7 steps of 2 x 8 rows were trained; one process goes on at row 112 of the same epoch order
    # with batches of 8: 288 rows, 36 steps; every row of the epoch is trained once
    assert [e["samples"] for e in epochs] == [400]
    assert [e["steps"] for e in epochs] == [7 + 36]
    assert result.history.global_step == 43


def test_a_parameter_the_loss_never_reaches_switches_find_unused_parameters_on(ddp: Path) -> None:
    ranks = [_report(ddp, 0), _report(ddp, 1)]
    assert [r["find_unused"] for r in ranks] == [True, True] and [r["unused_grad"] for r in ranks] == [None, None]
    # two backward passes of sum(used(x)): each adds the mean over ranks of the column sums of x
    expected = 2 * (torch.tensor(ranks[0]["inputs"]).sum(0) + torch.tensor(ranks[1]["inputs"]).sum(0)) / 2
    for r in ranks:
        assert torch.allclose(torch.tensor(r["used_grad"])[0], expected, atol=1e-6)


def test_the_probe_finds_unused_parameters_and_leaves_the_model_as_it_was() -> None:
    from test_distributed_worker import PartlyUsed

    model = torch.nn.Sequential(PartlyUsed(), torch.nn.BatchNorm1d(1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(3)
    unused = distributed.unused_parameters(model, lambda: (model(torch.randn(5, 2)) + torch.rand(1)).sum())
    assert unused == ["0.unused.weight", "0.unused.bias"]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # batch-norm statistics restored
    assert all(p.grad is None for p in model.parameters())
    after = torch.rand(1)
    torch.manual_seed(3)
    assert torch.equal(after, torch.rand(1))  # the random state is the one before the probe


def _tiny_config(tmp_path: Path) -> Path:
    raw = copy.deepcopy(CONFIG)
    raw["data"]["synthetic"]["num_rows"] = 200  # 160 training rows: 10 steps of 2 x 8 rows
    raw["train"].update(max_steps=None, epochs=1, save_checkpoints_steps=5, tensorboard=True)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_cli_nproc_2_trains_and_rank_0_alone_writes_the_run(tmp_path: Path) -> None:
    from recblocks.cli.main import cli

    config = _tiny_config(tmp_path)
    done = subprocess.run([sys.executable, "-m", "recblocks.cli.main", "train", str(config), "--nproc", "2",
                           "--output", str(tmp_path / "two")], env=_env(), capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    for line in ("epoch 1/1:", "valid: auc=", "test:  auc=", "run directory:"):
        assert output.count(line) == 1, (line, output[-2000:])
    # one process on the same global batches (16 rows) writes the same files
    assert CliRunner().invoke(cli, ["train", str(config), "--output", str(tmp_path / "one"),
                                    "--set", "train.batch_size=16"]).exit_code == 0
    two, one = tmp_path / "two", tmp_path / "one"
    assert sorted(os.listdir(two)) == sorted(os.listdir(one))
    assert sorted(os.listdir(two / "checkpoints")) == sorted(os.listdir(one / "checkpoints"))
    assert json.loads((two / "run.json").read_text())["status"] == "complete"
    epochs = [json.loads(line) for line in (two / "epochs.jsonl").read_text().splitlines()]
    assert [(e["steps"], e["samples"]) for e in epochs] == [(10, 160)]  # 8 rows per rank and step


# -- the pieces, in one process ------------------------------------------------------------
def test_shards_split_each_global_batch_and_resume_at_a_row() -> None:
    def shards_of(data: Batch, size: int, count: int) -> list[list[list[int]]]:
        return [[b.features["x"].tolist() for b in InMemoryLoader(data, size, seed=1, shard_index=i,
                                                                  num_shards=count)] for i in range(count)]

    uneven = shards_of(Batch({"x": torch.arange(50)}), 3, 2)  # 8 global batches of 6, the last with 8 rows
    assert len(uneven[0]) == len(uneven[1]) == len(sharded_bounds(50, 3, 2)) == 8
    seen = [x for part in uneven for batch in part for x in batch]
    assert sorted(seen) == list(range(50))  # disjoint, and every row once
    data = Batch({"x": torch.arange(54)})
    single = [b.features["x"].tolist() for b in InMemoryLoader(data, 6, seed=1)]
    shards = shards_of(data, 3, 2)
    assert [a + b for a, b in zip(*shards)] == single
    # resume under 3 shards after 2 global batches of 2 x 3 rows: the rest of the same order
    rest = []
    for i in range(3):
        loader = InMemoryLoader(data, 3, seed=1, shard_index=i, num_shards=3)
        loader.skip_rows(12)
        rest.append([b.features["x"].tolist() for b in loader])
    assert len({len(part) for part in rest}) == 1
    assert sorted(x for part in rest for batch in part for x in batch) == sorted(x for b in single[2:] for x in b)


def test_shard_arguments_are_checked() -> None:
    from recblocks.core.errors import ConfigError

    with pytest.raises(ConfigError, match="shard_index/num_shards: the shard must be one of the shards"):
        InMemoryLoader(Batch({"x": torch.arange(5)}), 2, shard_index=2, num_shards=2)
    with pytest.raises(ConfigError, match="num_shards: fewer rows than shards"):
        InMemoryLoader(Batch({"x": torch.arange(1)}), 2, num_shards=2)


def test_single_process_answers_without_a_group() -> None:
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    tensor = torch.arange(3)
    assert distributed.all_gather_rows(tensor) is tensor
    assert distributed.all_reduce_sum([1, 2.5]) == [1.0, 2.5]
    assert distributed.on_main(lambda: 7, "x") == 7
    distributed.barrier()
    command = distributed.launch_command(4, ["train", "c.yaml"])
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--nproc_per_node=4" in command and command[-4:] == ["-m", "recblocks.cli.main", "train", "c.yaml"]


def test_a_one_process_checkpoint_resumes_with_nproc_2(tmp_path: Path) -> None:
    from recblocks.runs.experiment import Experiment
    from recblocks.runs.run_dir import RunDir
    from recblocks.training.callbacks import Callback

    raw = yaml.safe_load(_tiny_config(tmp_path).read_text())

    class Interrupt(Callback):
        def on_checkpoint(self, trainer: Any) -> None:
            if trainer.global_step >= 10:  # before the second checkpoint (step 10) is written
                raise KeyboardInterrupt("interrupted by the test")

    run = tmp_path / "one"
    with pytest.raises(KeyboardInterrupt):
        with RunDir(run) as run_dir:
            run_dir.write_config(raw)
            Experiment.from_raw(copy.deepcopy(raw)).train(run_dir, callbacks=[Interrupt()])
    done = subprocess.run([sys.executable, "-m", "recblocks.cli.main", "train", "--resume", str(run), "--nproc", "2"],
                          env=_env(), capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["status"] == "complete" and manifest["resumes"][0]["checkpoint"] == "step-000005"
    epochs = [json.loads(line) for line in (run / "epochs.jsonl").read_text().splitlines()]
    # 5 steps of 8 rows by one process, then rows 40..159 of the same order in global batches
    # of 2 x 8 (the last of 8 rows): 8 more steps; every row of the epoch once
    assert [(e["steps"], e["samples"]) for e in epochs] == [(5 + 8, 160)]


def test_nproc_checks_the_config_before_starting_any_process(tmp_path: Path) -> None:
    from recblocks.cli.main import cli

    raw = yaml.safe_load(_tiny_config(tmp_path).read_text())
    raw["model"]["feature_groups"][0]["feature_names"].append("no_such_feature")
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(cli, ["train", str(tmp_path / "bad.yaml"), "--nproc", "2",
                                      "--output", str(tmp_path / "run")])
    assert result.exit_code == 2 and "no_such_feature" in result.output, result.output
    assert result.output.count("error (ConfigError)") == 1 and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_torchruns_own_failure_report_is_replaced_by_one_line(capfd: pytest.CaptureFixture[str]) -> None:
    from recblocks.cli.main import _run_torchrun

    launcher = ("import sys; sys.stderr.write('error (DataError): data.train: no such file\\n'"
                "'E1126 11:06:26.893000 7 torch/distributed/elastic/multiprocessing/api.py:1002] failed "
                "(exitcode: 2) local_rank: 0 (pid: 8) of binary: python\\n'"
                "'Traceback (most recent call last):\\n  File \"run.py\", line 1\\nChildFailedError:\\n'); sys.exit(1)")
    assert _run_torchrun([sys.executable, "-c", launcher]) == 1
    err = capfd.readouterr().err
    assert "error (DataError): data.train: no such file" in err and "Traceback" not in err
    assert "a training process failed (exit code 2)" in err


def test_cli_nproc_2_streams_parquet_with_each_rank_on_its_own_rows(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from recblocks.datasets.synthetic import make_synthetic

    synthetic = {k: v for k, v in CONFIG["data"]["synthetic"].items() if k != "num_rows"}
    pq.write_table(make_synthetic(**synthetic, num_rows=400), tmp_path / "train.parquet", row_group_size=50)
    pq.write_table(make_synthetic(**{**synthetic, "seed": 9}, num_rows=100), tmp_path / "valid.parquet")
    raw = copy.deepcopy(CONFIG)
    raw["data"] = {"train": str(tmp_path / "train.parquet"), "valid": str(tmp_path / "valid.parquet"),
                   "streaming": True, "rows_per_chunk": 100, "shuffle_buffer_rows": 100}
    raw["train"].update(max_steps=None, epochs=1, batch_size=20)
    (tmp_path / "stream.yaml").write_text(yaml.safe_dump(raw))
    done = subprocess.run([sys.executable, "-m", "recblocks.cli.main", "train", str(tmp_path / "stream.yaml"),
                           "--nproc", "2", "--output", str(tmp_path / "run")], env=_env(), capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    epochs = [json.loads(line) for line in (tmp_path / "run" / "epochs.jsonl").read_text().splitlines()]
    assert [(e["steps"], e["samples"]) for e in epochs] == [(10, 400)]  # 200 rows per rank, 20 per step
    # valid was streamed too, each rank its own rows, gathered: the metrics of the whole file
    from recblocks.runs.scoring import data_batch, evaluate_batch, open_run

    _, config, _, preprocessor, model = open_run(tmp_path / "run")
    batch, _, _ = data_batch(str(tmp_path / "valid.parquet"), preprocessor, {"label": "float"}, [])
    whole = evaluate_batch(model, config.train, batch, "whole")
    valid = json.loads((tmp_path / "run" / "metrics.json").read_text())["valid"]
    assert valid["auc"] == pytest.approx(whole["auc"], rel=1e-6)
    assert valid["logloss"] == pytest.approx(whole["logloss"], rel=1e-5)


def test_joining_a_group_frees_it_at_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    """init_from_env registers the exit hook that destroys the group and collects garbage while the
    interpreter is whole (without it a DDP wrapper kept gloo alive into finalization: SIGABRT)."""
    import atexit
    import gc

    registered, calls = [], []
    for key, value in {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "x", "MASTER_PORT": "1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda *a, **k: calls.append("init"))
    monkeypatch.setattr(atexit, "register", registered.append)
    monkeypatch.setattr(distributed, "_EXIT_RELEASE", [])
    distributed.init_from_env()
    distributed.release_at_exit()  # once only
    assert calls == ["init"] and registered == [distributed._release_at_exit]
    monkeypatch.setattr(distributed, "_group_ready", lambda: True)
    monkeypatch.setattr(torch.distributed, "destroy_process_group", lambda: calls.append("destroy"))
    monkeypatch.setattr(gc, "collect", lambda: calls.append("collect"))
    distributed._release_at_exit()
    assert calls == ["init", "destroy", "collect"]
