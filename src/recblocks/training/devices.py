"""Where training runs (``train.device``) and in what precision (``train.mixed_precision``).

* ``device``: ``cpu`` (default), ``cuda`` (the current GPU), ``cuda:N`` or ``auto`` (``cuda`` when
  torch sees a GPU, else ``cpu``). A CUDA device on a machine without one is a
  :class:`~recblocks.core.errors.ConfigError` raised when the trainer is made, before any step.
  The trainer moves the model there once; each batch moves as a whole (every column of the
  :class:`~recblocks.features.batch.Batch`), through pinned memory with ``non_blocking``
  copies on CUDA. Checkpoints are always written as CPU tensors and read back onto the
  model's device, so a run trained on a GPU loads on a CPU and the other way round.
* ``mixed_precision``: ``none`` (default), ``bf16`` (CPU or CUDA) or ``fp16`` (CUDA only, with
  a ``GradScaler`` that scales the loss and skips steps whose gradients overflow). Only the
  forward pass runs under ``torch.autocast``; the outputs are cast back to float32 before the
  loss, so losses and metrics are float32, and parameters (embedding tables included) stay
  float32. Evaluation and prediction run in float32.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterable
from typing import Any

import torch

from recblocks.core.errors import ConfigError

__all__ = ["DEVICE_PATTERN", "resolve_device", "check_precision", "move_batch", "autocast", "make_grad_scaler",
           "float32_outputs",
           "to_cpu", "unscale"]

#: What ``train.device`` / ``--device`` accept.
DEVICE_PATTERN = re.compile(r"^(cpu|auto|cuda(:\d{1,3})?)$")
_HALF = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str, where: str = "train.device") -> torch.device:
    """The torch device ``name`` (``cpu | cuda | cuda:N | auto``) stands for on this machine.

    Raises:
        ConfigError: ``name`` is not one of those, or asks for CUDA (or a GPU index) this
            machine does not have.
    """
    if not isinstance(name, str) or not DEVICE_PATTERN.match(name):
        raise ConfigError(where, "unknown device", "cpu, cuda, cuda:N or auto", repr(name))
    available = torch.cuda.is_available()
    if name == "auto":
        return torch.device("cuda" if available else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if not available:
        raise ConfigError(where, "CUDA was requested but torch sees no CUDA device on this machine (a CPU-only "
                          f"torch {torch.__version__} build or no GPU)", "cpu or auto", repr(name))
    device = torch.device(name)
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise ConfigError(where, f"this machine has {count} CUDA device(s)", f"cuda:0 to cuda:{count - 1}",
                          repr(name))
    return device


def check_precision(mode: str, device: torch.device, where: str = "train.mixed_precision") -> torch.dtype | None:
    """The autocast dtype of ``mode`` on ``device`` (None for ``none``); fp16 needs CUDA."""
    if mode == "none":
        return None
    if mode not in _HALF:
        raise ConfigError(where, "unknown precision", "none, bf16 or fp16", repr(mode))
    if mode == "fp16" and device.type != "cuda":
        raise ConfigError(where, "fp16 autocast with a loss scaler needs a CUDA device", "bf16 or none on "
                          f"{device.type}", "fp16")
    return _HALF[mode]


def move_batch(batch: Any, device: torch.device) -> Any:
    """The whole batch on ``device``: every column in one pass, pinned and non-blocking on CUDA."""
    if device.type != "cuda":
        return batch.to(device)
    columns = [getattr(batch, name) for name in ("features", "labels", "extras")]
    moved = [{k: _pinned(v).to(device, non_blocking=True) for k, v in column.items()} for column in columns]
    return type(batch)(*moved)


def _pinned(tensor: torch.Tensor) -> torch.Tensor:
    return tensor if tensor.is_cuda or tensor.is_pinned() else tensor.pin_memory()


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``dtype`` on ``device``'s type (a null context for None)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def make_grad_scaler(device: torch.device, mode: str) -> torch.amp.GradScaler | None:
    """A loss scaler for fp16 (None otherwise: bf16 has float32's range)."""
    return torch.amp.GradScaler(device.type) if mode == "fp16" else None


def float32_outputs(outputs: Any) -> Any:
    """``outputs`` with every half-precision tensor (in dataclasses, dicts, lists, tuples) cast to float32."""
    if isinstance(outputs, torch.Tensor):
        return outputs.float() if outputs.dtype in (torch.bfloat16, torch.float16) else outputs
    if dataclasses.is_dataclass(outputs) and not isinstance(outputs, type):
        changes = {f.name: float32_outputs(getattr(outputs, f.name)) for f in dataclasses.fields(outputs) if f.init}
        return dataclasses.replace(outputs, **changes)
    if isinstance(outputs, dict):
        return {k: float32_outputs(v) for k, v in outputs.items()}
    if isinstance(outputs, (list, tuple)) and not hasattr(outputs, "_fields"):
        return type(outputs)(float32_outputs(v) for v in outputs)
    return outputs


def unscale(scaler: torch.amp.GradScaler | None, optimizers: Iterable[torch.optim.Optimizer]) -> None:
    """Unscale the gradients before clipping (fp16)."""
    if scaler is not None:
        for opt in optimizers:
            scaler.unscale_(opt)


def to_cpu(state: Any) -> Any:
    """``state`` (an optimizer's state dict: nested dicts and lists) with every tensor on the CPU."""
    if isinstance(state, torch.Tensor):
        return state.cpu()
    if isinstance(state, dict):
        return {k: to_cpu(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(to_cpu(v) for v in state)
    return state
