"""State dicts to and from safetensors files, and in-memory copies of the best weights.

safetensors refuses tensors that share memory. Tied weights (the same tensor under two
names) are written once and recorded as aliases in the file's metadata; any other tensor
that shares or only partly covers its storage is copied into its own contiguous buffer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from recblocks.core.errors import DataError
from recblocks.core.files import atomic_write, file_access_error, os_error_from
from recblocks.training.errors import NonFiniteWeightsError

__all__ = ["save_state_dict", "load_state_dict", "copy_state_dict", "check_finite_state", "ALIASES_KEY"]

#: safetensors metadata key holding ``{alias name: stored name}`` as JSON.
ALIASES_KEY = "recblocks.aliases"


def _prepare(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    by_view: dict[tuple, str] = {}
    used_storages: set[int] = set()
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise DataError(name, "a state dict entry is not a tensor", "a tensor", type(value).__name__)
        t = value.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        if t.is_sparse:
            t = t.to_dense()
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if t.numel() and ptr:
            view = (ptr, t.storage_offset(), tuple(t.shape), tuple(t.stride()), t.dtype)
            if view in by_view:
                aliases[name] = by_view[view]
                continue
            by_view[view] = name
            owns_storage = t.is_contiguous() and storage.nbytes() == t.numel() * t.element_size()
            if ptr in used_storages or not owns_storage:
                t = t.clone(memory_format=torch.contiguous_format)
            used_storages.add(ptr)
        else:
            t = t.contiguous()
        tensors[name] = t
    return tensors, aliases


def save_state_dict(path: str | os.PathLike[str], state: Mapping[str, torch.Tensor] | nn.Module) -> Path:
    """Write a state dict (or a module's) to ``path`` as safetensors, atomically."""
    if isinstance(state, nn.Module):
        state = state.state_dict()
    tensors, aliases = _prepare(state)
    metadata = {"format": "pt", ALIASES_KEY: json.dumps(aliases)}

    def write(tmp: Path) -> None:
        try:
            save_file(tensors, str(tmp), metadata=metadata)
        except SafetensorError as exc:  # an I/O error in Rust: raise it as the OSError it is
            raise (os_error_from(exc) or exc) from None

    return atomic_write(path, write)


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a file written by :func:`save_state_dict` (aliases restored, CPU tensors).

    Raises:
        DataError: naming the file when it is missing, unreadable, or not a valid safetensors
            file (empty, truncated, garbage, bad alias metadata).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(str(path), "weights file not found", "a model.safetensors file", "nothing")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            state = {key: handle.get_tensor(key) for key in handle.keys()}
        aliases = json.loads(metadata.get(ALIASES_KEY, "{}"))
        for alias, target in aliases.items():
            state[alias] = state[target]
    except OSError as exc:
        raise file_access_error(exc, path, "read") from None
    except (SafetensorError, ValueError, TypeError, KeyError, AttributeError) as exc:
        text = str(exc).strip().splitlines()
        raise DataError(str(path), f"not a valid safetensors weights file ({text[0][:200] if text else exc!r})",
                        "the model.safetensors written by training", f"{path.stat().st_size} bytes") from None
    check_finite_state(state, str(path))
    return state


def check_finite_state(state: Mapping[str, torch.Tensor], where: str) -> None:
    """Raise :class:`NonFiniteWeightsError` naming ``where`` (a file, a step) and the first tensor
    of ``state`` that holds NaN or inf; integer tensors (e.g. batch-norm counters) are skipped.

    Used on every weights file loaded and on every checkpoint before it is written, so NaN
    weights are never saved and never scored with.
    """
    bad: list[tuple[str, int, int]] = []
    floating = 0
    for name, tensor in state.items():
        if not isinstance(tensor, torch.Tensor) or not (tensor.is_floating_point() or tensor.is_complex()):
            continue
        floating += 1
        finite = torch.isfinite(tensor.detach())
        if not bool(finite.all()):
            bad.append((name, int((~finite).sum()), tensor.numel()))
    if bad:
        name, count, size = bad[0]
        raise NonFiniteWeightsError(where, name, count, size, len(bad), floating)


def copy_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of ``module.state_dict()`` (kept in memory to restore the best epoch)."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}
