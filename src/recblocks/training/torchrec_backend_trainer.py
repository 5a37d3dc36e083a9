"""``train.embedding_backend: torchrec`` in the :class:`~recblocks.training.Trainer`.

:func:`wrap_for_trainer` shards the model (:func:`~recblocks.training.torchrec_backend.shard_model`,
``train.embedding_sharding``) and returns a model and an optimizer with the interfaces the
trainer already uses, so the training loop is unchanged:

* :class:`TorchRecTrainable` calls DistributedModelParallel for ``forward`` and the wrapped
  model for ``loss``, ``predictions``, the evaluator and the batch checks; its ``state_dict``
  is the PLAIN layout (:func:`plain_state_dict`: the keys of the unsharded model), so run
  directories, checkpoints, best weights, predict, load and export are untouched, and
  ``load_state_dict`` takes that layout back. :meth:`TorchRecTrainable.unwrap` puts the plain
  tables back into the model with the trained weights (the trainer does it at the end of ``fit``).
* :class:`TorchRecOptimizer` drives the fused embedding optimizer and the dense one like a
  :class:`~recblocks.training.optimizers.CompositeOptimizer` (learning-rate multiplier,
  ``learning_rates``); its ``state_dict`` holds whole tensors (sharded optimizer state gathered),
  so a trainer checkpoint resumes with any world size.

Both ``state_dict`` methods are collective: every rank calls them (the trainer does, on every
rank). Without an initialized process group, the group torchrun describes (``WORLD_SIZE``...) or
a world-size-1 gloo group is started.
``grad_clip_norm`` is refused: the embedding update happens inside the backward pass.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recblocks.core.errors import ConfigError
from recblocks.training import distributed
from recblocks.training.config import TrainConfig
from recblocks.training.torchrec_backend import (ShardedModel, load_plain_state_dict, plain_state_dict,
                                                 require_torchrec, shard_model)

__all__ = ["TorchRecTrainable", "TorchRecOptimizer", "wrap_for_trainer"]


def _ensure_process_group() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        return
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # launched by torchrun: its rendezvous variables
        dist.init_process_group("gloo")
    else:  # one process: a gloo group of one over a file store
        store = Path(tempfile.mkdtemp(prefix="recblocks-torchrec-")) / "store"
        dist.init_process_group("gloo", init_method=f"file://{store}", rank=0, world_size=1)
    distributed.release_at_exit()  # DistributedModelParallel holds the group into interpreter exit


def wrap_for_trainer(model: nn.Module, config: TrainConfig) -> tuple["TorchRecTrainable", "TorchRecOptimizer"]:
    """The sharded model and its optimizer, for a Trainer with ``embedding_backend: torchrec``."""
    require_torchrec()
    if config.grad_clip_norm is not None:
        raise ConfigError("train.grad_clip_norm", "the torchrec backend updates embedding rows inside the "
                          "backward pass (FBGEMM's fused optimizer), so there is no global gradient to clip",
                          "no grad_clip_norm with embedding_backend: torchrec", config.grad_clip_norm)
    _ensure_process_group()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    originals = _fused_tables(model)
    sharded = shard_model(model, config, sharding=config.embedding_sharding, device=device)
    return TorchRecTrainable(sharded, originals), TorchRecOptimizer(sharded)


def _fused_tables(model: nn.Module) -> list[tuple[Any, str, nn.Module]]:
    from recblocks.layers.embedding import EmbeddingCollection

    return [(module, key, table) for module in model.modules() if isinstance(module, EmbeddingCollection)
            for key, table in module.fused.items()]


class TorchRecTrainable(nn.Module):
    """A sharded model seen by the trainer as the recblocks model it wraps (see module docstring)."""

    def __init__(self, sharded: ShardedModel, originals: list[tuple[Any, str, nn.Module]]) -> None:
        super().__init__()
        self.dmp = sharded.dmp
        self._sharded = sharded
        self._originals = originals

    @property
    def sharded(self) -> ShardedModel:
        return self._sharded

    def forward(self, batch: Any) -> Any:
        return self.dmp(batch)

    def __getattr__(self, name: str) -> Any:  # loss, predictions, evaluator, check_batch, check_outputs...
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._sharded.model, name)

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """The plain layout (collective: every rank calls it)."""
        return plain_state_dict(self._sharded)

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:  # type: ignore[override]
        load_plain_state_dict(self._sharded, state)

    def unwrap(self) -> nn.Module:
        """The wrapped model with its plain tables back, holding the trained weights (collective)."""
        state = plain_state_dict(self._sharded)
        for collection, key, table in self._originals:
            collection.fused[key] = table
        model = self._sharded.model
        model.load_state_dict(state)
        return model


class TorchRecOptimizer:
    """The fused embedding optimizer and the dense one, with the CompositeOptimizer interface the trainer uses."""

    def __init__(self, sharded: ShardedModel) -> None:
        self.sharded = sharded
        self.optimizers = dict(sharded.optimizer.optimizers)
        self.lr_multiplier = 1.0
        for group in self.param_groups:
            group.setdefault("initial_lr", group["lr"])

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [g for opt in self.optimizers.values() for g in opt.param_groups]

    def parameters(self) -> Any:
        for group in self.param_groups:
            yield from group["params"]

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.sharded.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        self.sharded.optimizer.step()

    def check_gradients(self) -> None:
        """Nothing to check: the embedding gradients never leave the fused kernels."""

    def set_lr_multiplier(self, multiplier: float) -> None:
        if multiplier == self.lr_multiplier:
            return
        self.lr_multiplier = multiplier
        for group in self.param_groups:  # the fused optimizer passes its lr to FBGEMM at the next step
            group["lr"] = group["initial_lr"] * multiplier

    def learning_rates(self) -> dict[str, float]:
        return {name: float(opt.param_groups[0]["lr"]) for name, opt in self.optimizers.items()}

    def state_dict(self) -> dict[str, Any]:
        """Whole tensors (sharded state gathered; collective), keyed by parameter name."""
        state = _gather_tree(self.sharded.optimizer.state_dict())
        return {"torchrec": state, "lr_multiplier": self.lr_multiplier}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if "torchrec" not in state:
            raise ConfigError("optimizer state", "not the torchrec backend's optimizer state (the checkpoint was "
                              "written by another embedding backend)", "a torchrec optimizer state",
                              sorted(state)[:3])
        dense = self.optimizers.get("dense")
        if dense is not None:
            dense.init_state()  # torch creates state lazily: make the targets to fill
        target = self.sharded.optimizer.state_dict()
        self.sharded.optimizer.load_state_dict(_scatter_tree(target, state["torchrec"], "optimizer state"))
        self.lr_multiplier = float(state.get("lr_multiplier", 1.0))


def _is_sharded(value: Any) -> bool:
    from torch.distributed._shard.sharded_tensor import ShardedTensor

    return isinstance(value, ShardedTensor)


def _gather_tree(tree: Any) -> Any:
    """``tree`` with every ShardedTensor replaced by the whole tensor (collective)."""
    if isinstance(tree, Mapping):
        return {k: _gather_tree(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_gather_tree(v) for v in tree]
    if _is_sharded(tree):
        import torch.distributed as dist

        mine = [(tuple(s.metadata.shard_offsets), s.tensor.detach().cpu()) for s in tree.local_shards()]
        gathered: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, mine)
        full = torch.zeros(tuple(tree.size()), dtype=mine[0][1].dtype if mine else torch.float32)
        for offsets, piece in (p for rank in gathered for p in rank):
            full[tuple(slice(o, o + n) for o, n in zip(offsets, piece.shape))] = piece
        return full
    if isinstance(tree, torch.Tensor):
        return tree.detach().cpu().clone()
    return tree


def _scatter_tree(target: Any, source: Any, where: str) -> Any:
    """``target`` (this rank's state, ShardedTensors included) filled from the whole tensors of ``source``."""
    if isinstance(target, Mapping):
        missing = sorted(set(target) - set(source))
        if missing:
            raise ConfigError(where, "the saved state lacks entries of this model", "every entry", missing[:3])
        return {k: _scatter_tree(v, source[k], f"{where}[{k}]") for k, v in target.items()}
    if isinstance(target, list):
        return [_scatter_tree(t, s, f"{where}[{i}]") for i, (t, s) in enumerate(zip(target, source))]
    if _is_sharded(target):
        for shard in target.local_shards():
            index = tuple(slice(o, o + n) for o, n in zip(shard.metadata.shard_offsets, shard.tensor.shape))
            shard.tensor.copy_(source[index])
        return target
    if isinstance(target, torch.Tensor):
        return source.to(target.dtype) if isinstance(source, torch.Tensor) else source
    return source
