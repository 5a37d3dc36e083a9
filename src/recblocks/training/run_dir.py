"""The run directory: everything one training run leaves behind.

::

    run/
      config.yaml         the resolved config (written by the caller)
      preprocess.json     fitted preprocessing state (written by the caller: preprocess_path)
      model.safetensors   best weights
      optimizer.pt        optimizer state at the best epoch (torch.save)
      epochs.jsonl        one JSON object of metrics per epoch
      metrics.json        final summary: best epoch, valid/test metrics, data report
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from recblocks.core.errors import DataError
from recblocks.training.checkpoint import load_state_dict, save_state_dict
from recblocks.training.errors import RunDirExistsError

__all__ = ["RunDir", "RUN_FILES"]

CONFIG = "config.yaml"
PREPROCESS = "preprocess.json"
WEIGHTS = "model.safetensors"
OPTIMIZER = "optimizer.pt"
EPOCHS = "epochs.jsonl"
METRICS = "metrics.json"
#: The files a run directory may hold.
RUN_FILES = (CONFIG, PREPROCESS, WEIGHTS, OPTIMIZER, EPOCHS, METRICS)


def jsonable(value: Any) -> Any:
    """Plain JSON data: NaN/inf -> None, numpy/torch values -> Python, tuples -> lists."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, int):
        return int(value)
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return jsonable(value.tolist())
    if isinstance(value, Path):
        return str(value)
    return value


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class RunDir:
    """A run directory (see module docstring).

    ``RunDir(path)`` creates it; an existing non-empty directory raises
    :class:`RunDirExistsError` unless ``overwrite=True``, which empties it first. As a guard
    against typos, ``overwrite`` only empties a directory that already holds a run file.
    ``RunDir.open(path)`` opens an existing run for evaluation or prediction.

    Example:
        >>> import tempfile
        >>> run = RunDir(tempfile.mkdtemp() + "/run", config={"train": {"epochs": 1}})
        >>> run.read_config()
        {'train': {'epochs': 1}}
    """

    def __init__(self, path: str | os.PathLike[str], *, overwrite: bool = False,
                 config: Mapping[str, Any] | Any | None = None) -> None:
        root = Path(path)
        if root.exists() and not root.is_dir():
            raise RunDirExistsError(str(root), "the run directory path is a file", "a directory", "a file")
        if root.is_dir():
            entries = sorted(p.name for p in root.iterdir())
            if entries and not overwrite:
                raise RunDirExistsError(str(root), "the run directory is not empty; pass --overwrite "
                                        "(overwrite=True) to replace it", "an empty or new directory",
                                        ", ".join(entries[:5]) + (" ..." if len(entries) > 5 else ""))
            if entries and not set(entries) & set(RUN_FILES):
                raise RunDirExistsError(str(root), "refusing to empty a directory that holds no run files; "
                                        "remove it yourself or choose another path",
                                        f"a run directory (with one of {list(RUN_FILES)})", ", ".join(entries[:5]))
            for child in root.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        root.mkdir(parents=True, exist_ok=True)
        self.path = root
        if config is not None:
            self.write_config(config)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> "RunDir":
        """An existing run directory (nothing is created or emptied)."""
        root = Path(path)
        if not root.is_dir():
            raise DataError(str(root), "run directory not found", "a directory written by training", "nothing")
        run = cls.__new__(cls)
        run.path = root
        return run

    def __repr__(self) -> str:
        return f"RunDir('{self.path}')"

    def __fspath__(self) -> str:
        return str(self.path)

    # -- paths ---------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def preprocess_path(self) -> Path:
        return self.path / PREPROCESS

    @property
    def weights_path(self) -> Path:
        return self.path / WEIGHTS

    @property
    def optimizer_path(self) -> Path:
        return self.path / OPTIMIZER

    @property
    def epochs_path(self) -> Path:
        return self.path / EPOCHS

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    def _need(self, path: Path, what: str) -> Path:
        if not path.is_file():
            raise DataError(str(path), f"{what} not found in the run directory", f"{path.name}", "nothing")
        return path

    # -- config -----------------------------------------------------------------------------
    def write_config(self, config: Mapping[str, Any] | Any) -> None:
        """Write the resolved config (a mapping or a pydantic model) as YAML."""
        data = jsonable(config)
        _write_text(self.config_path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))

    def read_config(self) -> dict[str, Any]:
        return yaml.safe_load(self._need(self.config_path, "config.yaml").read_text(encoding="utf-8")) or {}

    # -- weights ----------------------------------------------------------------------------
    def save_weights(self, state: nn.Module | Mapping[str, torch.Tensor]) -> Path:
        """Write a module's (or a state dict's) weights to ``model.safetensors``."""
        return save_state_dict(self.weights_path, state)

    def load_state_dict(self) -> dict[str, torch.Tensor]:
        """The saved weights as a state dict (CPU tensors)."""
        return load_state_dict(self._need(self.weights_path, "model weights"))

    def load_weights(self, model: nn.Module, strict: bool = True) -> nn.Module:
        """Load ``model.safetensors`` into ``model`` (DataError naming missing/unexpected keys)."""
        state = self.load_state_dict()
        try:
            model.load_state_dict(state, strict=strict)
        except RuntimeError as exc:
            own = set(model.state_dict())
            missing, unexpected = sorted(own - set(state)), sorted(set(state) - own)
            detail = f"missing {missing[:5]}, unexpected {unexpected[:5]}" if (missing or unexpected) else str(exc)
            raise DataError(str(self.weights_path), "the saved weights do not fit this model",
                            "the state dict of the same model config", detail) from None
        return model

    def save_optimizer(self, optimizer: Any) -> Path:
        """``torch.save`` of ``optimizer.state_dict()`` to ``optimizer.pt``."""
        tmp = self.optimizer_path.with_name(OPTIMIZER + ".tmp")
        torch.save(optimizer.state_dict(), tmp)
        os.replace(tmp, self.optimizer_path)
        return self.optimizer_path

    def load_optimizer(self, optimizer: Any) -> Any:
        """Load ``optimizer.pt`` into ``optimizer`` (anything with ``load_state_dict``)."""
        state = torch.load(self._need(self.optimizer_path, "optimizer state"), weights_only=True)
        optimizer.load_state_dict(state)
        return optimizer

    # -- metrics ----------------------------------------------------------------------------
    def append_epoch(self, record: Mapping[str, Any]) -> None:
        """Append one JSON line to ``epochs.jsonl``."""
        with self.epochs_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(jsonable(record)) + "\n")

    def read_epochs(self) -> list[dict[str, Any]]:
        if not self.epochs_path.is_file():
            return []
        lines = self.epochs_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def write_metrics(self, metrics: Mapping[str, Any], merge: bool = True) -> None:
        """Write ``metrics.json``; with ``merge`` the top-level keys update the existing file
        (so training writes ``best_epoch``/``valid`` and the caller adds ``test``/``data``)."""
        data = self.read_metrics() if merge else {}
        data.update(jsonable(metrics))
        _write_text(self.metrics_path, json.dumps(data, indent=2) + "\n")

    def read_metrics(self) -> dict[str, Any]:
        if not self.metrics_path.is_file():
            return {}
        return json.loads(self.metrics_path.read_text(encoding="utf-8"))
