"""Keras Embedding and EasyRec EmbeddingLayer: lookups by hand, combiners, regularizer, shape errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import COMPONENTS, ConfigError, ShapeError, TensorSpec
from recblocks.layers import Embedding, EmbeddingLayer, EmbeddingLayerParams, EmbeddingParams

LONG = TensorSpec((), "long")
TABLE = torch.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 4.0], [5.0, -6.0]])


def test_keras_embedding_by_hand() -> None:
    layer = Embedding.from_spec(EmbeddingParams(input_dim=4, output_dim=2, embeddings_regularizer={"l1": 0.5}),
                                TensorSpec((2,), "long"), "e")
    assert layer.embeddings.abs().max() <= 0.05  # Keras' uniform(-0.05, 0.05)
    with torch.no_grad():
        layer.embeddings.copy_(TABLE)
    assert layer(torch.tensor([[3, 1]])).tolist() == [[[5.0, -6.0], [1.0, 2.0]]]
    assert layer(torch.tensor([2.7])).tolist() == [[3.0, 4.0]]  # floats are truncated to ids
    torch.testing.assert_close(layer.regularization_loss(), torch.tensor(0.5 * 21.0))  # l1 * sum|E|
    assert layer.output_spec(TensorSpec((2,), "long")) == TensorSpec((2, 2))


@pytest.mark.parametrize(("combiner", "expected"), [
    ("mean", [3.0, 0.0]), ("weight", [3.0, 0.0]), ("sum", [9.0, 0.0]), ("max", [5.0, 4.0]), ("min", [1.0, -6.0]),
])
def test_embedding_layer_combiners(combiner: str, expected: list[float]) -> None:
    layer = EmbeddingLayer.from_spec(EmbeddingLayerParams(embedding_dim=2, vocab_size=4, combiner=combiner),
                                     [LONG, TensorSpec((4,), "long")], "el")
    with torch.no_grad():
        layer.embeddings.copy_(TABLE)
    # ids 1, 2, 3 and one padding (-1): rows [1, 2], [3, 4], [5, -6]
    out = layer([torch.tensor([2, 0]), torch.tensor([[1, 2, 3, -1], [-1, -1, -1, -1]])])
    torch.testing.assert_close(out, torch.tensor([[3.0, 4.0, *expected], [0.0, 0.0, 0.0, 0.0]]))


def test_embedding_layer_list_output_and_alias() -> None:
    layer = EmbeddingLayer.from_spec(EmbeddingLayerParams(embedding_dim=2, vocab_size=4, concat=False), [LONG] * 3)
    assert layer.output_spec([LONG] * 3) == [TensorSpec((2,))] * 3
    assert len(layer([torch.tensor([1])] * 3)) == 3
    with pytest.raises(ConfigError, match="unknown component"):
        COMPONENTS.get("GRU")  # the rule for other Keras class names (see recblocks.layers.keras)


@pytest.mark.parametrize(("cls", "params", "spec", "message"), [
    (Embedding, EmbeddingParams(input_dim=2, output_dim=2), [LONG], "x: Embedding looks up one tensor of ids"),
    (Embedding, EmbeddingParams(input_dim=2, output_dim=2), TensorSpec((), "bool"), "expected ids (B, ...)"),
    (EmbeddingLayer, EmbeddingLayerParams(embedding_dim=2, vocab_size=3), [TensorSpec((2, 3), "long")],
     "x: EmbeddingLayer looks up id tensors; expected a list of ids, each (B,) or (B, L)"),
    (EmbeddingLayer, EmbeddingLayerParams(embedding_dim=2, vocab_size=3), [], "x: EmbeddingLayer looks up id tensors"),
])
def test_shape_errors(cls: type, params: object, spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        cls.from_spec(params, spec, "x")
    assert message in str(info.value)
