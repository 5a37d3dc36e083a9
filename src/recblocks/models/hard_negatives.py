"""Per-user hard negatives of a retrieval model: items a user was shown but did not pick.

EasyRec's ``hard_negative_sampler`` reads an edge table (user -> item, e.g. impressions
without a click) and adds, to each training row, the row's user's hard-negative items (at most
``num_hard_sample``: graph-learn's ``full`` neighbour strategy, all of them up to that number)
to the softmax's candidates, beside the sampled negatives. :class:`HardNegatives` holds those
edges as a CSR over user ids (buffers saved with the weights), filled once from the edge
table's (user id, item id) pairs; :meth:`HardNegatives.lookup` gives each row's first ``k``
items and which of them exist.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from recblocks.features.schema import FIRST_ID

__all__ = ["HardNegatives"]


class HardNegatives(nn.Module):
    """Hard-negative items per user (CSR buffers), at most ``per_user`` of them read per row.

    Args:
        num_users: rows of the user id table.
        per_user: the most hard negatives a row gets (EasyRec's ``num_hard_sample``).

    Shape:
        - ``indptr``: ``(U + 1,)``; ``items``: ``(nnz,)``.
        - :meth:`lookup`: users ``(B,)`` -> items ``(B, K)`` and valid ``(B, K)``, ``K = per_user``.

    Example:
        >>> hard = HardNegatives(num_users=4, per_user=2)
        >>> hard.fit(torch.tensor([2, 2, 2, 3]), torch.tensor([7, 8, 9, 5]))
        >>> items, valid = hard.lookup(torch.tensor([2, 3, 1]))
        >>> items.tolist(), valid.tolist()
        ([[7, 8], [5, 0], [0, 0]], [[True, True], [True, False], [False, False]])
    """

    def __init__(self, num_users: int, per_user: int) -> None:
        super().__init__()
        self.num_users, self.per_user = int(num_users), int(per_user)
        self.register_buffer("indptr", torch.zeros(self.num_users + 1, dtype=torch.int64))
        self.register_buffer("items", torch.zeros(0, dtype=torch.int64))

    @torch.no_grad()
    def fit(self, user_ids: torch.Tensor, item_ids: torch.Tensor) -> None:
        """Hold the ``(R,)`` (user, item) edges, in their order per user (padding and
        out-of-vocabulary ids, and repeated edges, left out)."""
        device = self.indptr.device
        users, items = user_ids.to(device).long(), item_ids.to(device).long()
        keep = (users >= FIRST_ID) & (users < self.num_users) & (items >= FIRST_ID)
        users, items = users[keep], items[keep]
        first = torch.ones_like(users, dtype=torch.bool)
        if users.numel():  # drop repeated (user, item) edges, keeping the first
            key = users * (int(items.max()) + 1) + items
            _, inverse = torch.unique(key, return_inverse=True)
            order = torch.arange(key.numel(), device=device)
            earliest = torch.full((int(inverse.max()) + 1,), key.numel(), dtype=torch.int64, device=device)
            earliest.scatter_reduce_(0, inverse, order, reduce="amin")
            first = earliest[inverse] == order
        users, items = users[first], items[first]
        order = torch.sort(users, stable=True).indices  # by user, file order within a user
        self.items = items[order]
        self.indptr = torch.cat([torch.zeros(1, dtype=torch.int64, device=device),
                                 torch.bincount(users, minlength=self.num_users).cumsum(0)])

    def lookup(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row's first ``per_user`` hard negatives ``(B, K)`` (0 where absent) and their mask."""
        users = users.long().clamp(0, self.num_users - 1)
        starts = self.indptr[users]
        counts = (self.indptr[users + 1] - starts).clamp(max=self.per_user)
        slots = torch.arange(self.per_user, device=users.device)
        valid = slots[None, :] < counts[:, None]
        if self.items.numel() == 0:
            return torch.zeros_like(valid, dtype=torch.int64), valid
        index = (starts[:, None] + slots[None, :]).clamp(max=self.items.numel() - 1)
        return torch.where(valid, self.items[index], torch.zeros_like(index)), valid

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        """The edge list has a data-dependent length: take the saved tensor's shape."""
        key = prefix + "items"
        if key in state_dict:
            self.items = torch.empty_like(state_dict[key], device=self.items.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
