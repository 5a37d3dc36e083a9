"""UNITER: the [CLS] output, token types, padding invariance, errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ShapeError, TensorSpec
from recblocks.layers import UNITER, UNITERParams

LONG = TensorSpec((), "long")
BASE = {"hidden_size": 4, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 8,
        "max_position_embeddings": 6}


def test_all_parts_and_token_types() -> None:
    spec = [TensorSpec((2, 10)), TensorSpec((3, 6)), (TensorSpec((5, 4)), LONG), (TensorSpec((4, 3)), LONG)]
    layer = UNITER.from_spec(UNITERParams(**BASE, has_image=True, has_general=True), spec, "uniter").eval()
    # one type row per text feature, one for the image, one for the general fields
    assert layer.token_table.shape == (4, 4)
    assert [p.token_type for p in layer.text_posts] == [2, 3]
    out = layer([torch.randn(2, 2, 10), torch.randn(2, 3, 6), (torch.randn(2, 5, 4), torch.tensor([5, 2])),
                 (torch.randn(2, 4, 3), torch.tensor([1, 4]))])
    assert out.shape == (2, 4) and torch.isfinite(out).all()


def test_single_text_has_no_token_types_and_ignores_padding() -> None:
    spec = [(TensorSpec((6, 4)), LONG)]
    layer = UNITER.from_spec(UNITERParams(**BASE), spec, "uniter").eval()
    assert layer.token_table is None
    seq, lengths = torch.randn(2, 6, 4), torch.tensor([2, 6])
    changed = seq.clone()
    changed[0, 2:] = -9.0
    torch.testing.assert_close(layer([(seq, lengths)]), layer([(changed, lengths)]))


def test_output_is_the_cls_state() -> None:
    layer = UNITER.from_spec(UNITERParams(**{**BASE, "num_hidden_layers": 0}, has_general=True),
                             [TensorSpec((3, 4))], "uniter").eval()
    out = layer([torch.randn(2, 3, 4)])
    torch.testing.assert_close(out, layer.cls[0].expand(2, -1))  # no layers: the [CLS] embedding itself


def test_errors() -> None:
    with pytest.raises(ShapeError, match="max_position_embeddings"):
        UNITER.from_spec(UNITERParams(**{**BASE, "max_position_embeddings": 3}), [(TensorSpec((6, 4)), LONG)], "u")
    with pytest.raises(ValueError, match="must be a multiple of num_attention_heads"):  # checked with the params
        UNITERParams(**{**BASE, "num_attention_heads": 3})
    with pytest.raises(ShapeError, match="general input"):
        UNITER.from_spec(UNITERParams(**BASE, has_general=True), [(TensorSpec((6, 4)), LONG)], "u")
