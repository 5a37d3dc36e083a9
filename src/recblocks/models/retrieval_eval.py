"""The evaluator of retrieval models: each row's target item ranked against the whole catalogue.

For every evaluation row (a user and the item they interacted with) the user vector scores
every catalogue item (the item ids of the training data); the target's rank counts the items
scoring strictly higher. By default the items the user had in the training data are removed
from the candidates first (the target itself never is); a target outside the catalogue (an
item never seen in training) is a miss. The ranks become Recall@K, NDCG@K and HitRate@K through
:func:`recblocks.metrics.retrieval_metrics`, the function the popularity baseline uses too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from recblocks.metrics import retrieval_metric_keys, retrieval_metrics

__all__ = ["CatalogueEvaluator", "interest_scores", "target_ranks"]


def target_ranks(scores: torch.Tensor, target_columns: torch.Tensor,
                 excluded: torch.Tensor | None = None) -> torch.Tensor:
    """0-based rank of each row's target among its candidates (``inf`` when it has no column).

    Args:
        scores: ``(B, M)`` candidate scores.
        target_columns: ``(B,)`` column of each row's target, ``-1`` when absent.
        excluded: ``(B, M)`` bool, candidates removed before ranking (the target never is).

    Example:
        >>> target_ranks(torch.tensor([[0.1, 0.9, 0.5], [0.3, 0.2, 0.1]]), torch.tensor([2, -1]),
        ...              torch.tensor([[False, True, False], [False, False, False]])).tolist()
        [0.0, inf]
    """
    present = target_columns >= 0
    columns = target_columns.clamp(min=0)
    if excluded is not None:
        keep_target = torch.zeros_like(excluded).scatter_(1, columns[:, None], True)
        scores = scores.masked_fill(excluded & ~keep_target, float("-inf"))
    target = scores.gather(1, columns[:, None])
    ranks = (scores > target).sum(dim=1).double()
    return torch.where(present, ranks, torch.full_like(ranks, float("inf")))


class CatalogueEvaluator:
    """Recall@K, NDCG@K and HitRate@K of a MatchModel over the whole catalogue (module docstring).

    Args:
        model: the MatchModel (``catalogue``, ``catalogue_vectors()``, ``item_id``, ``user_id``).
        top_k: the Ks.
        exclude_seen: drop each user's training items from its candidates.

    Shape:
        update takes the forward's user vectors ``(B, D)`` and the batch's item (and user) ids ``(B,)``.
    """

    def __init__(self, model: Any, top_k: Sequence[int], exclude_seen: bool = True) -> None:
        self.model, self.top_k, self.exclude_seen = model, list(top_k), exclude_seen
        self.keys = retrieval_metric_keys(self.top_k)
        self.default_monitor = (self.keys[0], "max")
        self._items: torch.Tensor | None = None
        self._vectors: torch.Tensor | None = None
        self._columns: torch.Tensor | None = None
        self._ranks: list[torch.Tensor] = []
        self._users: list[torch.Tensor] = []

    def resolve(self, name: str) -> str:
        """Metric spellings: ``Recall@10`` and ``recall@10`` are the same key."""
        return name.lower()

    def _prepare(self) -> None:
        catalogue = self.model.catalogue
        self._items = catalogue.item_ids()
        self._vectors = self.model.catalogue_vectors(self._items)  # (M, D), once per evaluation
        columns = torch.full((catalogue.num_items,), -1, dtype=torch.int64, device=self._items.device)
        columns[self._items] = torch.arange(self._items.shape[0], device=self._items.device)
        self._columns = columns

    @torch.no_grad()
    def update(self, outputs: Any, batch: Any) -> None:
        """Rank each row's item among the catalogue for the row's user vector."""
        if self._vectors is None:
            self._prepare()
        assert self._items is not None and self._vectors is not None and self._columns is not None
        targets = batch.features[self.model.item_id].long()
        scores = interest_scores(outputs.interests, self._vectors) if outputs.interests is not None \
            else outputs.user @ self._vectors.T  # (B, M): the model's score up to a monotone map
        excluded = None
        users = batch.features[self.model.user_id].long() if self.model.user_id else targets.new_zeros(len(batch))
        if self.exclude_seen and self.model.user_id:
            excluded = self.model.catalogue.seen_mask(users)[:, self._items]
        self._ranks.append(target_ranks(scores, self._columns[targets], excluded).cpu())
        self._users.append(users.cpu())

    def compute(self) -> dict[str, float]:
        """Every key of :attr:`keys` over the rows added."""
        if not self._ranks:
            return {key: 0.0 for key in self.keys}
        ranks = torch.cat(self._ranks).numpy()
        users = torch.cat(self._users).numpy()
        return retrieval_metrics(ranks, users if self.model.user_id else np.arange(ranks.shape[0]), self.top_k)


def interest_scores(interests: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """``(B, M)`` scores of items by the user's best interest: ``max_k <v_k, e_m>`` over the
    non-padding interests (all-zero rows of ``interests`` ``(B, K, D)`` are padding).

    Example:
        >>> interests = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]]])
        >>> interest_scores(interests, torch.tensor([[1.0, 1.0], [-1.0, -1.0]])).tolist()  # padding scores 0
        [[2.0, -1.0]]
    """
    scores = torch.einsum("bkd,md->bkm", interests, vectors)
    padding = (interests == 0).all(dim=-1)  # (B, K)
    return scores.masked_fill(padding[:, :, None], float("-inf")).amax(dim=1)
