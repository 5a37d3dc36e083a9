"""Translate EasyRec's ``train_config`` / ``data_config`` (as dicts) into a :class:`TrainConfig`.

Mapping (EasyRec -> recblocks):

* ``optimizer_config`` (one entry): ``adam_optimizer`` -> adam (``beta1``/``beta2`` -> betas),
  ``adamw_optimizer`` -> adamw (``weight_decay``; EasyRec default 1e-6), ``adagrad_optimizer``
  -> adagrad (``initial_accumulator_value`` 0.1 as in TF), ``momentum_optimizer`` -> sgd with
  ``momentum_optimizer_value`` (default 0.9); ``learning_rate { constant_learning_rate |
  exponential_decay_learning_rate }`` -> ``lr_schedule``; ``embedding_learning_rate_multiplier``
  -> an embedding optimizer whose lr is scaled.
* ``num_steps`` -> max_steps (0 = unlimited), ``gradient_clipping_by_norm`` -> grad_clip_norm
  (0 = off), ``log_step_count_steps`` -> log_every.
* ``data_config.batch_size`` -> batch_size, ``data_config.num_epochs`` -> epochs.
* ``save_checkpoints_steps`` -> save_checkpoints_steps, ``keep_checkpoint_max`` ->
  keep_checkpoint_max (EasyRec's 0, keep all, -> None), ``fine_tune_checkpoint`` -> init_from
  (a recblocks run directory: EasyRec's TF checkpoints cannot be read).

Distributed, checkpointing and profiling keys are accepted and ignored (they have no meaning
for a single-process PyTorch run); an unknown key is a ConfigError with a did-you-mean.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path, parse_params
from recblocks.training.config import TrainConfig

__all__ = ["train_config_from_easyrec"]

_MAPPED = {"optimizer_config", "num_steps", "gradient_clipping_by_norm", "log_step_count_steps",
           "save_checkpoints_steps", "keep_checkpoint_max", "fine_tune_checkpoint"}
_IGNORED = {
    "fine_tune_ckpt_var_map", "sync_replicas", "sparse_accumulator_type",
    "startup_delay_steps", "save_checkpoints_secs",
    "save_summary_steps", "is_profiling", "force_restore_shape_compatible", "train_distribute",
    "num_gpus_per_worker", "summary_model_vars", "protocol", "inter_op_parallelism_threads",
    "intra_op_parallelism_threads", "tensor_fuse", "write_graph", "freeze_gradient", "incr_save_config",
    "enable_oss_stop_signal", "dead_line", "train_config",
}
_OPTIMIZERS = {
    "adam_optimizer": "adam",
    "adamw_optimizer": "adamw",
    "adagrad_optimizer": "adagrad",
    "momentum_optimizer": "sgd",
}
_OPTIMIZER_OPTIONS = {"use_moving_average", "moving_average_decay", "embedding_learning_rate_multiplier"}


def _optimizer(section: Any, where: str) -> tuple[dict[str, Any], Any, float | None]:
    if isinstance(section, list):
        if len(section) != 1:
            raise ConfigError(where, "exactly one optimizer_config is supported (use train.embedding_optimizer "
                              "for a second one)", "one entry", f"{len(section)} entries")
        section = section[0]
        where = f"{where}[0]"
    if not isinstance(section, Mapping):
        raise ConfigError(where, "optimizer_config must be a mapping", "a mapping", type(section).__name__)
    kinds = [k for k in section if k not in _OPTIMIZER_OPTIONS]
    if len(kinds) != 1 or kinds[0] not in _OPTIMIZERS:
        got = kinds[0] if kinds else "none"
        raise ConfigError(where, "unsupported or missing optimizer", f"one of {sorted(_OPTIMIZERS)}", repr(got),
                          choices=_OPTIMIZERS)
    if section.get("use_moving_average"):
        raise ConfigError(join_path(where, "use_moving_average"), "moving averages of weights are not supported",
                          "false", "true")
    kind = kinds[0]
    inner = dict(section[kind] or {})
    at = join_path(where, kind)
    opt: dict[str, Any] = {"name": _OPTIMIZERS[kind]}
    schedule = inner.pop("learning_rate", None)
    if "beta1" in inner or "beta2" in inner:
        opt["betas"] = (float(inner.pop("beta1", 0.9)), float(inner.pop("beta2", 0.999)))
    if kind == "adamw_optimizer":
        opt["weight_decay"] = float(inner.pop("weight_decay", 1e-6))
    if kind == "momentum_optimizer":
        opt["momentum"] = float(inner.pop("momentum_optimizer_value", 0.9))
    if kind == "adagrad_optimizer":
        opt["initial_accumulator_value"] = 0.1
    if inner:
        key = next(iter(inner))
        raise ConfigError(join_path(at, key), f"unknown or unsupported option of {kind}", None, repr(key),
                          choices=["learning_rate", "beta1", "beta2", "weight_decay", "momentum_optimizer_value"])
    return opt, schedule, section.get("embedding_learning_rate_multiplier")


def train_config_from_easyrec(train_config: Mapping[str, Any], data_config: Mapping[str, Any] | None = None,
                              where: str = "train_config") -> TrainConfig:
    """A :class:`TrainConfig` from EasyRec's ``train_config`` (+ ``data_config``) as dicts.

    Example:
        >>> cfg = train_config_from_easyrec(
        ...     {"optimizer_config": {"adam_optimizer": {"learning_rate": {"exponential_decay_learning_rate": {
        ...         "initial_learning_rate": 0.001, "decay_steps": 1000, "decay_factor": 0.5,
        ...         "min_learning_rate": 0.00001}}}}, "num_steps": 2500},
        ...     {"batch_size": 1024, "num_epochs": 1})
        >>> cfg.base_learning_rate, cfg.lr_schedule.decay_steps, cfg.max_steps, cfg.batch_size
        (0.001, 1000, 2500, 1024)
    """
    if not isinstance(train_config, Mapping):
        raise ConfigError(where, "train_config must be a mapping", "a mapping", type(train_config).__name__)
    for key in train_config:
        if key not in _MAPPED and key not in _IGNORED:
            raise ConfigError(join_path(where, key), "unknown train_config key", None, repr(key),
                              choices=[*_MAPPED, *_IGNORED])
    data: dict[str, Any] = {}
    if "optimizer_config" in train_config:
        opt, schedule, multiplier = _optimizer(train_config["optimizer_config"], join_path(where, "optimizer_config"))
        data["optimizer"] = opt
        if schedule is not None:
            data["lr_schedule"] = schedule
        if multiplier is not None:
            probe = parse_params(TrainConfig, {"lr_schedule": schedule, "optimizer": opt}, where)
            data["embedding_optimizer"] = {**opt, "lr": probe.base_learning_rate * float(multiplier),
                                           "weight_decay": 0.0, "momentum": 0.0}
    for source, target in (("num_steps", "max_steps"), ("gradient_clipping_by_norm", "grad_clip_norm"),
                           ("log_step_count_steps", "log_every"), ("save_checkpoints_steps", "save_checkpoints_steps"),
                           ("fine_tune_checkpoint", "init_from")):
        if source in train_config:
            data[target] = train_config[source]
    if "keep_checkpoint_max" in train_config:
        keep = train_config["keep_checkpoint_max"]
        data["keep_checkpoint_max"] = None if keep == 0 else keep
    if data_config:
        if "batch_size" in data_config:
            data["batch_size"] = data_config["batch_size"]
        if "num_epochs" in data_config:
            data["epochs"] = data_config["num_epochs"]
    return parse_params(TrainConfig, data, where)
