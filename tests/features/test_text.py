"""The ``normalize`` option of string features: applied in fit and transform, whole-column, checked."""

from __future__ import annotations

import pyarrow as pa
import pytest

from recblocks.core.errors import ConfigError
from recblocks.features import Preprocessor, Schema
from recblocks.features.text import TextNormalization, normalize_column, normalize_strings


def test_each_step_by_hand():
    strings = pa.array(["Ｈｅｌｌｏ　Ｗｏｒｌｄ！", "MiXed Case", None, "ａ b\tc", "不变"])
    half = normalize_strings(strings, TextNormalization(full_to_half_width=True)).to_pylist()
    assert half == ["Hello World!", "MiXed Case", None, "a b\tc", "不变"]
    lower = normalize_strings(strings, TextNormalization(lowercase=True, full_to_half_width=True)).to_pylist()
    assert lower == ["hello world!", "mixed case", None, "a b\tc", "不变"]
    packed = normalize_strings(strings, TextNormalization(full_to_half_width=True, remove_space=True)).to_pylist()
    assert packed == ["HelloWorld!", "MiXedCase", None, "abc", "不变"]


def test_list_columns_are_normalised_element_by_element():
    column = pa.array([["Ａ", "b"], None, [], ["C d"]])
    out = normalize_column(column, TextNormalization(lowercase=True, full_to_half_width=True))
    assert out.to_pylist() == [["a", "b"], None, [], ["c d"]]
    numbers = pa.array([1, 2])
    assert normalize_column(numbers, TextNormalization(lowercase=True)) is numbers


def test_the_preprocessor_normalises_in_fit_and_transform():
    schema = [{"name": "q", "kind": "multi", "separator": " ", "normalize": {"lowercase": True,
                                                                             "full_to_half_width": True}},
              {"name": "s", "kind": "sparse", "normalize": {"remove_space": True}},
              {"name": "h", "kind": "hashed", "hash_bucket_size": 50, "normalize": {"lowercase": True}}]
    p = Preprocessor(schema).fit(pa.table({"q": ["Ｒｅｄ Shoe", "red shoe"], "s": ["a b", "ab"], "h": ["X", "x"]}))
    assert p.vocabulary("q") == ["red", "shoe"] and p.vocabulary("s") == ["ab"]
    batch, _ = p.transform(pa.table({"q": ["RED ｓｈｏｅ"], "s": [" a  b"], "h": ["X"]}))
    assert batch.features["q"][0, :3].tolist() == [2, 3, 0] and batch.features["s"].tolist() == [2]
    plain, _ = p.transform(pa.table({"q": ["red"], "s": ["ab"], "h": ["x"]}))
    assert batch.features["h"].tolist() == plain.features["h"].tolist()
    restored = Preprocessor.from_state_dict(p.state_dict())
    assert restored.schema["q"].normalize == TextNormalization(lowercase=True, full_to_half_width=True)


def test_unsupported_and_conflicting_options_are_config_errors():
    with pytest.raises(ConfigError, match="traditional_to_simplified is not supported.*OpenCC"):
        Schema([{"name": "q", "kind": "sparse", "normalize": {"traditional_to_simplified": True}}])
    with pytest.raises(ConfigError, match="removes the whitespace separator"):
        Schema([{"name": "q", "kind": "multi", "separator": " ", "normalize": {"remove_space": True}}])
    with pytest.raises(ConfigError, match="normalize"):
        Schema([{"name": "x", "kind": "dense", "normalize": {"lowercase": True}}])
    with pytest.raises(ConfigError, match="lower_case"):
        Schema([{"name": "q", "kind": "sparse", "normalize": {"lower_case": True}}])
