"""``train.embedding_backend``: put a model's embedding tables on another engine before training.

* ``plain`` (default): the model as built (fused ``nn.Embedding`` per width, the ordinary
  row-wise optimizers of :mod:`recblocks.training.optimizers`).
* ``fbgemm``: :func:`recblocks.layers.embedding_fbgemm.to_fbgemm` (FBGEMM table-batched
  embeddings, optimizer fused into backward). The trainer's :class:`CompositeOptimizer` then
  holds the dense optimizer plus a :class:`FusedEmbeddingOptimizer` under ``embedding_fused``: it
  steps nothing (FBGEMM updated the rows during backward) but carries the learning rate (each
  lookup reads it, so the schedule's multiplier reaches FBGEMM before the forward) and the fused state, so a
  checkpoint resumes the accumulators exactly.
* ``torchrec``: not part of this build (a ConfigError), handled by the TorchRec integration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.layers.embedding import EmbeddingCollection
from recblocks.training import distributed
from recblocks.training.config import TrainConfig
from recblocks.training.optimizers import CompositeOptimizer, build_optimizer

__all__ = ["FusedEmbeddingOptimizer", "apply_embedding_backend", "uses_fused_tables"]


def uses_fused_tables(model: Any) -> bool:
    """Whether ``model`` already has tables whose optimizer runs inside backward (fbgemm)."""
    return any(hasattr(m, "load_optimizer_state") for m in model.modules()) if hasattr(model, "modules") else False


class FusedEmbeddingOptimizer:
    """The optimizer-shaped handle of tables whose update runs inside backward (FBGEMM).

    Args:
        tables: module path -> table with ``set_learning_rate``, ``optimizer_state`` and
            ``load_optimizer_state`` (:class:`~recblocks.layers.embedding_fbgemm.FbgemmFusedTable`).
        lr: the base learning rate of the fused update.
    """

    def __init__(self, tables: Mapping[str, Any], lr: float) -> None:
        self.tables = dict(tables)
        self.param_groups: list[dict[str, Any]] = [{"params": [], "lr": lr, "initial_lr": lr}]
        for table in self.tables.values():
            table.follow_learning_rate(self.param_groups[0])  # read at each lookup (the schedule's rate)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Nothing to reset: FBGEMM keeps no gradient."""

    def step(self) -> None:
        """Nothing to do: FBGEMM updated the looked-up rows during backward."""

    def state_dict(self) -> dict[str, Any]:
        group = self.param_groups[0]
        return {"state": {name: table.optimizer_state() for name, table in self.tables.items()},
                "param_groups": [{"lr": group["lr"], "initial_lr": group["initial_lr"]}]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        saved = state.get("state", {})
        if set(saved) != set(self.tables):
            raise ConfigError("optimizer state", "the saved fused embedding tables do not match this model's",
                              sorted(self.tables), sorted(saved))
        for name, table in self.tables.items():
            table.load_optimizer_state(saved[name], f"optimizer state '{name}'")
        self.param_groups[0].update(state.get("param_groups", [{}])[0])


def _dynamic_vocabulary_features(model: Any) -> list[str]:
    return [name for m in model.modules() if isinstance(m, EmbeddingCollection)
            for name in m.dynamic_vocabulary_features()]


def _check_dynamic_vocabularies(model: Any, backend: str) -> None:
    """Dynamic vocabularies hand rows to new ids inside one process's plain tables: refused where
    that would silently go wrong (before any step)."""
    dynamic = _dynamic_vocabulary_features(model)
    if not dynamic:
        return
    where = f"features.{dynamic[0]}.vocabulary"
    if backend != "plain":
        raise ConfigError(where, f"a dynamic vocabulary resets the rows it gives to new ids in the plain tables; "
                          f"the {backend} backend keeps its own copy of the weights and optimizer state",
                          "embedding_backend: plain with a dynamic vocabulary", f"{backend} (dynamic: {dynamic})")
    if distributed.is_distributed():
        raise ConfigError(where, "each data-parallel process would map a new id to a row on its own, so one id "
                          "would get different rows in different processes",
                          "a fitted vocabulary under torchrun (or one process)", f"type: dynamic ({dynamic})")


def apply_embedding_backend(model: Any, config: TrainConfig, sparse: bool | None = None) -> CompositeOptimizer | None:
    """Switch ``model``'s tables to ``config.embedding_backend`` (in place) and return the
    optimizer that trains it; None for ``plain`` (nothing changes) and ``torchrec`` (the trainer
    wraps the model instead: :mod:`recblocks.training.torchrec_backend_trainer`).

    Raises:
        ConfigError: a dynamic vocabulary with another backend than ``plain`` or in a data-parallel
            run (naming the feature); ``fbgemm`` in a data-parallel run, an optimizer FBGEMM cannot fuse on CPU
            (naming ``train.embedding_optimizer.name``), or FBGEMM missing (naming ``make setup-torchrec``).
    """
    backend = config.embedding_backend
    _check_dynamic_vocabularies(model, backend)
    if backend in ("plain", "torchrec"):  # torchrec: the trainer wraps the model (torchrec_backend_trainer)
        return None
    if distributed.is_distributed():
        raise ConfigError("train.embedding_backend", "the fbgemm backend updates each process's tables inside its "
                          "own backward pass, so data-parallel processes would drift apart",
                          "plain or torchrec under torchrun", repr(backend))
    from recblocks.layers.embedding_fbgemm import to_fbgemm

    emb = config.embedding_optimizer or config.optimizer
    lr = config.embedding_learning_rate
    default_eps = 1e-10 if emb.name == "adagrad" else 1e-8
    tables = to_fbgemm(model, emb.name, lr, emb.eps or default_eps, emb.initial_accumulator_value)
    fused = FusedEmbeddingOptimizer(tables, lr)
    if not any(p.requires_grad for p in model.parameters()):  # nothing but (now frozen) tables
        return CompositeOptimizer({"embedding_fused": fused})
    optimizer = build_optimizer(model, config, sparse)  # the tables are frozen now: dense weights only
    optimizer.optimizers["embedding_fused"] = fused
    return optimizer
