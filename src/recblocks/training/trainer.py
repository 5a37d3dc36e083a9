"""The training loop: fit, evaluate, predict any model that follows ``TrainableModel``.

The model owns what is computed: ``outputs = model(batch)``, ``terms = model.loss(outputs,
batch)`` (a :class:`~recblocks.core.context.LossTerms`: the total and its named terms),
``model.evaluator(gauc_group)`` (metric keys, the default monitor, the metrics),
``model.predictions(outputs)``. The trainer only steps, logs and evaluates, so a multi-task,
two-tower or contrastive model trains here unchanged. Run directories, checkpoints and other
files are written by callbacks (:class:`~recblocks.runs.run_callback.RunDirCallback`).

The inner loop is lean on purpose: the loss and its terms are kept as detached tensors and
synchronised only every ``log_every`` steps (progress bar, NaN check, callbacks; see
:class:`~recblocks.training.loss_window.LossWindow`), no metric work runs while training,
and gradients are reset with ``set_to_none``. Everything checkable is checked on the first
batch before the first update: the model's own batch and output checks
(``model.check_batch``, ``model.check_outputs``), a finite scalar loss that depends on the
parameters, and that each optimizer receives the gradient layout it supports.

Loss terms are logged per window (progress bar, ``Callback.on_log``) and per epoch
(:attr:`EpochRecord.train_terms`, unweighted means: ``task/<name>``, ``aux/<name>``,
``regularization``) beside the total.

Numerical safety: a diverging loss or a validation AUC at chance is warned about (see
:mod:`recblocks.training.divergence`; the warnings land in the epoch records and in
``metrics.json``); weights holding NaN/inf are never written as a checkpoint (the run
directory callback refuses them: :class:`NonFiniteWeightsError`); evaluation and prediction
refuse NaN/inf scores (:class:`NonFiniteScoresError`, naming the output, the count and the
first row); a training batch of one row for a model with batch norm is a clear error instead
of torch's.

Data-parallel training (``torchrun``; :mod:`recblocks.training.distributed`): when a process
group of several ranks is initialised, the training forward goes through
``DistributedDataParallel`` (made on the first batch; every gradient of ``loss.backward()`` is
averaged over ranks), while ``loss``, ``predictions``, evaluation and ``state_dict`` use the
plain model, so checkpoints hold the plain layout. Each rank reads its own shard (its loader's
business); the logged losses are the mean of the ranks' losses; an evaluation over a sharded
loader (``num_shards > 1``) gathers every rank's predictions before the metrics are computed
(the evaluator's ``gather``), so AUC and GAUC are exact over all ranks; the progress bar shows
on rank 0 only. Rank ``r`` draws its random numbers (dropout) from ``seed + r``. A checkpoint
records the world size and the global rows trained in the epoch; resumed under another world
size, a loader with ``skip_rows`` continues at that row of the epoch's (world-size free) order.
"""

from __future__ import annotations

import itertools
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
from recblocks.training import distributed
from recblocks.training.callbacks import Callback
from recblocks.training.checkpoint import copy_state_dict
from recblocks.training.checks import check_batch_norm_rows, check_first_loss, has_batch_norm
from recblocks.training.config import TrainConfig
from recblocks.training.devices import (autocast, check_precision, float32_outputs, make_grad_scaler, move_batch,
                                        resolve_device, to_cpu, unscale)
from recblocks.training.divergence import DivergenceMonitor
from recblocks.training.embedding_backend import apply_embedding_backend, uses_fused_tables
from recblocks.training.history import EpochRecord, History
from recblocks.training.inference import evaluate_model, model_device, predict_model
from recblocks.training.loss_window import LossWindow
from recblocks.training.monitor import resolve_monitor
from recblocks.training.optimizers import build_optimizer, clip_grad_norm
from recblocks.training.progress import progress_bar
from recblocks.training.row_reset import assigning_modules, reset_assigned_rows
from recblocks.training.protocol import check_evaluator, check_trainable
from recblocks.training.schedules import ConstantSchedule
from recblocks.training.train_state import TrainingState, capture_rng, restore_rng

__all__ = ["Trainer", "seed_everything"]

logger = logging.getLogger("recblocks.training")


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _skip_batches(loader: Iterable[Any], count: int) -> Iterable[Any]:
    """``loader`` without its first ``count`` batches of this epoch: the loader's own
    ``skip_batches`` when it has one (no work), else by drawing and dropping them (a loader
    whose order depends only on ``(seed, epoch)``, as recblocks' loaders do, yields the same rest)."""
    if count <= 0:
        return loader
    if hasattr(loader, "skip_batches"):
        loader.skip_batches(count)
        return loader
    return itertools.islice(iter(loader), count, None)


def _resume_position(loader: Iterable[Any], progress: Mapping[str, Any], steps: int) -> Iterable[Any]:
    """``loader`` positioned after the batches a checkpoint's epoch had trained: the same batch
    under the same world size; under another one, the loader's ``skip_rows`` at the global row
    the checkpoint recorded (else the nearest whole batch, with a warning)."""
    then, now = int(progress.get("world_size", 1)), distributed.world_size()
    if then == now:
        return _skip_batches(loader, steps)
    rows = int(progress.get("global_rows", progress["samples"] * then))
    if hasattr(loader, "skip_rows"):
        loader.skip_rows(rows)
        return loader
    per_step = getattr(loader, "batch_size", 1) * now
    logger.warning("resuming a checkpoint of %d processes under %d: this loader cannot start at row %d of the "
                   "epoch; skipping %d whole batches instead", then, now, rows, rows // per_step)
    return _skip_batches(loader, rows // per_step)


class Trainer:
    """Train, evaluate and predict with a model following :class:`TrainableModel`.

    Args:
        model: an ``nn.Module`` with ``forward(batch)``, ``loss``, ``evaluator``,
            ``predictions``, ``check_batch``, ``embedding_parameters``, ``dense_parameters``.
        config: a :class:`TrainConfig` or its dict form (validated; ConfigError on typos).
        callbacks: :class:`Callback` objects (e.g. ``RunDirCallback(run_dir)`` to write a run).
        sparse: which embedding tables get row-wise optimizers (see ``build_optimizer``).

    Attributes:
        metric_keys: the keys :meth:`evaluate` returns (from the model's evaluator).
        monitor, mode: the validation key that picks the best epoch and its direction.

    Raises:
        ConfigError: at construction for anything wrong in the config, the model's parameter
            lists, its evaluator (metric names), or the early-stopping metric (resolved
            against the evaluator's keys, with a did-you-mean).
    """

    def __init__(self, model: Any, config: TrainConfig | Mapping[str, Any] | None = None,
                 callbacks: Sequence[Callback] | None = (), *, sparse: bool | None = None) -> None:
        check_trainable(model)
        self.config = config if isinstance(config, TrainConfig) else parse_params(TrainConfig, config, "train")
        self.model = model
        self.callbacks = list(callbacks or ())
        for index, callback in enumerate(self.callbacks):
            if not isinstance(callback, Callback):
                raise ConfigError(f"Trainer(callbacks[{index}])", "not a Callback (the trainer writes no files "
                                  "itself: write a run directory with RunDirCallback(run_dir))",
                                  "a recblocks.training.Callback", type(callback).__name__)
        #: where the model, batches and metrics live (``train.device``), and the autocast dtype
        if self.config.device is None:  # where the model is (the CPU for a model a run builds)
            self.device = model_device(model)
        else:
            self.device = resolve_device(self.config.device)
            model.to(self.device)
        self.autocast_dtype = check_precision(self.config.mixed_precision, self.device)
        if self.config.embedding_backend == "torchrec":  # tables sharded by TorchRec (torchrec_backend_trainer)
            from recblocks.training.torchrec_backend_trainer import wrap_for_trainer

            self.model, self.optimizer = wrap_for_trainer(model, self.config)
        else:
            if distributed.needs_dense_embedding_gradients():  # nccl has no sparse all-reduce (docs/distributed/ddp.md)
                distributed.dense_embedding_gradients(model)
            self.optimizer = build_optimizer(model, self.config, sparse)
        self.scaler = make_grad_scaler(self.device, self.config.mixed_precision)
        self._assigning = assigning_modules(model)  # dynamic vocabularies (recblocks.features.dynamic_vocab)
        self._sparse, self._backend_applied = sparse, False
        if uses_fused_tables(model):  # trained on fbgemm before (Model.fit again): its optimizer has fused state
            self._apply_backend()
        evaluator = self._evaluator()
        self.metric_keys: list[str] = list(evaluator.keys)
        self.monitor, self.mode = resolve_monitor(evaluator, self.config.early_stopping)
        self.global_step = 0
        self.stop_training = False
        self.history: History | None = None
        self._checked = False
        self._term_names: list[str] = []
        #: Divergence rules (replace to change the thresholds); see recblocks.training.divergence.
        self.divergence = DivergenceMonitor()
        self._epoch_warnings: list[dict[str, Any]] = []
        self._progress: dict[str, Any] | None = None  # the epoch in progress at a checkpoint
        self._valid_loader: Iterable[Any] | None = None
        self._best_state: dict[str, torch.Tensor] | None = None
        self._bad = 0
        self._halt = False
        self._parallel: torch.nn.Module | None = None  # the DDP wrapper, made on the first training batch

    def _apply_backend(self) -> None:
        """``train.embedding_backend``: swap the tables once, when training starts (evaluation and
        prediction never need the backend installed)."""
        if not self._backend_applied:
            self.optimizer = apply_embedding_backend(self.model, self.config, self._sparse) or self.optimizer
            self._backend_applied = True

    def _evaluator(self) -> Any:
        """A fresh evaluator of the model, checked against the protocol."""
        evaluator = self.model.evaluator(self.config.gauc_group)
        check_evaluator(evaluator)
        return evaluator

    # -- fit --------------------------------------------------------------------------------
    def fit(self, train_loader: Iterable[Any], valid_loader: Iterable[Any] | None = None,
            resume: TrainingState | None = None) -> History:
        """Train for ``config.epochs`` epochs (or ``max_steps``); validate after each epoch (and
        every ``eval_steps`` steps when set).

        The best evaluation is picked by ``self.monitor`` (early-stopping metric, else the
        evaluator's default monitor); its weights are restored at the end when
        ``restore_best``. Callbacks see each improvement (``on_best``), each step evaluation
        (``on_evaluate``), each checkpoint (``on_checkpoint``, every ``save_checkpoints_steps``),
        each epoch and the end. ``resume``: a :class:`TrainingState` from a checkpoint; training
        continues exactly where it was taken (see :mod:`recblocks.training.train_state`).
        """
        cfg = self.config
        if cfg.early_stopping is not None and valid_loader is None:
            raise ConfigError("train.early_stopping", "early stopping needs a validation loader",
                              "fit(train_loader, valid_loader)", "no valid_loader")
        if cfg.eval_steps is not None and valid_loader is None:
            raise ConfigError("train.eval_steps", "evaluation every N steps needs validation data",
                              "a validation loader (data.valid)", "no validation data")
        seed_everything(cfg.seed + distributed.rank())  # rank 0 (and a single process) draws from the seed itself
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        if valid_loader is not None:
            self._peek(valid_loader)
        self._valid_loader = valid_loader
        history = self.history = History(monitor=self.monitor if valid_loader is not None else None, mode=self.mode)
        self.stop_training = self._halt = False
        self._best_state: dict[str, torch.Tensor] | None = None
        self._bad = 0
        self._apply_backend()
        first_epoch = self._restore(resume) if resume is not None else 0
        history = self.history
        # batch norm needs 2+ rows per training batch: the loader's batch size, checked per batch
        batch_norm_size = getattr(train_loader, "batch_size", cfg.batch_size) if has_batch_norm(self.model) else None
        self.optimizer.set_lr_multiplier(cfg.learning_rate_multiplier(self.global_step))
        for callback in self.callbacks:
            callback.on_fit_start(self)
        for epoch in range(first_epoch, cfg.epochs):
            if cfg.max_steps is not None and self.global_step >= cfg.max_steps and self._progress is None:
                break
            if hasattr(train_loader, "set_epoch"):
                train_loader.set_epoch(epoch)
            for callback in self.callbacks:
                callback.on_epoch_start(self, epoch)
            record = self._train_epoch(train_loader, epoch, batch_norm_size)
            last = history.evaluations[-1] if history.evaluations else None
            if last is not None and last["step"] == self.global_step:
                record.valid = dict(last["valid"])  # validated at this very step already
            elif valid_loader is not None:
                record.valid = self.evaluate(valid_loader)
                record.warnings += self.divergence.check_validation(record.valid, self.global_step, epoch)
                self._consider(record.valid, epoch)
            history.epochs.append(record)
            history.global_step = self.global_step
            logger.info("%s", record.describe(cfg.epochs))
            for callback in self.callbacks:
                callback.on_epoch_end(self, record)
            if cfg.early_stopping is not None and self._bad >= cfg.early_stopping.patience:
                history.stopped_early = True
                logger.info("early stopping after epoch %d (best epoch %s)", epoch + 1,
                            None if history.best_epoch is None else history.best_epoch + 1)
                break
            if self.stop_training:
                break
        if self._best_state is not None and history.best_step != self.global_step:
            self.model.load_state_dict(self._best_state)
        for callback in self.callbacks:
            callback.on_fit_end(self, history)
        unwrap = getattr(self.model, "unwrap", None)
        if unwrap is not None:  # a wrapped backend (torchrec): the plain model with the trained weights
            self.model = unwrap()
        return history

    def _consider(self, valid: Mapping[str, float], epoch: int) -> None:
        """Best selection and the early-stopping counter after one evaluation."""
        history = self.history
        value = valid.get(self.monitor, float("nan"))
        if self._improved(value, history.best_value):
            history.best_epoch, history.best_value, history.best_step, self._bad = epoch, value, self.global_step, 0
            if self.config.restore_best:
                self._best_state = copy_state_dict(self.model)
            for callback in self.callbacks:
                callback.on_best(self)
        else:
            self._bad += 1
            if not math.isfinite(value):
                logger.warning("epoch %d, step %d: validation %s is %s", epoch + 1, self.global_step, self.monitor,
                               value)

    # -- steps: evaluation and checkpoints ---------------------------------------------------
    def _next_event(self) -> int:
        """The global step of the next step evaluation or checkpoint (-1: none)."""
        cfg = self.config
        every = [n for n in (cfg.save_checkpoints_steps, cfg.eval_steps if self._valid_loader is not None else None)
                 if n]
        return min((self.global_step // n + 1) * n for n in every) if every else -1

    def _step_event(self, epoch: int, steps: int, samples: int, loss_total: float, term_totals: list[float]) -> None:
        """A step evaluation and/or checkpoint at ``global_step`` (the loss window was just synced)."""
        cfg, step = self.config, self.global_step
        if cfg.eval_steps and step % cfg.eval_steps == 0 and self._valid_loader is not None:
            valid = self.evaluate(self._valid_loader, f"validation at step {step}")
            self.model.train()
            self._epoch_warnings += self.divergence.check_validation(valid, step, epoch)
            entry = {"step": step, "epoch": epoch + 1, "valid": valid}
            self.history.evaluations.append(entry)
            self._consider(valid, epoch)
            logger.info("step %d: valid %s", step, " ".join(f"{k} {v:.5f}" for k, v in valid.items()))
            for callback in self.callbacks:
                callback.on_evaluate(self, entry)
            if cfg.early_stopping is not None and self._bad >= cfg.early_stopping.patience:
                self._halt = True
        if cfg.save_checkpoints_steps and step % cfg.save_checkpoints_steps == 0:
            self._progress = {"epoch": epoch, "steps": steps, "samples": samples, "loss_total": loss_total,
                              "term_totals": list(term_totals), "warnings": [dict(w) for w in self._epoch_warnings],
                              "world_size": distributed.world_size(),
                              "global_rows": int(distributed.all_reduce_sum([samples])[0])}
            try:
                for callback in self.callbacks:
                    callback.on_checkpoint(self)
            finally:
                self._progress = None

    def training_state(self) -> TrainingState:
        """The checkpoint of this moment (valid inside ``on_checkpoint``; see
        :mod:`recblocks.training.train_state`)."""
        if self._progress is None or self.history is None:
            raise RuntimeError("Trainer.training_state() is available only inside Callback.on_checkpoint")
        trainer = {"global_step": self.global_step, "progress": dict(self._progress), "bad": self._bad,
                   "term_names": list(self._term_names), "history": self.history.state(),
                   "divergence": [self.divergence.first_loss, self.divergence._warned_epoch],
                   "monitor": self.monitor, "rng": capture_rng()}
        if self.scaler is not None:
            trainer["grad_scaler"] = self.scaler.state_dict()
        return TrainingState(self.model.state_dict(), to_cpu(self.optimizer.state_dict()), trainer, self._best_state)

    def _restore(self, state: TrainingState) -> int:
        """Load a checkpoint's state; returns the epoch in progress (continued by ``_train_epoch``)."""
        t = state.trainer
        if t.get("monitor") != self.monitor:
            raise ConfigError("train.early_stopping.metric", "the checkpoint picked its best by another metric",
                              repr(t.get("monitor")), repr(self.monitor))
        self.model.load_state_dict(state.model)
        self.optimizer.load_state_dict(state.optimizer)
        if self.scaler is not None and "grad_scaler" in t:
            self.scaler.load_state_dict(t["grad_scaler"])
        self._best_state = state.best
        self.global_step, self._bad = int(t["global_step"]), int(t["bad"])
        self.history = History.from_state(t["history"])
        self._term_names = list(t["term_names"])
        self.divergence.first_loss, self.divergence._warned_epoch = t["divergence"]
        self._progress = dict(t["progress"])
        restore_rng(t["rng"])
        return int(self._progress["epoch"])

    def _improved(self, value: float, best: float | None) -> bool:
        if not math.isfinite(value):
            return False
        if best is None:
            return True
        delta = self.config.early_stopping.min_delta if self.config.early_stopping else 0.0
        return value > best + delta if self.mode == "max" else value < best - delta

    def _peek(self, loader: Iterable[Any]) -> None:
        """Check the first validation batch up front when the loader can be iterated again."""
        iterator = iter(loader)
        if iterator is loader:
            return
        first = next(iterator, None)
        if first is None:
            raise DataError("valid_loader", "the loader produced no batches", "at least one batch", "none")
        self.model.check_batch(first, "validation batch")
        check = getattr(self._evaluator(), "check_batch", None)
        if check is not None:
            check(first, "validation batch")

    def _train_epoch(self, loader: Iterable[Any], epoch: int, batch_norm_size: int | None = None) -> EpochRecord:
        cfg, model, opt = self.config, self.model, self.optimizer
        model.train()
        check_outputs = getattr(model, "check_outputs", None)
        max_steps, log_every, clip = cfg.max_steps, cfg.log_every, cfg.grad_clip_norm
        scheduled = not isinstance(cfg.lr_schedule, ConstantSchedule)
        clip_params = list(opt.parameters()) if clip else []
        device, half, scaler, assigning = self.device, self.autocast_dtype, self.scaler, self._assigning
        move = device.type != "cpu"
        torch_optimizers = list(opt.optimizers.values())
        window = LossWindow()
        totals, rows = window.totals, window.rows
        self._epoch_warnings = []
        batch_norm = batch_norm_size is not None
        steps = samples = 0
        loss_total, term_totals = 0.0, [0.0] * len(self._term_names)
        resumed, self._progress = self._progress, None
        if resumed is not None:  # continue the epoch a checkpoint was taken in
            steps, samples, loss_total = resumed["steps"], resumed["samples"], resumed["loss_total"]
            term_totals, self._epoch_warnings = list(resumed["term_totals"]), list(resumed["warnings"])
            loader = _resume_position(loader, resumed, steps)
            if int(resumed.get("world_size", 1)) != distributed.world_size():  # the ranks' rows add up to the epoch's
                size, done = distributed.world_size(), int(resumed.get("global_rows", samples))
                samples = done // size + (done % size if distributed.is_main() else 0)
        next_event = self._next_event()
        bar = progress_bar(loader, f"epoch {epoch + 1}/{cfg.epochs}", cfg.progress and distributed.is_main())
        forward = self._parallel or model
        start = time.perf_counter()
        terms = None
        for batch in loader:
            if max_steps is not None and self.global_step >= max_steps:
                break
            if move:
                batch = move_batch(batch, device)
            rows_in_batch = len(batch)
            if batch_norm and rows_in_batch < 2:
                check_batch_norm_rows(rows_in_batch, batch_norm_size, self.global_step + 1, epoch)
            if not self._checked:
                model.check_batch(batch, "train batch")
            if self._parallel is None and distributed.is_distributed() and self.config.embedding_backend != "torchrec":
                self._parallel = forward = distributed.wrap_model(model, lambda: model.loss(model(batch), batch).total)
            if half is None:
                outputs = forward(batch)
            else:
                with autocast(device, half):
                    outputs = forward(batch)
                outputs = float32_outputs(outputs)  # the loss and its terms in float32
            if not self._checked and check_outputs is not None:
                check_outputs(outputs, batch, "train batch")
            terms = model.loss(outputs, batch)
            if not self._checked:
                first = check_first_loss(terms, self.global_step + 1, epoch, batch,
                                         lambda: model.predictions(outputs))
                self.divergence.start(first)
                self._term_names = terms.names()
            loss = terms.total
            opt.zero_grad(set_to_none=True)
            (loss if scaler is None else scaler.scale(loss)).backward()
            if assigning:
                reset_assigned_rows(assigning, torch_optimizers)
            if not self._checked:
                opt.check_gradients()
                self._checked = True
            if clip:
                unscale(scaler, torch_optimizers)
                clip_grad_norm(clip_params, clip)
            if scaler is None:
                opt.step()
            else:
                for torch_optimizer in torch_optimizers:
                    scaler.step(torch_optimizer)
                scaler.update()
            self.global_step += 1
            steps += 1
            samples += rows_in_batch
            totals.append(loss.detach())
            rows.append([value.detach() for value in terms.values()])
            if scheduled:
                opt.set_lr_multiplier(cfg.learning_rate_multiplier(self.global_step))
            if len(totals) >= log_every:
                loss_total, term_totals = self._flush(window, terms, epoch, bar, samples, start, loss_total,
                                                      term_totals)
            if self.global_step == next_event:  # a step evaluation or checkpoint (an integer compare per step)
                if totals:
                    loss_total, term_totals = self._flush(window, terms, epoch, bar, samples, start, loss_total,
                                                          term_totals)
                self._step_event(epoch, steps, samples, loss_total, term_totals)
                if self._halt:
                    break
                next_event = self._next_event()
        if totals:
            loss_total, term_totals = self._flush(window, terms, epoch, bar, samples, start, loss_total, term_totals)
        seconds = time.perf_counter() - start
        bar.close()
        if steps == 0:
            hint = "; a one-pass iterator cannot feed several epochs" if epoch else ""
            raise DataError("train_loader", f"the loader produced no batches in epoch {epoch + 1}{hint}",
                            "at least one batch", "none")
        lrs = opt.learning_rates()
        if distributed.is_distributed():  # the epoch's rows over every rank
            samples = int(distributed.all_reduce_sum([samples])[0])
        return EpochRecord(epoch=epoch, steps=steps, samples=samples, train_loss=loss_total / steps,
                           seconds=seconds, samples_per_s=samples / max(seconds, 1e-9),
                           lr=lrs.get("dense", next(iter(lrs.values()))),
                           train_terms={name: total / steps for name, total in zip(self._term_names, term_totals)},
                           warnings=list(self._epoch_warnings))

    def _flush(self, window: LossWindow, last_terms: Any, epoch: int, bar: Any, samples: int, start: float,
               loss_total: float, term_totals: list[float]) -> tuple[float, list[float]]:
        """Sync the losses of the last steps: NaN check, divergence check, progress bar, callbacks.
        Returns the epoch's loss and per-term sums with the window's added."""
        names = self._term_names
        if last_terms.names() != names:
            raise ConfigError("model.loss()", "the loss terms changed between training steps (a model must return "
                              "the same terms every step; report an absent term as 0)", names, last_terms.names())
        count = len(window)
        total, term_sums = window.sync(names, self.global_step, epoch)
        if distributed.is_distributed():  # the mean of the ranks' losses: every rank logs and checks the same
            size = distributed.world_size()
            total, *term_sums = [value / size for value in distributed.all_reduce_sum([total, *term_sums])]
        mean = total / count
        terms = {name: value / count for name, value in zip(names, term_sums)}
        warning = self.divergence.check_loss(mean, self.global_step, epoch)
        if warning is not None:
            self._epoch_warnings.append(warning)
        if not bar.disable:
            rate = samples / max(time.perf_counter() - start, 1e-9)
            bar.set_postfix({"loss": f"{mean:.4f}", **{k: f"{v:.4f}" for k, v in terms.items()},
                             "samples_per_s": f"{rate:,.0f}"}, refresh=False)
            bar.update(count)
        for callback in self.callbacks:
            callback.on_log(self, self.global_step, mean, terms)
        if not term_totals:
            return loss_total + total, term_sums
        return loss_total + total, [a + b for a, b in zip(term_totals, term_sums)]

    # -- evaluate / predict --------------------------------------------------------------------
    def evaluate(self, loader: Iterable[Any], where: str = "evaluation") -> dict[str, float]:
        """The model evaluator's metrics over ``loader`` (eval mode, no gradients).

        Raises NonFiniteScoresError (naming ``where``, the output, the count and the first row)
        when the model predicts NaN/inf for any row. Under data-parallel training every rank
        calls it: a sharded loader (``num_shards > 1``) is evaluated exactly over the union of
        the shards (the evaluator's ``gather``), any other loader whole on every rank."""
        evaluator = self._evaluator()
        if distributed.is_distributed():
            distributed.broadcast_buffers(self.model)  # batch-norm statistics: rank 0's everywhere
            if getattr(loader, "num_shards", 1) > 1:
                evaluator = distributed.GatheredEvaluator(evaluator, where)
        return evaluate_model(self.model, evaluator, loader, where)

    def predict(self, loader: Iterable[Any], extras: Sequence[str] = (),
                where: str = "prediction") -> dict[str, np.ndarray]:
        """``model.predictions`` per name (activated outputs, no ``pre``, and the blocks' extra
        outputs), plus the requested ``extras`` columns passed through, as numpy arrays in
        loader order.

        Raises NonFiniteScoresError (naming ``where``, the output, the count and the first row)
        when any prediction is NaN or inf."""
        return predict_model(self.model, loader, extras, where)
