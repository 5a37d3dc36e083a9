"""CMBF: output widths of the image modes, padding invariance, towers alone, errors."""

from __future__ import annotations

import pytest
import torch

from recblocks.core import ShapeError, TensorSpec
from recblocks.layers import CMBF, CMBFParams

LONG = TensorSpec((), "long")
BASE = {"text_head_size": 4, "text_multi_head_num": 2, "image_cross_head_size": 3, "text_cross_head_size": 5,
        "multi_head_num": 2, "max_position_embeddings": 6}


def _run(params: dict, spec: list, inputs: list) -> torch.Tensor:
    layer = CMBF.from_spec(CMBFParams(**params), spec, "cmbf").eval()
    out = layer(inputs)
    assert out.shape[1:] == layer.output_spec(spec).shape
    return out


@pytest.mark.parametrize("image_params, image_shape", [
    ({}, (1, 10)),                                                  # no self-attention: projected to 2 * 3
    ({"image_self_attention_layer_num": 1, "image_head_size": 4, "image_multi_head_num": 2}, (3, 7)),
    ({"image_self_attention_layer_num": 1, "image_head_size": 4, "image_feature_patch_num": 5}, (1, 10)),
    ({"image_self_attention_layer_num": 1, "image_head_size": 4, "image_feature_dim": 6}, (1, 10)),
])
def test_image_modes_and_width(image_params: dict, image_shape: tuple) -> None:
    spec = [TensorSpec(image_shape), TensorSpec((3, 8)), (TensorSpec((6, 8)), LONG), (TensorSpec((4, 3)), LONG)]
    inputs = [torch.randn(2, *image_shape), torch.randn(2, 3, 8), (torch.randn(2, 6, 8), torch.tensor([6, 2])),
              (torch.randn(2, 4, 3), torch.tensor([1, 4]))]
    out = _run({**BASE, **image_params, "has_image": True, "has_general": True}, spec, inputs)
    # image mean (2 heads * 3) + text: (3 general + 2 sequences) tokens of 2 * 5
    assert out.shape == (2, 6 + 5 * 10)


def test_text_padding_is_ignored() -> None:
    spec = [TensorSpec((2, 4)), (TensorSpec((6, 8)), LONG)]
    layer = CMBF.from_spec(CMBFParams(**BASE, has_image=True, use_token_type=True), spec, "cmbf").eval()
    image, seq, lengths = torch.randn(2, 2, 4), torch.randn(2, 6, 8), torch.tensor([3, 6])
    changed = seq.clone()
    changed[0, 3:] = 7.0
    torch.testing.assert_close(layer([image, (seq, lengths)]), layer([image, (changed, lengths)]))


def test_single_towers() -> None:
    text_only = _run({**BASE, "has_general": True}, [TensorSpec((3, 8))], [torch.randn(2, 3, 8)])
    assert text_only.shape == (2, 3 * 8)  # flattened text tower tokens, no cross layers
    image_only = _run({**BASE, "has_image": True, "image_self_attention_layer_num": 2, "image_head_size": 4},
                      [TensorSpec((3, 12))], [torch.randn(2, 3, 12)])
    assert image_only.shape == (2, 4)  # mean over the 3 regions of width image_head_size * 1


def test_errors() -> None:
    with pytest.raises(ShapeError, match="max_position_embeddings"):
        CMBF.from_spec(CMBFParams(**{**BASE, "max_position_embeddings": 3}), [(TensorSpec((6, 8)), LONG)], "cmbf")
    with pytest.raises(ShapeError, match="image input"):
        CMBF.from_spec(CMBFParams(**BASE, has_image=True), [(TensorSpec((6, 8)), LONG)], "cmbf")
    with pytest.raises(ShapeError, match="image_feature_dim"):
        CMBF.from_spec(CMBFParams(**BASE, has_image=True, image_self_attention_layer_num=1),
                       [TensorSpec((1, 12))], "cmbf")
