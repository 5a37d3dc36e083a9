import math

import numpy as np
import pytest
import torch

from recblocks.core import DataError
from recblocks.metrics import (
    accuracy,
    auc,
    gauc,
    logloss,
    mae,
    max_f1,
    mse,
    multiclass_accuracy,
    multiclass_logloss,
    rmse,
)


def brute_auc(labels, scores):
    pos = [s for y, s in zip(labels, scores) if y >= 0.5]
    neg = [s for y, s in zip(labels, scores) if y < 0.5]
    if not pos or not neg:
        return float("nan")
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def test_auc_by_hand():
    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert auc([0, 1], [0.2, 0.9]) == 1.0
    assert auc([1, 0], [0.2, 0.9]) == 0.0


def test_auc_ties_count_half():
    assert auc([0, 1], [0.5, 0.5]) == 0.5
    # positive 0.5 ties both negatives (2 x 0.5), positive 0.9 beats both (2) -> 3 / 4
    assert auc([0, 0, 1, 1], [0.5, 0.5, 0.5, 0.9]) == 0.75
    assert auc([1, 1, 0, 0], [0.3, 0.3, 0.3, 0.3]) == 0.5


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_pairwise_count(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300), 1)  # many ties
    assert auc(labels, scores) == pytest.approx(brute_auc(labels, scores), abs=1e-12)


def test_auc_accepts_float_bool_and_torch_labels():
    scores = [0.1, 0.4, 0.35, 0.8]
    assert auc(np.array([0.0, 0.0, 1.0, 1.0]), scores) == 0.75
    assert auc(np.array([False, False, True, True]), scores) == 0.75
    assert auc(torch.tensor([0, 0, 1, 1]), torch.tensor(scores)) == 0.75


def test_auc_single_class_is_nan_and_nan_scores_raise():
    assert math.isnan(auc([1, 1, 1], [0.1, 0.2, 0.3]))
    assert math.isnan(auc([], []))
    with pytest.raises(DataError, match="NaN"):
        auc([0, 1], [0.1, float("nan")])
    with pytest.raises(DataError, match="differ in length"):
        auc([0, 1, 1], [0.1, 0.2])


def test_gauc_by_hand_skips_single_class_group():
    labels = [0, 1, 1, 0, 1, 1]
    scores = [0.2, 0.9, 0.1, 0.5, 0.6, 0.7]
    groups = [1, 1, 1, 2, 2, 3]  # group 1: AUC 0.5 (3 rows), group 2: 1.0 (2 rows), group 3 skipped
    assert gauc(labels, scores, groups) == pytest.approx((3 * 0.5 + 2 * 1.0) / 5)
    assert gauc(labels, scores, groups, weighting="mean") == pytest.approx(0.75)
    assert gauc(labels, scores, groups, weighting="positives") == pytest.approx((2 * 0.5 + 1 * 1.0) / 3)
    assert gauc(labels, scores, ["b", "b", "b", "a", "a", "c"]) == pytest.approx(0.7)


def test_gauc_with_ties_across_groups_matches_loop():
    rng = np.random.default_rng(7)
    n = 500
    labels = rng.integers(0, 2, n)
    scores = np.round(rng.random(n), 1)
    groups = rng.integers(0, 40, n)
    total = weight = 0.0
    for g in np.unique(groups):
        m = groups == g
        a = brute_auc(labels[m], scores[m])
        if not math.isnan(a):
            total += a * m.sum()
            weight += m.sum()
    assert gauc(labels, scores, groups) == pytest.approx(total / weight, abs=1e-12)


def test_gauc_no_valid_group_is_nan():
    assert math.isnan(gauc([1, 0], [0.3, 0.4], [1, 2]))
    with pytest.raises(DataError, match="weighting"):
        gauc([1, 0], [0.3, 0.4], [1, 1], weighting="median")


def test_logloss_by_hand_and_clipping():
    expected = -(math.log(0.8) + math.log(0.6)) / 2
    assert logloss([1, 0], [0.8, 0.4]) == pytest.approx(expected, rel=1e-12)
    assert logloss([1], [0.0]) == pytest.approx(-math.log(1e-7), rel=1e-6)
    assert logloss([0], [1.0], eps=1e-3) == pytest.approx(-math.log(1e-3), rel=1e-6)


def test_multiclass_logloss_and_accuracy():
    probs = [[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]
    assert multiclass_logloss([0, 2], probs) == pytest.approx(-(math.log(0.5) + math.log(0.8)) / 2)
    assert multiclass_accuracy([0, 1], probs) == 0.5
    with pytest.raises(DataError, match="out of range"):
        multiclass_logloss([0, 3], probs)


def test_accuracy_binary_classes_and_multiclass():
    assert accuracy([0, 1, 1], [0.2, 0.7, 0.5]) == pytest.approx(2 / 3)  # 0.5 is not > 0.5
    assert accuracy([0, 1, 1], [0.2, 0.7, 0.5], threshold=0.4) == 1.0
    assert accuracy([0, 2, 1], np.array([0, 2, 2])) == pytest.approx(2 / 3)
    assert accuracy([2, 0], [[0.1, 0.2, 0.7], [0.3, 0.6, 0.1]]) == 0.5


def test_regression_metrics_by_hand():
    y, p = [1.0, 2.0, 3.0], [2.0, 2.0, 5.0]
    assert mse(y, p) == pytest.approx((1 + 0 + 4) / 3)
    assert rmse(y, p) == pytest.approx(math.sqrt(5 / 3))
    assert mae(y, p) == pytest.approx(1.0)


def test_max_f1_by_hand():
    # thresholds: top1 F1 2/3, top2 1/2, top3 4/5, all 2/3
    assert max_f1([0, 1, 1, 0], [0.1, 0.9, 0.6, 0.7]) == pytest.approx(0.8)
    # tied scores move together: predicting both tied rows gives tp 1 of 2 predicted
    assert max_f1([1, 0], [0.5, 0.5]) == pytest.approx(2 / 3)
