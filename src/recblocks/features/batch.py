"""The batch container every model consumes: whole columns as tensors, no per-row Python.

A :class:`Batch` holds, for ``B`` rows:

* ``features`` — one tensor per feature (by feature name):
  id kinds ``sparse | hashed | bucketized``: ``(B,)`` int64 local ids;
  ``multi | sequence``: ``(B, L)`` int64 local ids, ``0`` = padding, left-aligned;
  ``dense``: ``(B,)`` float32, already filled and normalised.
* ``labels`` — one tensor per label column: ``(B,)`` float32 (binary / regression) or int64
  (multi-class).
* ``extras`` — passthrough columns the model does not read (e.g. GAUC group keys as int64
  codes, ids to write next to predictions), each a ``(B,)`` tensor.

The same class holds a whole transformed dataset; loaders cut batches from it with
:meth:`take` (gather rows) or :meth:`slice`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["Batch"]


def _gather(d: dict[str, torch.Tensor], index: torch.Tensor) -> dict[str, torch.Tensor]:
    return {k: v.index_select(0, index) for k, v in d.items()}


def _cut(d: dict[str, torch.Tensor], start: int, end: int) -> dict[str, torch.Tensor]:
    return {k: v[start:end] for k, v in d.items()}


@dataclass
class Batch:
    """Rows of transformed features, labels and passthrough columns (see module docstring)."""

    features: dict[str, torch.Tensor]
    labels: dict[str, torch.Tensor] = field(default_factory=dict)
    extras: dict[str, torch.Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        for d in (self.features, self.labels, self.extras):
            for v in d.values():
                return int(v.shape[0])
        return 0

    def take(self, index: torch.Tensor) -> "Batch":
        """Rows at ``index`` (int64 tensor), gathered column by column."""
        return Batch(_gather(self.features, index), _gather(self.labels, index), _gather(self.extras, index))

    def slice(self, start: int, end: int) -> "Batch":
        """Rows ``start:end`` as views (no copy)."""
        return Batch(_cut(self.features, start, end), _cut(self.labels, start, end), _cut(self.extras, start, end))

    def to(self, device: torch.device | str) -> "Batch":
        move = lambda d: {k: v.to(device, non_blocking=True) for k, v in d.items()}  # noqa: E731
        return Batch(move(self.features), move(self.labels), move(self.extras))

    @staticmethod
    def concat(parts: list["Batch"]) -> "Batch":
        """Row-wise concatenation of batches with the same columns."""
        if not parts:
            raise ValueError("nothing to concatenate")
        first = parts[0]

        def cat(attr: str) -> dict[str, torch.Tensor]:
            return {k: torch.cat([getattr(p, attr)[k] for p in parts]) for k in getattr(first, attr)}

        return Batch(cat("features"), cat("labels"), cat("extras"))
