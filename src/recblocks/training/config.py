"""``TrainConfig``: optimizers, schedule, epochs, early stopping (one source of every default)."""

from __future__ import annotations

from typing import Any, Literal

from collections.abc import Mapping

from pydantic import AliasChoices, Field, SerializeAsAny, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from recblocks.core.errors import ConfigError, did_you_mean
from recblocks.core.limits import MAX_BATCH_SIZE, MAX_EPOCHS, MAX_LOG_EVERY, MAX_SEED, MAX_STEPS, MAX_THREADS
from recblocks.core.params import Params, join_path
from recblocks.metrics.catalog import METRICS, metric_mode
from recblocks.training import mlflow_callback as _mlflow_callback  # noqa: F401  (registers "mlflow")
from recblocks.training import tensorboard as _tensorboard  # noqa: F401  (registers "tensorboard")
from recblocks.training.callback_registry import CallbackParams, parse_callbacks
from recblocks.training.devices import DEVICE_PATTERN
from recblocks.training.optimizers import OPTIMIZERS
from recblocks.training.schedules import ConstantSchedule, Schedule, parse_schedule

__all__ = ["OptimizerConfig", "EarlyStoppingConfig", "TrainConfig"]

#: Options that only some optimizers take (their registrations list them in ``options``).
_SPECIFIC_OPTIONS = ("betas", "momentum", "nesterov", "initial_accumulator_value", "lr_power", "l1", "l2",
                     "l2_shrinkage")


class OptimizerConfig(Params):
    """One optimizer.

    Args:
        name: a registered optimizer (``OPTIMIZERS``): ``adam`` | ``adamw`` | ``adagrad`` | ``rowwise_adagrad`` | ``sgd``
            | ``sgdw`` | ``ftrl`` (EasyRec's ``adam_optimizer``... accepted).
        lr: base learning rate (``learning_rate`` accepted); a schedule scales it.
        weight_decay: L2 (adam, adagrad, sgd) or decoupled (adamw) decay. Not applied to sparse
            embedding tables (see :mod:`recblocks.training.optimizers`).
        betas: Adam/AdamW betas.
        eps: None means torch's default of the optimizer (1e-8 Adam, 1e-10 Adagrad).
        momentum, nesterov: SGD only.
        initial_accumulator_value: Adagrad and FTRL (TF/EasyRec use 0.1, torch 0; FTRL reads 0 as 0.1).
        lr_power, l1, l2, l2_shrinkage: FTRL only (TensorFlow's ``learning_rate_power`` and
            regularization strengths, :class:`recblocks.training.ftrl.Ftrl`).
    """

    name: str = "adam"
    lr: float = Field(default=1e-3, gt=0.0, validation_alias=AliasChoices("lr", "learning_rate"))
    weight_decay: float = Field(default=0.0, ge=0.0)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float | None = Field(default=None, gt=0.0)
    momentum: float = Field(default=0.0, ge=0.0, lt=1.0)
    nesterov: bool = False
    initial_accumulator_value: float = Field(default=0.0, ge=0.0)
    lr_power: float = Field(default=-0.5, le=0.0)
    l1: float = Field(default=0.0, ge=0.0)
    l2: float = Field(default=0.0, ge=0.0)
    l2_shrinkage: float = Field(default=0.0, ge=0.0)

    @field_validator("name", mode="before")
    @classmethod
    def _check_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            canonical = OPTIMIZERS.canonical(value)
            if canonical is not None:
                return canonical
            suggestion = did_you_mean(value.strip(), OPTIMIZERS.choices())
            hint = f"; did you mean '{OPTIMIZERS.canonical(suggestion)}'?" if suggestion else ""
            raise PydanticCustomError("optimizer", f"unknown optimizer; expected one of {OPTIMIZERS.names()}{hint}")
        return value

    @field_validator("betas")
    @classmethod
    def _check_betas(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= b < 1.0 for b in value):
            raise PydanticCustomError("betas", "betas must lie in [0, 1)")
        return value

    @model_validator(mode="after")
    def _check_combination(self) -> "OptimizerConfig":
        spec = OPTIMIZERS.get(self.name)
        for option in _SPECIFIC_OPTIONS:
            default = type(self).model_fields[option].get_default()
            if option not in spec.options and getattr(self, option) != default:
                owners = "/".join(e.name for e in OPTIMIZERS.entries() if option in e.options) or "no optimizer"
                raise PydanticCustomError("option", "{option} is an {owners} option; {name} has none",
                                          {"option": option, "owners": owners, "name": self.name})
        if self.nesterov and self.momentum <= 0:
            raise PydanticCustomError("nesterov", "nesterov needs momentum > 0")
        return self


class EarlyStoppingConfig(Params):
    """Stop when the validation ``metric`` has not improved for ``patience`` epochs in a row.

    Args:
        metric: a key the model's evaluator reports: ``auc``, ``ctr/auc`` (task-qualified),
            ``loss``, ``recall@10``... Checked against the evaluator's keys (with a
            did-you-mean) when the trainer is made, before any data is read by a run. Metric
            aliases (``group_auc``, ``log_loss``...) are normalised here; for task models a
            bare name refers to the first task.
        mode: ``max`` or ``min``; None infers it from the metric (auc -> max, logloss -> min;
            a model-specific key takes its evaluator's default direction).
        patience: epochs without improvement before stopping (>= 1).
        min_delta: an improvement must exceed this.
    """

    metric: str = Field(default="auc", min_length=1)
    mode: Literal["max", "min"] | None = None
    patience: int = Field(default=2, ge=1)
    min_delta: float = Field(default=0.0, ge=0.0)

    @field_validator("metric")
    @classmethod
    def _normalise_metric(cls, value: str) -> str:
        prefix, _, base = value.rpartition("/")
        if base == "loss":
            return value
        canonical = METRICS.canonical(base)
        if canonical is None:
            return value  # a key a model's own evaluator reports (e.g. recall@10): resolved by the trainer
        return f"{prefix}/{canonical}" if prefix else canonical

    @property
    def resolved_mode(self) -> str | None:
        """``mode``, or the natural direction of a catalogue metric or ``loss`` (None for other keys)."""
        if self.mode is not None:
            return self.mode
        base = self.metric.rpartition("/")[2]
        return metric_mode(self.metric) if base == "loss" or base in METRICS else None


class TrainConfig(Params):
    """How to train (EasyRec ``train_config`` + ``data_config.batch_size/num_epochs``).

    Fields (EasyRec spellings accepted: ``num_epochs``, ``num_steps``, ``log_step_count_steps``,
    ``gradient_clipping_by_norm``; 0 for the last two means off, as in EasyRec):
        epochs, max_steps: stop after ``epochs`` passes or ``max_steps`` optimizer steps.
        batch_size, eval_batch_size: for the caller that builds loaders (None: batch_size).
        seed: seeds python, numpy and torch at the start of ``fit``.
        optimizer: for dense parameters.
        embedding_optimizer: for embedding tables; None means the dense optimizer's kind and
            learning rate in its sparse-capable form, without weight decay or momentum.
        lr_schedule: a registered schedule (``SCHEDULES``): ``{"type": "constant"}`` or
            ``{"type": "exponential_decay", ...}`` (EasyRec ``exponential_decay_learning_rate {...}``
            accepted).
        early_stopping: None (off) or :class:`EarlyStoppingConfig`.
        restore_best: load the best epoch's weights at the end of ``fit``.
        gauc_group: extras column with group ids; adds ``gauc`` to binary tasks' metrics.
        log_every: steps between loss syncs (progress bar, NaN check, callbacks).
        progress: show a tqdm bar (only on a terminal).
        num_threads: ``torch.set_num_threads`` when set (at most 1,024).
        memory_limit_gb: the most memory, in GB (10**9 bytes), that the planned model may need
            (parameters, gradients, optimizer state, one batch's activations), checked before
            anything is allocated. None (default): half of the machine's memory (or of the
            container's limit); 0: no limit. See :mod:`recblocks.runs.memory_plan`.
        Sizes are bounded (see :mod:`recblocks.core.limits`): epochs 1e6, max_steps 1e12,
        batch sizes 2**24, seed 0..2**64-1, log_every 1e9.
        grad_clip_norm: clip the global gradient norm when set.
        save_checkpoints_steps: write a checkpoint (weights, optimizer, trainer and random
            state; see :mod:`recblocks.training.train_state`) every N global steps, for
            ``recblocks train --resume``; None/0: none (a killed run then resumes from scratch).
        keep_checkpoint_max: how many of the newest checkpoints a run keeps (older ones are
            deleted); None keeps all. 0 is refused (EasyRec's 0 = keep all is translated).
        eval_steps: also validate every N global steps (``evaluations.jsonl`` of a run directory);
            each evaluation competes for the best weights and counts for early stopping
            (``patience`` then counts evaluations, not epochs). None/0: only after each epoch.
            The best is always picked by the monitor: ``early_stopping.metric`` when set,
            else the model's default (``auc`` for a binary task).
        init_from: a finished run directory whose weights start this run (warm start; EasyRec
            ``fine_tune_checkpoint``); optimizer state is not carried over. See
            :mod:`recblocks.runs.warm_start`.
        tensorboard: write a TensorBoard event log into the run directory (default on; see
            :mod:`recblocks.training.tensorboard`). ``false`` turns it off.
        embedding_backend: ``plain`` (default), ``fbgemm`` (FBGEMM table-batched embeddings with the
            embedding optimizer fused into backward: ``sgd``, ``rowwise_adagrad`` or ``adagrad`` on CPU;
            see :mod:`recblocks.layers.embedding_fbgemm`) or ``torchrec``. Applied by the trainer
            when ``fit`` starts; checkpoints keep the plain layout.
        callbacks: shipped callbacks by type with their params (the ``CALLBACKS`` registry:
            ``[{type: tensorboard, flush_secs: 10}, {type: mlflow, experiment: ctr}]``), made
            by the run (``recblocks train``, ``Model.fit``); a ``Trainer`` made by hand takes
            callback objects instead. A ``tensorboard`` entry replaces the default log.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when torch sees it); None
            (default): where the model already is, which is the CPU for every model a run builds,
            so a config without ``device`` trains on the CPU on every machine. CUDA on a machine
            without it is a ConfigError when the trainer is made. See :mod:`recblocks.training.devices`.
        mixed_precision: ``none`` | ``bf16`` (CPU or CUDA) | ``fp16`` (CUDA, with a loss scaler):
            autocast of the forward pass; losses, metrics and parameters stay float32.
        embedding_backend: ``plain`` (default: the model's own tables) or ``torchrec`` (TorchRec's
            DistributedModelParallel, tables sharded; the opt-in extra, ``make setup-torchrec``;
            see :mod:`recblocks.training.torchrec_backend`).
        embedding_sharding: how the torchrec backend shards tables: ``table_wise`` (default),
            ``column_wise``, ``table_column_wise``; ``row_wise`` and ``table_row_wise`` need CUDA.
    """

    epochs: int = Field(default=1, ge=1, le=MAX_EPOCHS, validation_alias=AliasChoices("epochs", "num_epochs"),
                        description=f"passes over the data, at most {MAX_EPOCHS:,}")
    max_steps: int | None = Field(default=None, ge=1, le=MAX_STEPS,
                                  validation_alias=AliasChoices("max_steps", "num_steps"),
                                  description=f"optimizer steps, at most {MAX_STEPS:,}")
    batch_size: int = Field(default=1024, ge=1, le=MAX_BATCH_SIZE, description=f"rows, at most {MAX_BATCH_SIZE:,}")
    eval_batch_size: int | None = Field(default=None, ge=1, le=MAX_BATCH_SIZE,
                                        description=f"rows, at most {MAX_BATCH_SIZE:,}")
    seed: int = Field(default=0, ge=0, le=MAX_SEED, description=f"0 to {MAX_SEED:,} (what torch accepts)")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    embedding_optimizer: OptimizerConfig | None = None
    lr_schedule: SerializeAsAny[Schedule] = Field(default_factory=ConstantSchedule)
    early_stopping: EarlyStoppingConfig | None = None
    restore_best: bool = True
    gauc_group: str | None = None
    log_every: int = Field(default=100, ge=1, le=MAX_LOG_EVERY,
                           validation_alias=AliasChoices("log_every", "log_step_count_steps"),
                           description=f"steps between loss syncs, at most {MAX_LOG_EVERY:,}")
    progress: bool = True
    num_threads: int | None = Field(default=None, ge=1, le=MAX_THREADS,
                                    description=f"torch threads, at most {MAX_THREADS:,}")
    memory_limit_gb: float | None = Field(
        default=None, ge=0.0, le=1e9,
        description="most memory (GB, 10**9 bytes) the planned model may need; None: half of the machine's "
                    "memory; 0: no limit")
    grad_clip_norm: float | None = Field(
        default=None, gt=0.0, validation_alias=AliasChoices("grad_clip_norm", "gradient_clipping_by_norm"))
    tensorboard: bool = True
    callbacks: list[SerializeAsAny[CallbackParams]] = Field(default_factory=list, max_length=100)
    device: str | None = Field(default=None, description="cpu | cuda | cuda:N | auto; null: the model's")
    mixed_precision: Literal["none", "bf16", "fp16"] = "none"

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str | None) -> str | None:
        if value is not None and not DEVICE_PATTERN.match(value):
            suggestion = "cuda" if value.lower().startswith("gpu") else did_you_mean(value, ["cpu", "cuda", "auto"])
            hint = f"; did you mean '{suggestion}'?" if suggestion else ""
            raise PydanticCustomError("device", f"unknown device {value!r}; expected cpu, cuda, cuda:N or auto{hint}")
        return value
    embedding_backend: Literal["plain", "fbgemm", "torchrec"] = "plain"
    embedding_sharding: Literal["table_wise", "column_wise", "table_column_wise", "row_wise",
                                "table_row_wise"] = "table_wise"

    @model_validator(mode="after")
    def _check_embedding_backend(self, info: ValidationInfo) -> "TrainConfig":
        if self.embedding_backend == "fbgemm":
            check_fbgemm_train_config(self, _where(info))
        return self

    @field_validator("callbacks", mode="before")
    @classmethod
    def _registered_callbacks(cls, value: Any, info: ValidationInfo) -> Any:
        return parse_callbacks(value, join_path(_where(info), "callbacks"))

    @model_validator(mode="after")
    def _check_tensorboard(self, info: ValidationInfo) -> "TrainConfig":
        declared = [i for i, c in enumerate(self.callbacks) if c.type == "tensorboard"]
        if declared and not self.tensorboard:
            where = _where(info)
            raise ConfigError(join_path(where, "tensorboard"), "the TensorBoard log is turned off but "
                              f"{join_path(where, 'callbacks', declared[0])} declares one; keep one of the two",
                              "tensorboard: true with a tensorboard callback", "tensorboard: false")
        return self

    save_checkpoints_steps: int | None = Field(default=None, ge=1, le=MAX_STEPS,
                                               description="global steps between checkpoints")
    keep_checkpoint_max: int | None = Field(default=10, ge=1, le=MAX_STEPS,
                                            description="newest checkpoints kept (null: all)")
    eval_steps: int | None = Field(default=None, ge=1, le=MAX_STEPS,
                                   description="global steps between validations (besides each epoch's)")
    init_from: str | None = Field(default=None, min_length=1,
                                  validation_alias=AliasChoices("init_from", "fine_tune_checkpoint"))

    @field_validator("lr_schedule", mode="before")
    @classmethod
    def _registered_schedule(cls, value: Any, info: ValidationInfo) -> Any:
        return parse_schedule(value, join_path(_where(info), "lr_schedule"))

    @model_validator(mode="before")
    @classmethod
    def _registered_optimizers(cls, data: Any, info: ValidationInfo) -> Any:
        """Unknown optimizer names fail here with the place and a suggestion."""
        if isinstance(data, Mapping):
            for key in ("optimizer", "embedding_optimizer"):
                section = data.get(key)
                if isinstance(section, Mapping) and isinstance(section.get("name"), str):
                    OPTIMIZERS.get(section["name"], join_path(_where(info), key, "name"))
        return data

    @field_validator("max_steps", "grad_clip_norm", "save_checkpoints_steps", "eval_steps", mode="before")
    @classmethod
    def _zero_means_off(cls, value: Any) -> Any:
        return None if value == 0 else value

    @field_validator("early_stopping", mode="before")
    @classmethod
    def _early_stopping_shortcuts(cls, value: Any) -> Any:
        if value is True:
            return {}
        if value is False:
            return None
        if isinstance(value, str):
            return {"metric": value}
        return value

    @model_validator(mode="after")
    def _check_learning_rate(self) -> "TrainConfig":
        scheduled = self.lr_schedule.base_learning_rate
        if scheduled is not None and "lr" in self.optimizer.model_fields_set and self.optimizer.lr != scheduled:
            raise PydanticCustomError(
                "learning_rate", "the learning rate is set twice: optimizer.lr={lr} and the schedule's {s}; "
                "set it in one place", {"lr": self.optimizer.lr, "s": scheduled})
        return self

    @property
    def base_learning_rate(self) -> float:
        """Learning rate of the dense optimizer at step 0 (the schedule's, else ``optimizer.lr``)."""
        scheduled = self.lr_schedule.base_learning_rate
        return scheduled if scheduled is not None else self.optimizer.lr

    @property
    def embedding_learning_rate(self) -> float:
        """Base learning rate of the embedding optimizer (its own ``lr`` when set explicitly)."""
        emb = self.embedding_optimizer
        if emb is not None and "lr" in emb.model_fields_set:
            return emb.lr
        return self.base_learning_rate

    def learning_rate_multiplier(self, step: int) -> float:
        """Factor every optimizer group's base learning rate gets at the 0-based ``step``."""
        return self.lr_schedule.multiplier(step, self.base_learning_rate)

    def to_dict(self) -> dict[str, Any]:
        """Non-default fields; the schedule always keeps its ``type``."""
        data = super().to_dict()
        if "lr_schedule" in data or not isinstance(self.lr_schedule, ConstantSchedule):
            data["lr_schedule"] = {"type": self.lr_schedule.type, **self.lr_schedule.to_dict()}
        if self.callbacks:
            data["callbacks"] = [{"type": c.type, **c.to_dict()} for c in self.callbacks]
        return data

    @classmethod
    def from_easyrec(cls, train_config: dict[str, Any], data_config: dict[str, Any] | None = None,
                     where: str = "train_config") -> "TrainConfig":
        """Translate EasyRec's ``train_config`` (and ``data_config``) dicts; see
        :func:`recblocks.training.easyrec.train_config_from_easyrec`."""
        from recblocks.training.easyrec import train_config_from_easyrec

        return train_config_from_easyrec(train_config, data_config, where)


def check_fbgemm_train_config(config: TrainConfig, where: str = "train") -> None:
    """The options the ``fbgemm`` backend cannot honour, refused where they are set."""
    from recblocks.layers.embedding_fbgemm import FBGEMM_CPU_OPTIMIZERS

    explicit = config.embedding_optimizer is not None
    emb = config.embedding_optimizer or config.optimizer
    section = "embedding_optimizer" if explicit else "optimizer"
    if emb.name not in FBGEMM_CPU_OPTIMIZERS:
        derived = "" if explicit else " (no embedding_optimizer: the dense optimizer's kind is used)"
        raise ConfigError(join_path(where, "embedding_optimizer", "name"),
                          f"the fbgemm backend fuses only these optimizers into backward on CPU{derived}",
                          f"one of {sorted(FBGEMM_CPU_OPTIMIZERS)}", repr(emb.name))
    if explicit and (emb.weight_decay or emb.momentum):
        option = "weight_decay" if emb.weight_decay else "momentum"
        raise ConfigError(join_path(where, section, option), "the fbgemm backend's fused update has no "
                          f"{option}", "0", getattr(emb, option))
    if config.grad_clip_norm is not None:
        raise ConfigError(join_path(where, "grad_clip_norm"), "the fbgemm backend updates the tables inside "
                          "backward, before a global gradient norm could be clipped", "null with fbgemm",
                          config.grad_clip_norm)


def _where(info: ValidationInfo) -> str:
    """The config path of the train section (``train`` unless the caller passes another)."""
    context = info.context if isinstance(info.context, dict) else {}
    return str(context.get("where") or "train")
