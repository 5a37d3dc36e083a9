"""What a training checkpoint holds, and how the trainer's state is captured and restored.

A :class:`TrainingState` is everything needed to continue a ``Trainer.fit`` exactly where it
stopped, so that the finished run is bit-identical to one that was never interrupted:

* ``model``: the current weights; ``best``: the in-memory copy of the best weights
  (``restore_best``), when there is one;
* ``optimizer``: the :class:`~recblocks.training.optimizers.CompositeOptimizer` state (every
  torch optimizer's moments and the learning-rate multiplier); the schedule itself is a pure
  function of the global step, so restoring the step restores its position;
* ``trainer``: plain data (ints, floats, strings, lists, dicts): the global step, the epoch in
  progress and how many of its batches were trained (the loaders' order is a pure function of
  ``(seed, epoch)``, so the trainer skips those batches on resume), the epoch's loss sums so
  far, the history (epoch records, step evaluations, best value/epoch/step, early-stopping
  counter), the divergence monitor, and the random states of Python, numpy and torch (CPU and
  CUDA: dropout continues with the same stream).

Files (written by the run directory, read back by :func:`read_training_state`)::

    model.safetensors   current weights
    best.safetensors    best weights kept for restore_best (absent without one)
    optimizer.pt        optimizer state (torch.save, loaded with weights_only=True)
    trainer.pt          the trainer dict (torch.save of plain data and tensors, weights_only)
"""

from __future__ import annotations

import pickle
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recblocks.core.errors import DataError
from recblocks.core.files import file_access_error
from recblocks.training.checkpoint import load_state_dict, save_state_dict

__all__ = ["TrainingState", "STATE_FILES", "TRAINER_STATE_VERSION", "capture_rng", "restore_rng",
           "write_training_state", "read_training_state"]

#: Version of the ``trainer.pt`` dict; readers refuse a newer one.
TRAINER_STATE_VERSION = 1
MODEL, BEST, OPTIMIZER, TRAINER = "model.safetensors", "best.safetensors", "optimizer.pt", "trainer.pt"
#: Files of a checkpoint folder (``best.safetensors`` only when there is a best copy).
STATE_FILES = (MODEL, BEST, OPTIMIZER, TRAINER)


@dataclass
class TrainingState:
    """A checkpoint in memory (see module docstring)."""

    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    trainer: dict[str, Any]
    best: dict[str, torch.Tensor] | None = None

    @property
    def global_step(self) -> int:
        return int(self.trainer["global_step"])


def capture_rng() -> dict[str, Any]:
    """The random states of Python, numpy and torch (CPU, and every CUDA device when present)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss),
                  float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Set the random states captured by :func:`capture_rng`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def write_training_state(folder: Path, state: TrainingState, save: Any) -> list[str]:
    """Write ``state`` into ``folder`` (which exists and is empty); ``save(obj, path)`` writes a
    torch file (the run directory's failure-checked ``torch.save``). Returns the file names."""
    save_state_dict(folder / MODEL, state.model)
    names = [MODEL]
    if state.best is not None:
        save_state_dict(folder / BEST, state.best)
        names.append(BEST)
    save(state.optimizer, folder / OPTIMIZER)
    save({**state.trainer, "version": TRAINER_STATE_VERSION}, folder / TRAINER)
    return [*names, OPTIMIZER, TRAINER]


def _torch_load(path: Path, what: str) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)  # device-free
    except OSError as exc:
        raise file_access_error(exc, path, "read") from None
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError, TypeError, KeyError,
            AttributeError, ImportError) as exc:
        text = str(exc).strip().splitlines()
        raise DataError(str(path), f"not a valid {what} ({type(exc).__name__}: {text[0][:120] if text else ''})",
                        f"the {path.name} written by training", f"{path.stat().st_size} bytes") from None


def read_training_state(folder: Path) -> TrainingState:
    """The :class:`TrainingState` of a checkpoint folder; DataError naming the file that is
    missing or damaged."""
    for name in (MODEL, OPTIMIZER, TRAINER):
        if not (folder / name).is_file():
            raise DataError(str(folder / name), "checkpoint file not found", f"{name} in the checkpoint", "nothing")
    trainer = _torch_load(folder / TRAINER, "trainer state")
    if not isinstance(trainer, dict) or not isinstance(trainer.get("global_step"), int):
        raise DataError(str(folder / TRAINER), "not a trainer state", "the dict written by training",
                        type(trainer).__name__)
    version = trainer.get("version")
    if not isinstance(version, int) or version > TRAINER_STATE_VERSION:
        raise DataError(str(folder / TRAINER), "the checkpoint was written by a newer recblocks",
                        f"version <= {TRAINER_STATE_VERSION}", repr(version)[:40])
    optimizer = _torch_load(folder / OPTIMIZER, "optimizer state")
    best = load_state_dict(folder / BEST) if (folder / BEST).is_file() else None
    return TrainingState(load_state_dict(folder / MODEL), optimizer, trainer, best)
