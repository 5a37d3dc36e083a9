"""EasyRec's ``train_config`` (plus ``data_config.batch_size``/``num_epochs``) as recblocks' ``train:`` section.

Plain dicts in, a plain dict out; :class:`recblocks.training.TrainConfig` validates it downstream
(``recblocks.training.easyrec.train_config_from_easyrec`` is this mapping followed by that parse).

Mapping (EasyRec -> recblocks):

* ``optimizer_config`` (one entry): ``adam_optimizer`` and ``lazy_adam_optimizer`` -> adam
  (``beta1``/``beta2`` -> betas; recblocks' adam updates sparse embedding tables lazily, as LazyAdam does),
  ``adamw_optimizer`` -> adamw (``weight_decay``; EasyRec default 1e-6), ``adagrad_optimizer``
  -> adagrad (``initial_accumulator_value``, EasyRec default 0.1), ``momentum_optimizer`` -> sgd
  with ``momentum_optimizer_value`` (default 0.9); ``learning_rate { constant_learning_rate |
  exponential_decay_learning_rate }`` -> ``lr_schedule`` (a schedule message that leaves its rate
  out gets EasyRec's default 0.002); ``embedding_learning_rate_multiplier`` -> an embedding
  optimizer whose lr is scaled. Other optimizers and schedules (ftrl, manual step,
  cosine, poly, transformer; a burn-in) are a ConfigError naming them.
* ``num_steps`` -> max_steps (0, unlimited, -> unset), ``gradient_clipping_by_norm`` ->
  grad_clip_norm (0 = off), ``log_step_count_steps`` -> log_every.
* ``data_config.batch_size`` -> batch_size, ``data_config.num_epochs`` -> epochs (EasyRec's 0,
  run until ``num_steps``, -> as many epochs as ``max_steps`` needs).
* ``save_checkpoints_steps`` -> save_checkpoints_steps, ``keep_checkpoint_max`` ->
  keep_checkpoint_max (EasyRec's 0, keep all, -> None), ``fine_tune_checkpoint`` -> init_from
  (a recblocks run directory: EasyRec's TF checkpoints cannot be read).

Distributed, summary and profiling keys (:data:`IGNORED_TRAIN_KEYS`) have no meaning for a
single-process PyTorch run and are accepted without effect; an unknown key is a ConfigError with a
did-you-mean.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.limits import MAX_EPOCHS
from recblocks.core.params import join_path

__all__ = ["train_section", "optimizer_section", "IGNORED_TRAIN_KEYS", "EASYREC_DEFAULT_LEARNING_RATE"]

#: EasyRec's default of every ``*_learning_rate`` schedule's rate field.
EASYREC_DEFAULT_LEARNING_RATE = 0.002

_MAPPED = {"optimizer_config", "num_steps", "gradient_clipping_by_norm", "log_step_count_steps",
           "save_checkpoints_steps", "keep_checkpoint_max", "fine_tune_checkpoint"}
#: ``train_config`` keys accepted without effect (distribution, summaries, profiling, TF sessions).
IGNORED_TRAIN_KEYS = frozenset({
    "fine_tune_ckpt_var_map", "sync_replicas", "sparse_accumulator_type",
    "startup_delay_steps", "save_checkpoints_secs",
    "save_summary_steps", "is_profiling", "force_restore_shape_compatible", "train_distribute",
    "num_gpus_per_worker", "summary_model_vars", "protocol", "inter_op_parallelism_threads",
    "intra_op_parallelism_threads", "tensor_fuse", "write_graph", "freeze_gradient", "incr_save_config",
    "enable_oss_stop_signal", "dead_line", "train_config",
})
_OPTIMIZERS = {
    "adam_optimizer": "adam",
    # Adam whose sparse (embedding) gradients update only the looked-up rows: recblocks' adam does
    # that on its sparse embedding tables (SparseAdam, model.sparse_embeddings, the default)
    "lazy_adam_optimizer": "adam",
    "adamw_optimizer": "adamw",
    "adagrad_optimizer": "adagrad",
    "momentum_optimizer": "sgd",
}
_OPTIMIZER_OPTIONS = {"use_moving_average", "moving_average_decay", "embedding_learning_rate_multiplier"}
#: schedule message -> (its rate field, the fields recblocks' schedule reads)
_SCHEDULES = {
    "constant_learning_rate": ("learning_rate", {"learning_rate"}),
    "exponential_decay_learning_rate": ("initial_learning_rate", {"initial_learning_rate", "decay_steps",
                                                                  "decay_factor", "staircase", "min_learning_rate"}),
}


def _schedule(value: Any, where: str) -> tuple[dict[str, Any], float]:
    """``learning_rate { <schedule> {...} }`` -> (recblocks lr_schedule dict, its base rate)."""
    if not isinstance(value, Mapping) or len(value) != 1:
        raise ConfigError(where, "learning_rate must hold one schedule", f"one of {sorted(_SCHEDULES)}",
                          repr(value)[:80])
    (kind, inner), = value.items()
    at = join_path(where, kind)
    if kind not in _SCHEDULES:
        raise ConfigError(at, "learning-rate schedule without a recblocks equivalent", f"one of {sorted(_SCHEDULES)}",
                          repr(kind), choices=_SCHEDULES)
    inner = dict(inner or {})
    rate_field, known = _SCHEDULES[kind]
    if inner.get("burnin_steps") or inner.get("burnin_learning_rate"):
        raise ConfigError(join_path(at, "burnin_steps"), "a burn-in phase has no recblocks equivalent",
                          "burnin_steps: 0", inner.get("burnin_steps"))
    inner.pop("burnin_steps", None)
    inner.pop("burnin_learning_rate", None)
    for key in inner:
        if key not in known:
            raise ConfigError(join_path(at, key), f"unknown option of {kind}", None, repr(key), choices=known)
    inner.setdefault(rate_field, EASYREC_DEFAULT_LEARNING_RATE)
    return {kind: inner}, float(inner[rate_field])


def optimizer_section(section: Any, where: str) -> tuple[dict[str, Any], dict[str, Any] | None, float | None]:
    """One ``optimizer_config`` -> (recblocks optimizer dict, lr_schedule dict or None, embedding lr or None)."""
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
    schedule, base_lr = None, None
    if "learning_rate" in inner:
        schedule, base_lr = _schedule(inner.pop("learning_rate"), join_path(at, "learning_rate"))
    if "beta1" in inner or "beta2" in inner:
        opt["betas"] = [float(inner.pop("beta1", 0.9)), float(inner.pop("beta2", 0.999))]
    if kind == "adamw_optimizer":
        opt["weight_decay"] = float(inner.pop("weight_decay", 1e-6))
    if kind == "momentum_optimizer":
        opt["momentum"] = float(inner.pop("momentum_optimizer_value", 0.9))
    if kind == "adagrad_optimizer":
        opt["initial_accumulator_value"] = float(inner.pop("initial_accumulator_value", 0.1))
    if inner:
        key = next(iter(inner))
        raise ConfigError(join_path(at, key), f"unknown or unsupported option of {kind}", None, repr(key),
                          choices=["learning_rate", "beta1", "beta2", "weight_decay", "momentum_optimizer_value",
                                   "initial_accumulator_value"])
    multiplier = section.get("embedding_learning_rate_multiplier")
    embedding_lr = None
    if multiplier is not None:
        embedding_lr = (base_lr if base_lr is not None else 1e-3) * float(multiplier)
    return opt, schedule, embedding_lr


def train_section(train_config: Mapping[str, Any], data_config: Mapping[str, Any] | None = None,
                  where: str = "train_config") -> dict[str, Any]:
    """recblocks' ``train:`` mapping for EasyRec's ``train_config`` (and ``data_config``).

    Example:
        >>> train_section({"optimizer_config": {"adam_optimizer": {"learning_rate": {
        ...     "constant_learning_rate": {"learning_rate": 0.01}}}}, "num_steps": 100}, {"batch_size": 64})
        {'optimizer': {'name': 'adam'}, 'lr_schedule': {'constant_learning_rate': {'learning_rate': 0.01}}, \
'max_steps': 100, 'batch_size': 64}
    """
    if not isinstance(train_config, Mapping):
        raise ConfigError(where, "train_config must be a mapping", "a mapping", type(train_config).__name__)
    for key in train_config:
        if key not in _MAPPED and key not in IGNORED_TRAIN_KEYS:
            raise ConfigError(join_path(where, key), "unknown train_config key", None, repr(key),
                              choices=[*_MAPPED, *IGNORED_TRAIN_KEYS])
    data: dict[str, Any] = {}
    if "optimizer_config" in train_config:
        opt, schedule, embedding_lr = optimizer_section(train_config["optimizer_config"],
                                                        join_path(where, "optimizer_config"))
        data["optimizer"] = opt
        if schedule is not None:
            data["lr_schedule"] = schedule
        if embedding_lr is not None:
            data["embedding_optimizer"] = {**opt, "lr": embedding_lr, "weight_decay": 0.0, "momentum": 0.0}
    for source, target in (("num_steps", "max_steps"), ("gradient_clipping_by_norm", "grad_clip_norm"),
                           ("log_step_count_steps", "log_every"), ("save_checkpoints_steps", "save_checkpoints_steps"),
                           ("fine_tune_checkpoint", "init_from")):
        value = train_config.get(source)
        if value not in (None, 0, 0.0, ""):
            data[target] = value
    if "keep_checkpoint_max" in train_config:
        keep = train_config["keep_checkpoint_max"]
        data["keep_checkpoint_max"] = None if keep == 0 else keep
    if data_config:
        if "batch_size" in data_config:
            data["batch_size"] = data_config["batch_size"]
        epochs = data_config.get("num_epochs")
        if epochs:
            data["epochs"] = epochs
        elif epochs == 0 and "max_steps" in data:
            data["epochs"] = MAX_EPOCHS  # EasyRec's 0: the step limit ends training
    return data
