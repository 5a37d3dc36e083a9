"""UNITER: one transformer over a [CLS] token, image regions, general fields and text sequences."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from recblocks.core.params import join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec
from recblocks.layers.activations import make_activation
from recblocks.layers.base import Component
from recblocks.layers.bert import (BertShapeParams, BertEncoderLayer, EmbeddingPostprocessor, glorot_linear, lengths_mask,
                                   new_token_table)
from recblocks.layers.cmbf import modal_inputs
from recblocks.layers.field_inputs import named_error

__all__ = ["UNITER", "UNITERParams"]


class UNITERParams(BertShapeParams):
    """Parameters of :class:`UNITER` (EasyRec's ``UniterTower`` message, same names and defaults)."""

    has_image: bool = False
    has_general: bool = False


@COMPONENTS.register(
    "UNITER", params=UNITERParams, input_kind="fields", aliases=("Uniter",),
    examples=[
        ({"has_image": True, "has_general": True, "hidden_size": 4, "num_hidden_layers": 1,
          "num_attention_heads": 2, "intermediate_size": 6, "max_position_embeddings": 5},
         [TensorSpec((2, 10)), TensorSpec((3, 4)), (TensorSpec((5, 4)), TensorSpec((), "long")),
          (TensorSpec((3, 6)), TensorSpec((), "long"))]),
        ({"hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 8,
          "hidden_act": "relu"}, [(TensorSpec((4, 8)), TensorSpec((), "long"))]),
    ])
class UNITER(Component):
    """UNITER: a [CLS] token, image regions and text tokens through one BERT encoder; the [CLS] state out.

    Paper: Chen et al., "UNITER: UNiversal Image-TExt Representation Learning", ECCV 2020,
    arXiv:1909.11740 (EasyRec ``Uniter`` layer). Every part is brought to ``H = hidden_size``
    (a Glorot dense layer when its width differs) and post-processed (token type, learned
    positions, LayerNorm, dropout ``hidden_dropout_prob``): the image regions ``(B, N, D_i)``
    with token type 0 and their own positions; the general fields ``(B, F, D_g)`` with the next
    token type and no positions; each text sequence with the next types and its own positions.
    Token types are added when there are several parts (image, general, text) or several image
    or text features; the table has one row per text feature plus one for the image and one for
    the general fields when present. A learned ``[CLS]`` token (Glorot-uniform) leads, padding
    is masked, ``num_hidden_layers`` BERT layers (feed-forward ``intermediate_size``,
    ``hidden_act``; ``gelu`` is the tanh form EasyRec uses) run, and the first token's state is
    the output.

    Args:
        has_image: the first input is the image regions.
        has_general: the next input is the general fields.
        hidden_size: width ``H`` of every token.
        num_hidden_layers: encoder layers.
        num_attention_heads: heads (``H`` must be a multiple).
        intermediate_size: feed-forward width.
        hidden_act: feed-forward activation (``gelu``, ``relu``, ``tanh``, ``swish``).
        hidden_dropout_prob: dropout of the embeddings and after attention / feed-forward.
        attention_probs_dropout_prob: dropout of the attention weights.
        max_position_embeddings: rows of each position table (at least every ``N`` and ``L_t``).
        use_position_embeddings: add learned positions to the image regions and text sequences.
        initializer_range: std of the encoder's truncated-normal kernels.

    Shape:
        - Input: a list ``[image (B, N, D_i)] [general (B, F, D_g)] text_1 ... text_T`` with each
          text ``(seq (B, L_t, D_t), lengths (B,) long[, None])``.
        - Output: ``(B, H)``.

    Example:
        >>> params = UNITERParams(has_general=True, hidden_size=4, num_hidden_layers=1,
        ...                       num_attention_heads=2, intermediate_size=8)
        >>> layer = UNITER.from_spec(params, [TensorSpec((3, 6)), (TensorSpec((5, 4)), TensorSpec((), "long"))])
        >>> layer([torch.randn(2, 3, 6), (torch.randn(2, 5, 4), torch.tensor([5, 1]))]).shape
        torch.Size([2, 4])
    """

    def __init__(self, params: UNITERParams, input_spec: Any, where: str) -> None:
        super().__init__(params)
        self.where = where
        p = params
        image, general, texts = modal_inputs(input_spec, p.has_image, p.has_general, where, "UNITER")
        hidden = p.hidden_size
        positions = p.max_position_embeddings if p.use_position_embeddings else None
        longest = max([t.shape[0] for t in texts] + ([image.shape[0]] if image is not None else []), default=0)
        if positions is not None and longest > positions:
            raise named_error(where, "UNITER", "max_position_embeddings must cover the image regions and the "
                              "longest text sequence", f">= {longest}", positions)
        parts = (image is not None) + (general is not None) + bool(texts)
        use_types = parts > 1 or len(texts) > 1 or (image is not None and image.shape[0] > 1)
        rows = len(texts) + (image is not None) + (general is not None)
        table = new_token_table(rows, hidden) if use_types else None
        self.token_table = table
        drop = p.hidden_dropout_prob

        def post(token_type: int, with_positions: bool) -> EmbeddingPostprocessor:
            return EmbeddingPostprocessor(hidden, token_type if table is not None else None, table,
                                          positions if with_positions else None, drop)

        self.image_projection = self.image_post = None
        if image is not None:
            self.image_projection = glorot_linear(image.shape[1], hidden) if image.shape[1] != hidden else None
            self.image_post = post(0, True)
        next_type = 1 if image is not None else 0
        self.general_projection = self.general_post = None
        if general is not None:
            self.general_projection = glorot_linear(general.shape[1], hidden) if general.shape[1] != hidden \
                else None
            self.general_post = post(next_type, False)
            next_type += 1
        self.text_projections = nn.ModuleList(glorot_linear(t.shape[1], hidden) if t.shape[1] != hidden
                                              else nn.Identity() for t in texts)
        self.text_posts = nn.ModuleList(post(next_type + i, True) for i in range(len(texts)))
        self.cls = nn.Parameter(torch.empty(1, 1, hidden))
        limit = math.sqrt(6.0 / (1 + hidden))  # Glorot-uniform of a (1, 1, H) variable
        nn.init.uniform_(self.cls, -limit, limit)
        act = nn.GELU(approximate="tanh") if p.hidden_act.lower() == "gelu" else \
            make_activation(p.hidden_act, join_path(where, "hidden_act"), width=p.intermediate_size)
        self.layers = nn.ModuleList(
            BertEncoderLayer(hidden, p.num_attention_heads, p.intermediate_size, act, drop,
                             p.attention_probs_dropout_prob, p.initializer_range)
            for _ in range(p.num_hidden_layers))

    @classmethod
    def from_spec(cls, params: UNITERParams, input_spec: Any, where: str = "") -> "UNITER":
        return cls(params, input_spec, where or "UNITER")

    def output_spec(self, input_spec: Any) -> TensorSpec:
        modal_inputs(input_spec, self.params.has_image, self.params.has_general, self.where, "UNITER")
        return TensorSpec((self.params.hidden_size,))

    def forward(self, inputs: Any) -> torch.Tensor:
        items = list(inputs) if isinstance(inputs, list) else [inputs]
        image = items.pop(0) if self.params.has_image else None
        general = items.pop(0) if self.params.has_general else None
        first = image if image is not None else general if general is not None else items[0][0]
        b, device = first.shape[0], first.device
        tokens = [self.cls.expand(b, 1, -1)]
        masks = [torch.ones(b, 1, dtype=torch.bool, device=device)]
        for x, project, post in ((image, self.image_projection, self.image_post),
                                 (general, self.general_projection, self.general_post)):
            if x is not None:
                tokens.append(post(project(x) if project is not None else x))
                masks.append(torch.ones(x.shape[:2], dtype=torch.bool, device=device))
        for (seq, lengths, *_), project, post in zip(items, self.text_projections, self.text_posts):
            tokens.append(post(project(seq)))
            masks.append(lengths_mask(lengths, seq.shape[1]))
        h, mask = torch.cat(tokens, dim=1), torch.cat(masks, dim=1)
        for layer in self.layers:
            h = layer(h, mask)
        return h[:, 0]
