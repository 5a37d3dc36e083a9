"""Sequences of numbers (``kind: sequence, values: numbers``): raw, bucketized and vector elements."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from recblocks.core.errors import ConfigError, SchemaError
from recblocks.features.preprocess import Preprocessor

RAW = {"name": "s", "kind": "sequence", "values": "numbers", "separator": "|", "max_len": 3}


def _nan_to_none(rows: list) -> list:
    return [[None if isinstance(x, float) and math.isnan(x) else x for x in row] for row in rows]


def test_raw_numbers_keep_the_last_elements_and_pad_with_nan() -> None:
    p = Preprocessor([{**RAW, "fill_value": -1.0}])
    table = pa.table({"s": ["1|2", "", "4|x|6|7", None]})
    batch, report = p.fit(table).transform(table)
    assert _nan_to_none(batch.features["s"].tolist()) == [
        [1.0, 2.0, None], [-1.0, None, None], [-1.0, 6.0, 7.0], [-1.0, None, None]]
    counts = report.features["s"]
    assert (counts.truncated, counts.unparseable, counts.missing) == (1, 1, 3)
    with pytest.raises(SchemaError, match="feature 's': a numbers feature has no embedding table"):
        p.num_embeddings("s")


def test_boundaries_make_bucket_ids_like_a_bucketized_feature() -> None:
    p = Preprocessor([{**RAW, "boundaries": [1.5, 3.0]}])
    table = pa.table({"s": ["1|2|3", "", "9"]})
    batch, _ = p.fit(table).transform(table)
    # 1 < 1.5 -> bucket 0 (id 2); 2 -> id 3; 3 is not below 3 -> id 4; an empty row is one missing id
    assert batch.features["s"].tolist() == [[2, 3, 4], [1, 0, 0], [4, 0, 0]]
    assert p.num_embeddings("s") == 5
    assert Preprocessor.from_state_dict(p.state_dict()).boundaries_ == {"s": [1.5, 3.0]}


def test_vector_elements_split_by_the_element_separator() -> None:
    p = Preprocessor([{**RAW, "max_len": 2, "dim": 2, "element_separator": ";"}])
    table = pa.table({"s": ["1;2|3;4", "5;6;7"]})
    batch, report = p.fit(table).transform(table)
    values = batch.features["s"]
    assert tuple(values.shape) == (2, 2, 2)
    assert values[0].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert values[1, 0].tolist() == [0.0, 0.0] and math.isnan(values[1, 1, 0])  # wrong count -> filled
    assert report.features["s"].missing == 1


def test_options_of_numbers_on_an_id_sequence_name_the_feature() -> None:
    with pytest.raises(ConfigError,
                       match=r"features\[0\]: .*\['boundaries'\] apply to a sequence of numbers; set values: numbers"):
        Preprocessor([{"name": "s", "kind": "sequence", "separator": "|", "boundaries": [1.0]}])
    with pytest.raises(ConfigError, match=r"hash_bucket_size and min_count apply to id sequences"):
        Preprocessor([{**RAW, "hash_bucket_size": 10}])


def test_several_bucketized_numbers_per_element_give_padded_3d_ids() -> None:
    p = Preprocessor([{**RAW, "boundaries": [10.0, 20.0], "element_separator": ";", "element_len": 2}])
    table = pa.table({"s": ["5;15;25|30", "", "1|2|3|12;x", None]})
    batch, report = p.fit(table).transform(table)
    ids = batch.features["s"]
    assert tuple(ids.shape) == (4, 3, 2)
    # 5 -> id 2, 15 -> id 3 (25 dropped: element_len 2), 30 -> id 4; an empty row is one missing id;
    # the last 3 elements are kept and the unparseable 'x' is filled with 0 (id 2)
    assert ids.tolist() == [[[2, 3], [4, 0], [0, 0]], [[1, 0], [0, 0], [0, 0]],
                            [[2, 0], [2, 0], [3, 2]], [[1, 0], [0, 0], [0, 0]]]
    counts = report.features["s"]
    assert (counts.truncated, counts.unparseable, counts.missing) == (2, 1, 3)
    assert p.num_embeddings("s") == 5


def test_an_element_separator_without_dim_or_boundaries_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"element_separator splits an element into several numbers"):
        Preprocessor([{**RAW, "element_separator": ";"}])
