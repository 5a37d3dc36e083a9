"""EasyRec's ``train_config`` (plus ``data_config.batch_size``/``num_epochs``) as recblocks' ``train:`` section.

Plain dicts in, a plain dict out; :class:`recblocks.training.TrainConfig` validates it downstream
(``recblocks.training.easyrec.train_config_from_easyrec`` is this mapping followed by that parse).

Mapping (EasyRec -> recblocks):

* ``optimizer_config`` (one entry): ``adam_optimizer``, ``lazy_adam_optimizer`` and
  ``adam_async_optimizer`` -> adam (``beta1``/``beta2`` -> betas; recblocks' adam updates sparse
  embedding tables lazily, as LazyAdam does; the asynchronous variant is PAI-TF's parameter-server
  form of the same update), ``adamw_optimizer`` / ``adam_asyncw_optimizer`` -> adamw
  (``weight_decay``; EasyRec default 1e-6), ``adagrad_optimizer`` -> adagrad
  (``initial_accumulator_value``, EasyRec default 0.1), ``momentum_optimizer`` -> sgd with
  ``momentum_optimizer_value`` (default 0.9), ``momentumw_optimizer`` -> sgdw (the same plus
  decoupled ``weight_decay``), ``ftrl_optimizer`` -> ftrl (``learning_rate_power``, ``l1_reg``,
  ``l2_reg``, ``l2_shrinkage_reg``, ``initial_accumulator_value``: TensorFlow's FTRL, see
  :class:`recblocks.training.ftrl.Ftrl`); ``learning_rate { constant_learning_rate |
  exponential_decay_learning_rate }`` -> ``lr_schedule`` (a schedule message that leaves its rate
  out gets EasyRec's default 0.002); ``embedding_learning_rate_multiplier`` -> an embedding
  optimizer whose lr is scaled. Other optimizers and schedules (rms_prop, manual step,
  cosine, poly, transformer; a burn-in) are a ConfigError naming them.
* two ``optimizer_config`` entries (EasyRec's ``get_grouped_vars``: embeddings, then the other
  variables) -> ``embedding_optimizer`` from the first, ``optimizer`` and ``lr_schedule`` from
  the second (the one schedule scales both; a note says so, and when the first's schedule had
  another shape). Three entries (WideAndDeep's wide / deep-embedding / rest split) are refused.
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
    # PAI-TF's Adam for asynchronous parameter-server training: the same update in one process
    "adam_async_optimizer": "adam",
    "adam_asyncw_optimizer": "adamw",
    "momentumw_optimizer": "sgdw",
    "ftrl_optimizer": "ftrl",
}
#: ftrl_optimizer field -> recblocks option (EasyRec's defaults fill the missing ones)
_FTRL_FIELDS = {"learning_rate_power": ("lr_power", -0.5), "initial_accumulator_value": ("initial_accumulator_value", 0.1),
                "l1_reg": ("l1", 0.0), "l2_reg": ("l2", 0.0), "l2_shrinkage_reg": ("l2_shrinkage", 0.0)}
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
            raise ConfigError(where, "one optimizer_config is read here (two: see train_section)", "one entry",
                              f"{len(section)} entries")
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
    if kind in ("adamw_optimizer", "adam_asyncw_optimizer", "momentumw_optimizer"):
        opt["weight_decay"] = float(inner.pop("weight_decay", 1e-6))
    if kind in ("momentum_optimizer", "momentumw_optimizer"):
        opt["momentum"] = float(inner.pop("momentum_optimizer_value", 0.9))
    if kind == "adagrad_optimizer":
        opt["initial_accumulator_value"] = float(inner.pop("initial_accumulator_value", 0.1))
    if kind == "ftrl_optimizer":
        for field, (option, default) in _FTRL_FIELDS.items():
            opt[option] = float(inner.pop(field, default))
    if inner:
        key = next(iter(inner))
        raise ConfigError(join_path(at, key), f"unknown or unsupported option of {kind}", None, repr(key),
                          choices=["learning_rate", "beta1", "beta2", "weight_decay", "momentum_optimizer_value",
                                   *_FTRL_FIELDS])
    multiplier = section.get("embedding_learning_rate_multiplier")
    embedding_lr = None
    if multiplier is not None:
        embedding_lr = (base_lr if base_lr is not None else 1e-3) * float(multiplier)
    return opt, schedule, embedding_lr


def _two_optimizers(configs: list[Any], where: str, notes: list[str]) -> dict[str, Any]:
    """EasyRec's two ``optimizer_config`` entries: the first for the embeddings, the second for the rest.

    The second's schedule drives both optimizers (recblocks has one ``lr_schedule``); the first
    keeps its own base rate. A momentum or weight decay of the first is dropped: sparse tables
    are updated row-wise.
    """
    embedding, emb_schedule, _ = optimizer_section(configs[0], f"{where}[0]")
    opt, schedule, _ = optimizer_section(configs[1], f"{where}[1]")
    emb_lr = _base_rate(emb_schedule)
    data: dict[str, Any] = {"optimizer": opt}
    if schedule is not None:
        data["lr_schedule"] = schedule
    dropped = [k for k in ("momentum", "weight_decay") if embedding.pop(k, 0.0)]
    data["embedding_optimizer"] = {**embedding, "lr": emb_lr}
    notes.append(f"{where}[0]: {embedding['name']} (lr {emb_lr:g}) updates the embedding tables and {where}[1] "
                 f"{opt['name']} the other weights; one learning-rate schedule ({_kind(schedule)}, from [1]) "
                 f"scales both" + (f"; {' and '.join(dropped)} of [0] dropped (row-wise table updates)"
                                   if dropped else ""))
    if _kind(emb_schedule) != _kind(schedule):
        notes.append(f"{where}[0].learning_rate: its {_kind(emb_schedule)} schedule is replaced by [1]'s "
                     f"{_kind(schedule)} shape, from its own base rate")
    return data


def _kind(schedule: Mapping[str, Any] | None) -> str:
    return next(iter(schedule)) if schedule else "constant_learning_rate"


def _base_rate(schedule: Mapping[str, Any] | None) -> float:
    if not schedule:
        return EASYREC_DEFAULT_LEARNING_RATE
    (kind, inner), = schedule.items()
    return float(inner[_SCHEDULES[kind][0]])


def train_section(train_config: Mapping[str, Any], data_config: Mapping[str, Any] | None = None,
                  where: str = "train_config", notes: list[str] | None = None) -> dict[str, Any]:
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
    notes = notes if notes is not None else []
    configs = train_config.get("optimizer_config")
    if isinstance(configs, list) and len(configs) == 2:
        data.update(_two_optimizers(configs, join_path(where, "optimizer_config"), notes))
    elif configs is not None:
        if isinstance(configs, list) and len(configs) > 2:
            raise ConfigError(join_path(where, "optimizer_config"), "at most two optimizer_config entries are "
                              "translated (embedding tables, then the other weights)", "one or two entries",
                              f"{len(configs)} entries")
        opt, schedule, embedding_lr = optimizer_section(configs, join_path(where, "optimizer_config"))
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
