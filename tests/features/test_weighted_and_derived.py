"""Weighted multi-valued ids (``weight_separator``, EasyRec's ``kv_separator``): encoding and pooling."""

from __future__ import annotations

import pyarrow as pa
import pytest
import torch

from recblocks.core.errors import ConfigError
from recblocks.features.preprocess import Preprocessor
from recblocks.features.weighted import weight_key
from recblocks.layers.embedding import EmbeddingCollection, EmbeddingSlot

TAGS = {"name": "t", "kind": "multi", "separator": "|", "weight_separator": ":", "max_len": 3, "pooling": "sum"}


def test_ids_are_fitted_without_their_weights_and_weights_share_the_layout() -> None:
    p = Preprocessor([TAGS, {**TAGS, "name": "h", "column": "t", "hash_bucket_size": 10, "max_len": 2}])
    table = pa.table({"t": ["a:0.5|b:2", "", "b|c:x|a:1|d:4", None]})
    batch, report = p.fit(table).transform(table)
    assert sorted(p.vocabularies_["t"]) == ["a", "b", "c", "d"]
    ids, weights = batch.features["t"], batch.features[weight_key("t")]
    assert ids.shape == weights.shape == (4, 3)
    assert ids[0, 2].item() == 0 and ids[1].tolist() == [1, 0, 0]  # padding; an empty row is one missing id
    # an id without a weight, or with an unparseable one, weighs 1 (counted); the first max_len are kept
    assert weights.tolist() == [[0.5, 2.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]
    assert (report.features["t"].unparseable, report.features["t"].truncated) == (2, 1)
    assert batch.features[weight_key("h")].tolist()[0] == [0.5, 2.0]


def test_a_weight_separator_equal_to_the_separator_is_refused() -> None:
    with pytest.raises(ConfigError, match="weight_separator splits each element"):
        Preprocessor([{**TAGS, "weight_separator": "|"}])


@pytest.mark.parametrize("pooling", ["sum", "mean"])
def test_weighted_pooling_is_tensorflows_weighted_lookup(pooling: str) -> None:
    slot = EmbeddingSlot("t", "deep", "multi", 2, table="t", num_embeddings=5, pooling=pooling, max_len=3,
                         weighted=True)
    collection = EmbeddingCollection([slot])
    table = torch.arange(10, dtype=torch.float32).reshape(5, 2)
    with torch.no_grad():
        collection.fused["dim2"].table.weight.copy_(table)
    ids = torch.tensor([[2, 3, 0], [1, 0, 0]])
    weights = torch.tensor([[0.5, 2.0, 0.0], [1.0, 0.0, 0.0]])
    out = collection({"t": ids, weight_key("t"): weights}).pooled[("deep", "t")]
    first = 0.5 * table[2] + 2.0 * table[3]
    expected = torch.stack([first / 2.5 if pooling == "mean" else first, table[1]])
    torch.testing.assert_close(out, expected)


def test_lookup_and_expression_columns_are_computed_at_preprocessing() -> None:
    p = Preprocessor([
        {"name": "lk", "column": "m", "kind": "multi", "separator": "|", "hash_bucket_size": 20, "max_len": 3,
         "lookup": {"key": "k", "kv_separator": ":"}},
        {"name": "e", "kind": "dense", "fill_value": -1.0,
         "expression": {"formula": "(a>=b) & (a<=b+5)", "columns": ["a", "b"]}}])
    table = pa.table({"m": ["a:1|b:2|a:3", "c:4", ""], "k": ["a", "b", "c"], "a": [1, 2, None], "b": [0, 9, 1]})
    batch, report = p.fit(table).transform(table)
    lk = batch.features["lk"]
    assert (lk[0] > 1).tolist() == [True, True, False] and lk[1].tolist() == [1, 0, 0]  # 'b' has no entry
    assert batch.features["e"].tolist() == [1.0, 0.0, -1.0]  # a null input: missing, filled
    assert report.features["e"].missing == 1
    with pytest.raises(ConfigError, match=r"features\[0\].*the formula names a column it does not list"):
        Preprocessor([{"name": "e", "kind": "dense", "expression": {"formula": "a+c", "columns": ["a"]}}])
