"""The training loop: fit, evaluate, predict a model that follows ``TrainableModel``.

Reported metric keys: with one task they are bare (``auc``, ``logloss``, ``loss``); with
several they are ``<task>/<metric>`` plus ``<task>/loss`` and the weighted total ``loss``.
``loss`` in evaluation is the task loss (after ``pre``) without regularization; the training
loss also includes ``model.regularization_loss()``.

The inner loop is lean on purpose: the loss is kept as a tensor and synchronised only every
``log_every`` steps (progress bar, NaN check, callbacks), no metric work runs while training,
and gradients are reset with ``set_to_none``. Everything checkable is checked on the first
batch before the first update: label columns and values, output names and shapes, a finite
scalar loss, and that each optimizer receives the gradient layout it supports.

Numerical safety: a diverging loss or a validation AUC at chance is warned about (see
:mod:`recblocks.training.divergence`; the warnings land in the epoch records and in
``metrics.json``); weights holding NaN/inf are never written as a checkpoint
(:class:`NonFiniteWeightsError`); evaluation and prediction refuse NaN/inf scores
(:class:`NonFiniteScoresError`, naming the output, the count and the first row); a training
batch of one row for a model with batch norm is a clear error instead of torch's.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from recblocks.core.errors import ConfigError, DataError
from recblocks.core.params import parse_params
from recblocks.metrics import METRIC_ALIASES, MetricCollection, metric_mode
from recblocks.training.callbacks import Callback
from recblocks.training.checkpoint import check_finite_state, copy_state_dict
from recblocks.training.checks import (
    check_batch,
    check_batch_norm_rows,
    check_extras,
    check_first_loss,
    check_outputs,
    has_batch_norm,
    non_finite_rows,
)
from recblocks.training.config import TrainConfig
from recblocks.training.divergence import DivergenceMonitor
from recblocks.training.errors import NonFiniteLossError, NonFiniteScoresError
from recblocks.training.history import EpochRecord, History
from recblocks.training.optimizers import build_optimizer, clip_grad_norm
from recblocks.training.progress import progress_bar
from recblocks.training.protocol import check_trainable
from recblocks.training.run_dir import RunDir
from recblocks.training.schedules import ConstantSchedule

__all__ = ["Trainer", "seed_everything"]

logger = logging.getLogger("recblocks.training")


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    """Train, evaluate and predict with a model following :class:`TrainableModel`.

    Args:
        model: an ``nn.Module`` with ``tasks``, ``forward``, ``regularization_loss``,
            ``embedding_parameters`` and ``dense_parameters``.
        config: a :class:`TrainConfig` or its dict form (validated; ConfigError on typos).
        run_dir: where to write epochs, best weights, optimizer state and metrics (optional).
        callbacks: :class:`Callback` objects.
        sparse: which embedding tables get row-wise optimizers (see ``build_optimizer``).

    Raises:
        ConfigError: at construction for anything wrong in the config, the model's parameter
            lists, metric names, or the early-stopping metric.
    """

    def __init__(self, model: Any, config: TrainConfig | Mapping[str, Any] | None = None,
                 run_dir: RunDir | None = None, callbacks: Sequence[Callback] = (), *,
                 sparse: bool | None = None) -> None:
        check_trainable(model)
        self.config = config if isinstance(config, TrainConfig) else parse_params(TrainConfig, config, "train")
        self.model = model
        self.tasks = list(model.tasks)
        self.run_dir = run_dir
        self.callbacks = list(callbacks)
        self.optimizer = build_optimizer(model, self.config, sparse)
        self._collections_args = [self._metric_args(i, t) for i, t in enumerate(self.tasks)]
        self.monitor, self.mode = self._resolve_monitor()
        self.global_step = 0
        self.stop_training = False
        self.history: History | None = None
        self._checked = False
        self._plan = [(t.name, t.label, float(t.weight), getattr(t, "pre", None), t.loss, t) for t in self.tasks]
        self._device = torch.device("cpu")
        #: Divergence rules (replace to change the thresholds); see recblocks.training.divergence.
        self.divergence = DivergenceMonitor()
        self._epoch_warnings: list[dict[str, Any]] = []

    # -- setup ------------------------------------------------------------------------------
    def _model_device(self) -> torch.device:
        return next((p.device for p in self.model.parameters()), torch.device("cpu"))

    def _metric_args(self, index: int, task: Any) -> tuple[list[str], str]:
        kind = getattr(task, "task_type", None)
        if kind is None:
            raise ConfigError(f"model.tasks[{index}]", "the task has no task_type", "binary, regression or multiclass",
                              type(task).__name__)
        names = list(task.metrics)
        gauc_group = self.config.gauc_group
        if gauc_group and kind == "binary" and not {"gauc", "group_auc"} & set(names):
            names.append("gauc")
        MetricCollection(names, kind, gauc_group, where=f"tasks[{index}].metrics")  # validates now
        return names, kind

    def _collections(self) -> list[MetricCollection]:
        return [MetricCollection(names, kind, self.config.gauc_group, where=f"tasks[{i}].metrics")
                for i, (names, kind) in enumerate(self._collections_args)]

    @property
    def metric_keys(self) -> list[str]:
        """Keys :meth:`evaluate` returns (see module docstring for the format)."""
        collections = self._collections()
        if len(self.tasks) == 1:
            return [*collections[0].names, "loss"]
        keys = [f"{t.name}/{m}" for t, c in zip(self.tasks, collections) for m in [*c.names, "loss"]]
        return [*keys, "loss"]

    def _resolve_monitor(self) -> tuple[str, str]:
        stopping = self.config.early_stopping
        if stopping is not None:
            name, mode, where = stopping.metric, stopping.resolved_mode, "train.early_stopping.metric"
        else:
            name = self._collections()[0].names[0]
            mode, where = metric_mode(name), "metric"
        prefix, _, base = name.rpartition("/")
        base = METRIC_ALIASES.get(base, base)
        if len(self.tasks) == 1:
            key = base if prefix in ("", self.tasks[0].name) else name
        else:
            key = "loss" if (base == "loss" and not prefix) else f"{prefix or self.tasks[0].name}/{base}"
        keys = self.metric_keys
        if key not in keys:
            raise ConfigError(where, "the metric is not reported", f"one of {keys}", repr(name), choices=keys)
        return key, mode

    # -- fit --------------------------------------------------------------------------------
    def fit(self, train_loader: Iterable[Any], valid_loader: Iterable[Any] | None = None) -> History:
        """Train for ``config.epochs`` epochs (or ``max_steps``); validate after each epoch.

        The best epoch is picked by ``self.monitor`` (early-stopping metric, else the first
        task's first metric); its weights are restored at the end when ``restore_best``.
        """
        cfg = self.config
        self._device = self._model_device()
        if cfg.early_stopping is not None and valid_loader is None:
            raise ConfigError("train.early_stopping", "early stopping needs a validation loader",
                              "fit(train_loader, valid_loader)", "no valid_loader")
        seed_everything(cfg.seed)
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        if valid_loader is not None:
            self._peek(valid_loader)
        history = self.history = History(monitor=self.monitor if valid_loader is not None else None, mode=self.mode)
        self.stop_training = False
        best_state: dict[str, torch.Tensor] | None = None
        bad_epochs = 0
        # batch norm needs 2+ rows per training batch: the loader's batch size, checked per batch
        batch_norm_size = getattr(train_loader, "batch_size", cfg.batch_size) if has_batch_norm(self.model) else None
        self.optimizer.set_lr_multiplier(cfg.learning_rate_multiplier(self.global_step))
        for callback in self.callbacks:
            callback.on_fit_start(self)
        for epoch in range(cfg.epochs):
            if cfg.max_steps is not None and self.global_step >= cfg.max_steps:
                break
            if hasattr(train_loader, "set_epoch"):
                train_loader.set_epoch(epoch)
            for callback in self.callbacks:
                callback.on_epoch_start(self, epoch)
            record = self._train_epoch(train_loader, epoch, batch_norm_size)
            if valid_loader is not None:
                record.valid = self.evaluate(valid_loader)
                record.warnings += self.divergence.check_validation(record.valid, self.global_step, epoch)
                value = record.valid.get(self.monitor, float("nan"))
                if self._improved(value, history.best_value):
                    history.best_epoch, history.best_value, bad_epochs = epoch, value, 0
                    if cfg.restore_best:
                        best_state = copy_state_dict(self.model)
                    self._save_checkpoint()
                else:
                    bad_epochs += 1
                    if not math.isfinite(value):
                        logger.warning("epoch %d: validation %s is %s", epoch + 1, self.monitor, value)
            history.epochs.append(record)
            history.global_step = self.global_step
            if self.run_dir is not None:
                self.run_dir.append_epoch(record.to_dict())
            logger.info("%s", record.describe(cfg.epochs))
            for callback in self.callbacks:
                callback.on_epoch_end(self, record)
            if cfg.early_stopping is not None and bad_epochs >= cfg.early_stopping.patience:
                history.stopped_early = True
                logger.info("early stopping after epoch %d (best epoch %s)", epoch + 1,
                            None if history.best_epoch is None else history.best_epoch + 1)
                break
            if self.stop_training:
                break
        if best_state is not None and history.epochs and history.best_epoch != history.epochs[-1].epoch:
            self.model.load_state_dict(best_state)
        if self.run_dir is not None:
            if history.best_epoch is None:
                self._save_checkpoint()
            best = history.best
            self.run_dir.write_metrics({"best_epoch": None if history.best_epoch is None else history.best_epoch + 1,
                                        "monitor": history.monitor,
                                        "best_value": history.best_value, "stopped_early": history.stopped_early,
                                        "global_step": self.global_step, "valid": best.valid if best else {},
                                        "warnings": history.warnings})
        for callback in self.callbacks:
            callback.on_fit_end(self, history)
        return history

    def _improved(self, value: float, best: float | None) -> bool:
        if not math.isfinite(value):
            return False
        if best is None:
            return True
        delta = self.config.early_stopping.min_delta if self.config.early_stopping else 0.0
        return value > best + delta if self.mode == "max" else value < best - delta

    def _save_checkpoint(self) -> None:
        if self.run_dir is not None:
            check_finite_state(self.model.state_dict(), f"model weights at train step {self.global_step}")
            self.run_dir.save_weights(self.model)
            self.run_dir.save_optimizer(self.optimizer)

    def _peek(self, loader: Iterable[Any]) -> None:
        """Check the first validation batch up front when the loader can be iterated again."""
        iterator = iter(loader)
        if iterator is loader:
            return
        first = next(iterator, None)
        if first is None:
            raise DataError("valid_loader", "the loader produced no batches", "at least one batch", "none")
        check_batch(self.tasks, first, "validation batch")
        if self.config.gauc_group and any(c.needs_groups for c in self._collections()):
            check_extras(first, [self.config.gauc_group], "train.gauc_group")

    def _train_epoch(self, loader: Iterable[Any], epoch: int, batch_norm_size: int | None = None) -> EpochRecord:
        cfg, model, opt, plan = self.config, self.model, self.optimizer, self._plan
        model.train()
        first_label = self.tasks[0].label
        max_steps, log_every, clip = cfg.max_steps, cfg.log_every, cfg.grad_clip_norm
        scheduled = not isinstance(cfg.lr_schedule, ConstantSchedule)
        clip_params = list(opt.parameters()) if clip else []
        move = self._device.type != "cpu"
        window: list[torch.Tensor] = []
        self._epoch_warnings = []
        batch_norm = batch_norm_size is not None
        steps = samples = 0
        loss_total = 0.0
        bar = progress_bar(loader, f"epoch {epoch + 1}/{cfg.epochs}", cfg.progress)
        start = time.perf_counter()
        for batch in loader:
            if max_steps is not None and self.global_step >= max_steps:
                break
            if move:
                batch = batch.to(self._device)
            labels = batch.labels
            if batch_norm and len(batch) < 2:
                check_batch_norm_rows(len(batch), batch_norm_size, self.global_step + 1, epoch)
            if not self._checked:
                check_batch(self.tasks, batch)
            outputs = model(batch.features)
            if not self._checked:
                check_outputs(self.tasks, outputs, len(batch))
            regularization = model.regularization_loss()
            loss = regularization
            for name, label, weight, pre, loss_fn, _ in plan:
                logits = outputs[name]
                term = loss_fn(logits if pre is None else pre(logits), labels[label])
                loss = loss + term if weight == 1.0 else loss + weight * term
            if not self._checked:
                first = check_first_loss(loss, regularization, self.global_step + 1, epoch, batch, outputs)
                self.divergence.start(first)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if not self._checked:
                opt.check_gradients()
                self._checked = True
            if clip:
                clip_grad_norm(clip_params, clip)
            opt.step()
            self.global_step += 1
            steps += 1
            samples += labels[first_label].shape[0]
            window.append(loss.detach())
            if scheduled:
                opt.set_lr_multiplier(cfg.learning_rate_multiplier(self.global_step))
            if len(window) >= log_every:
                loss_total += self._flush(window, epoch, bar, samples, start)
        if window:
            loss_total += self._flush(window, epoch, bar, samples, start)
        seconds = time.perf_counter() - start
        bar.close()
        if steps == 0:
            hint = "; a one-pass iterator cannot feed several epochs" if epoch else ""
            raise DataError("train_loader", f"the loader produced no batches in epoch {epoch + 1}{hint}",
                            "at least one batch", "none")
        lrs = opt.learning_rates()
        return EpochRecord(epoch=epoch, steps=steps, samples=samples, train_loss=loss_total / steps,
                           seconds=seconds, samples_per_s=samples / max(seconds, 1e-9),
                           lr=lrs.get("dense", next(iter(lrs.values()))), warnings=list(self._epoch_warnings))

    def _flush(self, window: list[torch.Tensor], epoch: int, bar: Any, samples: int, start: float) -> float:
        """Sync the losses of the last steps: NaN check, divergence check, progress bar, callbacks."""
        stacked = torch.stack(window)
        total = float(stacked.sum())
        count = len(window)
        if not math.isfinite(total):
            bad = int((~torch.isfinite(stacked)).nonzero()[0, 0])
            raise NonFiniteLossError(self.global_step - count + bad + 1, epoch, float(stacked[bad]))
        window.clear()
        mean = total / count
        warning = self.divergence.check_loss(mean, self.global_step, epoch)
        if warning is not None:
            self._epoch_warnings.append(warning)
        if not bar.disable:
            rate = samples / max(time.perf_counter() - start, 1e-9)
            bar.set_postfix(loss=f"{mean:.4f}", samples_per_s=f"{rate:,.0f}", refresh=False)
            bar.update(count)
        for callback in self.callbacks:
            callback.on_log(self, self.global_step, mean)
        return total

    # -- evaluate / predict --------------------------------------------------------------------
    def evaluate(self, loader: Iterable[Any], where: str = "evaluation") -> dict[str, float]:
        """Metrics and loss of every task over ``loader`` (eval mode, no gradients).

        Raises NonFiniteScoresError (naming ``where``, the output, the count and the first row)
        when the model scores any row NaN or inf."""
        model = self.model
        self._device = self._model_device()
        collections = self._collections()
        group_key = self.config.gauc_group if any(c.needs_groups for c in collections) else None
        loss_sums = [torch.zeros((), dtype=torch.float64) for _ in self.tasks]
        bad_scores: list[tuple[int, int]] = [(0, 0) for _ in self.tasks]  # (rows, first row) per task
        rows = 0
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                for index, batch in enumerate(loader):
                    if self._device.type != "cpu":
                        batch = batch.to(self._device)
                    if index == 0:
                        check_batch(self.tasks, batch, "evaluation batch")
                        if group_key:
                            check_extras(batch, [group_key], "train.gauc_group")
                    outputs = model(batch.features)
                    count = len(batch)
                    if index == 0:
                        check_outputs(self.tasks, outputs, count)
                    groups = batch.extras[group_key] if group_key else None
                    for j, (name, label, _, pre, loss_fn, task) in enumerate(self._plan):
                        logits = outputs[name]
                        if pre is not None:
                            logits = pre(logits)
                        y = batch.labels[label]
                        loss_sums[j] += loss_fn(logits, y).double().cpu() * count
                        scores = task.activate(logits)
                        bad, first = non_finite_rows(scores)
                        if bad:
                            seen, earlier = bad_scores[j]
                            bad_scores[j] = (seen + bad, earlier or rows + first)
                        collections[j].update(scores, y, groups)
                    rows += count
        finally:
            model.train(was_training)
        if rows == 0:
            raise DataError("evaluation", "the loader produced no batches", "at least one batch", "none")
        for task, (bad, first) in zip(self.tasks, bad_scores):
            if bad:
                raise NonFiniteScoresError(where, task.name, bad, rows, first)
        results: dict[str, float] = {}
        total = 0.0
        single = len(self.tasks) == 1
        for task, collection, loss_sum in zip(self.tasks, collections, loss_sums):
            task_loss = float(loss_sum) / rows
            total += float(task.weight) * task_loss
            prefix = "" if single else f"{task.name}/"
            results.update({f"{prefix}{k}": v for k, v in collection.compute().items()})
            results[f"{prefix}loss"] = task_loss
        if not single:
            results["loss"] = total
        return results

    def predict(self, loader: Iterable[Any], extras: Sequence[str] = (),
                where: str = "prediction") -> dict[str, np.ndarray]:
        """Activated outputs per task name (probabilities or values; no ``pre``), plus the
        requested ``extras`` columns passed through, as numpy arrays in loader order.

        Raises NonFiniteScoresError (naming ``where``, the output, the count and the first row)
        when any score is NaN or inf."""
        clash = sorted(set(extras) & {t.name for t in self.tasks})
        if clash:
            raise ConfigError("predict.extras", "an extras column has the name of a task output",
                              "names distinct from the task names", clash)
        parts: dict[str, list[torch.Tensor]] = {t.name: [] for t in self.tasks}
        parts.update({name: [] for name in extras})
        model = self.model
        self._device = self._model_device()
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                for index, batch in enumerate(loader):
                    if self._device.type != "cpu":
                        batch = batch.to(self._device)
                    outputs = model(batch.features)
                    if index == 0:
                        check_outputs(self.tasks, outputs, len(batch))
                        check_extras(batch, list(extras), "predict.extras")
                    for task in self.tasks:
                        parts[task.name].append(task.activate(outputs[task.name]).detach().cpu())
                    for name in extras:
                        parts[name].append(batch.extras[name].cpu())
        finally:
            model.train(was_training)
        results = {name: torch.cat(chunks).numpy() if chunks else np.empty(0) for name, chunks in parts.items()}
        for task in self.tasks:
            bad, first = non_finite_rows(torch.from_numpy(results[task.name]))
            if bad:
                raise NonFiniteScoresError(where, task.name, bad, len(results[task.name]), first)
        return results

