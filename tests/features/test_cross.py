"""Crossed features (EasyRec's ComboFeature): several columns joined into one hashed id."""

import pyarrow as pa
import pytest

from recblocks.core.errors import ConfigError
from recblocks.data.loader import id_columns
from recblocks.features.columns import hash_ids
from recblocks.features.cross import DEFAULT_JOIN, cross_values
from recblocks.features.preprocess import Preprocessor
from recblocks.features.schema import Schema


def _ids(*values: str) -> list[int]:
    return hash_ids(pa.array(list(values)), 100)[0].tolist()


def test_single_valued_inputs_join_into_one_hashed_id():
    table = pa.table({"site": ["s1", "s2", "s1"], "app": [7, 8, 7]})  # ints are read as their text
    pre = Preprocessor([{"name": "site_app", "kind": "hashed", "hash_bucket_size": 100,
                         "cross": {"columns": ["site", "app"], "join": "_"}}]).fit(table)
    batch, _ = pre.transform(table)
    assert batch.features["site_app"].tolist() == _ids("s1_7", "s2_8", "s1_7")
    assert pre.required_columns() == ["site", "app"] and id_columns(pre) == ["site", "app"]


def test_the_default_join_keeps_different_tuples_apart():
    crossed = cross_values([pa.array(["a_b", "a"]), pa.array(["c", "b_c"])], [None, None], DEFAULT_JOIN, "f")
    assert crossed.to_pylist() == ["a_b\x1fc", "a\x1fb_c"]  # "_" would join both to "a_b_c"


def test_a_missing_input_leaves_the_row_without_a_value():
    table = pa.table({"a": ["x", None, "", "y"], "b": ["1", "2", "3", None]})
    pre = Preprocessor([{"name": "ab", "kind": "hashed", "hash_bucket_size": 100,
                         "cross": {"columns": ["a", "b"]}}]).fit(table)
    batch, report = pre.transform(table)
    assert batch.features["ab"].tolist() == [_ids(f"x{DEFAULT_JOIN}1")[0], 1, 1, 1]  # 1 = missing
    assert report.features["ab"].missing == 3


def test_multi_valued_inputs_give_the_cartesian_product():
    table = pa.table({"user": ["u1", "u2", "u3", None], "tags": ["a,b", "", "c", "d"], "slot": ["1", "2", "3|4", "5"]})
    crossed = cross_values([table["user"].combine_chunks(), table["tags"].combine_chunks(),
                            table["slot"].combine_chunks()], [None, ",", "|"], "X", "f")
    assert crossed.to_pylist() == [["u1XaX1", "u1XbX1"], [], ["u3XcX3", "u3XcX4"], []]
    pre = Preprocessor([{"name": "cross", "kind": "multi", "hash_bucket_size": 100, "max_len": 3,
                         "cross": {"columns": ["user", "tags", "slot"], "separators": [None, ",", "|"],
                                   "join": "X"}}]).fit(table)
    batch, report = pre.transform(table)
    assert batch.features["cross"].tolist() == [[*_ids("u1XaX1", "u1XbX1"), 0], [1, 0, 0],
                                                [*_ids("u3XcX3", "u3XcX4"), 0], [1, 0, 0]]
    assert report.features["cross"].missing == 2
    again, _ = Preprocessor.from_state_dict(pre.state_dict()).transform(table)  # the cross survives a save
    assert again.features["cross"].tolist() == batch.features["cross"].tolist()


@pytest.mark.parametrize("feature, message", [
    ({"kind": "hashed", "cross": {"columns": ["a"]}}, r"features\[0\]\.cross\.columns \(feature 'f'\): .*at least 2"),
    ({"kind": "hashed", "cross": {"columns": ["a", "b"], "separators": [None, ","]}},
     r"features\[0\].*several ids per row; use kind 'multi'"),
    ({"kind": "multi", "cross": {"columns": ["a", "b"], "separators": [","]}},
     r"features\[0\]\.cross.*one entry \(a separator or null\) per column: 2 columns, 1 separators"),
    ({"kind": "hashed", "column": "a", "cross": {"columns": ["a", "b"]}}, r"leave 'column' out"),
    ({"kind": "hashed", "cross": {"columns": ["a", "b"], "jion": "_"}}, r"cross\.jion.*did you mean 'join'"),
])
def test_bad_crosses_name_the_place(feature, message):
    with pytest.raises(ConfigError, match=message):
        Schema([{"name": "f", "hash_bucket_size": 10, **feature}])
