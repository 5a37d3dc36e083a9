"""Tracking callbacks: the TensorBoard event log read back with TensorBoard's own reader, the
``train.callbacks`` entries (typed params, errors naming the entry), MLflow's param flattening
and its error when mlflow is not installed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from recblocks.core import ConfigError, LossTerms
from recblocks.core.params import parse_params
from recblocks.training import (
    CALLBACKS,
    Callback,
    MLflowCallback,
    RunContext,
    TensorBoardCallback,
    TensorBoardParams,
    TrainConfig,
    Trainer,
    build_callback,
)
from recblocks.training.mlflow_callback import flatten_params, metric_key

FAST = {"epochs": 2, "batch_size": 50, "progress": False, "seed": 0,
        "optimizer": {"name": "adam", "lr": 0.05}, "log_every": 3,
        "lr_schedule": {"type": "exponential_decay", "decay_steps": 4, "decay_factor": 0.5}}


def _scalars(folder: Path) -> dict[str, dict[int, float]]:
    """tag -> {step: value} of the event log in ``folder``, read by TensorBoard's reader."""
    reader = EventAccumulator(str(folder))
    reader.Reload()
    return {tag: {event.step: event.value for event in reader.Scalars(tag)} for tag in reader.Tags()["scalars"]}


class _Logs(Callback):
    def __init__(self) -> None:
        self.calls: list[tuple[int, float, dict[str, float]]] = []

    def on_log(self, trainer, step, loss, terms):
        self.calls.append((step, loss, dict(terms)))


def test_event_log_holds_loss_terms_lr_metrics_and_throughput_at_their_steps(fake, tmp_path):
    class WithAux(fake.Model):
        def loss(self, outputs, batch):  # a task term, an auxiliary term and regularization
            terms = super().loss(outputs, batch)
            center = outputs.lookups[0].pow(2).mean()
            return LossTerms(terms.total + center, terms.tasks, {"center": center}, terms.regularization)

    torch.manual_seed(0)
    logs, board = _Logs(), TensorBoardCallback(log_dir=tmp_path / "tb", flush_secs=1)
    board.attach(RunContext())
    trainer = Trainer(WithAux(l2=0.01), FAST, [logs, board])
    history = trainer.fit(fake.Loader(fake.data(500), 50), fake.Loader(fake.data(200, seed=1), 100))
    scalars = _scalars(tmp_path / "tb")

    steps = [3, 6, 9, 10, 13, 16, 19, 20]  # 10 steps per epoch, a flush every 3 and at the end of each epoch
    assert [step for step, _, _ in logs.calls] == steps
    assert sorted(scalars["train/loss"]) == steps
    for step, loss, terms in logs.calls:
        assert scalars["train/loss"][step] == pytest.approx(loss, rel=1e-6)
        assert set(terms) == {"task/ctr", "aux/center", "regularization"}
        for name, value in terms.items():
            assert scalars[f"train/{name}"][step] == pytest.approx(value, rel=1e-6)
        # the learning rate for the next step: 0.05 * 0.5 ** floor(step / 4), dense and embedding
        assert scalars["lr/dense"][step] == pytest.approx(0.05 * 0.5 ** (step // 4))
        assert scalars["lr/embedding"][step] == pytest.approx(0.05 * 0.5 ** (step // 4))
        assert scalars["throughput/steps_per_s"][step] > 0
    for record, step in zip(history.epochs, (10, 20)):
        assert set(record.valid) >= {"auc", "logloss"}
        for key, value in record.valid.items():
            assert scalars[f"valid/{key}"][step] == pytest.approx(value, rel=1e-6)
        assert scalars["epoch/train_loss"][step] == pytest.approx(record.train_loss, rel=1e-6)
        assert scalars["throughput/samples_per_s"][step] == pytest.approx(record.samples_per_s, rel=1e-6)


def test_a_callback_from_the_config_is_the_python_class():
    config = parse_params(TrainConfig, {"callbacks": [{"type": "TensorBoard", "flush_secs": 5}, "mlflow"]}, "train")
    assert [c.type for c in config.callbacks] == ["tensorboard", "mlflow"]
    board = build_callback(config.callbacks[0], "train.callbacks[0]")
    assert type(board) is TensorBoardCallback and board.flush_secs == 5 and board.where == "train.callbacks[0]"
    assert type(build_callback(config.callbacks[1])) is MLflowCallback
    assert config.to_dict()["callbacks"] == [{"type": "tensorboard", "flush_secs": 5}, {"type": "mlflow"}]
    assert parse_params(TrainConfig, config.to_dict(), "train") == config  # round trip
    assert CALLBACKS.get("tensorboard").params is TensorBoardParams
    assert TrainConfig().tensorboard is True and TrainConfig().callbacks == []


@pytest.mark.parametrize(("train", "where", "parts"), [
    ({"callbacks": [{"type": "tensorbord"}]}, "train.callbacks[0].type", ["unknown callback", "'tensorboard'?"]),
    ({"callbacks": ["mlflow", {"type": "tensorboard", "flush_sec": 3}]}, "train.callbacks[1].flush_sec",
     ["unknown parameter of TensorBoardParams", "did you mean 'flush_secs'?"]),
    ({"callbacks": [{"type": "tensorboard", "flush_secs": 0}]}, "train.callbacks[0].flush_secs", ["greater than or equal to 1"]),
    ({"callbacks": [{"flush_secs": 3}]}, "train.callbacks[0].type", ["needs its type"]),
    ({"callbacks": ["mlflow", "mlflow"]}, "train.callbacks[1].type", ["declared twice", "train.callbacks[0]"]),
    ({"callbacks": {"type": "mlflow"}}, "train.callbacks", ["must be a list"]),
    ({"callbacks": [3]}, "train.callbacks[0]", ["mapping with a type"]),
    ({"tensorboard": False, "callbacks": ["tensorboard"]}, "train.tensorboard", ["train.callbacks[0]"]),
])
def test_bad_callback_entries_name_the_entry(train, where, parts):
    with pytest.raises(ConfigError) as info:
        parse_params(TrainConfig, train, "train")
    assert info.value.where == where, str(info.value)
    for part in parts:
        assert part in str(info.value)


def test_tensorboard_without_a_run_directory_or_log_dir_is_refused_before_training():
    with pytest.raises(ConfigError, match="TensorBoardCallback: the TensorBoard log has nowhere to go"):
        TensorBoardCallback().attach(RunContext(run=None))


def test_flatten_params_and_metric_keys():
    config = {"train": {"optimizer": {"lr": 0.01}, "callbacks": [], "early_stopping": None},
              "features": [{"name": "C1", "vocab": {}}], "note": "x" * 600}
    flat = flatten_params(config)
    assert flat == {"train.optimizer.lr": "0.01", "train.callbacks": "[]", "train.early_stopping": "None",
                    "features.0.name": "C1", "features.0.vocab": "{}", "note": "x" * 500}
    assert metric_key("valid/ctr/recall@10") == "valid/ctr/recall_10"


def test_mlflow_requested_but_not_installed_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow raises ImportError
    config = parse_params(TrainConfig, {"callbacks": [{"type": "mlflow"}]}, "train")  # configs stay readable
    callback = build_callback(config.callbacks[0], "train.callbacks[0]")
    with pytest.raises(ConfigError) as info:
        callback.attach(RunContext())
    assert str(info.value).startswith("train.callbacks[0]: the mlflow callback needs MLflow")
    assert "expected pip install mlflow" in str(info.value) and "\n" not in str(info.value)


def test_step_evaluations_reach_the_event_log_at_their_steps(fake, tmp_path):
    """``train.eval_steps``: every step validation is logged once, at its own step."""
    class Evaluations(Callback):
        def __init__(self) -> None:
            self.seen: list[dict] = []

        def on_evaluate(self, trainer, evaluation):
            self.seen.append(evaluation)

    torch.manual_seed(0)
    evaluations, board = Evaluations(), TensorBoardCallback(log_dir=tmp_path / "tb", flush_secs=1)
    board.attach(RunContext())
    trainer = Trainer(fake.Model(), {**FAST, "eval_steps": 4}, [evaluations, board])
    trainer.fit(fake.Loader(fake.data(500), 50), fake.Loader(fake.data(200, seed=1), 100))
    scalars = _scalars(tmp_path / "tb")
    steps = [e["step"] for e in evaluations.seen]
    assert steps[:4] == [4, 8, 12, 16]
    assert set(scalars["valid/auc"]) == {*steps, 10, 20}  # step evaluations and the two epoch ends
    for evaluation in evaluations.seen:
        assert scalars["valid/auc"][evaluation["step"]] == pytest.approx(evaluation["valid"]["auc"], rel=1e-6)
