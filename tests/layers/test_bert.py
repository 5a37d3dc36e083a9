"""BERT pieces: attention against a hand computation, the mask, post-LN layer and postprocessor shapes."""

from __future__ import annotations

import math

import torch
from torch import nn

from recblocks.layers.bert import (BertAttention, BertEncoderLayer, CrossAttentionLayer, EmbeddingPostprocessor,
                                   lengths_mask, new_token_table)


def _identity_attention() -> BertAttention:
    att = BertAttention(2, 2, heads=1, head_size=2, dropout=0.0)
    with torch.no_grad():
        for layer in (att.query, att.key, att.value):
            layer.weight.copy_(torch.eye(2))
            layer.bias.zero_()
    return att


def test_attention_hand_case_and_mask() -> None:
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    att = _identity_attention()
    # row 0: scores [1, 0] / sqrt(2) -> softmax [e^a, 1] / (e^a + 1), a = 1/sqrt(2)
    a = math.exp(1 / math.sqrt(2))
    expected0 = torch.tensor([a / (a + 1), 1 / (a + 1)])
    torch.testing.assert_close(att(x, x, None)[0, 0], expected0)
    # masking the second key (-10000 added) puts all the weight on the first
    masked = att(x, x, torch.tensor([[True, False]]))
    torch.testing.assert_close(masked[0, :, 0], torch.ones(2), atol=1e-4, rtol=0)


def test_lengths_mask() -> None:
    assert lengths_mask(torch.tensor([1, 3]), 3).tolist() == [[True, False, False], [True, True, True]]


def test_layers_keep_shapes_and_ignore_padding() -> None:
    torch.manual_seed(0)
    layer = BertEncoderLayer(4, 2, 8, nn.GELU(approximate="tanh"), 0.0, 0.0).eval()
    x, mask = torch.randn(2, 3, 4), torch.tensor([[True, True, False], [True, True, True]])
    changed = x.clone()
    changed[0, 2] = 50.0
    torch.testing.assert_close(layer(x, mask)[0, :2], layer(changed, mask)[0, :2])
    cross = CrossAttentionLayer(4, 6, heads=2, head_size=3, intermediate=5, hidden_dropout=0.0,
                                attention_dropout=0.0).eval()
    assert cross(x, torch.randn(2, 5, 6), None, mask).shape == (2, 3, 6)


def test_postprocessor_adds_token_type_and_positions() -> None:
    table = new_token_table(2, 4)
    post = EmbeddingPostprocessor(4, 1, table, max_positions=5, dropout=0.0).eval()
    with torch.no_grad():
        post.norm.weight.fill_(1.0)
        post.norm.bias.zero_()
    x = torch.randn(2, 3, 4)
    expected = nn.functional.layer_norm(x + table[1] + post.positions[:3], (4,), eps=1e-12)
    torch.testing.assert_close(post(x), expected)
