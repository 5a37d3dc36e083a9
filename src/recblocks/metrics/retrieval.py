"""Top-K retrieval metrics from the rank of each row's target item among its candidates.

One evaluation row is one (user, target item) pair; ``rank`` is how many candidates scored
strictly above the target (0 = first; ``inf`` = the target is not among the candidates).

* ``recall@K`` — the share of rows whose target ranks in the top K (each row's relevant set
  is its one target, so this is per-interaction recall, averaged over rows);
* ``ndcg@K`` — ``1 / log2(rank + 2)`` for a target in the top K, else 0, averaged over rows
  (one relevant item: the ideal DCG is 1);
* ``hitrate@K`` — the share of *users* with at least one target in the top K (equal to
  recall@K when every user has one evaluation row, as with leave-last-out).

A popularity baseline and a model are scored by the same function, so their figures compare.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from recblocks.core.errors import ShapeError

__all__ = ["retrieval_metrics", "retrieval_metric_keys"]


def retrieval_metric_keys(ks: Sequence[int]) -> list[str]:
    """``recall@K``, ``ndcg@K``, ``hitrate@K`` for every K, in that order."""
    return [f"{name}@{k}" for k in ks for name in ("recall", "ndcg", "hitrate")]


def retrieval_metrics(ranks: Any, users: Any, ks: Sequence[int]) -> dict[str, float]:
    """Recall@K, NDCG@K and HitRate@K (see the module docstring) of 0-based ``ranks`` ``(R,)``.

    Example:
        >>> m = retrieval_metrics([0, 3, float("inf")], [1, 1, 2], [1, 5])
        >>> # ndcg@5 = (1 + 1 / log2(5) + 0) / 3
        >>> m["recall@1"], m["hitrate@1"], m["recall@5"], m["hitrate@5"], round(m["ndcg@5"], 4)
        (0.3333333333333333, 0.5, 0.6666666666666666, 0.5, 0.4769)
    """
    ranks, users = np.asarray(ranks, dtype=np.float64).reshape(-1), np.asarray(users).reshape(-1)
    if ranks.shape != users.shape:
        raise ShapeError("retrieval metrics", "ranks and users need one entry per row",
                         f"{ranks.shape[0]} users", users.shape[0])
    results: dict[str, float] = {}
    if ranks.size == 0:
        return {key: 0.0 for key in retrieval_metric_keys(ks)}
    _, user_index = np.unique(users, return_inverse=True)
    for k in ks:
        hit = ranks < k
        results[f"recall@{k}"] = float(hit.mean())
        gain = np.where(hit, 1.0 / np.log2(np.where(hit, ranks, 0.0) + 2.0), 0.0)
        results[f"ndcg@{k}"] = float(gain.mean())
        per_user = np.zeros(user_index.max() + 1, dtype=bool)
        np.logical_or.at(per_user, user_index, hit)
        results[f"hitrate@{k}"] = float(per_user.mean())
    return results
