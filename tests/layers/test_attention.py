"""Attention, MultiHeadAttention and AutoInt: hand cases (components.md §2.9, Vaswani et al.), properties, errors."""

from __future__ import annotations

import math

import pytest
import torch

from recblocks.core import COMPONENTS, ShapeError, TensorSpec
from recblocks.layers import (
    Attention,
    AttentionParams,
    AutoInt,
    AutoIntParams,
    MultiHeadAttention,
    MultiHeadAttentionParams,
)

X = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
A, B_ = 0.731059, 0.268941  # softmax([1, 0])


def test_attention_hand_cases() -> None:
    spec = [TensorSpec((2, 2)), TensorSpec((2, 2))]
    att = Attention.from_spec(AttentionParams(), spec, "att")
    torch.testing.assert_close(att([X, X]), torch.tensor([[[A, B_], [B_, A]]]), atol=1e-6, rtol=0)
    scaled = Attention.from_spec(AttentionParams(scale_by_dim=True), spec, "att")
    alpha = 1 / (1 + math.exp(-1 / math.sqrt(2)))  # softmax([1/sqrt 2, 0]) = 0.669762
    torch.testing.assert_close(scaled([X, X])[0, 0], torch.tensor([alpha, 1 - alpha]))
    # lengths [1]: only key 0 is visible -> every query returns value 0
    torch.testing.assert_close(att([X, X, X, torch.tensor([1])]), torch.tensor([[[1.0, 0.0], [1.0, 0.0]]]))
    causal = Attention.from_spec(AttentionParams(use_causal_mask=True), spec, "att")
    torch.testing.assert_close(causal([X, X])[0, 0], torch.tensor([1.0, 0.0]))


def test_multi_head_attention_equals_per_head_loop() -> None:
    mha = MultiHeadAttention.from_spec(MultiHeadAttentionParams(num_heads=2, key_dim=3, value_dim=2),
                                       [TensorSpec((3, 4)), TensorSpec((5, 6))], "mha")
    q, v = torch.randn(2, 3, 4), torch.randn(2, 5, 6)
    heads = []
    for h in range(2):
        qh = (mha.query(q))[..., h * 3:(h + 1) * 3]
        kh = (mha.key(v))[..., h * 3:(h + 1) * 3]
        vh = (mha.value(v))[..., h * 2:(h + 1) * 2]
        heads.append(torch.softmax(qh @ kh.transpose(1, 2) / math.sqrt(3), -1) @ vh)
    torch.testing.assert_close(mha([q, v]), mha.out(torch.cat(heads, -1)))


def test_multi_head_attention_hand_case() -> None:
    mha = MultiHeadAttention.from_spec(MultiHeadAttentionParams(num_heads=1, key_dim=2, use_bias=False),
                                       [TensorSpec((2, 2))] * 2, "mha")
    with torch.no_grad():
        for layer in (mha.query, mha.key, mha.value, mha.out):
            layer.weight.copy_(torch.eye(2))
    alpha = 0.669762  # softmax([1, 0] / sqrt(2))
    torch.testing.assert_close(mha([X, X]), torch.tensor([[[alpha, 1 - alpha], [1 - alpha, alpha]]]),
                               atol=1e-6, rtol=0)


def test_autoint_hand_case() -> None:
    # F=2, D=A=2, one head, W_Q=W_K=W_V=I, no scale: alpha = [[A, B], [B, A]]; residual +X; ReLU
    layer = AutoInt.from_spec(AutoIntParams(num_layers=1), TensorSpec((2, 2)), "ai")
    with torch.no_grad():
        for lin in (layer.layers[0].query, layer.layers[0].key, layer.layers[0].value):
            lin.weight.copy_(torch.eye(2))
    torch.testing.assert_close(layer(X), torch.tensor([[[1 + A, B_], [B_, 1 + A]]]), atol=1e-6, rtol=0)
    monolith = AutoInt.from_spec(AutoIntParams(num_layers=1, projection=False), [TensorSpec((2,))] * 2, "ai")
    torch.testing.assert_close(monolith([X[:, 0], X[:, 1]]), torch.tensor([[[A, B_], [B_, A]]]), atol=1e-6, rtol=0)
    assert COMPONENTS.canonical("InteractingLayer") == "AutoInt"


def test_autoint_residual_projection_when_widths_differ() -> None:
    layer = AutoInt.from_spec(AutoIntParams(num_layers=2, num_heads=2, attention_dim=4, out_type="concat"),
                              TensorSpec((3, 2)), "ai")
    assert layer.layers[0].residual is not None and layer.layers[1].residual is None
    assert layer(torch.randn(5, 3, 2)).shape == (5, 12)


@pytest.mark.parametrize(
    ("cls", "params", "spec", "message"),
    [
        (Attention, AttentionParams(), TensorSpec((2, 2)),
         "att: Attention: input must be a list of query, value (and key, lengths); expected [query (B, Lq, Dq)"),
        (Attention, AttentionParams(), [TensorSpec((2,)), TensorSpec((2,))],
         "att: Attention: query, value and key must be 3-D float tensors; expected [query"),
        (Attention, AttentionParams(), [TensorSpec((2, 2)), TensorSpec((3, 2)), TensorSpec((2, 2))],
         "att: Attention: key and value lengths differ"),
        (Attention, AttentionParams(), [TensorSpec((2, 3)), TensorSpec((3, 2))],
         "att: Attention: query and key widths differ"),
        (MultiHeadAttention, MultiHeadAttentionParams(num_heads=1, key_dim=2),
         [TensorSpec((2, 2)), TensorSpec((2, 2)), TensorSpec((2,), "long")],
         "att: MultiHeadAttention: lengths must be a (B,) long tensor"),
        (AutoInt, AutoIntParams(), TensorSpec((4,)), "att: AutoInt: input must be a field list or a 3-D tensor"),
        (AutoInt, AutoIntParams(num_heads=2), TensorSpec((2, 3)),
         "att: AutoInt: attention_dim must be divisible by num_heads"),
    ],
)
def test_shape_errors(cls: type, params: object, spec: object, message: str) -> None:
    with pytest.raises(ShapeError) as info:
        cls.from_spec(params, spec, "att")
    assert message in str(info.value)
