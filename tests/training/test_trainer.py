import math

import numpy as np
import pytest
import torch

from recblocks.core import ConfigError, DataError, LossTerms, ShapeError
from recblocks.metrics import auc
from recblocks.tasks import BinaryClassificationTask, MultiClassClassificationTask, RegressionTask
from recblocks.runs import RunDir, RunDirCallback
from recblocks.training import Callback, NonFiniteLossError, Trainer, copy_state_dict

FAST = {"optimizer": {"lr": 0.05}, "progress": False}


def test_fit_learns_the_synthetic_problem(fake):
    torch.manual_seed(0)
    model = fake.Model()
    train = fake.Loader(fake.data(3000, seed=1), batch_size=128, shuffle=True)
    valid = fake.Loader(fake.data(1000, seed=2), batch_size=500)
    before = Trainer(model, FAST).evaluate(valid)["auc"]
    history = Trainer(model, {**FAST, "epochs": 3}).fit(train, valid)
    assert train.epochs_seen == [0, 1, 2]
    final = history.epochs[-1]
    assert final.valid["auc"] > 0.8 > before
    assert history.train_loss[-1] < history.train_loss[0]
    assert final.samples == 3000 and final.steps == math.ceil(3000 / 128) and final.samples_per_s > 0
    assert history.monitor == "auc" and history.best_epoch is not None


def test_same_seed_gives_identical_losses(fake):
    def run():
        torch.manual_seed(3)
        model = fake.Model()
        loader = fake.Loader(fake.data(600, seed=1), batch_size=64, shuffle=True)
        history = Trainer(model, {**FAST, "epochs": 2, "seed": 11, "log_every": 3}).fit(loader)
        return history.train_loss, model.dense.weight.detach().clone()

    (losses_a, weights_a), (losses_b, weights_b) = run(), run()
    assert losses_a == losses_b
    assert torch.equal(weights_a, weights_b)


class Snapshots(Callback):
    def __init__(self):
        self.states = {}

    def on_epoch_end(self, trainer, record):
        self.states[record.epoch] = copy_state_dict(trainer.model)


def test_early_stopping_stops_and_restores_the_best_epoch(fake, tmp_path):
    """Valid labels are the inverse of train labels: valid AUC drops as training proceeds."""
    torch.manual_seed(0)
    model = fake.Model()
    train = fake.Loader(fake.data(1000, seed=1), batch_size=100)
    valid = fake.Loader(fake.data(500, seed=2, flip=True), batch_size=500)
    snapshots = Snapshots()
    run = RunDir(tmp_path / "run")
    config = {**FAST, "epochs": 10, "early_stopping": {"metric": "auc", "patience": 2}}
    history = Trainer(model, config, callbacks=[RunDirCallback(run), snapshots]).fit(train, valid)
    assert history.stopped_early
    assert history.best_epoch == 0
    assert [r.epoch for r in history.epochs] == [0, 1, 2]
    aucs = [r.valid["auc"] for r in history.epochs]
    assert aucs[0] > aucs[1] > aucs[2]
    state = model.state_dict()
    assert all(torch.equal(state[k], snapshots.states[0][k]) for k in state)
    assert not torch.equal(state["dense.weight"], snapshots.states[2]["dense.weight"])
    # the run directory holds the best weights, epochs and the summary
    run.finish()
    reloaded = RunDir.open(run.path).load_weights(fake.Model())
    assert all(torch.equal(reloaded.state_dict()[k], snapshots.states[0][k]) for k in state)
    assert len(run.read_epochs()) == 3
    summary = run.read_metrics()
    assert summary["best_epoch"] == 1 and summary["stopped_early"] is True  # files count epochs from 1
    assert summary["valid"]["auc"] == pytest.approx(aucs[0])
    assert run.optimizer_path.is_file()


def test_early_stopping_on_a_min_metric_with_task_prefix(fake):
    torch.manual_seed(0)
    model = fake.Model()
    trainer = Trainer(model, {**FAST, "early_stopping": {"metric": "ctr/logloss"}})
    assert (trainer.monitor, trainer.mode) == ("logloss", "min")
    with pytest.raises(ConfigError, match="early stopping needs a validation loader"):
        trainer.fit(fake.Loader(fake.data(100)))
    with pytest.raises(ConfigError, match="train.early_stopping.metric: the metric is not reported"):
        Trainer(fake.Model(), {"early_stopping": {"metric": "rmse"}})
    with pytest.raises(ConfigError, match=r"train.early_stopping.metric: the metric is not reported; expected one of "
                                          r"\['auc', 'logloss', 'accuracy', 'loss'\], got 'acu'; did you mean 'auc'"):
        Trainer(fake.Model(), {"early_stopping": {"metric": "acu"}})


def test_evaluate_keys_single_and_multi_task(fake):
    valid = fake.Loader(fake.data(300, seed=2), batch_size=100)
    single = Trainer(fake.Model(), {**FAST, "gauc_group": "user_id"})
    values = single.evaluate(valid)
    assert list(values) == ["auc", "logloss", "accuracy", "gauc", "loss"]
    assert single.metric_keys == list(values)
    tasks = [BinaryClassificationTask("click", "ctr"), RegressionTask("rating", "rating", weight=0.5),
             MultiClassClassificationTask("genre", "genre", num_classes=3)]
    multi = Trainer(fake.Model(tasks=tasks), FAST)
    values = multi.evaluate(valid)
    assert list(values) == ["ctr/auc", "ctr/logloss", "ctr/accuracy", "ctr/loss", "rating/rmse", "rating/mae",
                            "rating/mse", "rating/loss", "genre/accuracy", "genre/logloss", "genre/loss", "loss"]
    assert values["loss"] == pytest.approx(values["ctr/loss"] + 0.5 * values["rating/loss"] + values["genre/loss"])
    assert values["rating/mse"] == pytest.approx(values["rating/loss"], rel=1e-5)
    assert multi.monitor == "ctr/auc"
    history = multi.fit(fake.Loader(fake.data(300, seed=1), batch_size=100), valid)
    assert "genre/accuracy" in history.epochs[0].valid


def test_evaluate_matches_functional_metrics_and_restores_train_mode(fake):
    model = fake.Model()
    valid = fake.Loader(fake.data(300, seed=2), batch_size=64)
    trainer = Trainer(model, FAST)
    model.train()
    values = trainer.evaluate(valid)
    assert model.training
    preds = trainer.predict(valid, extras=["row"])
    labels = fake.data(300, seed=2).labels["click"].numpy()
    assert values["auc"] == pytest.approx(auc(labels, preds["ctr"]))
    assert preds["ctr"].shape == (300,) and ((preds["ctr"] > 0) & (preds["ctr"] < 1)).all()
    assert np.array_equal(preds["row"], np.arange(300))
    with pytest.raises(DataError, match="did you mean 'row'"):
        trainer.predict(valid, extras=["rows"])
    with pytest.raises(ConfigError, match=r"predict.extras: an extras column has the name of a model output"):
        trainer.predict(valid, extras=["ctr"])


def test_nan_loss_names_the_step(fake):
    data = fake.data(400)
    data.features["x1"][250] = float("nan")  # row 250 is in batch 6 (rows 250..299)
    for log_every in (1, 4, 100):
        torch.manual_seed(0)
        trainer = Trainer(fake.Model(), {**FAST, "log_every": log_every})
        with pytest.raises(NonFiniteLossError, match=r"train step 6 \(epoch 1\): the training loss is not finite"):
            trainer.fit(fake.Loader(data, batch_size=50))
    first = fake.data(100)
    first.features["x2"][0] = float("inf")
    model = fake.Model()
    before = copy_state_dict(model)
    with pytest.raises(NonFiniteLossError, match="train step 1"):
        Trainer(model, FAST).fit(fake.Loader(first, batch_size=50))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # nothing was updated


def test_first_batch_checks(fake):
    data = fake.data(100)
    model = fake.Model(tasks=[BinaryClassificationTask("clik")])
    with pytest.raises(DataError, match="task 'ctr'.label: label column missing.*did you mean 'click'"):
        Trainer(model, FAST).fit(fake.Loader(data))
    with pytest.raises(ShapeError, match="squeeze the last axis"):
        Trainer(fake.Model(output_shape_bug=True), FAST).fit(fake.Loader(data))
    bad = fake.data(100)
    bad.labels["click"][3] = 2.0
    with pytest.raises(DataError, match="binary labels must lie in"):
        Trainer(fake.Model(), FAST).fit(fake.Loader(bad))
    with pytest.raises(DataError, match="gauc_group: extras column 'uid' missing"):
        Trainer(fake.Model(), {**FAST, "gauc_group": "uid"}).fit(fake.Loader(data), fake.Loader(data))
    with pytest.raises(ConfigError, match="dense gradient but is updated row-wise"):
        Trainer(fake.Model(sparse=False), FAST, sparse=True).fit(fake.Loader(data))
    with pytest.raises(ConfigError, match="did you mean 'auc'"):
        Trainer(fake.Model(tasks=[BinaryClassificationTask("click", metrics=["acu"])]), FAST)
    with pytest.raises(ConfigError, match="the model does not follow the TrainableModel protocol"):
        Trainer(torch.nn.Linear(2, 1), FAST)


def test_one_pass_iterator_cannot_feed_two_epochs(fake):
    batches = iter([fake.data(50)])
    with pytest.raises(DataError, match="one-pass iterator"):
        Trainer(fake.Model(), {**FAST, "epochs": 2}).fit(batches)


def test_max_steps_schedule_and_clipping(fake):
    model = fake.Model()
    config = {**FAST, "epochs": 5, "max_steps": 7, "grad_clip_norm": 1.0,
              "lr_schedule": {"exponential_decay_learning_rate": {"decay_steps": 2, "decay_factor": 0.5}}}
    trainer = Trainer(model, config)
    history = trainer.fit(fake.Loader(fake.data(200), batch_size=50))  # 4 steps per epoch
    assert trainer.global_step == 7
    assert [r.steps for r in history.epochs] == [4, 3]
    # after 7 steps the next step is 7: 0.05 * 0.5 ** 3
    assert trainer.optimizer.learning_rates()["dense"] == pytest.approx(0.05 * 0.5 ** 3)
    assert trainer.optimizer.learning_rates()["embedding"] == pytest.approx(0.05 * 0.5 ** 3)


def test_regularization_is_part_of_the_training_loss(fake):
    data = fake.data(200)
    losses = []
    for reg in (0.0, 10.0):
        torch.manual_seed(0)
        model = fake.Model(l2=reg, embedding_regularization=reg)
        history = Trainer(model, {**FAST, "optimizer": {"lr": 1e-9}}).fit(fake.Loader(data, batch_size=200))
        losses.append(history.train_loss[0])
    torch.manual_seed(0)
    model = fake.Model(l2=10.0, embedding_regularization=10.0)
    logits = model(data).logits["ctr"]
    plain = torch.nn.functional.binary_cross_entropy_with_logits(logits, data.labels["click"])
    users = data.features["user"]
    regularization = 10.0 * (model.dense.weight.pow(2).sum() + model.user(users).pow(2).sum()
                             + model.bias(users).pow(2).sum())
    assert losses[1] == pytest.approx(float((plain + regularization).detach()), rel=1e-4)
    assert losses[1] > losses[0]
    assert history.train_terms[0]["regularization"] == pytest.approx(float(regularization.detach()), rel=1e-4)
    assert history.train_terms[0]["task/ctr"] == pytest.approx(float(plain.detach()), rel=1e-4)


def test_run_dir_without_validation_saves_final_weights(fake, tmp_path):
    model = fake.Model()
    run = RunDir(tmp_path / "run", config={"train": FAST})
    history = Trainer(model, FAST, callbacks=[RunDirCallback(run)]).fit(fake.Loader(fake.data(100)))
    assert history.best_epoch is None
    state = run.load_state_dict()
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert run.read_metrics()["best_epoch"] is None


def test_batches_without_len_and_empty_valid(fake):
    class NoLen:
        def __init__(self, data):
            self.data = data

        def __iter__(self):
            yield self.data

    history = Trainer(fake.Model(), FAST).fit(NoLen(fake.data(64)))
    assert history.epochs[0].samples == 64
    with pytest.raises(DataError, match="valid_loader: the loader produced no batches"):
        Trainer(fake.Model(), FAST).fit(NoLen(fake.data(64)), [])


def test_the_model_contract_is_checked_before_the_first_update(fake):
    data = fake.data(100)

    class TensorLoss(fake.Model):
        def loss(self, outputs, batch):
            return super().loss(outputs, batch).total

    class ConstantLoss(fake.Model):
        def loss(self, outputs, batch):
            return LossTerms(torch.tensor(1.0), {"ctr": torch.tensor(1.0)})

    class ChangingTerms(fake.Model):
        steps = 0

        def loss(self, outputs, batch):
            terms = super().loss(outputs, batch)
            self.steps += 1
            return terms if self.steps == 1 else LossTerms(terms.total, {"other": terms.tasks["ctr"]})

    class NoMonitor(fake.Model):
        def evaluator(self, gauc_group=None):
            evaluator = super().evaluator(gauc_group)
            evaluator.default_monitor = ("recall", "max")
            return evaluator

    with pytest.raises(ConfigError, match=r"^model.loss\(\): the model's loss must return LossTerms"):
        Trainer(TensorLoss(), FAST).fit(fake.Loader(data))
    with pytest.raises(ConfigError, match="the training loss does not depend on any trainable parameter"):
        Trainer(ConstantLoss(), FAST).fit(fake.Loader(data))
    with pytest.raises(ConfigError, match=r"the loss terms changed between training steps.*expected \['task/ctr', "
                                          r"'regularization'\], got \['task/other'\]"):
        Trainer(ChangingTerms(), {**FAST, "log_every": 2}).fit(fake.Loader(data, batch_size=10))
    with pytest.raises(ConfigError, match=r"model.evaluator\(\).default_monitor: the default monitor must be one "
                                          r"of the evaluator's keys"):
        Trainer(NoMonitor(), FAST)
    with pytest.raises(ConfigError, match=r"Trainer\(callbacks\[0\]\): not a Callback .*RunDirCallback"):
        Trainer(fake.Model(), FAST, [object()])


def test_a_later_non_finite_loss_names_the_term(fake):
    data = fake.data(400)
    data.features["x1"][250] = float("nan")
    torch.manual_seed(0)
    with pytest.raises(NonFiniteLossError, match=r"train step 6 \(epoch 1\): the training loss is not finite "
                                                 r"\(loss term 'task/ctr' is nan\)"):
        Trainer(fake.Model(), {**FAST, "log_every": 4}).fit(fake.Loader(data, batch_size=50))


def test_terms_reach_on_log_and_the_epoch_record(fake):
    class Logs(Callback):
        def __init__(self):
            self.calls = []

        def on_log(self, trainer, step, loss, terms):
            self.calls.append((step, loss, terms))

    logs = Logs()
    torch.manual_seed(0)
    history = Trainer(fake.Model(l2=0.1), {**FAST, "log_every": 3}, [logs]).fit(fake.Loader(fake.data(500), 50))
    assert [step for step, _, _ in logs.calls] == [3, 6, 9, 10]
    for _, loss, terms in logs.calls:
        assert list(terms) == ["task/ctr", "regularization"]
        assert loss == pytest.approx(terms["task/ctr"] + terms["regularization"], rel=1e-5)
    record = history.epochs[0]
    steps = [3, 3, 3, 1]
    mean = sum(n * terms["task/ctr"] for n, (_, _, terms) in zip(steps, logs.calls)) / 10
    assert record.train_terms["task/ctr"] == pytest.approx(mean, rel=1e-5)
    assert "task/ctr" in record.describe(1) and record.to_dict()["train_terms"] == record.train_terms
