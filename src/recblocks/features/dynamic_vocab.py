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
        # lookup: a sorted snapshot (ids, rows) of the table plus the ids admitted since; an entry
        # counts only while its row still holds its id (eviction needs no index update)
        self._keys = np.zeros(0, dtype=np.int64)
        self._rows = np.zeros(0, dtype=np.int64)
        self._recent: dict[int, int] = {}
        # ids waiting for admission: sorted ids, their counts and last-seen steps (None: in the buffers)
        self._candidates: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    # -- state ------------------------------------------------------------------------------
    def _apply(self, fn: Any, recurse: bool = True) -> "DynamicVocabulary":
        return self  # the mapping stays on the CPU (and int64) whatever device or dtype the model takes

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._snapshot()
        self._candidates = None

    def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
        self._store_candidates()
        super()._save_to_state_dict(destination, prefix, keep_vars)

    def _snapshot(self) -> None:
        """Sort the table's (id, row) pairs for vectorized lookups."""
        ids = self.row_ids.numpy()
        rows = np.flatnonzero(ids >= 0)
        order = np.argsort(ids[rows], kind="stable")
        self._keys, self._rows, self._recent = ids[rows][order], rows[order], {}

    def _waiting(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids sorted, counts, last seen) of the ids waiting for admission."""
        if self._candidates is None:
            ids = self.candidate_ids.numpy()
            used = np.flatnonzero(ids >= 0)
            order = used[np.argsort(ids[used], kind="stable")]
            self._candidates = (ids[order].copy(), self.candidate_counts.numpy()[order].copy(),
                                self.candidate_last_seen.numpy()[order].copy())
        return self._candidates

    def _store_candidates(self) -> None:
        """Write the waiting ids into the fixed-size candidate buffers."""
        if self._candidates is None:
            return
        keys, counts, seen = self._candidates
        n = len(keys)
        for buffer, values, empty in ((self.candidate_ids, keys, MISSING_RAW_ID), (self.candidate_counts, counts, 0),
                                      (self.candidate_last_seen, seen, 0)):
            array = buffer.numpy()
            array[:n], array[n:] = values, empty

    def __len__(self) -> int:
        """Ids holding a row now."""
        return int(np.count_nonzero(self.row_ids.numpy() >= 0))

    def mapping(self) -> dict[int, int]:
        """``{raw id: row}`` of every id holding a row (for inspection and tests)."""
        ids = self.row_ids.numpy()
        rows = np.flatnonzero(ids >= 0)
        return dict(zip(ids[rows].tolist(), rows.tolist()))

    def state_summary(self) -> dict[str, int]:
        """``{"rows_used", "candidates", "step"}``: how full the table is."""
        return {"rows_used": len(self), "candidates": len(self._waiting()[0]), "step": int(self.step)}

    # -- mapping ----------------------------------------------------------------------------
    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        flat = ids.reshape(-1).to("cpu")
        uniques, inverse, counts = torch.unique(flat, sorted=True, return_inverse=True, return_counts=True)
        raw = uniques.numpy()
        rows = self._lookup(raw)
        if self.training:
            self._train_update(raw, counts.numpy(), rows)
        mapped = torch.from_numpy(rows).index_select(0, inverse)  # (far faster than rows[inverse] on the CPU)
        return mapped.reshape(ids.shape).to(ids.device, non_blocking=True)

    def _lookup(self, raw: np.ndarray) -> np.ndarray:
        """Rows of the sorted unique ``raw`` ids (``OOV_ID`` for ids without one)."""
        rows = np.full(len(raw), OOV_ID, dtype=np.int64)
        row_ids = self.row_ids.numpy()
        if len(self._keys):
            position = np.minimum(np.searchsorted(self._keys, raw), len(self._keys) - 1)
            found = self._rows[position]
            hit = (self._keys[position] == raw) & (row_ids[found] == raw)
            rows[hit] = found[hit]
        if self._recent:
            for i in np.flatnonzero(rows == OOV_ID).tolist():
                row = self._recent.get(int(raw[i]))
                if row is not None and row_ids[row] == raw[i]:
                    rows[i] = row
        return rows

    def _train_update(self, raw: np.ndarray, counts: np.ndarray, rows: np.ndarray) -> None:
        """Count the batch's ids, free expired rows, admit the ids that reached their count
        (``raw`` sorted and unique; ``rows`` is updated in place)."""
        cfg = self.config
        self.step += 1
        step = int(self.step)
        row_ids, row_counts, row_seen = self.row_ids.numpy(), self.row_counts.numpy(), self.row_last_seen.numpy()
        known = rows != OOV_ID
        row_counts[rows[known]] += counts[known]  # unique ids: one row each
        row_seen[rows[known]] = step
        if cfg.evict_after is not None:
            self._free_rows((row_ids >= 0) & (step - row_seen > cfg.evict_after))
        self.assigned_rows = []
        miss = np.flatnonzero(~known & (raw >= 0))
        if not len(miss):
            return
        keys, totals = raw[miss], counts[miss].astype(np.int64)
        wait_keys, wait_counts, wait_seen = self._waiting()
        position = np.searchsorted(wait_keys, keys)
        present = np.zeros(len(keys), dtype=bool)
        inside = position < len(wait_keys)
        present[inside] = wait_keys[position[inside]] == keys[inside]
        totals[present] += wait_counts[position[present]]
        admitted = np.flatnonzero(totals >= cfg.admit_min_count)
        free = self._allocate(len(admitted), step) if len(admitted) else []
        placed = admitted[:len(free)]
        if len(placed):
            new_rows = np.asarray(free, dtype=np.int64)
            row_ids[new_rows], row_counts[new_rows], row_seen[new_rows] = keys[placed], totals[placed], step
            rows[miss[placed]] = new_rows
            self._recent.update(zip(keys[placed].tolist(), free))
            self.assigned_rows = list(free)
            if len(self._recent) > max(4096, len(self._keys) // 8):
                self._snapshot()
        waiting = np.ones(len(keys), dtype=bool)
        waiting[placed] = False
        update = present & waiting  # still waiting: new count and last seen
        wait_counts[position[update]], wait_seen[position[update]] = totals[update], step
        drop = position[present & ~waiting]
        if len(drop):
            keep = np.ones(len(wait_keys), dtype=bool)
            keep[drop] = False
            wait_keys, wait_counts, wait_seen = wait_keys[keep], wait_counts[keep], wait_seen[keep]
        new = waiting & ~present
        if new.any():
            at = np.searchsorted(wait_keys, keys[new])
            wait_keys = np.insert(wait_keys, at, keys[new])
            wait_counts = np.insert(wait_counts, at, totals[new])
            wait_seen = np.insert(wait_seen, at, step)
        self._candidates = (wait_keys, wait_counts, wait_seen)
        if len(wait_keys) > cfg.candidate_slots:
            self._forget_candidates(len(wait_keys) - cfg.candidate_slots)

    def _free_rows(self, mask: np.ndarray) -> None:
        rows = np.flatnonzero(mask)
        if len(rows):
            self.row_ids.numpy()[rows] = MISSING_RAW_ID
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
        keys, counts, seen = self._waiting()
        excess += self.config.candidate_slots // 8
        keep = np.ones(len(keys), dtype=bool)
        keep[np.lexsort((keys, seen))[:excess]] = False
        self._candidates = (keys[keep], counts[keep], seen[keep])
