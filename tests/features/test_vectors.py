"""Vector-valued dense features (``dim: N``): parsing, per-position statistics, bad rows, state."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from recblocks.core.errors import ConfigError, DataError
from recblocks.data.report import check_bad_rows
from recblocks.features.columns import parse_vectors
from recblocks.features.preprocess import Preprocessor

VECTOR = {"name": "v", "kind": "dense", "dim": 2, "separator": "|"}


def test_parse_vectors_reads_strings_and_lists_and_marks_wrong_lengths() -> None:
    values, bad, wrong = parse_vectors(pa.array(["1|2", "3|x", "4", None, "", "5|6|7"]), "|", 2, "f")
    assert values[:2].tolist()[0] == [1.0, 2.0] and values[1, 0] == 3.0 and np.isnan(values[1, 1])
    assert bad.tolist() == [False, True, False, False, False, False]
    assert wrong.tolist() == [False, False, True, False, False, True]  # null and "" are missing, not wrong
    assert np.isnan(values[2:]).all()
    values, _, wrong = parse_vectors(pa.array([[1.0, 2.0], None, [3.0]]), None, 2, "f")
    assert values[0].tolist() == [1.0, 2.0] and wrong.tolist() == [False, False, True]
    with pytest.raises(DataError, match="feature 'f': a string column needs 'separator'"):
        parse_vectors(pa.array(["1|2"]), None, 2, "feature 'f'")


def test_standard_statistics_are_fitted_per_position_by_hand() -> None:
    p = Preprocessor([{**VECTOR, "normalization": "standard"}]).fit(pa.table({"v": ["1|10", "3|30"]}))
    assert p.dense_stats_["v"] == {"mean": [2.0, 20.0], "std": [1.0, 10.0]}
    batch, _ = p.transform(pa.table({"v": ["2|40", None]}))
    # (2 - 2) / 1 = 0, (40 - 20) / 10 = 2; a missing row is fill_value 0 throughout, then normalised
    assert batch.features["v"].tolist() == [[0.0, 2.0], [-2.0, -2.0]]
    again = Preprocessor.from_state_dict(p.state_dict())
    assert again.dense_stats_ == p.dense_stats_


def test_a_wrong_length_row_is_a_bad_row_dropped_and_reported() -> None:
    p = Preprocessor([VECTOR, {"name": "u", "kind": "sparse"}])
    table = pa.table({"v": ["1|2", "3", "4|5|6", "7|8"], "u": ["a", "b", "c", "d"], "y": [1, 0, 1, 0]})
    batch, report = p.fit(table).transform(table, labels=["y"])
    assert batch.features["v"].tolist() == [[1.0, 2.0], [7.0, 8.0]]
    assert batch.labels["y"].tolist() == [1.0, 0.0] and len(batch.features["u"]) == 2
    assert (report.rows, report.bad_rows, report.features["v"].wrong_length) == (4, 2, 2)
    assert "v: 2 rows with a wrong number of values, dropped (50.00%)" in report.summary_lines()
    with pytest.raises(DataError, match=r"too many rows dropped .*2 with a wrong number of values in 'v'"):
        check_bad_rows(report, max_bad_fraction=0.1)


def test_missing_values_refused_name_the_data_row() -> None:
    p = Preprocessor([{**VECTOR, "allow_missing": False}])
    table = pa.table({"v": ["1|2", "3", "4|x"]})
    with pytest.raises(DataError, match=r"feature 'v': 1 rows with missing values .*first at data row 3"):
        p.fit(table).transform(table)


def test_bad_dims_name_the_feature() -> None:
    with pytest.raises(ConfigError, match=r"features\[0\]\.dim \(feature 'v'\)"):
        Preprocessor([{**VECTOR, "dim": 0}])
