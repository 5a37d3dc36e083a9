"""EasyRec's in-batch recall@K and MAP@K, computed by hand on five rows."""

from __future__ import annotations

import doctest

import pytest
import torch

from recblocks.metrics import InBatchMetrics, in_batch, in_batch_average_precisions, in_batch_recall_hits

#: five unit rows; cosines: s01 .8, s02 0, s03 -.6, s04 -1, s12 .6, s13 0, s14 -.8, s23 .8, s24 0, s34 .6
ROWS = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-0.6, 0.8], [-1.0, 0.0]])
SESSIONS = torch.tensor([1, 1, 1, 2, 2])
LABELS = torch.tensor([1, 1, 0, 1, 1])  # row 2 is alone with its label in session 1


def test_the_docstring_examples_run() -> None:
    assert doctest.testmod(in_batch).failed == 0


def test_recall_labels_are_the_best_relevant_rows_filled_with_the_lowest_columns() -> None:
    # relevant (same label and session): 0-1, 3-4; row 2 none. Each row's best-scored columns:
    # row 0 [1, 2], row 1 [0, 2], row 2 [3, 1], row 3 [2, 4], row 4 [3, 2].
    # k = 2 labels: row 0 [1, then column 0 (itself: the lowest column outside its relevant rows)]: 1 hit;
    # row 1 [0, 1]: 1 hit; row 2 [0, 1]: 1 hit; row 3 [4, 0]: 1 hit; row 4 [3, 0]: 1 hit
    assert in_batch_recall_hits(ROWS, LABELS, SESSIONS, 2) == (5, 10)
    # k = 1: rows 0, 1, 4 find their label first; row 2's label is column 0, row 3 finds 2 first
    assert in_batch_recall_hits(ROWS, LABELS, SESSIONS, 1) == (3, 5)


def test_map_divides_by_the_largest_relevant_set_of_the_batch() -> None:
    # relevant sets include the row itself: {0, 1}, {0, 1}, {2}, {3, 4}, {3, 4}: divisor min(k, 2)
    # k = 2: row 0 finds [1 hit, 2 miss]: 1 / 2; row 1 [0, 2]: 1 / 2; row 2 [3, 1]: 0; row 3 [2 miss, 4 hit]:
    # (1/2) / 2; row 4 [3 hit, 2]: 1 / 2
    assert in_batch_average_precisions(ROWS, LABELS, SESSIONS, 2).tolist() == pytest.approx([0.5, 0.5, 0, 0.25, 0.5])
    # by session alone: sets {0, 1, 2} x3, {3, 4} x2; k = 3: divisor 3 for every row (the 2-row
    # session too). Row 3 finds [2 miss, 4 hit, 1 miss]: (1/2) / 3 = 1/6 (its own set would give 1/4)
    ap = in_batch_average_precisions(ROWS, None, SESSIONS, 3)
    # row 0 finds [1, 2, 3]: (1 + 1) / 3; row 1 [0, 2, 3]: 2/3; row 2 [3 miss, 1 hit, 0 hit]: (1/2 + 2/3) / 3;
    # row 4 [3 hit, 2, 1]: 1/3
    assert ap.tolist() == pytest.approx([2 / 3, 2 / 3, (1 / 2 + 2 / 3) / 3, 1 / 6, 1 / 3])


def test_k_beyond_the_batch_is_cut_to_the_batch() -> None:
    # k = 2: each row's labels are [the other row, itself] and it finds [the other row, itself]: 2 hits each
    assert in_batch_recall_hits(ROWS[:2], None, None, 10) == (4, 4)


def test_the_accumulator_sums_hits_and_averages_rows_over_batches() -> None:
    metrics = InBatchMetrics([1, 2], [2])
    metrics.update(ROWS, LABELS, SESSIONS)
    metrics.update(ROWS[:2], LABELS[:2], SESSIONS[:2])  # rows 0, 1 (a batch of 2: each retrieves itself second)
    assert metrics.keys == ["recall@1", "recall@2", "map@2"]
    result = metrics.compute()
    assert result["recall@1"] == pytest.approx((3 + 2) / (5 + 2))
    # k = 2 on two rows: labels [1, 0] and [0, 1], found [1, 0] and [0, 1]: 4 hits of 4
    assert result["recall@2"] == pytest.approx((5 + 4) / (10 + 4))
    # k = 2 on two rows: each finds [the other, itself], both relevant: AP (1 + 1) / 2 = 1
    assert result["map@2"] == pytest.approx((1.75 + 2.0) / 7)
    assert InBatchMetrics([5], []).compute() == {"recall@5": 0.0}


#: A fixed batch, and what TensorFlow 2.21's ``tf.compat.v1.metrics`` give on it as EasyRec calls them
#: (printed by ``benchmarks/easyrec_cml_tf_reference.py``, which holds the same literals).
TF_BATCH = ([[0.0, 0.3, -0.27], [-0.89, -0.45, -0.99], [0.06, 1.34, -0.49], [-0.62, 0.49, 0.36],
             [0.11, -0.93, -0.03], [0.7, -1.34, -0.46], [-1.9, -1.29, -1.84], [-0.24, -1.27, 0.27],
             [0.16, -0.19, -2.52], [-0.54, -0.05, 0.11], [-1.53, -0.48, -0.98], [-0.81, 1.06, -0.81]],
            [0, 0, 1, 1, 1, 0, 1, 0, 1, 1, 0, 1], [2, 2, 2, 1, 0, 2, 1, 0, 0, 1, 2, 1])
TF_VALUES = {"recall@1": 0.3333333333333333, "recall@3": 0.2777777777777778, "recall@5": 0.4166666666666667,
             "map@1": 0.25, "map@3": 0.15277777777777776, "map@5": 0.15000000000000002}


def test_tensorflow_gives_the_same_figures_on_a_fixed_batch() -> None:
    embeddings, labels, sessions = (torch.tensor(x) for x in TF_BATCH)
    metrics = InBatchMetrics([1, 3, 5], [1, 3, 5])
    metrics.update(embeddings, labels, sessions)
    assert metrics.compute() == pytest.approx(TF_VALUES, abs=1e-12)
