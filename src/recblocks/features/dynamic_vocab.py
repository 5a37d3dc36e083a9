"""Dynamic id vocabularies: raw ids mapped to a bounded table's rows while training runs.

A fitted vocabulary (``kind: sparse``) is fixed before training; a stream that never ends
keeps bringing new ids. A feature with ``vocabulary: {type: dynamic, max_rows: N, ...}``
instead carries its raw ids (64-bit, strings hashed stably) in the batch, and the model maps
them to rows at batch time, the way Monolith's collisionless embedding tables (admission by
occurrence count, expiry of features unseen for a while) and TorchRec's managed-collision
modules (a bounded remapping of raw ids to rows, evicting by age) do:

* an id gets a row once it was seen ``admit_min_count`` times; before that it maps to the
  shared unknown row ``1`` (``OOV_ID``). The counts of ids still waiting are kept for at most
  ``max_candidates`` ids (the least recently seen are forgotten first);
* a row whose id was not seen for more than ``evict_after`` training steps is freed, and
  when no row is free and ``when_full: evict_oldest``, the least recently seen rows not used by
  the current batch are taken over (``wait``: newcomers keep mapping to the unknown row);
* the table never holds more than ``max_rows`` rows (row 0 is padding, row 1 the unknown
  row, rows ``2..max_rows-1`` hold ids);
* every row given to a new id is reported in :attr:`DynamicVocabulary.assigned_rows` so the
  owner resets its embedding row and optimizer state to their initial values;
* only training-mode forwards change the mapping; in eval mode (validation, predict) unknown
  and evicted ids map to the unknown row.

The mapping (row -> id, count, last-seen step; waiting ids with their counts; the step) lives
in fixed-size CPU buffers, so it is part of the model's ``state_dict``: checkpoints, resume
and ``predict`` read it with the weights. The buffers stay on the CPU when the model moves to
a GPU (the ids of a batch are mapped there).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from recblocks.features.dynamic_vocab_config import MISSING_RAW_ID, DynamicVocabularyConfig
from recblocks.features.schema import FIRST_ID, OOV_ID

__all__ = ["DynamicVocabularyConfig", "DynamicVocabulary", "raw_ids"]

def raw_ids(hashes: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Non-negative int64 raw ids from uint64 hashes (top bit dropped); ``missing`` rows get -1."""
    out = (hashes >> np.uint64(1)).astype(np.int64)
    out[missing] = MISSING_RAW_ID
    return out


class DynamicVocabulary(nn.Module):
    """Maps raw ids ``(*)`` int64 to table rows ``(*)`` int64 (see the module docstring).

    Args:
        config: the feature's :class:`DynamicVocabularyConfig`.

    Shape:
        - Input: raw ids of any shape, int64 (negative = missing).
        - Output: rows of the same shape in ``[1, max_rows)``, on the input's device.

    Example:
        >>> vocab = DynamicVocabulary(DynamicVocabularyConfig(max_rows=4, admit_min_count=2))
        >>> vocab(torch.tensor([7, 7, 9])).tolist(), vocab(torch.tensor([9, 7])).tolist()
        ([2, 2, 1], [3, 2])
    """

    def __init__(self, config: DynamicVocabularyConfig) -> None:
        super().__init__()
        self.config = config
        rows, slots = config.max_rows, config.candidate_slots
        self.register_buffer("row_ids", torch.full((rows,), MISSING_RAW_ID, dtype=torch.int64))
        self.register_buffer("row_counts", torch.zeros(rows, dtype=torch.int64))
        self.register_buffer("row_last_seen", torch.zeros(rows, dtype=torch.int64))
        self.register_buffer("candidate_ids", torch.full((slots,), MISSING_RAW_ID, dtype=torch.int64))
        self.register_buffer("candidate_counts", torch.zeros(slots, dtype=torch.int64))
        self.register_buffer("candidate_last_seen", torch.zeros(slots, dtype=torch.int64))
        self.register_buffer("step", torch.zeros((), dtype=torch.int64))
        #: rows given to new ids by the last training forward (their weights must be reset)
        self.assigned_rows: list[int] = []
        self._index: dict[int, int] | None = None  # raw id -> row, rebuilt from the buffers
        self._candidates: dict[int, list[int]] | None = None  # raw id -> [count, last seen]

    # -- state ------------------------------------------------------------------------------
    def _apply(self, fn: Any, recurse: bool = True) -> "DynamicVocabulary":
        return self  # the mapping stays on the CPU (and int64) whatever device or dtype the model takes

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._index = self._candidates = None

    def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
        self._store_candidates()
        super()._save_to_state_dict(destination, prefix, keep_vars)

    def _ensure_index(self) -> dict[int, int]:
        if self._index is None:
            ids = self.row_ids.numpy()
            rows = np.flatnonzero(ids >= 0)
            self._index = dict(zip(ids[rows].tolist(), rows.tolist()))
            cand = self.candidate_ids.numpy()
            used = np.flatnonzero(cand >= 0)
            counts, seen = self.candidate_counts.numpy(), self.candidate_last_seen.numpy()
            self._candidates = {i: [c, s] for i, c, s in zip(cand[used].tolist(), counts[used].tolist(),
                                                             seen[used].tolist())}
        return self._index

    def _store_candidates(self) -> None:
        """Write the waiting ids into the fixed-size candidate buffers."""
        if self._candidates is None:
            return
        items = sorted(self._candidates.items())
        ids, counts, seen = self.candidate_ids.numpy(), self.candidate_counts.numpy(), self.candidate_last_seen.numpy()
        ids.fill(MISSING_RAW_ID), counts.fill(0), seen.fill(0)
        n = len(items)
        if n:
            ids[:n] = [i for i, _ in items]
            counts[:n] = [v[0] for _, v in items]
            seen[:n] = [v[1] for _, v in items]

    def __len__(self) -> int:
        """Ids holding a row now."""
        return len(self._ensure_index())

    def state_summary(self) -> dict[str, int]:
        """``{"rows_used", "candidates", "step"}``: how full the table is."""
        index = self._ensure_index()
        return {"rows_used": len(index), "candidates": len(self._candidates or {}), "step": int(self.step)}

    # -- mapping ----------------------------------------------------------------------------
    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        flat = ids.reshape(-1).to("cpu")
        uniques, inverse, counts = torch.unique(flat, return_inverse=True, return_counts=True)
        if self.training:
            rows = self._train_lookup(uniques.tolist(), counts.tolist())
        else:
            index = self._ensure_index()
            rows = [index.get(u, OOV_ID) for u in uniques.tolist()]
        mapped = torch.tensor(rows, dtype=torch.int64)[inverse] if rows else flat.clone()
        return mapped.reshape(ids.shape).to(ids.device, non_blocking=True)

    def _train_lookup(self, uniques: list[int], counts: list[int]) -> list[int]:
        index = self._ensure_index()
        candidates = self._candidates
        assert candidates is not None
        cfg = self.config
        self.step += 1
        step = int(self.step)
        row_ids, row_counts, row_seen = self.row_ids.numpy(), self.row_counts.numpy(), self.row_last_seen.numpy()
        if cfg.evict_after is not None:
            self._free_rows((row_ids >= 0) & (step - row_seen > cfg.evict_after))
        rows = [OOV_ID] * len(uniques)
        admitted: list[int] = []  # positions in uniques
        for position, (raw, count) in enumerate(zip(uniques, counts)):
            if raw < 0:
                continue
            row = index.get(raw)
            if row is not None:
                rows[position] = row
                row_counts[row] += count
                row_seen[row] = step
                continue
            waiting = candidates.get(raw)
            total = count + (waiting[0] if waiting else 0)
            if total >= cfg.admit_min_count:
                admitted.append(position)
            candidates[raw] = [total, step]
        self.assigned_rows = []
        if admitted:
            free = self._allocate(len(admitted), step)
            for position, row in zip(admitted, free):
                raw = uniques[position]
                total = candidates.pop(raw)[0]
                index[raw] = row
                row_ids[row], row_counts[row], row_seen[row] = raw, total, step
                rows[position] = row
            self.assigned_rows = free
        if len(candidates) > cfg.candidate_slots:
            self._forget_candidates(len(candidates) - cfg.candidate_slots)
        return rows

    def _free_rows(self, mask: np.ndarray) -> None:
        rows = np.flatnonzero(mask)
        if not len(rows):
            return
        index, row_ids = self._ensure_index(), self.row_ids.numpy()
        for raw in row_ids[rows].tolist():
            del index[raw]
        row_ids[rows] = MISSING_RAW_ID
        self.row_counts.numpy()[rows] = 0

    def _allocate(self, wanted: int, step: int) -> list[int]:
        """Up to ``wanted`` rows for new ids: free rows first (lowest first), then, with
        ``evict_oldest``, the least recently seen rows not used at ``step`` (ties: lowest row)."""
        row_ids, row_seen = self.row_ids.numpy(), self.row_last_seen.numpy()
        free = np.flatnonzero(row_ids[FIRST_ID:] < 0)[:wanted] + FIRST_ID
        rows = free.tolist()
        short = wanted - len(rows)
        if short > 0 and self.config.when_full == "evict_oldest":
            taken = np.flatnonzero((row_ids >= 0) & (row_seen < step))
            if len(taken):
                order = np.lexsort((taken, row_seen[taken]))[:short]
                victims = np.sort(taken[order])
                mask = np.zeros(len(row_ids), dtype=bool)
                mask[victims] = True
                self._free_rows(mask)
                rows += victims.tolist()
        return rows

    def _forget_candidates(self, excess: int) -> None:
        """Drop the ``excess`` least recently seen waiting ids (ties: smallest id), and an eighth of
        ``max_candidates`` more, so that a stream of new ids trims once every many batches."""
        candidates = self._candidates
        assert candidates is not None
        excess += self.config.candidate_slots // 8  # trim a little more, so trims are rare
        ids = np.fromiter(candidates.keys(), dtype=np.int64, count=len(candidates))
        seen = np.fromiter((v[1] for v in candidates.values()), dtype=np.int64, count=len(candidates))
        for raw in ids[np.lexsort((ids, seen))[:excess]].tolist():
            del candidates[raw]
