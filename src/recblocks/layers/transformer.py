"""Post-LN transformer encoder layers with EasyRec's names: ``TransformerBlock`` and ``TransformerEncoder``."""

from __future__ import annotations

import math
from typing import Any

import torch
from pydantic import Field
from torch import nn

from recblocks.core.limits import MAX_EMBEDDING_DIM, MAX_LAYER_WIDTH, MAX_LAYERS, MAX_SEQUENCE_LENGTH, MAX_TABLE_ROWS
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.activations import initialize, make_activation
from recblocks.layers.attention import MultiHeadAttention, MultiHeadAttentionParams, key_mask
from recblocks.layers.base import Component
from recblocks.layers.field_inputs import named_error

__all__ = ["TransformerBlock", "TransformerBlockParams", "TransformerEncoder", "TransformerEncoderParams"]

_SEQ = "(B, L, H), or (seq (B, L, H), lengths (B,) long[, target])"


def sequence_of(spec: Any, where: str, component: str, ids: bool = False) -> tuple[TensorSpec, bool]:
    """``(sequence spec, has lengths)`` of a sequence input: a tensor, or (seq, lengths[, target])."""
    expected = _SEQ.replace("(B, L, H)", "(B, L) long ids or (B, L, H)") if ids else _SEQ
    has_lengths = False
    if isinstance(spec, (list, tuple)):
        if not 2 <= len(spec) <= 3 or not isinstance(spec[1], TensorSpec) or spec[1].dtype != "long" \
                or spec[1].rank != 1:
            raise named_error(where, component, "a sequence list must be (sequence, lengths[, target])", expected,
                              describe_spec(spec))
        spec, has_lengths = spec[0], True
    if not isinstance(spec, TensorSpec):
        raise named_error(where, component, "the sequence must be a single tensor", expected, describe_spec(spec))
    if ids and spec.dtype == "long" and spec.rank == 2:
        return spec, has_lengths
    if spec.rank != 3 or spec.dtype != "float":
        raise named_error(where, component, "the sequence must be a 3-D float tensor", expected, describe_spec(spec))
    return spec, has_lengths


def split_sequence(x: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Runtime counterpart of :func:`sequence_of`: ``(sequence, lengths or None)``."""
    if isinstance(x, torch.Tensor):
        return x, None
    return x[0], x[1]


class TransformerBlockParams(Params):
    """Parameters of :class:`TransformerBlock` (EasyRec ``Transformer`` message names)."""

    hidden_size: int = Field(ge=1, le=MAX_LAYER_WIDTH)
    num_attention_heads: int = Field(ge=1, le=MAX_LAYER_WIDTH)
    intermediate_size: int | None = Field(default=None, ge=1, le=MAX_LAYER_WIDTH)
    hidden_act: str | None = "relu"
    hidden_dropout_prob: float = Field(default=0.1, ge=0.0, lt=1.0)
    attention_probs_dropout_prob: float = Field(default=0.0, ge=0.0, lt=1.0)


class _Layer(nn.Module):
    """One post-LN encoder layer (shared by both components)."""

    def __init__(self, params: TransformerBlockParams, where: str) -> None:
        super().__init__()
        hidden, heads = params.hidden_size, params.num_attention_heads
        if hidden % heads:
            raise named_error(where, "Transformer", "hidden_size must be divisible by num_attention_heads",
                              f"a multiple of {heads}", hidden)
        spec = TensorSpec((1, hidden))
        self.attention = MultiHeadAttention(
            MultiHeadAttentionParams(num_heads=heads, key_dim=hidden // heads,
                                     dropout=params.attention_probs_dropout_prob), spec, spec, spec, where)
        inner = params.intermediate_size or hidden
        self.ffn_in, self.ffn_out = nn.Linear(hidden, inner), nn.Linear(inner, hidden)
        for layer in (self.ffn_in, self.ffn_out):
            initialize(layer.weight, "glorot_uniform")
            nn.init.zeros_(layer.bias)
        self.act = make_activation(params.hidden_act, join_path(where, "hidden_act"), width=inner)
        self.norm1, self.norm2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.drop1, self.drop2 = nn.Dropout(params.hidden_dropout_prob), nn.Dropout(params.hidden_dropout_prob)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        attended, _ = self.attention.attention(x, x, x, mask)
        out1 = self.norm1(x + self.drop1(attended))
        return self.norm2(out1 + self.drop2(self.ffn_out(self.act(self.ffn_in(out1)))))


@COMPONENTS.register(
    "TransformerBlock", params=TransformerBlockParams, input_kind="tensor3d",
    positional=("hidden_size", "num_attention_heads"),
    examples=[
        ({"hidden_size": 4, "num_attention_heads": 2, "intermediate_size": 6}, TensorSpec((3, 4))),
        ({"hidden_size": 4, "num_attention_heads": 1, "hidden_act": "gelu", "attention_probs_dropout_prob": 0.5},
         (TensorSpec((3, 4)), TensorSpec((), "long"), TensorSpec((2,)))),
    ])
class TransformerBlock(Component):
    """One post-LN transformer encoder layer: self-attention and feed-forward, each residual + LayerNorm.

    Paper: Vaswani et al., "Attention Is All You Need", NeurIPS 2017, arXiv:1706.03762
    (EasyRec ``TransformerBlock``). ``a = MHA(x, x, x)`` with ``num_attention_heads`` heads of
    width ``hidden_size / heads`` (keys past a row's length masked);
    ``h = LN(x + Drop(a))``; ``y = LN(h + Drop(W_2 act(W_1 h + b_1) + b_2))`` with
    ``W_1: H -> intermediate_size`` (default ``H``). LayerNorm uses torch's epsilon 1e-5
    (EasyRec 1e-6); dropouts act in training only.

    Args:
        hidden_size: model width ``H`` (the input width must equal it).
        num_attention_heads: heads (``H`` must be divisible by it).
        intermediate_size: feed-forward width (default ``H``).
        hidden_act: feed-forward activation (EasyRec default ``relu``).
        hidden_dropout_prob: dropout after attention and feed-forward.
        attention_probs_dropout_prob: dropout on the attention weights.

    Shape:
        - Input: ``(B, L, H)``, or ``(seq (B, L, H), lengths (B,) long[, target])`` (a sequence group).
        - Output: ``(B, L, H)``.

    Example:
        >>> block = TransformerBlock.from_spec(TransformerBlockParams(hidden_size=4, num_attention_heads=2),
        ...                                    TensorSpec((3, 4)))
        >>> block(torch.randn(2, 3, 4)).shape
        torch.Size([2, 3, 4])
    """

    def __init__(self, params: TransformerBlockParams, where: str) -> None:
        super().__init__(params)
        self.where = where
        self.layer = _Layer(params, where)

    @classmethod
    def from_spec(cls, params: TransformerBlockParams, input_spec: Any, where: str = "") -> "TransformerBlock":
        where = where or "TransformerBlock"
        block = cls(params, where)
        block.output_spec(input_spec)
        return block

    def output_spec(self, input_spec: Any) -> TensorSpec:
        seq, _ = sequence_of(input_spec, self.where, "TransformerBlock")
        if seq.shape[-1] != self.params.hidden_size:
            raise named_error(self.where, "TransformerBlock", "the sequence width must equal hidden_size",
                              f"(B, L, {self.params.hidden_size})", describe_spec(seq))
        return seq

    def forward(self, x: Any) -> torch.Tensor:
        seq, lengths = split_sequence(x)
        return self.layer(seq, key_mask(lengths, seq.shape[1], seq.shape[1], False, seq.device))


class TransformerEncoderParams(TransformerBlockParams):
    """Parameters of :class:`TransformerEncoder` (EasyRec ``Transformer`` message)."""

    num_hidden_layers: int = Field(default=1, ge=1, le=MAX_LAYERS)
    vocab_size: int | None = Field(default=None, ge=1, le=MAX_TABLE_ROWS)
    max_position_embeddings: int = Field(default=512, ge=1, le=MAX_SEQUENCE_LENGTH)
    use_position_embeddings: bool = True
    output_all_token_embeddings: bool = True


def sinusoid_positions(length: int, dim: int) -> torch.Tensor:
    """``(length, dim)`` sinusoidal positions, sines in the first half and cosines in the second (EasyRec)."""
    half = dim // 2
    positions = torch.arange(length, dtype=torch.float64).unsqueeze(1)
    rates = 1.0 / 10000.0 ** (torch.arange(half, dtype=torch.float64) / max(half, 1))
    angles = positions * rates
    table = torch.cat([angles.sin(), angles.cos()], dim=-1)
    if table.shape[1] < dim:
        table = torch.cat([table, torch.zeros(length, dim - table.shape[1], dtype=torch.float64)], dim=-1)
    return table.float()


@COMPONENTS.register(
    "TransformerEncoder", params=TransformerEncoderParams, input_kind="tensor3d",
    positional=("hidden_size", "num_attention_heads"),
    examples=[
        ({"hidden_size": 4, "num_attention_heads": 2, "num_hidden_layers": 2, "max_position_embeddings": 8},
         TensorSpec((3, 4))),
        ({"hidden_size": 4, "num_attention_heads": 1, "vocab_size": 4, "output_all_token_embeddings": False},
         (TensorSpec((5,), "long"), TensorSpec((), "long"))),
    ])
class TransformerEncoder(Component):
    """A stack of post-LN transformer layers over token ids or embeddings, with sinusoidal positions.

    Paper: Vaswani et al., "Attention Is All You Need", NeurIPS 2017, arXiv:1706.03762
    (EasyRec ``TransformerEncoder``). Token ids ``(B, L)`` are embedded (``vocab_size`` rows)
    and scaled by ``sqrt(H)``; float inputs ``(B, L, H)`` are used as they are. Sinusoidal
    positions (``sin`` half then ``cos`` half, as EasyRec) are added when
    ``use_position_embeddings`` (default True: EasyRec's encoder always adds them, its proto
    default False notwithstanding); dropout; ``num_hidden_layers`` :class:`TransformerBlock` s.
    The output is every token, or the first token only.

    Args:
        hidden_size: model width ``H``.
        num_attention_heads: heads per layer.
        intermediate_size: feed-forward width (default ``H``).
        hidden_act: feed-forward activation.
        hidden_dropout_prob: dropout on the embeddings and in every layer.
        attention_probs_dropout_prob: dropout on the attention weights.
        num_hidden_layers: number of layers.
        vocab_size: rows of the token embedding (required for id inputs).
        max_position_embeddings: longest sequence accepted.
        use_position_embeddings: add the sinusoidal positions.
        output_all_token_embeddings: return all tokens ``(B, L, H)`` or the first ``(B, H)``.

    Shape:
        - Input: ``(B, L)`` long ids or ``(B, L, H)``, alone or as ``(seq, lengths (B,)[, target])``.
        - Output: ``(B, L, H)``, or ``(B, H)``.

    Example:
        >>> enc = TransformerEncoder.from_spec(TransformerEncoderParams(hidden_size=4, num_attention_heads=1,
        ...                                    vocab_size=10, output_all_token_embeddings=False),
        ...                                    TensorSpec((6,), "long"))
        >>> enc(torch.randint(0, 10, (2, 6))).shape
        torch.Size([2, 4])
    """

    def __init__(self, params: TransformerEncoderParams, where: str) -> None:
        super().__init__(params)
        self.where = where
        hidden = params.hidden_size
        self.embedding = None
        if params.vocab_size is not None:
            self.embedding = nn.Embedding(params.vocab_size, hidden)
            nn.init.uniform_(self.embedding.weight, -0.05, 0.05)  # Keras Embedding default
        self.register_buffer("positions", sinusoid_positions(params.max_position_embeddings, hidden),
                             persistent=False)
        self.dropout = nn.Dropout(params.hidden_dropout_prob)
        self.layers = nn.ModuleList(_Layer(params, join_path(where, f"layer_{i}"))
                                    for i in range(params.num_hidden_layers))

    @classmethod
    def from_spec(cls, params: TransformerEncoderParams, input_spec: Any, where: str = "") -> "TransformerEncoder":
        where = where or "TransformerEncoder"
        encoder = cls(params, where)
        encoder.output_spec(input_spec)
        return encoder

    def output_spec(self, input_spec: Any) -> TensorSpec:
        params = self.params
        seq, _ = sequence_of(input_spec, self.where, "TransformerEncoder", ids=True)
        if seq.dtype == "long" and self.embedding is None:
            raise named_error(self.where, "TransformerEncoder", "token ids need vocab_size",
                              "(B, L, H) embeddings, or set vocab_size", describe_spec(seq))
        if seq.dtype == "float" and seq.shape[-1] != params.hidden_size:
            raise named_error(self.where, "TransformerEncoder", "the sequence width must equal hidden_size",
                              f"(B, L, {params.hidden_size})", describe_spec(seq))
        if seq.shape[0] > params.max_position_embeddings:
            raise named_error(self.where, "TransformerEncoder", "the sequence is longer than "
                              "max_position_embeddings", f"L <= {params.max_position_embeddings}", seq.shape[0])
        return TensorSpec((seq.shape[0], params.hidden_size) if params.output_all_token_embeddings
                          else (params.hidden_size,))

    def forward(self, x: Any) -> torch.Tensor:
        seq, lengths = split_sequence(x)
        hidden = self.params.hidden_size
        if not seq.is_floating_point():
            seq = self.embedding(seq) * math.sqrt(hidden)  # type: ignore[misc]
        if self.params.use_position_embeddings:
            seq = seq + self.positions[: seq.shape[1]]
        h = self.dropout(seq)
        mask = key_mask(lengths, h.shape[1], h.shape[1], False, h.device)
        for layer in self.layers:
            h = layer(h, mask)
        return h if self.params.output_all_token_embeddings else h[:, 0]
