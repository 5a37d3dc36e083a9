"""Metric-learning losses over the rows of one batch: circle loss and multi-similarity loss.

Both read an embedding per row, ``(B, D)``, in the place of a task's logits (``fn(embeddings,
labels, weights, groups, params)``, the ``LOSSES`` signature) and pair the rows of the batch as
EasyRec's ``CoMetricLearningI2I`` does: rows ``i != j`` are a *positive pair* when they have the
same label and the same session (``groups``: int64 session ids, e.g. a string user id read as
ids; None pairs by label alone); every other pair ``i != j`` is a *negative pair*. Similarities
are cosines (the embeddings are unit-normalised first). A row without positives (or negatives)
adds nothing of that side. Rows weigh equally: sample weights are refused (EasyRec has none).

Registered with ``task_type: embedding``: no per-row task tower fits them; the
``CoMetricLearningI2I`` model class trains them on its embedding.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from recblocks.core.errors import ConfigError
from recblocks.metrics.in_batch import same_label_and_session
from recblocks.tasks.losses import LOSSES

__all__ = ["circle_loss", "multi_similarity_loss"]

#: What EasyRec subtracts from a masked-out logit before its log-sum-exp.
_MASKED = 1e12


def _cosines(embeddings: torch.Tensor, labels: torch.Tensor | None, weights: torch.Tensor | None,
             groups: torch.Tensor | None, name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cosine matrix ``(B, B)`` and the positive / negative pair masks as floats."""
    if weights is not None:
        raise ConfigError(name, "sample weights are not read by this metric-learning loss", "no weight column",
                          "a weight column")
    if embeddings.dim() != 2:
        raise ConfigError(name, "the loss reads one embedding per row", "(B, D) embeddings",
                          tuple(embeddings.shape))
    size = embeddings.shape[0]
    unit = F.normalize(embeddings, dim=-1)
    cosines = unit @ unit.T
    positive = same_label_and_session(labels, groups, size, embeddings.device).to(cosines.dtype)
    negative = 1.0 - positive - torch.eye(size, dtype=cosines.dtype, device=cosines.device)
    return cosines, positive, negative


@LOSSES.register("circle_loss", aliases=("CIRCLE_LOSS",), kind="pairwise", task_type="embedding")
def circle_loss(embeddings: torch.Tensor, labels: torch.Tensor | None, weights: torch.Tensor | None,
                groups: torch.Tensor | None, params: dict[str, Any]) -> torch.Tensor:
    """Circle loss over the batch's pairs (Sun et al., "Circle Loss", CVPR 2020), as EasyRec computes it.

    With cosines ``s``, margin ``m`` and scale ``gamma``, for row ``i``: positive weights
    ``a_p = relu(1 + m - s_ip)`` and negative weights ``a_n = relu(s_in + m)`` (both without
    gradient), ``L_i = softplus(logsumexp_n(gamma a_n (s_in - m)) + logsumexp_p(-gamma a_p (s_ip - (1 - m))))``;
    the loss is the mean of ``L_i`` over every row (a row without positive or without negative
    pairs gives 0). ``params``: ``margin`` (default 0.25), ``gamma`` (default 32).

    Shape:
        embeddings ``(B, D)``, labels and groups ``(B,)`` -> ``()``.

    Example:
        >>> e = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # rows 0 and 1 one session
        >>> # rows 0, 1: s_p = 1 (a_p = 0.25, logit -0.25 * 0.25 * 32 = -2), s_n = 0 (a_n = 0.25, logit -2);
        >>> # row 2 has no positive pair: 0. Mean: 2 * softplus(-4) / 3
        >>> round(float(circle_loss(e, torch.tensor([1, 1, 1]), None, torch.tensor([5, 5, 6]), {})), 4)
        0.0121
    """
    margin, gamma = float(params.get("margin", 0.25)), float(params.get("gamma", 32.0))
    cosines, positive, negative = _cosines(embeddings, labels, weights, groups, "circle_loss")
    alpha_p = torch.relu(-(cosines * positive).detach() + 1.0 + margin)
    alpha_n = torch.relu((cosines * negative).detach() + margin)
    logit_p = -alpha_p * (cosines - (1.0 - margin)) * gamma * positive - (1.0 - positive) * _MASKED
    logit_n = alpha_n * (cosines - margin) * gamma * negative - (1.0 - negative) * _MASKED
    return F.softplus(torch.logsumexp(logit_n, dim=-1) + torch.logsumexp(logit_p, dim=-1)).mean()


@LOSSES.register("multi_similarity_loss", aliases=("MULTI_SIMILARITY_LOSS", "ms_loss"), kind="pairwise",
                 task_type="embedding")
def multi_similarity_loss(embeddings: torch.Tensor, labels: torch.Tensor | None, weights: torch.Tensor | None,
                          groups: torch.Tensor | None, params: dict[str, Any]) -> torch.Tensor:
    """Multi-similarity loss over the batch's pairs (Wang et al., CVPR 2019), as EasyRec computes it.

    With ``s = max(cosine, 0)``, for row ``i``:
    ``L_i = log(1 + sum_p exp(-alpha (s_ip - lamb))) / alpha + log(1 + sum_n exp(beta (s_in - lamb))) / beta``
    over its positive pairs ``p`` and negative pairs ``n``; the loss is the mean of ``L_i``. No
    pair mining (EasyRec's model never turns it on, so its ``eps`` is not read). ``params``:
    ``alpha`` (default 2), ``beta`` (default 50), ``lamb`` (default 1).

    Shape:
        embeddings ``(B, D)``, labels and groups ``(B,)`` -> ``()``.

    Example:
        >>> e = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # one positive pair, s = 1, no negatives
        >>> round(float(multi_similarity_loss(e, torch.tensor([1, 1]), None, None, {})), 4)  # log(2) / 2
        0.3466
    """
    alpha, beta, lamb = float(params.get("alpha", 2.0)), float(params.get("beta", 50.0)), float(params.get("lamb", 1.0))
    cosines, positive, negative = _cosines(embeddings, labels, weights, groups, "multi_similarity_loss")
    similarity = cosines.clamp(min=0.0)
    zeros = torch.zeros_like(similarity)
    pos_exp = torch.where(positive > 0, torch.exp(-alpha * (similarity * positive - lamb)), zeros)
    neg_exp = torch.where(negative > 0, torch.exp(beta * (similarity * negative - lamb)), zeros)
    pos_term = torch.log1p(pos_exp.sum(dim=1)) / alpha
    neg_term = torch.log1p(neg_exp.sum(dim=1)) / beta
    return (pos_term + neg_term).mean()
