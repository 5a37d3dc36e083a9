"""EditDistance, OverlapFeature, MappedDotProduct and the TextNormalize pointer: hand cases and errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core.errors import ConfigError, ShapeError
from recblocks.core.params import parse_params
from recblocks.core.shapes import TensorSpec
from recblocks.layers import (
    EditDistance,
    EditDistanceParams,
    MappedDotProduct,
    MappedDotProductParams,
    OverlapFeature,
    OverlapFeatureParams,
    TextNormalize,
    TextNormalizeParams,
)
from recblocks.layers.text_match import levenshtein, overlap_measures

LONG = TensorSpec((4,), "long")
PAIR = [LONG, TensorSpec((5,), "long")]
WHERE = "block 'm' (model.backbone.blocks[1])"


def _naive_levenshtein(a: list[int], b: list[int]) -> int:
    table = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            same = a[i - 1] == b[j - 1] and a[i - 1] >= 2
            table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + (0 if same else 1))
    return table[-1][-1]


def test_edit_distance_by_hand():
    # kitten -> sitting: k->s, e->i, insert g = 3; token ids k=2 i=3 t=4 e=5 n=6 s=7 g=8, padded with 0
    kitten = [2, 3, 4, 4, 5, 6, 0, 0]
    sitting = [7, 3, 4, 4, 3, 6, 8, 0]
    a = torch.tensor([kitten, [2, 3, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0]])
    b = torch.tensor([sitting, [3, 2, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0]])
    # [2, 3] vs [3, 2]: two substitutions; two unknown tokens differ (id 1 matches nothing)
    assert levenshtein(a, b).tolist() == [3, 2, 1]
    layer = EditDistance.from_spec(EditDistanceParams(embedding_dim=0, normalize=True), [TensorSpec((8,), "long")] * 2)
    assert torch.allclose(layer([a, b]).squeeze(1), torch.tensor([3 / 7, 2 / 2, 1 / 1]))


def test_edit_distance_matches_a_naive_table_on_random_rows():
    g = torch.Generator().manual_seed(3)
    a = torch.randint(1, 5, (32, 6), generator=g)
    b = torch.randint(1, 5, (32, 4), generator=g)
    len_a, len_b = torch.randint(0, 7, (32,), generator=g), torch.randint(0, 5, (32,), generator=g)
    a[torch.arange(6) >= len_a[:, None]] = 0
    b[torch.arange(4) >= len_b[:, None]] = 0
    expected = [_naive_levenshtein(r[:n].tolist(), s[:m].tolist()) for r, s, n, m in zip(a, b, len_a, len_b)]
    assert levenshtein(a, b).tolist() == expected


def test_edit_distance_embeds_the_clipped_distance():
    layer = EditDistance.from_spec(EditDistanceParams(embedding_size=3, embedding_dim=1), [LONG, TensorSpec((), "long")])
    with torch.no_grad():
        layer.embeddings.copy_(torch.tensor([[10.0], [11.0], [12.0]]))
    out = layer([torch.tensor([[2, 3, 4, 5], [2, 0, 0, 0]]), torch.tensor([2, 2])])
    assert out.tolist() == [[12.0], [10.0]]  # distance 3 is clipped to row 2; a (B,) input is one token


def test_overlap_feature_by_hand():
    # FG's example: query high,high2,fiberglass,abc; title high,quality,fiberglass,tube,for,golf,bag
    query = torch.tensor([[2, 3, 4, 5]])
    title = torch.tensor([[2, 6, 4, 7, 8, 9, 10]])
    methods = ["query_common_ratio", "title_common_ratio", "is_contain", "is_equal", "common_word_count",
               "diff_word_count"]
    out = overlap_measures(query, title, methods)
    assert torch.allclose(out, torch.tensor([[2 / 4, 2 / 7, 0.0, 0.0, 2.0, 2.0]]))
    # contained as a contiguous run; equal; unknown tokens (1) never match
    q = torch.tensor([[4, 7, 0], [2, 3, 0], [1, 0, 0], [2, 4, 0]])
    t = torch.tensor([[6, 4, 7, 8], [2, 3, 0, 0], [1, 0, 0, 0], [2, 6, 4, 0]])
    flags = overlap_measures(q, t, ["is_contain", "is_equal", "query_common_ratio"])
    assert flags.tolist() == [[1.0, 0.0, 1.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]


def test_overlap_feature_bucketizes_and_embeds_each_method_in_its_rows():
    params = OverlapFeatureParams(methods=["common_word_count", "is_equal"], boundaries=[1.0, 2.0], embedding_dim=1)
    layer = OverlapFeature.from_spec(params, PAIR)
    with torch.no_grad():
        layer.head.embeddings.copy_(torch.arange(6.0).unsqueeze(1))  # rows 0..2: count buckets, 3..5: is_equal
    out = layer([torch.tensor([[2, 3, 4, 0]]), torch.tensor([[2, 3, 5, 0, 0]])])
    assert out.tolist() == [[2.0, 3.0]]  # count 2 -> bucket 2 (2 <= x); is_equal 0 -> bucket 0 -> row 3
    ids = OverlapFeature.from_spec(OverlapFeatureParams(methods=["query_common_ratio"], boundaries=[0.5]), PAIR)
    assert ids.output_spec(PAIR) == TensorSpec((1,), "long")
    assert ids([torch.tensor([[2, 3, 0, 0]]), torch.tensor([[2, 0, 0, 0, 0]])]).tolist() == [[1]]


def test_mapped_dot_product_by_hand():
    spec = [TensorSpec((3,), "long"), TensorSpec((3,)), TensorSpec((2,), "long"), TensorSpec((2,))]
    layer = MappedDotProduct.from_spec(MappedDotProductParams(normalize_fn="log1p"), spec)
    # query {a: 1, b: 2, unknown: 5}, doc {b: 3, unknown: 7}: only b is shared -> 2 * 3 = 6
    out = layer([torch.tensor([[2, 3, 1]]), torch.tensor([[1.0, 2.0, 5.0]]), torch.tensor([[3, 1]]),
                 torch.tensor([[3.0, 7.0]])])
    assert torch.allclose(out, torch.log1p(torch.tensor([[6.0]])))


@pytest.mark.parametrize(("cls", "params", "spec", "problem", "expected"), [
    (EditDistance, EditDistanceParams(), [LONG], "EditDistance: input must be a list of 2 id tensors",
     "[ids_a (B, L_a) long"),
    (EditDistance, EditDistanceParams(), TensorSpec((4, 3)), "EditDistance: input must be a list of 2 id tensors",
     "raw_input block"),
    (OverlapFeature, OverlapFeatureParams(methods=["is_equal"]), [LONG, TensorSpec((4,))],
     "OverlapFeature: token ids must be long tensors", "[query (B, L_q) long, title (B, L_t) long]"),
    (MappedDotProduct, MappedDotProductParams(), PAIR, "MappedDotProduct: input must be a list of 4 tensors",
     "query_keys (B, L_q) long"),
    (MappedDotProduct, MappedDotProductParams(), [LONG, TensorSpec((3,)), LONG, TensorSpec((4,))],
     "MappedDotProduct: each map needs long keys and float values", "doc_values (B, L_d) float"),
])
def test_shape_errors_name_block_component_and_input(cls, params, spec, problem, expected):
    with pytest.raises(ShapeError) as err:
        cls.from_spec(params, spec, WHERE)
    assert err.value.where == WHERE and err.value.problem.startswith(problem) and expected in err.value.expected


def test_params_are_checked():
    with pytest.raises(ConfigError, match="set 'boundaries' too"):
        parse_params(OverlapFeatureParams, {"methods": ["is_equal"], "embedding_dim": 4}, "p")
    with pytest.raises(ConfigError, match="strictly increasing"):
        parse_params(MappedDotProductParams, {"boundaries": [1.0, 0.5]}, "p")
    with pytest.raises(ConfigError, match="common_word_count"):
        parse_params(OverlapFeatureParams, {"methods": ["common_word"]}, "p")
    with pytest.raises(ConfigError, match="embedding_dim: 0"):
        parse_params(EditDistanceParams, {"normalize": True}, "p")
    with pytest.raises(ConfigError, match="lambda block|'log1p'"):
        parse_params(MappedDotProductParams, {"normalize_fn": "lambda x: x"}, "p")


def test_text_normalize_points_at_the_feature_option():
    with pytest.raises(ConfigError) as err:
        TextNormalize.from_spec(TextNormalizeParams(remove_space=True), LONG, WHERE)
    text = str(err.value)
    assert err.value.where == WHERE and "feature option" in text and "normalize:" in text
    assert "recblocks.features.text" in text and "\n" not in text


def test_a_backbone_naming_text_normalize_gets_the_pointer_at_its_block():
    from recblocks.features.schema import Schema
    from recblocks.models.config import parse_model_config
    from recblocks.models.rank_model import RankModel

    schema = Schema([{"name": "q", "kind": "multi", "separator": " ", "max_len": 3, "embedding_dim": 2}])
    config = parse_model_config({
        "feature_groups": [{"group_name": "text", "feature_names": ["q"]}],
        "backbone": {"blocks": [{"name": "raw", "inputs": [{"feature_group_name": "text"}], "raw_input": {}},
                                {"name": "norm", "inputs": [{"block_name": "raw"}],
                                 "keras_layer": {"class_name": "TextNormalize", "st_params": {"remove_space": True}}}]},
        "task": {"type": "binary", "label": "y"}})
    with pytest.raises(ConfigError) as err:
        RankModel(schema, config, {"q": 6})
    assert err.value.where == "block 'norm' (model.backbone.blocks[1])" and "feature option" in err.value.problem
