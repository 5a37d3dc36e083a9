"""Static shape descriptions used to plan a model before any data flows.

Dimension letters used in every docstring: B batch, F fields, D embedding width,
L sequence length, H hidden, T tasks, E experts.

A *spec* describes a value flowing between blocks without the batch axis:

* :class:`TensorSpec` — one tensor of shape ``(B, *shape)``;
* a Python ``list`` of specs — a list output (e.g. per-feature embeddings);
* a Python ``tuple`` of specs — a tuple output (e.g. ``(concat 2-D, feature list)``);
* ``None`` — an absent value (e.g. no target features).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

import torch

from recblocks.core.errors import ShapeError

__all__ = ["TensorSpec", "Spec", "describe_spec", "spec_to_meta", "spec_from_value", "META_BATCH"]

#: Batch size used for meta-tensor evaluation of expressions; odd so it is easy to tell apart.
META_BATCH = 3

_DTYPES = {"float": torch.float32, "long": torch.int64, "bool": torch.bool}


@dataclass(frozen=True)
class TensorSpec:
    """A tensor of shape ``(B, *shape)`` and a coarse dtype (``float``, ``long`` or ``bool``)."""

    shape: tuple[int, ...]
    dtype: str = "float"

    @property
    def rank(self) -> int:
        """Rank including the batch axis."""
        return len(self.shape) + 1

    @property
    def last_dim(self) -> int:
        """Size of the last axis (raises for a (B,) tensor)."""
        if not self.shape:
            raise ShapeError("", "a (B,) tensor has no feature axis", "rank >= 2", "(B,)")
        return self.shape[-1]

    def __str__(self) -> str:
        dims = ", ".join(["B", *[str(d) for d in self.shape]])
        suffix = "" if self.dtype == "float" else f" {self.dtype}"
        return f"({dims}){suffix}"


Spec = Union[TensorSpec, list, tuple, None]


def describe_spec(spec: Any) -> str:
    """Human-readable form: ``(B, 16)``, ``[(B, 16) x 7]``, ``((B, 112), [(B, 16) x 7])``."""
    if spec is None:
        return "None"
    if isinstance(spec, TensorSpec):
        return str(spec)
    if isinstance(spec, (list, tuple)):
        parts = [describe_spec(s) for s in spec]
        if isinstance(spec, list) and len(parts) > 2 and len(set(parts)) == 1:
            body = f"{parts[0]} x {len(parts)}"
        else:
            body = ", ".join(parts)
        return f"[{body}]" if isinstance(spec, list) else f"({body}{',' if len(parts) == 1 else ''})"
    return type(spec).__name__


def spec_to_meta(spec: Any, batch: int = META_BATCH) -> Any:
    """Meta tensors (no storage) with the given batch size, mirroring the spec's structure."""
    if spec is None:
        return None
    if isinstance(spec, TensorSpec):
        return torch.empty((batch, *spec.shape), dtype=_DTYPES[spec.dtype], device="meta")
    if isinstance(spec, list):
        return [spec_to_meta(s, batch) for s in spec]
    if isinstance(spec, tuple):
        return tuple(spec_to_meta(s, batch) for s in spec)
    raise TypeError(f"not a spec: {spec!r}")


def spec_from_value(value: Any, where: str, batch: int = META_BATCH) -> Any:
    """Spec of a (meta or real) value whose leading axis must be the batch axis."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        if value.dim() == 0 or value.shape[0] != batch:
            raise ShapeError(
                where,
                "the value lost its batch axis",
                f"a tensor whose first axis is the batch (size {batch} while planning)",
                f"shape {tuple(value.shape)}",
            )
        if value.dtype == torch.bool:
            dtype = "bool"
        elif value.dtype.is_floating_point:
            dtype = "float"
        else:
            dtype = "long"
        return TensorSpec(tuple(int(d) for d in value.shape[1:]), dtype)
    if isinstance(value, list):
        return [spec_from_value(v, where, batch) for v in value]
    if isinstance(value, tuple):
        return tuple(spec_from_value(v, where, batch) for v in value)
    raise ShapeError(where, "unsupported value type", "a tensor, list or tuple", type(value).__name__)
