"""benchmarks/ml100k_seq_users.py: per-user AUCs and the split of a GAUC gap over user buckets."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ml100k_seq_users.py"


@pytest.fixture(scope="module")
def users():
    sys.path.insert(0, str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("ml100k_seq_users_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_user_aucs_skip_one_class_users_and_match_gauc(users):
    from recblocks.metrics import gauc

    labels = np.array([0, 1, 1, 0, 1, 1, 0, 0])
    scores = np.array([0.2, 0.9, 0.1, 0.5, 0.6, 0.7, 0.3, 0.4])
    groups = np.array([1, 1, 1, 2, 2, 3, 4, 4])
    per_user = users.user_aucs(labels, scores, groups)
    assert set(per_user) == {1, 2}  # users 3 and 4 hold one class
    assert per_user[1] == (0.5, 3) and per_user[2] == (1.0, 2)
    weighted = sum(a * n for a, n in per_user.values()) / sum(n for _, n in per_user.values())
    assert weighted == pytest.approx(gauc(labels, scores, groups))


def test_report_contributions_sum_to_the_gauc_gap(users):
    valid = pd.DataFrame({"user_id": [1] * 25 + [2] * 5,
                          "hist_movie_id": [[1] * 20] * 25 + [[1] * 3] * 5})
    groups = users.buckets(valid, train_users={1})
    assert groups["rows in valid"] == {1: "20-59", 2: "1-19"}
    assert groups["user in train"] == {1: "yes", 2: "no"}
    assert groups["mean history length"] == {1: "20 (full)", 2: "<10"}
    per_model = {"base": [{1: (0.60, 25), 2: (0.70, 5)}], "din": [{1: (0.64, 25), 2: (0.50, 5)}]}
    text = users.report(per_model, groups)
    # GAUC base (0.6*25 + 0.7*5)/30 = 0.6167, din (0.64*25 + 0.5*5)/30 = 0.6167; contributions +0.0333 and -0.0333
    assert "base 0.6167, din 0.6167" in text
    assert "| 1-19 | 1 | 0.167 | 0.7000 | 0.5000 | -0.0333 |" in text
    assert "| 20-59 | 1 | 0.833 | 0.6000 | 0.6400 | +0.0333 |" in text
    assert text.index("| 1-19 |") < text.index("| 20-59 |")


def test_describe_reads_users_and_history_lengths_only(users, tmp_path):
    valid = pd.DataFrame({"user_id": [1] * 120 + [2] * 5, "hist_movie_id": [[1] * 20] * 120 + [[1] * 3] * 5})
    valid.to_parquet(tmp_path / "valid.parquet")  # no label column: describe must not need one
    pd.DataFrame({"user_id": [2]}).to_parquet(tmp_path / "train.parquet")
    lines = users.describe({"v": (tmp_path / "valid.parquet", tmp_path / "train.parquet")}).splitlines()
    assert lines[2] == "| v | 125 | 2 | 0.960 (1 users) | 0.040 | 0.040 |"
