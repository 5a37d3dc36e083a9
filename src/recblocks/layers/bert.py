"""BERT-style building pieces shared by the multi-modal components (:mod:`~recblocks.layers.cmbf`, UNITER).

These follow the encoder of Devlin et al., "BERT", NAACL 2019 (arXiv:1810.04805) as EasyRec's
``multihead_cross_attention`` module builds it: every projection is a dense layer with a bias
and a truncated-normal kernel (std ``initializer_range``, default 0.02); attention scores are
scaled by ``1 / sqrt(head width)`` and masked positions get ``-10000`` added; LayerNorm uses
epsilon 1e-12; dropouts act in training only. The pieces are not registered components: the
registered ones compose them.

* :class:`BertAttention`: multi-head attention from a ``(B, Lq, Dq)`` tensor to a ``(B, Lk, Dk)``
  one, output ``(B, Lq, heads * head_size)`` (no output projection).
* :class:`BertEncoderLayer`: self-attention, output dense, residual + LayerNorm, feed-forward,
  residual + LayerNorm (post-LN). Input and output ``(B, L, H)``.
* :class:`CrossAttentionLayer`: attention to the other modality, then self-attention over that
  result, residual (to the cross-attention output) + LayerNorm, a ReLU feed-forward, residual +
  LayerNorm. Output ``(B, Lq, heads * head_size)``.
The plain projections between widths (``glorot_linear``) are Glorot-uniform with zero biases,
as ``tf.layers.dense`` without an initializer.

* :class:`EmbeddingPostprocessor`: adds a token-type embedding and learned positions, then
  LayerNorm and dropout.
"""

from __future__ import annotations

import math

import torch
from pydantic import Field, model_validator
from torch import nn

from recblocks.core.limits import MAX_LAYER_WIDTH, MAX_LAYERS, MAX_SEQUENCE_LENGTH
from recblocks.core.params import Params

__all__ = ["BertShapeParams", "BertAttention", "BertEncoderLayer", "CrossAttentionLayer", "EmbeddingPostprocessor", "glorot_linear", "new_token_table",
           "LAYER_NORM_EPS", "lengths_mask", "truncated_linear"]

class BertShapeParams(Params):
    """The encoder's size and regularisation, as EasyRec's BERT-style messages name them (BST, UNITER)."""

    hidden_size: int = Field(ge=1, le=MAX_LAYER_WIDTH)
    num_hidden_layers: int = Field(ge=0, le=MAX_LAYERS)
    num_attention_heads: int = Field(ge=1, le=MAX_LAYER_WIDTH)
    intermediate_size: int = Field(ge=1, le=MAX_LAYER_WIDTH)
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = Field(default=0.1, ge=0.0, lt=1.0)
    attention_probs_dropout_prob: float = Field(default=0.1, ge=0.0, lt=1.0)
    max_position_embeddings: int = Field(default=512, ge=1, le=MAX_SEQUENCE_LENGTH)
    use_position_embeddings: bool = True
    initializer_range: float = Field(default=0.02, gt=0.0, le=10.0)

    @model_validator(mode="after")
    def _heads_divide(self) -> "BertShapeParams":
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be a multiple of num_attention_heads "
                             f"({self.num_attention_heads})")
        return self


#: LayerNorm epsilon of EasyRec's BERT layers (its compat ``layer_norm``).
LAYER_NORM_EPS = 1e-12


def truncated_linear(in_dim: int, out_dim: int, initializer_range: float = 0.02) -> nn.Linear:
    """A dense layer with a bias (zeros) and a truncated-normal kernel of std ``initializer_range``."""
    layer = nn.Linear(in_dim, out_dim)
    nn.init.trunc_normal_(layer.weight, 0.0, initializer_range, -2 * initializer_range, 2 * initializer_range)
    nn.init.zeros_(layer.bias)
    return layer


def glorot_linear(in_dim: int, out_dim: int) -> nn.Linear:
    """A plain ``tf.layers.dense``: Glorot-uniform kernel, zero bias (the towers' projections)."""
    layer = nn.Linear(in_dim, out_dim)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def lengths_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """``(B, max_len)`` bool: True for valid positions ``t < lengths``."""
    return torch.arange(max_len, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


class BertAttention(nn.Module):
    """Multi-head scaled dot-product attention with Q/K/V projections and no output projection.

    Shape:
        - Input: ``query (B, Lq, Dq)``, ``key (B, Lk, Dk)``, ``mask (B, Lk)`` bool (True = attend) or None.
        - Output: ``(B, Lq, heads * head_size)``.
    """

    def __init__(self, query_dim: int, key_dim: int, heads: int, head_size: int, dropout: float,
                 initializer_range: float = 0.02) -> None:
        super().__init__()
        self.heads, self.head_size = heads, head_size
        width = heads * head_size
        self.query = truncated_linear(query_dim, width, initializer_range)
        self.key = truncated_linear(key_dim, width, initializer_range)
        self.value = truncated_linear(key_dim, width, initializer_range)
        self.dropout = nn.Dropout(dropout)

    def forward(self, query: torch.Tensor, key: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, lq, lk = query.shape[0], query.shape[1], key.shape[1]

        def split(x: torch.Tensor, length: int) -> torch.Tensor:
            return x.view(b, length, self.heads, self.head_size).transpose(1, 2)

        q, k, v = split(self.query(query), lq), split(self.key(key), lk), split(self.value(key), lk)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_size)
        if mask is not None:
            scores = scores + (1.0 - mask[:, None, None, :].to(scores.dtype)) * -10000.0
        probs = self.dropout(torch.softmax(scores, dim=-1))
        return (probs @ v).transpose(1, 2).reshape(b, lq, self.heads * self.head_size)


class BertEncoderLayer(nn.Module):
    """One post-LN encoder layer: ``h = LN(x + Drop(W_o MHA(x))); y = LN(h + Drop(W_2 act(W_1 h)))``.

    Shape:
        - Input: ``(B, L, H)`` and a key mask ``(B, L)`` bool or None.
        - Output: ``(B, L, H)``.
    """

    def __init__(self, hidden: int, heads: int, intermediate: int, activation: nn.Module, hidden_dropout: float,
                 attention_dropout: float, initializer_range: float = 0.02) -> None:
        super().__init__()
        self.attention = BertAttention(hidden, hidden, heads, hidden // heads, attention_dropout, initializer_range)
        self.attention_out = truncated_linear(hidden, hidden, initializer_range)
        self.norm1 = nn.LayerNorm(hidden, eps=LAYER_NORM_EPS)
        self.ffn_in = truncated_linear(hidden, intermediate, initializer_range)
        self.ffn_out = truncated_linear(intermediate, hidden, initializer_range)
        self.act = activation
        self.norm2 = nn.LayerNorm(hidden, eps=LAYER_NORM_EPS)
        self.dropout = nn.Dropout(hidden_dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        h = self.norm1(x + self.dropout(self.attention_out(self.attention(x, x, mask))))
        return self.norm2(h + self.dropout(self.ffn_out(self.act(self.ffn_in(h)))))


class CrossAttentionLayer(nn.Module):
    """One cross-modal layer: ``c = MHA(x, other)``, ``h = LN(c + Drop(MHA(c, c)))``, ReLU feed-forward.

    Shape:
        - Input: ``x (B, Lq, Dq)``, ``other (B, Lk, Dk)``, ``cross_mask (B, Lk)`` and
          ``self_mask (B, Lq)`` bool or None.
        - Output: ``(B, Lq, heads * head_size)``.
    """

    def __init__(self, query_dim: int, key_dim: int, heads: int, head_size: int, intermediate: int,
                 hidden_dropout: float, attention_dropout: float, initializer_range: float = 0.02) -> None:
        super().__init__()
        width = heads * head_size
        self.cross = BertAttention(query_dim, key_dim, heads, head_size, attention_dropout, initializer_range)
        self.self_attention = BertAttention(width, width, heads, head_size, attention_dropout, initializer_range)
        self.norm1 = nn.LayerNorm(width, eps=LAYER_NORM_EPS)
        self.ffn_in = truncated_linear(width, intermediate, initializer_range)
        self.ffn_out = truncated_linear(intermediate, width, initializer_range)
        self.norm2 = nn.LayerNorm(width, eps=LAYER_NORM_EPS)
        self.dropout = nn.Dropout(hidden_dropout)

    def forward(self, x: torch.Tensor, other: torch.Tensor, cross_mask: torch.Tensor | None,
                self_mask: torch.Tensor | None) -> torch.Tensor:
        c = self.cross(x, other, cross_mask)
        h = self.norm1(c + self.dropout(self.self_attention(c, c, self_mask)))
        return self.norm2(h + self.dropout(self.ffn_out(torch.relu(self.ffn_in(h)))))


class EmbeddingPostprocessor(nn.Module):
    """``LN(x + token_type[t] + P[:L])`` then dropout; each term only when enabled.

    The token-type table may be shared between several postprocessors (pass the same
    ``nn.Parameter``), as EasyRec reuses one table for all the sequences of a tower.

    Shape:
        - Input: ``(B, L, H)``.
        - Output: ``(B, L, H)``.
    """

    def __init__(self, width: int, token_type: int | None, token_table: nn.Parameter | None,
                 max_positions: int | None, dropout: float, initializer_range: float = 0.02) -> None:
        super().__init__()
        self.token_type = token_type
        self.token_table = token_table
        self.positions = None
        if max_positions is not None:
            self.positions = nn.Parameter(torch.empty(max_positions, width))
            nn.init.trunc_normal_(self.positions, 0.0, initializer_range, -2 * initializer_range,
                                  2 * initializer_range)
        self.norm = nn.LayerNorm(width, eps=LAYER_NORM_EPS)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.token_table is not None and self.token_type is not None:
            x = x + self.token_table[self.token_type]
        if self.positions is not None:
            x = x + self.positions[: x.shape[1]]
        return self.dropout(self.norm(x))


def new_token_table(rows: int, width: int, initializer_range: float = 0.02) -> nn.Parameter:
    """A ``(rows, width)`` token-type table, truncated-normal initialised."""
    table = nn.Parameter(torch.empty(rows, width))
    nn.init.trunc_normal_(table, 0.0, initializer_range, -2 * initializer_range, 2 * initializer_range)
    return table
