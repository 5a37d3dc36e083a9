"""BST and TextEncoder: BERT-style transformer encoders over a padded sequence input."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from recblocks.core.errors import ShapeError
from recblocks.core.limits import MAX_LAYERS
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec
from recblocks.layers.activations import check_activation, make_activation
from recblocks.layers.base import Component
from recblocks.layers.bert import BertShapeParams
from recblocks.layers.sequence import SEQUENCE_INPUT, length_mask, sequence_spec, split_sequence

__all__ = ["BST", "BSTParams", "SequenceEncoder", "TextEncoder", "TextEncoderParams", "TransformerParams"]

_LONG = TensorSpec((), "long")


class _EncoderParams(BertShapeParams):
    num_hidden_layers: int = Field(ge=1, le=MAX_LAYERS)
    output_all_token_embeddings: bool = True


class SequenceEncoder(nn.Module):
    """Position embeddings, LayerNorm, dropout and post-LN transformer blocks with key padding masks.

    ``x = Dropout(LN(tokens + P))``; each block ``x = LN(x + Drop(MHA(x)))``,
    ``x = LN(x + Drop(FFN(x)))``, FFN ``H -> intermediate (act) -> H``; masked keys are
    ignored and the outputs at masked positions are zeroed. Weights start truncated-normal
    with ``std = initializer_range``; LayerNorm epsilons are torch's (the library's rule for TF defaults).

    Shape:
        - Input: tokens ``(B, N, H)``, valid ``(B, N)`` bool.
        - Output: ``(B, N, H)``.
    """

    def __init__(self, params: _EncoderParams, num_tokens: int, where: str) -> None:
        super().__init__()
        check_activation(params.hidden_act, join_path(where, "hidden_act"))
        hidden = params.hidden_size
        self.position = nn.Parameter(torch.empty(num_tokens, hidden)) if params.use_position_embeddings else None
        self.norm = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(params.hidden_dropout_prob)
        self.blocks = nn.ModuleList()
        for _ in range(params.num_hidden_layers):
            block = nn.TransformerEncoderLayer(hidden, params.num_attention_heads, params.intermediate_size,
                                               params.hidden_dropout_prob,
                                               make_activation(params.hidden_act, where, width=params.intermediate_size),
                                               batch_first=True)
            block.self_attn.dropout = params.attention_probs_dropout_prob
            self.blocks.append(block)
        std = params.initializer_range
        for name, weight in self.named_parameters():
            if weight.dim() >= 2 and not name.startswith("norm"):
                nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)

    def forward(self, tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        x = tokens + self.position if self.position is not None else tokens
        x = self.dropout(self.norm(x))
        # a row without any valid token would make every attention weight NaN: let it see its first token
        padding = ~valid
        padding[:, 0] &= valid.any(dim=1)
        for block in self.blocks:
            x = block(x, src_key_padding_mask=padding)
        return x * valid.unsqueeze(-1)


class BSTParams(_EncoderParams):
    """Parameters of :class:`BST` (EasyRec ``BSTEncoder`` names and defaults)."""

    target_item_position: Literal["head", "tail", "ignore"] = "head"
    reserve_target_position: bool = True


@COMPONENTS.register(
    "BST", params=BSTParams, input_kind="sequence", aliases=("BSTEncoder",),
    positional=("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"),
    examples=[
        ({"hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 6,
          "max_position_embeddings": 5}, (TensorSpec((4, 4)), _LONG, TensorSpec((4,)))),
        ({"hidden_size": 4, "num_hidden_layers": 2, "num_attention_heads": 1, "intermediate_size": 4,
          "output_all_token_embeddings": False, "target_item_position": "tail", "hidden_act": "relu"},
         (TensorSpec((3, 2)), _LONG, TensorSpec((2,)))),
        ({"hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 4,
          "max_position_embeddings": 4, "use_position_embeddings": False},
         (TensorSpec((3, 4)), _LONG, None)),
        ({"hidden_size": 2, "num_hidden_layers": 1, "num_attention_heads": 1, "intermediate_size": 2,
          "output_all_token_embeddings": False}, (TensorSpec((3, 2)), _LONG)),
        ({"hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 4,
          "output_all_token_embeddings": False}, (TensorSpec((3, 6)), _LONG, TensorSpec((4,)))),
    ])
class BST(Component):
    """Behaviour sequence transformer: a transformer encoder over the sequence and the target (BST).

    Chen et al., "Behavior Sequence Transformer for E-commerce Recommendation in Alibaba",
    DLP-KDD 2019 (arXiv:1905.06874); EasyRec ``BST`` semantics. A sequence of width ``D != H``
    and a target of width ``D_q != H`` are projected by ``Dense(H, relu)`` (one each). The target
    may be narrower than the sequence (``D_q <= D``: the sequence carries side information the
    target cannot have, such as the user's rating of each behaviour); EasyRec needs ``D_q = D``. With
    ``output_all_token_embeddings`` the sequence is padded to ``max_position_embeddings``
    tokens. The target token is inserted at the head or the tail (``'ignore'``: not inserted);
    without a target token and with ``reserve_target_position`` (all-token output only), a
    learned placeholder token fills the reserved slot (EasyRec reserves the slot but leaves it
    without a token). Then :class:`SequenceEncoder`: learned position
    embeddings, LayerNorm, dropout, ``num_hidden_layers`` post-LN blocks; padding
    (``t >= lengths``) is masked as keys and zeroed in the output, so it never changes a valid
    output. Output: every token flattened, or the target token's state (without a target token:
    the first token for ``'head'``, the last valid one otherwise). Dropouts act in training only.

    Args:
        hidden_size: ``H``.
        num_hidden_layers: transformer blocks.
        num_attention_heads: heads (``H`` must be a multiple).
        intermediate_size: FFN width.
        hidden_act: FFN activation.
        hidden_dropout_prob: dropout of the embeddings and the blocks.
        attention_probs_dropout_prob: dropout of the attention weights.
        max_position_embeddings: longest sequence (``L`` above it is a ShapeError).
        use_position_embeddings: add learned position embeddings.
        initializer_range: std of the truncated-normal initial weights (0.02, EasyRec's proto
            value; its documentation table's 0.2 is a typo).
        output_all_token_embeddings: output every token flattened, else one token state.
        target_item_position: ``'head'``, ``'tail'`` or ``'ignore'``.
        reserve_target_position: keep a target slot in the all-token output.

    Shape:
        - Input: sequence input ``(seq (B, L, D), lengths (B,), target (B, D_q) or None)``, ``D_q <= D``.
        - Output: ``(B, N H)`` with ``N = max_position_embeddings (+1 target slot)``, or ``(B, H)``.

    Example:
        >>> bst = BST.from_spec(BSTParams(hidden_size=4, num_hidden_layers=1, num_attention_heads=2,
        ...                               intermediate_size=8, max_position_embeddings=6),
        ...                     (TensorSpec((5, 4)), TensorSpec((), "long"), TensorSpec((4,))))
        >>> bst((torch.randn(2, 5, 4), torch.tensor([5, 2]), torch.randn(2, 4))).shape
        torch.Size([2, 28])
    """

    #: ``model_params.l2_regularization`` with ``l2_scope: easyrec`` reaches this module's kernels (as in EasyRec)
    easyrec_l2 = True

    def __init__(self, params: BSTParams, length: int, dim: int, target_dim: int | None, where: str) -> None:
        super().__init__(params)
        self.where, self.length, self.dim, self.target_dim = where, length, dim, target_dim
        self.has_target = target_dim is not None
        hidden = params.hidden_size
        self.target_token = self.has_target and params.target_item_position != "ignore"
        all_tokens = params.output_all_token_embeddings
        self.padded_length = params.max_position_embeddings if all_tokens else length
        slot = self.target_token or (all_tokens and params.reserve_target_position)
        self.num_tokens = self.padded_length + int(slot)
        self.placeholder = nn.Parameter(torch.zeros(1, 1, hidden)) if slot and not self.target_token else None
        self.seq_project = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU()) if dim != hidden else None
        self.target_project = (nn.Sequential(nn.Linear(target_dim, hidden), nn.ReLU())  # type: ignore[arg-type]
                               if self.target_token and target_dim != hidden else None)
        self.encoder = SequenceEncoder(params, self.num_tokens, where)

    @classmethod
    def _spec(cls, spec: Any, params: BSTParams, where: str) -> tuple[int, int, int | None]:
        seq = sequence_spec(spec, where, "BST")
        if seq.length > params.max_position_embeddings:
            raise ShapeError(where, "BST: the sequence is longer than max_position_embeddings (set max_len of the "
                             "sequence feature)", f"L <= {params.max_position_embeddings}", seq.length)
        if seq.target_dim is not None and params.target_item_position != "ignore" and seq.target_dim > seq.dim:
            raise ShapeError(where, "BST: the target is wider than the sequence",
                             f"a target width <= {seq.dim} in {SEQUENCE_INPUT}", seq.target_dim)
        return seq.length, seq.dim, seq.target_dim

    @classmethod
    def from_spec(cls, params: BSTParams, input_spec: Any, where: str = "") -> "BST":
        where = where or "BST"
        return cls(params, *cls._spec(input_spec, params, where), where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        facts = self._spec(input_spec, self.params, self.where)
        if facts != (self.length, self.dim, self.target_dim):
            raise ShapeError(self.where, "BST: the input differs from the one this layer was built for",
                             f"L={self.length}, D={self.dim}, D_q={self.target_dim}",
                             f"L={facts[0]}, D={facts[1]}, D_q={facts[2]}")
        hidden = self.params.hidden_size
        return TensorSpec((self.num_tokens * hidden,) if self.params.output_all_token_embeddings else (hidden,))

    def forward(self, x: Any) -> torch.Tensor:
        seq, lengths, target = split_sequence(x)
        batch, length = seq.shape[0], seq.shape[1]
        if self.padded_length > length:
            seq = nn.functional.pad(seq, (0, 0, 0, self.padded_length - length))
        valid = length_mask(lengths, self.padded_length)
        tokens = self.seq_project(seq) if self.seq_project is not None else seq
        extra = None
        if self.target_token:
            extra = self.target_project(target) if self.target_project is not None else target
            extra = extra.unsqueeze(1)
        elif self.placeholder is not None:
            extra = self.placeholder.expand(batch, 1, -1)
        head = self.params.target_item_position == "head"
        if extra is not None:
            ones = valid.new_ones(batch, 1)
            tokens = torch.cat([extra, tokens] if head else [tokens, extra], dim=1)
            valid = torch.cat([ones, valid] if head else [valid, ones], dim=1)
        out = self.encoder(tokens, valid)
        if self.params.output_all_token_embeddings:
            return out.flatten(1)
        if self.target_token:
            return out[:, 0] if head else out[:, -1]
        if head:
            return out[:, 0]
        last = (lengths.clamp(1, length) - 1).view(-1, 1, 1).expand(-1, 1, out.shape[-1])
        return out.gather(1, last).squeeze(1)


class TransformerParams(_EncoderParams):
    """The ``transformer`` section of :class:`TextEncoderParams` (EasyRec ``Transformer`` names and defaults)."""

    hidden_act: str = "relu"
    attention_probs_dropout_prob: float = Field(default=0.0, ge=0.0, lt=1.0)
    use_position_embeddings: bool = False
    output_all_token_embeddings: bool = False
    vocab_size: int | None = Field(default=None, ge=1, description="accepted for EasyRec configs; unused here")


class TextEncoderParams(Params):
    """Parameters of :class:`TextEncoder` (EasyRec ``TextEncoder``: its ``transformer`` section)."""

    transformer: TransformerParams


@COMPONENTS.register(
    "TextEncoder", params=TextEncoderParams, input_kind="sequence", positional=("transformer",),
    examples=[
        ({"transformer": {"hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2,
                          "intermediate_size": 4, "vocab_size": 100}}, (TensorSpec((3, 4)), _LONG, None)),
        ({"transformer": {"hidden_size": 2, "num_hidden_layers": 2, "num_attention_heads": 1, "intermediate_size": 3,
                          "use_position_embeddings": True, "output_all_token_embeddings": True,
                          "max_position_embeddings": 4}}, (TensorSpec((3, 3)), _LONG)),
    ])
class TextEncoder(Component):
    """A BERT-style encoder of token embeddings with a learned [CLS] token (EasyRec ``TextEncoder``).

    EasyRec joins the text with ``[CLS]`` / ``[SEP]``, splits it into tokens, hashes or looks
    them up and embeds them itself. Here the tokens are an ordinary sequence feature (split by
    its ``separator`` and embedded by its table; ``vocab_size`` is accepted and unused): the
    encoder prepends a learned ``[CLS]`` token to the (projected, when ``D != H``) token
    embeddings and runs :class:`SequenceEncoder` (Vaswani et al., NeurIPS 2017; BERT, Devlin
    et al., arXiv:1810.04805): optional learned position embeddings, LayerNorm, dropout and
    ``num_hidden_layers`` post-LN blocks with the padding (``t >= lengths``) masked. The output
    is the ``[CLS]`` state (EasyRec forces this), or every token flattened with
    ``output_all_token_embeddings``. A target, if any, is ignored.

    Args:
        transformer: encoder sizes, activation (``relu``), dropouts (hidden 0.1, attention 0),
            ``max_position_embeddings`` (512, counting ``[CLS]``), ``use_position_embeddings``
            (False), ``initializer_range``, ``output_all_token_embeddings`` (False) and
            ``vocab_size`` (unused).

    Shape:
        - Input: sequence input ``(tokens (B, L, D), lengths (B,)[, target])``,
          ``L + 1 <= max_position_embeddings``.
        - Output: ``(B, H)``, or ``(B, (L + 1) H)`` with ``output_all_token_embeddings``.

    Example:
        >>> text = TextEncoder.from_spec(TextEncoderParams(transformer={
        ...     "hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 8}),
        ...     (TensorSpec((6, 4)), TensorSpec((), "long")))
        >>> text((torch.randn(2, 6, 4), torch.tensor([6, 2]))).shape
        torch.Size([2, 4])
    """

    def __init__(self, params: TextEncoderParams, length: int, dim: int, where: str) -> None:
        super().__init__(params)
        self.where, self.length, self.dim = where, length, dim
        config = params.transformer
        self.cls = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        nn.init.trunc_normal_(self.cls, std=config.initializer_range, a=-2 * config.initializer_range,
                              b=2 * config.initializer_range)
        self.project = nn.Linear(dim, config.hidden_size) if dim != config.hidden_size else None
        self.encoder = SequenceEncoder(config, length + 1, join_path(where, "transformer"))

    @classmethod
    def _facts(cls, spec: Any, params: TextEncoderParams, where: str) -> tuple[int, int]:
        seq = sequence_spec(spec, where, "TextEncoder")
        limit = params.transformer.max_position_embeddings
        if seq.length + 1 > limit:
            raise ShapeError(where, "TextEncoder: [CLS] and the tokens are longer than max_position_embeddings (set "
                             "max_len of the token feature)", f"L + 1 <= {limit}", seq.length + 1)
        return seq.length, seq.dim

    @classmethod
    def from_spec(cls, params: TextEncoderParams, input_spec: Any, where: str = "") -> "TextEncoder":
        where = where or "TextEncoder"
        return cls(params, *cls._facts(input_spec, params, where), where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        facts = self._facts(input_spec, self.params, self.where)
        if facts != (self.length, self.dim):
            raise ShapeError(self.where, "TextEncoder: the input differs from the one this layer was built for",
                             f"L={self.length}, D={self.dim}", f"L={facts[0]}, D={facts[1]}")
        hidden = self.params.transformer.hidden_size
        return TensorSpec(((self.length + 1) * hidden,) if self.params.transformer.output_all_token_embeddings
                          else (hidden,))

    def forward(self, x: Any) -> torch.Tensor:
        tokens, lengths, _ = split_sequence(x)
        tokens = self.project(tokens) if self.project is not None else tokens
        tokens = torch.cat([self.cls.expand(tokens.shape[0], 1, -1), tokens], dim=1)
        valid = torch.cat([lengths.new_ones(lengths.shape[0], 1, dtype=torch.bool),
                           length_mask(lengths, self.length)], dim=1)
        out = self.encoder(tokens, valid)
        return out.flatten(1) if self.params.transformer.output_all_token_embeddings else out[:, 0]
