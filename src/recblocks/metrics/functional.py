"""Pure metric functions on numpy arrays: no state, no torch, no Python loops over rows or groups.

Conventions shared by every function here:

* ``labels`` and predictions are array-likes of equal length ``N`` (torch CPU tensors work too,
  they are read through ``np.asarray``);
* a binary label counts as positive when it is ``>= 0.5`` (so 0/1 floats, ints and bools work);
* ``auc``, ``gauc`` and ``max_f1`` return ``float('nan')`` when they are undefined (only one class
  present, no valid group): the caller decides how to report it;
* NaN scores or probabilities raise :class:`~recblocks.core.DataError` instead of producing a
  silently wrong number.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recblocks.core.errors import DataError

__all__ = [
    "accuracy",
    "auc",
    "gauc",
    "logloss",
    "mae",
    "max_f1",
    "mse",
    "multiclass_accuracy",
    "multiclass_logloss",
    "rmse",
]


def _vector(values: Any, what: str, where: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise DataError(where, f"{what} must be one-dimensional", "shape (N,)", f"shape {array.shape}")
    return array


def _pair(labels: Any, preds: Any, where: str, what: str = "scores") -> tuple[np.ndarray, np.ndarray]:
    y = _vector(labels, "labels", where)
    p = _vector(preds, what, where).astype(np.float64, copy=False)
    if y.shape[0] != p.shape[0]:
        raise DataError(where, f"labels and {what} differ in length", y.shape[0], p.shape[0])
    if np.isnan(p).any():
        raise DataError(where, f"{what} contain NaN", f"finite {what}", f"{int(np.isnan(p).sum())} NaN values")
    return y, p


def _positives(labels: np.ndarray) -> np.ndarray:
    return labels >= 0.5 if labels.dtype != np.bool_ else labels


def _average_ranks(sorted_values: np.ndarray, extra_breaks: np.ndarray | None = None) -> np.ndarray:
    """1-based positions of ``sorted_values`` with ties sharing their average position.

    ``extra_breaks[i]`` (for ``i >= 1``) forces a new tie run at ``i`` (used for group borders).
    """
    n = sorted_values.shape[0]
    new_run = np.empty(n, dtype=bool)
    if n == 0:
        return np.empty(0, dtype=np.float64)
    new_run[0] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=new_run[1:])
    if extra_breaks is not None:
        new_run[1:] |= extra_breaks
    run_id = np.cumsum(new_run) - 1
    starts = np.flatnonzero(new_run)
    ends = np.append(starts[1:], n)  # exclusive
    mean_position = (starts + ends - 1) / 2.0 + 1.0
    return mean_position[run_id]


def auc(labels: Any, scores: Any) -> float:
    """Area under the ROC curve (Mann–Whitney U, ties count one half), O(N log N).

    Example:
        >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.75
        >>> auc([0, 1], [0.5, 0.5])
        0.5
    """
    y, s = _pair(labels, scores, "auc")
    pos = _positives(y)
    n_pos = int(pos.sum())
    n_neg = pos.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = _average_ranks(s[order])
    rank_sum = float(ranks[pos[order]].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def gauc(labels: Any, scores: Any, groups: Any, weighting: str = "size") -> float:
    """Group AUC: the AUC of every group (e.g. user), averaged with weights.

    Groups holding a single class are skipped. ``weighting`` is ``"size"`` (rows in the group;
    the default), ``"positives"`` (positive rows) or ``"mean"`` (every group counts once).
    Fully vectorized: one lexsort on (group, score), ranks by group with bincount.

    Example:
        >>> gauc([0, 1, 1, 0, 1, 1], [0.2, 0.9, 0.1, 0.5, 0.6, 0.7], [1, 1, 1, 2, 2, 3])
        0.7
    """
    y, s = _pair(labels, scores, "gauc")
    g = _vector(groups, "groups", "gauc")
    if g.shape[0] != y.shape[0]:
        raise DataError("gauc", "labels and groups differ in length", y.shape[0], g.shape[0])
    if weighting not in ("size", "positives", "mean"):
        raise DataError("gauc", "unknown weighting", "'size', 'positives' or 'mean'", repr(weighting))
    if y.shape[0] == 0:
        return float("nan")
    _, codes, sizes = np.unique(g, return_inverse=True, return_counts=True)
    codes = codes.reshape(-1)
    order = np.lexsort((s, codes))
    c = codes[order]
    pos = _positives(y)[order].astype(np.float64)
    ranks = _average_ranks(s[order], extra_breaks=c[1:] != c[:-1])
    group_start = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    ranks -= group_start[c]  # ranks within the group, still 1-based
    num_groups = sizes.shape[0]
    rank_sum = np.bincount(c, weights=ranks * pos, minlength=num_groups)
    n_pos = np.bincount(c, weights=pos, minlength=num_groups)
    n_neg = sizes - n_pos
    valid = (n_pos > 0) & (n_neg > 0)
    if not valid.any():
        return float("nan")
    p, q, r = n_pos[valid], n_neg[valid], rank_sum[valid]
    group_auc = (r - p * (p + 1) / 2.0) / (p * q)
    weights = {"size": sizes[valid].astype(np.float64), "positives": p, "mean": np.ones_like(p)}[weighting]
    return float((group_auc * weights).sum() / weights.sum())


def logloss(labels: Any, probs: Any, eps: float = 1e-7) -> float:
    """Binary cross-entropy of probabilities, clipped to ``[eps, 1 - eps]``.

    Example:
        >>> round(logloss([1, 0], [0.8, 0.4]), 6)  # -(ln 0.8 + ln 0.6) / 2
        0.366985
    """
    y, p = _pair(labels, probs, "logloss", "probabilities")
    if y.shape[0] == 0:
        return float("nan")
    t = y.astype(np.float64)
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(t * np.log(p) + (1.0 - t) * np.log1p(-p)))


def multiclass_logloss(labels: Any, probs: Any, eps: float = 1e-7) -> float:
    """Categorical cross-entropy of ``(N, C)`` probabilities against integer labels in ``[0, C)``.

    Example:
        >>> round(multiclass_logloss([0, 2], [[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]), 6)
        0.458145
    """
    y, p = _class_inputs(labels, probs, "multiclass_logloss")
    if y.shape[0] == 0:
        return float("nan")
    picked = np.clip(p[np.arange(y.shape[0]), y], eps, 1.0)
    return float(-np.mean(np.log(picked)))


def _class_inputs(labels: Any, scores: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    y = _vector(labels, "labels", where)
    p = np.asarray(scores, dtype=np.float64)
    if p.ndim != 2:
        raise DataError(where, "class scores must be two-dimensional", "shape (N, C)", f"shape {p.shape}")
    if p.shape[0] != y.shape[0]:
        raise DataError(where, "labels and scores differ in length", y.shape[0], p.shape[0])
    if np.isnan(p).any():
        raise DataError(where, "scores contain NaN", "finite scores", f"{int(np.isnan(p).sum())} NaN values")
    if y.shape[0] and (not np.all(np.equal(np.mod(y, 1), 0)) or y.min() < 0 or y.max() >= p.shape[1]):
        raise DataError(where, "class labels out of range", f"integers in [0, {p.shape[1]})",
                        f"values in [{y.min()}, {y.max()}]")
    return y.astype(np.int64), p


def accuracy(labels: Any, probs_or_classes: Any, threshold: float = 0.5) -> float:
    """Share of correct predictions.

    * ``(N, C)`` scores: multi-class accuracy of the arg-max (see :func:`multiclass_accuracy`);
    * ``(N,)`` integer or bool predictions: compared with the labels as classes;
    * ``(N,)`` float probabilities: binary, predicted positive when ``prob > threshold``.

    Example:
        >>> accuracy([0, 1, 1], [0.2, 0.7, 0.5])
        0.6666666666666666
        >>> accuracy([2, 0], [[0.1, 0.2, 0.7], [0.3, 0.6, 0.1]])
        0.5
    """
    preds = np.asarray(probs_or_classes)
    if preds.ndim == 2:
        return multiclass_accuracy(labels, preds)
    y = _vector(labels, "labels", "accuracy")
    if preds.ndim != 1 or preds.shape[0] != y.shape[0]:
        raise DataError("accuracy", "predictions do not match the labels", f"shape ({y.shape[0]},)",
                        f"shape {preds.shape}")
    if y.shape[0] == 0:
        return float("nan")
    if preds.dtype.kind in "iub":
        return float(np.mean(preds.astype(np.int64) == y.astype(np.int64)))
    _, p = _pair(y, preds, "accuracy", "probabilities")
    return float(np.mean((p > threshold) == _positives(y)))


def multiclass_accuracy(labels: Any, scores: Any) -> float:
    """Share of rows whose arg-max class over ``(N, C)`` scores equals the label.

    Example:
        >>> multiclass_accuracy([1, 0], [[0.2, 0.8], [0.4, 0.6]])
        0.5
    """
    y, p = _class_inputs(labels, scores, "multiclass_accuracy")
    if y.shape[0] == 0:
        return float("nan")
    return float(np.mean(p.argmax(axis=1) == y))


def max_f1(labels: Any, scores: Any) -> float:
    """Best F1 over every score threshold (ties move together), as EasyRec's ``max_f1``.

    Example:
        >>> max_f1([0, 1, 1, 0], [0.1, 0.9, 0.6, 0.7])
        0.8
    """
    y, s = _pair(labels, scores, "max_f1")
    pos = _positives(y)
    n_pos = int(pos.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    true_pos = np.cumsum(pos[order])
    run_end = np.append(s_sorted[1:] != s_sorted[:-1], True)  # last row of each tie run
    tp = true_pos[run_end].astype(np.float64)
    predicted = (np.flatnonzero(run_end) + 1).astype(np.float64)
    f1 = 2.0 * tp / (predicted + n_pos)
    return float(f1.max())


def _regression_inputs(labels: Any, preds: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    y, p = _pair(labels, preds, where, "predictions")
    return y.astype(np.float64), p


def mse(labels: Any, preds: Any) -> float:
    """Mean squared error.

    Example:
        >>> mse([1.0, 2.0], [2.0, 4.0])
        2.5
    """
    y, p = _regression_inputs(labels, preds, "mse")
    return float(np.mean((p - y) ** 2)) if y.shape[0] else float("nan")


def rmse(labels: Any, preds: Any) -> float:
    """Root mean squared error.

    Example:
        >>> rmse([0.0, 0.0, 0.0, 0.0], [3.0, 3.0, 3.0, 3.0])
        3.0
    """
    return float(np.sqrt(mse(labels, preds)))


def mae(labels: Any, preds: Any) -> float:
    """Mean absolute error.

    Example:
        >>> mae([1.0, 2.0], [2.0, 4.0])
        1.5
    """
    y, p = _regression_inputs(labels, preds, "mae")
    return float(np.mean(np.abs(p - y))) if y.shape[0] else float("nan")
