"""Optimizers for dense weights and (sparse) embedding tables, owned by one composite.

Embedding tables built with ``sparse=True`` produce sparse gradients holding only the rows
looked up in the batch; they get a row-wise optimizer so a 10^6-row table never costs a
dense step:

* ``adam`` / ``adamw`` -> :class:`~recblocks.training.row_sparse_adam.RowSparseAdam`, torch's SparseAdam rule
  done by row indexing ("lazy Adam": the moments of a row
  are updated only when the row is looked up). SparseAdam has **no weight decay**; for
  ``adamw`` the decoupled decay is **not applied to tables at all** — regularize tables with
  the model's ``embedding_regularization``, which acts on the looked-up rows (EasyRec's way).
* ``adagrad`` -> :class:`torch.optim.Adagrad` (handles sparse gradients; no weight decay).
* ``sgd`` / ``sgdw`` -> :class:`torch.optim.SGD` without momentum (a momentum buffer would move rows
  that were not looked up, and grow to the full table).
* ``rowwise_adagrad`` -> :class:`recblocks.training.rowwise_adagrad.RowWiseAdagrad` (one
  accumulator per row, FBGEMM's ``EXACT_ROWWISE_ADAGRAD``; the same class for dense weights).
* ``ftrl`` -> :class:`recblocks.training.ftrl.Ftrl`, which updates only the rows a sparse
  gradient holds (dense weights get the same class).

An explicit ``embedding_optimizer`` with ``weight_decay`` or ``momentum`` on sparse tables is a
ConfigError; the derived one (``embedding_optimizer: None``) silently drops both.
Tables whose gradients are dense (``nn.Embedding(sparse=False)``) get the dense variant: with
no ``embedding_optimizer`` they simply join the dense optimizer.

Each optimizer is one registration in :data:`OPTIMIZERS` (its dense and row-wise builders and
the options each honours); an unknown name is a ConfigError with a suggestion when the config
is read, never a silent fallback.

Which tables are sparse: ``sparse=None`` (default) finds the ``nn.Embedding`` /
``nn.EmbeddingBag`` modules built with ``sparse=True``; ``sparse=True``/``False`` forces all
embedding parameters one way. The trainer checks the first step's gradients against this.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from recblocks.core.errors import ConfigError
from recblocks.core.registry import Registry, RegistryEntry
from recblocks.layers.row_sparse_lookup import mark_coalesced
from recblocks.training.ftrl import Ftrl
from recblocks.training.row_sparse_adam import RowSparseAdam
from recblocks.training.rowwise_adagrad import RowWiseAdagrad
from recblocks.training.sgdw import SGDW

if TYPE_CHECKING:  # pragma: no cover
    from recblocks.training.config import OptimizerConfig, TrainConfig

__all__ = ["OPTIMIZERS", "OptimizerSpec", "CompositeOptimizer", "build_optimizer", "make_dense_optimizer",
           "make_sparse_optimizer", "sparse_parameter_ids", "clip_grad_norm"]

MakeOptimizer = Callable[[list[nn.Parameter], "OptimizerConfig", float], torch.optim.Optimizer]


@dataclass(frozen=True, kw_only=True)
class OptimizerSpec(RegistryEntry):
    """One optimizer: how to build it for dense gradients and, row-wise, for sparse embedding tables.

    Args:
        dense: ``f(params, config, lr)`` -> the torch optimizer for dense gradients.
        sparse: ``f(params, config, lr)`` -> the row-wise optimizer for tables with sparse
            gradients; None when the optimizer has no row-wise form (sparse tables are refused).
        options: the :class:`~recblocks.training.config.OptimizerConfig` fields it uses besides
            ``lr`` (a non-default value of another option is a ConfigError).
        sparse_options: the options its row-wise form still honours.
    """

    target: ClassVar[str] = "dense"

    dense: MakeOptimizer
    sparse: MakeOptimizer | None = None
    options: tuple[str, ...] = ()
    sparse_options: tuple[str, ...] = ()

    def facts(self) -> dict[str, Any]:
        return {"options": list(self.options), "sparse": self.sparse is not None,
                "sparse_options": list(self.sparse_options)}


OPTIMIZERS: Registry[OptimizerSpec] = Registry("optimizer", OptimizerSpec, case_sensitive=False)
"""Optimizers by name (``train.optimizer.name``); EasyRec's ``*_optimizer`` spellings are aliases."""


def _adam(params: list[nn.Parameter], cfg: OptimizerConfig, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, betas=cfg.betas, eps=cfg.eps or 1e-8, weight_decay=cfg.weight_decay)


def _adamw(params: list[nn.Parameter], cfg: OptimizerConfig, lr: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, betas=cfg.betas, eps=cfg.eps or 1e-8, weight_decay=cfg.weight_decay)


def _sparse_adam(params: list[nn.Parameter], cfg: OptimizerConfig, lr: float) -> torch.optim.Optimizer:
    return RowSparseAdam(params, lr=lr, betas=cfg.betas, eps=cfg.eps or 1e-8)  # SparseAdam's rule, row-indexed


def _adagrad(params: list[nn.Parameter], cfg: OptimizerConfig, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adagrad(params, lr=lr, eps=cfg.eps or 1e-10, weight_decay=cfg.weight_decay,
                               initial_accumulator_value=cfg.initial_accumulator_value)


def _sparse_adagrad(params: list[nn.Parameter], cfg: OptimizerConfig, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adagrad(params, lr=lr, eps=cfg.eps or 1e-10,
                               initial_accumulator_value=cfg.initial_accumulator_value)


def _rowwise_adagrad(params: list[nn.Parameter], cfg: OptimizerConfig, lr: float) -> torch.optim.Optimizer:
    return RowWiseAdagrad(params, lr=lr, eps=cfg.eps or 1e-8, initial_accumulator_value=cfg.initial_accumulator_value)


def _sgd(params: list[nn.Parameter], cfg: OptimizerConfig, lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=cfg.nesterov)


def _sgdw(params: list[nn.Parameter], cfg: OptimizerConfig, lr: float) -> torch.optim.Optimizer:
    return SGDW(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=cfg.nesterov)


def _ftrl(params: list[nn.Parameter], cfg: OptimizerConfig, lr: float) -> torch.optim.Optimizer:
    return Ftrl(params, lr=lr, lr_power=cfg.lr_power, initial_accumulator_value=cfg.initial_accumulator_value or 0.1,
                l1=cfg.l1, l2=cfg.l2, l2_shrinkage=cfg.l2_shrinkage)


def _sparse_sgd(params: list[nn.Parameter], cfg: OptimizerConfig, lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr)


for _spec in (
    OptimizerSpec(name="adam", dense=_adam, sparse=_sparse_adam, options=("betas", "eps", "weight_decay"),
                  sparse_options=("betas", "eps"), aliases=("adam_optimizer", "adam_async_optimizer"),
                  summary="Adam (L2 weight decay); sparse tables: SparseAdam (lazy Adam, no weight decay)"),
    OptimizerSpec(name="adamw", dense=_adamw, sparse=_sparse_adam, options=("betas", "eps", "weight_decay"),
                  sparse_options=("betas", "eps"), aliases=("adamw_optimizer", "adam_asyncw_optimizer"),
                  summary="AdamW (decoupled weight decay); sparse tables: SparseAdam without decay"),
    OptimizerSpec(name="adagrad", dense=_adagrad, sparse=_sparse_adagrad,
                  options=("eps", "weight_decay", "initial_accumulator_value"),
                  sparse_options=("eps", "initial_accumulator_value"), aliases=("adagrad_optimizer",),
                  summary="Adagrad; sparse tables: Adagrad on the looked-up rows (no weight decay)"),
    OptimizerSpec(name="rowwise_adagrad", dense=_rowwise_adagrad, sparse=_rowwise_adagrad,
                  options=("eps", "initial_accumulator_value"), sparse_options=("eps", "initial_accumulator_value"),
                  aliases=("exact_rowwise_adagrad",),
                  summary="row-wise Adagrad (FBGEMM's EXACT_ROWWISE_ADAGRAD: one accumulator per row, the mean "
                          "squared gradient of the row); sparse tables: the looked-up rows only"),
    OptimizerSpec(name="sgd", dense=_sgd, sparse=_sparse_sgd, options=("momentum", "nesterov", "weight_decay"),
                  aliases=("sgd_optimizer",),
                  summary="SGD (momentum, Nesterov); sparse tables: plain SGD on the looked-up rows"),
    OptimizerSpec(name="sgdw", dense=_sgdw, sparse=_sparse_sgd, options=("momentum", "nesterov", "weight_decay"),
                  aliases=("momentumw_optimizer",),
                  summary="SGD with momentum and decoupled weight decay (SGDW); sparse tables: plain SGD"),
    OptimizerSpec(name="ftrl", dense=_ftrl, sparse=_ftrl,
                  options=("initial_accumulator_value", "lr_power", "l1", "l2", "l2_shrinkage"),
                  sparse_options=("initial_accumulator_value", "lr_power", "l1", "l2", "l2_shrinkage"),
                  aliases=("ftrl_optimizer",),
                  summary="FTRL-Proximal (TensorFlow's update, L1/L2); sparse tables: the same on the looked-up rows"),
):
    OPTIMIZERS.add(_spec)


def make_dense_optimizer(params: list[nn.Parameter], cfg: OptimizerConfig, lr: float) -> torch.optim.Optimizer:
    """The torch optimizer for ``cfg`` over parameters with dense gradients."""
    return OPTIMIZERS.get(cfg.name, "optimizer.name").dense(params, cfg, lr)


def make_sparse_optimizer(params: list[nn.Parameter], cfg: OptimizerConfig, lr: float) -> torch.optim.Optimizer:
    """The row-wise optimizer for ``cfg`` over tables with sparse gradients (see module doc)."""
    spec = OPTIMIZERS.get(cfg.name, "optimizer.name")
    if spec.sparse is None:
        raise ConfigError("train.embedding_optimizer.name", f"{spec.name} has no row-wise form for sparse tables",
                          f"one of {[e.name for e in OPTIMIZERS.entries() if e.sparse is not None]}", repr(spec.name))
    return spec.sparse(params, cfg, lr)


def sparse_parameter_ids(model: nn.Module) -> set[int]:
    """``id`` of every weight of an ``nn.Embedding``/``nn.EmbeddingBag`` built with ``sparse=True``."""
    return {id(m.weight) for m in model.modules()
            if isinstance(m, (nn.Embedding, nn.EmbeddingBag)) and getattr(m, "sparse", False)}


def _names(model: nn.Module) -> dict[int, str]:
    return {id(p): n for n, p in model.named_parameters(remove_duplicate=False)}


def build_optimizer(model: Any, config: TrainConfig, sparse: bool | None = None) -> "CompositeOptimizer":
    """A :class:`CompositeOptimizer` for a model following the TrainableModel protocol.

    Groups (empty ones are left out): ``dense`` (dense parameters, plus dense-gradient tables
    when there is no ``embedding_optimizer``), ``embedding`` (sparse tables, row-wise
    optimizer) and ``embedding_dense`` (dense-gradient tables with an ``embedding_optimizer``).

    Raises:
        ConfigError: a parameter in both lists or in neither, or an option with no row-wise
            form (weight decay, momentum) set on the embedding optimizer of sparse tables.
    """
    names = _names(model)
    dense = [p for p in model.dense_parameters() if p.requires_grad]
    tables = [p for p in model.embedding_parameters() if p.requires_grad]
    dense_ids, table_ids = {id(p) for p in dense}, {id(p) for p in tables}
    both = dense_ids & table_ids
    if both:
        raise ConfigError("model", "a parameter is both an embedding and a dense parameter",
                          "disjoint embedding_parameters() and dense_parameters()",
                          sorted(names.get(i, "?") for i in both))
    missing = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in dense_ids | table_ids]
    if missing:
        raise ConfigError("model", "trainable parameters missing from embedding_parameters() and "
                          "dense_parameters()", "every trainable parameter in one of them", missing)
    if sparse is None:
        sparse_ids = sparse_parameter_ids(model) & table_ids
    else:
        sparse_ids = set(table_ids) if sparse else set()
    sparse_tables = [p for p in tables if id(p) in sparse_ids]
    dense_tables = [p for p in tables if id(p) not in sparse_ids]

    emb_cfg = config.embedding_optimizer
    emb_spec = OPTIMIZERS.get(emb_cfg.name) if emb_cfg is not None else None
    if emb_cfg is not None and emb_spec is not None and sparse_tables:
        if emb_cfg.weight_decay and "weight_decay" not in emb_spec.sparse_options:
            raise ConfigError("train.embedding_optimizer.weight_decay", "sparse embedding tables get no weight decay; "
                              "use the model's embedding_regularization", "0", emb_cfg.weight_decay)
        if emb_cfg.momentum and "momentum" not in emb_spec.sparse_options:
            raise ConfigError("train.embedding_optimizer.momentum", "sparse embedding tables get no momentum",
                              "0", emb_cfg.momentum)
    optimizers: dict[str, torch.optim.Optimizer] = {}
    dense_group = dense + (dense_tables if emb_cfg is None else [])
    if dense_group:
        optimizers["dense"] = make_dense_optimizer(dense_group, config.optimizer, config.base_learning_rate)
    emb_lr = config.embedding_learning_rate
    if sparse_tables:
        optimizers["embedding"] = make_sparse_optimizer(sparse_tables, emb_cfg or config.optimizer, emb_lr)
    if dense_tables and emb_cfg is not None:
        optimizers["embedding_dense"] = make_dense_optimizer(dense_tables, emb_cfg, emb_lr)
    if not optimizers:
        raise ConfigError("model", "the model has no trainable parameters", "at least one", "none")
    return CompositeOptimizer(optimizers, names)


class CompositeOptimizer:
    """Several torch optimizers stepped together (TFRS ``CompositeOptimizer`` pattern).

    Every param group remembers its base learning rate as ``initial_lr``;
    :meth:`set_lr_multiplier` sets ``lr = initial_lr * m`` in all of them, so one schedule
    drives dense and embedding learning rates together.
    """

    def __init__(self, optimizers: Mapping[str, torch.optim.Optimizer], names: Mapping[int, str] | None = None) -> None:
        if not optimizers:
            raise ConfigError("optimizer", "no optimizer given", "at least one", "none")
        self.optimizers = dict(optimizers)
        self._names = dict(names or {})
        self.lr_multiplier = 1.0
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group.setdefault("initial_lr", group["lr"])

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [g for opt in self.optimizers.values() for g in opt.param_groups]

    def parameters(self) -> Iterator[nn.Parameter]:
        for group in self.param_groups:
            yield from group["params"]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                for p in group["params"]:
                    if p.grad is not None and p.grad.is_sparse:
                        mark_coalesced(p.grad)  # rows already distinct and sorted: the optimizer's coalesce is free
            opt.step()

    def set_lr_multiplier(self, multiplier: float) -> None:
        """Set every group's ``lr`` to ``initial_lr * multiplier`` (no-op when unchanged)."""
        if multiplier == self.lr_multiplier:
            return
        self.lr_multiplier = multiplier
        for group in self.param_groups:
            group["lr"] = group["initial_lr"] * multiplier

    def learning_rates(self) -> dict[str, float]:
        """Current learning rate of each optimizer (first group)."""
        return {name: float(opt.param_groups[0]["lr"]) for name, opt in self.optimizers.items()}

    def check_gradients(self) -> None:
        """After the first backward: each optimizer must see the gradient layout it supports."""
        for group_name, opt in self.optimizers.items():
            wants_sparse = isinstance(opt, torch.optim.SparseAdam)
            for p in (p for g in opt.param_groups for p in g["params"]):
                if p.grad is None:
                    continue
                name = self._names.get(id(p), "a parameter")
                if wants_sparse and not p.grad.is_sparse:
                    raise ConfigError(name, "this embedding table got a dense gradient but is updated row-wise by "
                                      "SparseAdam; build it with sparse=True or pass sparse=False to the Trainer",
                                      "a sparse gradient", "a dense gradient")
                if p.grad.is_sparse and group_name != "embedding":
                    raise ConfigError(name, "this parameter got a sparse gradient but is not an embedding table "
                                      "with a row-wise optimizer; list it in embedding_parameters()",
                                      "a dense gradient", "a sparse gradient")

    def state_dict(self) -> dict[str, Any]:
        return {"optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "lr_multiplier": self.lr_multiplier}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        saved = state.get("optimizers", {})
        if set(saved) != set(self.optimizers):
            raise ConfigError("optimizer state", "the saved optimizers do not match this model's",
                              sorted(self.optimizers), sorted(saved))
        for key, opt in self.optimizers.items():
            opt.load_state_dict(saved[key])
        self.lr_multiplier = float(state.get("lr_multiplier", 1.0))

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={type(o).__name__}(lr={o.param_groups[0]['lr']:g})" for k, o in self.optimizers.items())
        return f"CompositeOptimizer({parts})"


def clip_grad_norm(params: Iterable[nn.Parameter], max_norm: float) -> torch.Tensor:
    """Scale all gradients so their global L2 norm is at most ``max_norm``; sparse grads work.

    Sparse gradients are coalesced first (duplicate rows summed) so the norm is exact.
    Returns the norm before clipping.
    """
    grads = []
    for p in params:
        g = p.grad
        if g is None:
            continue
        if g.is_sparse:
            if not mark_coalesced(g).is_coalesced():
                g = p.grad = g.coalesce()
            grads.append((g, g._values()))
        else:
            grads.append((g, g))
    if not grads:
        return torch.zeros(())
    norms = torch.stack([v.detach().norm(2.0).float() for _, v in grads])
    total = norms.norm(2.0)
    coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g, values in grads:
        values.mul_(coef.to(values.dtype))
    return total
