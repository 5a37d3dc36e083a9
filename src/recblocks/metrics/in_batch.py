"""In-batch metric-learning metrics: Recall@K and MAP@K among the rows of one batch (EasyRec's).

EasyRec's ``CoMetricLearningI2I`` evaluates each evaluation batch on its own: every row is a
query, the other rows of the batch are the candidates, ranked by the cosine of their embeddings
(a row's own column is pushed last by subtracting 2). A candidate is *relevant* to a query when
both rows have the same label and the same session (``sessions``: int64 ids; None: by label
alone). Both metrics keep EasyRec's (TensorFlow's ``tf.metrics``) definitions, quirks included:

* ``recall@k`` (EasyRec ``recall_at_topk``): the query's "labels" are the ``k`` columns of
  highest score among its relevant rows, filled up, when it has fewer than ``k`` relevant rows,
  with the lowest-numbered other columns (TensorFlow's ``top_k`` of a matrix holding ``-1``
  outside the relevant rows); the hits are the labels among the query's ``k`` best-scored
  columns. Over a data set: total hits / (rows * k), summed batch by batch.
* ``map@k`` (EasyRec ``precision_at_topk``, reported by EasyRec as ``MAP@k``): the average
  precision of the query's ``k`` best-scored columns, ``sum_{r <= k} P@r * rel_r / n``, where the
  relevant set includes the query itself (it is never retrieved: its score is lowest) and the
  divisor ``n`` is the same for every row of the batch: ``min(k, the largest relevant set of the
  batch)``. A batch whose groups all have size ``g`` tops out at ``(g - 1) / min(k, g)``. Over a
  data set: the mean over rows.

Ties are broken as TensorFlow's ``top_k`` breaks them: the lower column first. ``k`` larger
than the batch is cut to the batch size (TensorFlow would fail on such a batch). They are not in
``METRICS``, whose entries read one prediction per row over a whole data set: these read the
embeddings batch by batch (:class:`InBatchMetrics` accumulates them; the model's evaluator feeds it).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["InBatchMetrics", "in_batch_average_precisions", "in_batch_recall_hits", "same_label_and_session"]


def same_label_and_session(labels: torch.Tensor | None, sessions: torch.Tensor | None, size: int,
                           device: torch.device, include_self: bool = False) -> torch.Tensor:
    """``(B, B)`` bool: rows ``i``, ``j`` with the same label (if given) and the same session (if given);
    ``i == j`` only with ``include_self``.

    Example:
        >>> labels, sessions = torch.tensor([1, 1, 0]), torch.tensor([7, 7, 7])
        >>> same_label_and_session(labels, sessions, 3, torch.device("cpu")).int().tolist()
        [[0, 1, 0], [1, 0, 0], [0, 0, 0]]
    """
    same = torch.ones(size, size, dtype=torch.bool, device=device)
    if not include_self:
        same = same & ~torch.eye(size, dtype=torch.bool, device=device)
    for column in (labels, sessions):
        if column is not None:
            column = column.reshape(-1)
            same = same & (column.unsqueeze(0) == column.unsqueeze(1))
    return same


def _scores(embeddings: torch.Tensor) -> torch.Tensor:
    """Cosines ``(B, B)`` with the diagonal lowered by 2 (a row never retrieves itself first)."""
    unit = F.normalize(embeddings.float(), dim=-1)
    return unit @ unit.T - 2.0 * torch.eye(unit.shape[0], device=unit.device)


def _top_columns(matrix: torch.Tensor, k: int) -> torch.Tensor:
    """``(B, k)`` columns of the ``k`` largest values per row, ties to the lower column (TF's ``top_k``)."""
    return torch.sort(matrix, dim=1, descending=True, stable=True).indices[:, :k]


def in_batch_recall_hits(embeddings: torch.Tensor, labels: torch.Tensor | None, sessions: torch.Tensor | None,
                         k: int) -> tuple[int, int]:
    """``(hits, rows * k)`` of EasyRec's in-batch ``recall@k`` on one batch (module docstring).

    Shape:
        embeddings ``(B, D)``, labels and sessions ``(B,)``.

    Example:
        >>> e = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
        >>> # rows 0 and 1 are a session: each retrieves the other first; row 2 has no relevant row,
        >>> # its label is column 0 (the lowest other column), and it retrieves column 1 first: a miss
        >>> in_batch_recall_hits(e, None, torch.tensor([4, 4, 9]), 1)
        (2, 3)
    """
    size = embeddings.shape[0]
    k = min(k, size)
    scores = _scores(embeddings)
    relevant = same_label_and_session(labels, sessions, size, scores.device)
    wanted = _top_columns(torch.where(relevant, scores, torch.full_like(scores, -1.0)), k)  # (B, k)
    found = _top_columns(scores, k)  # (B, k)
    hits = (wanted.unsqueeze(2) == found.unsqueeze(1)).any(dim=2).sum()
    return int(hits), size * k


def in_batch_average_precisions(embeddings: torch.Tensor, labels: torch.Tensor | None,
                                sessions: torch.Tensor | None, k: int) -> torch.Tensor:
    """``(B,)`` average precision at ``k`` of each row of one batch, as EasyRec's ``MAP@k`` (module docstring).

    Shape:
        embeddings ``(B, D)``, labels and sessions ``(B,)`` -> ``(B,)``.

    Example:
        >>> e = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
        >>> # largest relevant set (self included): 2, so n = min(2, 2); rows 0, 1 find their pair at rank 1
        >>> in_batch_average_precisions(e, None, torch.tensor([4, 4, 9]), 2).tolist()
        [0.5, 0.5, 0.0]
    """
    size = embeddings.shape[0]
    k = min(k, size)
    scores = _scores(embeddings)
    relevant = same_label_and_session(labels, sessions, size, scores.device, include_self=True)
    found = _top_columns(scores, k)  # (B, k)
    hit = relevant.gather(1, found).double()  # (B, k)
    ranks = torch.arange(1, k + 1, dtype=torch.float64, device=hit.device)
    precision_sum = (hit.cumsum(dim=1) / ranks * hit).sum(dim=1)
    divisor = min(k, int(relevant.sum(dim=1).max()))
    return precision_sum / divisor


class InBatchMetrics:
    """Accumulates EasyRec's in-batch ``recall@k`` and ``map@k`` over evaluation batches.

    Args:
        recall_top_k: the ``k`` of each ``recall@k``.
        map_top_k: the ``k`` of each ``map@k``.

    Example:
        >>> metrics = InBatchMetrics([1], [2])
        >>> e = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
        >>> metrics.update(e, None, torch.tensor([4, 4, 9]))
        >>> {key: round(value, 4) for key, value in metrics.compute().items()}
        {'recall@1': 0.6667, 'map@2': 0.3333}
    """

    def __init__(self, recall_top_k: Sequence[int], map_top_k: Sequence[int]) -> None:
        self.recall_top_k, self.map_top_k = list(recall_top_k), list(map_top_k)
        self.keys = [f"recall@{k}" for k in self.recall_top_k] + [f"map@{k}" for k in self.map_top_k]
        self._hits = {k: 0 for k in self.recall_top_k}
        self._wanted = {k: 0 for k in self.recall_top_k}
        self._precision = {k: 0.0 for k in self.map_top_k}
        self._rows = 0

    @torch.no_grad()
    def update(self, embeddings: torch.Tensor, labels: torch.Tensor | None, sessions: torch.Tensor | None) -> None:
        """Add one batch (its rows are each other's candidates)."""
        for k in self.recall_top_k:
            hits, wanted = in_batch_recall_hits(embeddings, labels, sessions, k)
            self._hits[k] += hits
            self._wanted[k] += wanted
        for k in self.map_top_k:
            self._precision[k] += float(in_batch_average_precisions(embeddings, labels, sessions, k).sum())
        self._rows += embeddings.shape[0]

    def compute(self) -> dict[str, float]:
        """Every key of :attr:`keys` over the batches added (0 before any)."""
        out = {f"recall@{k}": self._hits[k] / self._wanted[k] if self._wanted[k] else 0.0 for k in self.recall_top_k}
        out.update({f"map@{k}": self._precision[k] / self._rows if self._rows else 0.0 for k in self.map_top_k})
        return out
