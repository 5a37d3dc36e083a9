"""The memory a run will need, checked before any large tensor exists.

Every path that builds a model from a config (``train_run``, ``plan_rows``/validate, opening a
run for evaluate/predict, ``Model.fit``) calls :func:`check_run_memory` first. It builds the
model on the meta device (no storage), then plans with
:func:`recblocks.models.memory.plan_memory`:

* parameters (each embedding table, each block);
* for training: dense gradients, the optimizer state the run's optimizers keep (built with
  :func:`~recblocks.training.optimizers.build_optimizer` on the meta model, so the split into
  dense / row-wise groups is the real one: Adam/AdamW/SparseAdam keep two moments per
  parameter, Adagrad one accumulator, SGD a momentum buffer only with momentum), the
  activations of one training batch (x2 for the backward pass) or of one evaluation batch,
  whichever is larger, and synthetic data generated in memory;
* for evaluation: activations of one evaluation batch (8,192 rows).

The limit is ``train.memory_limit_gb`` (None: half of the machine's memory; 0: no limit).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

from recblocks.core.limits import memory_limit
from recblocks.datasets.synthetic import SyntheticConfig
from recblocks.models.memory import MemoryItem, build_on_meta, check_memory, plan_memory
from recblocks.models.rank_model import RankModel
from recblocks.training.config import TrainConfig
from recblocks.training.optimizers import build_optimizer, sparse_parameter_ids

__all__ = ["EVAL_BATCH_SIZE", "optimizer_items", "synthetic_items", "check_run_memory"]

#: Rows per batch of ``recblocks evaluate`` and ``predict``.
EVAL_BATCH_SIZE = 8192
_STATE_COPIES = {torch.optim.Adam: 2, torch.optim.AdamW: 2, torch.optim.SparseAdam: 2, torch.optim.Adagrad: 1}
_GROUP_NAMES = {"dense": "dense parameters", "embedding": "embedding tables (row-wise)",
                "embedding_dense": "embedding tables"}


def _state_copies(optimizer: torch.optim.Optimizer) -> int:
    if isinstance(optimizer, torch.optim.SGD):
        return 1 if any(group.get("momentum", 0) for group in optimizer.param_groups) else 0
    return _STATE_COPIES.get(type(optimizer), 2)


def optimizer_items(model: RankModel, train: TrainConfig) -> list[MemoryItem]:
    """Gradients and optimizer state of training ``model`` (a meta model) with ``train``."""
    optimizer = build_optimizer(model, train)
    sparse = sparse_parameter_ids(model)
    items = []
    dense_grads = sum(p.numel() * p.element_size() for p in model.parameters() if id(p) not in sparse)
    items.append(MemoryItem("gradients of the dense parameters", dense_grads))
    for name, opt in optimizer.optimizers.items():
        params = [p for group in opt.param_groups for p in group["params"]]
        size = sum(p.numel() * p.element_size() for p in params) * _state_copies(opt)
        if size:
            items.append(MemoryItem(f"{type(opt).__name__} state of the {_GROUP_NAMES.get(name, name)}", size))
    return items


def synthetic_items(synthetic: SyntheticConfig | None) -> list[MemoryItem]:
    """The in-memory synthetic dataset (generated columns, their Arrow copies and the splits)."""
    if synthetic is None:
        return []
    per_row = 16 + 8 * synthetic.num_dense + 32 * len(synthetic.vocab_sizes)
    if synthetic.multi_valued is not None:
        per_row += 16 + 12 * synthetic.multi_valued.max_len
    return [MemoryItem(f"synthetic data of {synthetic.num_rows:,} rows", 3 * per_row * synthetic.num_rows)]


def check_run_memory(factory: Callable[[], RankModel], train: TrainConfig,
                     purpose: Literal["train", "evaluate"] = "train", synthetic: SyntheticConfig | None = None,
                     where: str = "model") -> RankModel:
    """Build ``factory()`` on the meta device, plan its memory for ``purpose`` and check the limit.

    Returns the meta model (shapes and parameter counts, no storage); raises ConfigError naming
    the largest contributors when the plan exceeds ``train.memory_limit_gb``.
    """
    model = build_on_meta(factory)
    if purpose == "train":
        plan = plan_memory(model, train.batch_size, training=True,
                           extra=[*optimizer_items(model, train), *synthetic_items(synthetic)],
                           eval_batch_size=train.eval_batch_size or max(train.batch_size, 4096))
    else:
        plan = plan_memory(model, EVAL_BATCH_SIZE, training=False)
    check_memory(plan, memory_limit(train.memory_limit_gb), where)
    return model
