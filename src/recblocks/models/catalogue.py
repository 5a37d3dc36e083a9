"""The item catalogue a retrieval model ranks: what the training data says about every item id.

:class:`ItemCatalogue` holds, as buffers saved with the weights (so a run directory can rank
again after loading): which item ids occurred in training (the catalogue), each item's
training frequency (``log q`` for logQ correction and frequency sampling), each item's
feature values (to compute item vectors for the whole catalogue) and, per user, the items the
user had in training (CSR: ``seen_indptr`` / ``seen_items``), excluded when ranking by default.
It is filled once by :meth:`ItemCatalogue.fit` from the training batch, and
:meth:`ItemCatalogue.add_seen` adds interactions known beside training (a run adds its valid
split: ranking a test row then excludes the user's valid item, while a valid row's own target
is never excluded); nothing is updated during training steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from recblocks.features.schema import FIRST_ID

__all__ = ["ItemCatalogue"]


class ItemCatalogue(nn.Module):
    """Catalogue, item frequencies, item features and per-user seen items (all buffers).

    Args:
        num_items: rows of the item id table (ids ``0 .. num_items - 1``).
        num_users: rows of the user id table (0: no user id, nothing is excluded).
        item_features: feature name -> ``(L,)`` shape suffix (``()`` for scalar ids / dense,
            ``(L,)`` for multi / sequence) and dtype, for the item tower's features.

    Shape:
        - ``known``: ``(N,)`` bool; ``log_q``: ``(N,)``; item features ``(N,)`` or ``(N, L)``.
        - ``seen_indptr``: ``(U + 1,)``; ``seen_items``: ``(nnz,)``.

    Example:
        >>> cat = ItemCatalogue(5, 3, {"item": ((), torch.int64)})
        >>> cat.fit(torch.tensor([2, 3, 3]), {"item": torch.tensor([2, 3, 3])}, torch.tensor([2, 2, 1]))
        >>> cat.item_ids().tolist(), cat.seen_mask(torch.tensor([2, 0])).int().tolist()
        ([2, 3], [[0, 0, 1, 1, 0], [0, 0, 0, 0, 0]])
    """

    def __init__(self, num_items: int, num_users: int,
                 item_features: Mapping[str, tuple[tuple[int, ...], torch.dtype]]) -> None:
        super().__init__()
        self.num_items, self.num_users = int(num_items), int(num_users)
        self.register_buffer("known", torch.zeros(num_items, dtype=torch.bool))
        self.register_buffer("log_q", torch.zeros(num_items))
        self.register_buffer("seen_indptr", torch.zeros(num_users + 1, dtype=torch.int64))
        self.register_buffer("seen_items", torch.zeros(0, dtype=torch.int64))
        self.feature_buffers: dict[str, str] = {}
        for i, (name, (suffix, dtype)) in enumerate(item_features.items()):
            self.feature_buffers[name] = f"feature_{i}"
            self.register_buffer(f"feature_{i}", torch.zeros((num_items, *suffix), dtype=dtype))

    @torch.no_grad()
    def fit(self, item_ids: torch.Tensor, features: Mapping[str, torch.Tensor],
            user_ids: torch.Tensor | None = None) -> None:
        """Fill every buffer from the training rows (``(R,)`` ids, ``(R, ...)`` feature values)."""
        item_ids = item_ids.to(self.known.device).long()
        counts = torch.bincount(item_ids, minlength=self.num_items).double()
        counts[:FIRST_ID] = 0  # padding / out-of-vocabulary ids are never candidates
        self.known.copy_(counts > 0)
        share = counts / counts.sum().clamp(min=1)
        self.log_q.copy_(torch.where(counts > 0, share.log(), torch.zeros_like(share)).float())
        for name, buffer_name in self.feature_buffers.items():
            getattr(self, buffer_name)[item_ids] = features[name].to(self.known.device).to(
                getattr(self, buffer_name).dtype)
        if user_ids is None or self.num_users == 0:
            return
        self._set_seen(user_ids.to(item_ids.device).long(), item_ids)

    @torch.no_grad()
    def add_seen(self, item_ids: torch.Tensor, user_ids: torch.Tensor) -> None:
        """Add ``(R,)`` (user, item) pairs to the seen items (padding / out-of-vocabulary ids skipped).

        Example:
            >>> cat = ItemCatalogue(5, 3, {})
            >>> cat.fit(torch.tensor([2, 3]), {}, torch.tensor([2, 2]))
            >>> cat.add_seen(torch.tensor([4, 1, 3]), torch.tensor([2, 2, 1]))
            >>> cat.seen_mask(torch.tensor([2, 1])).int().tolist()
            [[0, 0, 1, 1, 1], [0, 0, 0, 0, 0]]
        """
        if self.num_users == 0:
            return
        device = self.known.device
        item_ids, user_ids = item_ids.to(device).long(), user_ids.to(device).long()
        keep = (item_ids >= FIRST_ID) & (item_ids < self.num_items) & (user_ids >= FIRST_ID) & \
            (user_ids < self.num_users)
        lengths = self.seen_indptr[1:] - self.seen_indptr[:-1]
        old_users = torch.repeat_interleave(torch.arange(self.num_users, device=device), lengths)
        self._set_seen(torch.cat([old_users, user_ids[keep]]), torch.cat([self.seen_items, item_ids[keep]]))

    def _set_seen(self, user_ids: torch.Tensor, item_ids: torch.Tensor) -> None:
        """The seen-items CSR of ``(R,)`` (user, item) pairs (duplicates counted once)."""
        pairs = torch.unique(user_ids * self.num_items + item_ids)  # sorted by user
        users, items = pairs // self.num_items, pairs % self.num_items
        self.seen_indptr = torch.cat([torch.zeros(1, dtype=torch.int64, device=pairs.device),
                                      torch.bincount(users, minlength=self.num_users).cumsum(0)])
        self.seen_items = items

    def item_ids(self) -> torch.Tensor:
        """The catalogue: item ids seen in training, ascending ``(M,)``."""
        return self.known.nonzero().squeeze(1)

    def item_features(self, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """The stored feature values of items ``ids`` ``(R,)``: feature -> ``(R,)`` / ``(R, L)``."""
        return {name: getattr(self, buffer_name)[ids] for name, buffer_name in self.feature_buffers.items()}

    def seen_mask(self, users: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` bool: True where the row's user had the item in training (vectorised CSR gather)."""
        mask = torch.zeros(users.shape[0], self.num_items, dtype=torch.bool, device=users.device)
        if self.seen_items.numel() == 0:
            return mask
        users = users.long().clamp(0, self.num_users - 1)
        starts, ends = self.seen_indptr[users], self.seen_indptr[users + 1]
        lengths = ends - starts
        rows = torch.repeat_interleave(torch.arange(users.shape[0], device=users.device), lengths)
        offsets = torch.arange(rows.shape[0], device=users.device) - torch.repeat_interleave(
            lengths.cumsum(0) - lengths, lengths)
        mask[rows, self.seen_items[torch.repeat_interleave(starts, lengths) + offsets]] = True
        return mask

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        """The seen-items CSR has a data-dependent length: take the saved tensor's shape."""
        key = prefix + "seen_items"
        if key in state_dict:
            self.seen_items = torch.empty_like(state_dict[key], device=self.seen_items.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
