"""CMBF: cross-modal-based fusion of image features, general features and text sequences."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from recblocks.core.limits import MAX_LAYER_WIDTH, MAX_LAYERS, MAX_SEQUENCE_LENGTH
from recblocks.core.params import Params
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.base import Component
from recblocks.layers.bert import (BertEncoderLayer, CrossAttentionLayer, EmbeddingPostprocessor, glorot_linear,
                                   lengths_mask, new_token_table)
from recblocks.layers.field_inputs import named_error

__all__ = ["CMBF", "CMBFParams", "modal_inputs"]

_INPUTS = ("[image (B, N, D_i)] [general (B, F, D_g)] text_1 ... text_T, each text (seq (B, L_t, D_t), "
           "lengths (B,) long[, None])")


class CMBFParams(Params):
    """Parameters of :class:`CMBF` (EasyRec's ``CMBFTower`` message, same names and defaults)."""

    has_image: bool = False
    has_general: bool = False
    multi_head_num: int = Field(default=1, ge=1, le=MAX_LAYER_WIDTH)
    image_multi_head_num: int = Field(default=1, ge=1, le=MAX_LAYER_WIDTH)
    text_multi_head_num: int = Field(default=1, ge=1, le=MAX_LAYER_WIDTH)
    text_head_size: int = Field(ge=1, le=MAX_LAYER_WIDTH)
    image_head_size: int = Field(default=64, ge=1, le=MAX_LAYER_WIDTH)
    image_feature_patch_num: int = Field(default=1, ge=1, le=MAX_SEQUENCE_LENGTH)
    image_feature_dim: int = Field(default=0, ge=0, le=MAX_SEQUENCE_LENGTH)
    image_self_attention_layer_num: int = Field(default=0, ge=0, le=MAX_LAYERS)
    text_self_attention_layer_num: int = Field(default=1, ge=0, le=MAX_LAYERS)
    cross_modal_layer_num: int = Field(default=1, ge=0, le=MAX_LAYERS)
    image_cross_head_size: int = Field(ge=1, le=MAX_LAYER_WIDTH)
    text_cross_head_size: int = Field(ge=1, le=MAX_LAYER_WIDTH)
    hidden_dropout_prob: float = Field(default=0.0, ge=0.0, lt=1.0)
    attention_probs_dropout_prob: float = Field(default=0.0, ge=0.0, lt=1.0)
    use_token_type: bool = False
    use_position_embeddings: bool = True
    max_position_embeddings: int = Field(default=0, ge=0, le=MAX_SEQUENCE_LENGTH)
    text_seq_emb_dropout_prob: float = Field(default=0.1, ge=0.0, lt=1.0)


def modal_inputs(spec: Any, has_image: bool, has_general: bool, where: str,
                 component: str) -> tuple[TensorSpec | None, TensorSpec | None, list[TensorSpec]]:
    """``(image (N, D) | None, general (F, D) | None, text sequence specs (L, D))`` of a multi-modal input list."""
    items = list(spec) if isinstance(spec, list) else [spec]
    image = general = None
    if has_image:
        image = items.pop(0) if items else None
    if has_general:
        general = items.pop(0) if items else None
    for name, got in (("image", image), ("general", general)):
        if (name == "image" and has_image or name == "general" and has_general) and not (
                isinstance(got, TensorSpec) and got.rank == 3 and got.dtype == "float"):
            raise named_error(where, component, f"the {name} input must be a (B, N, D) float tensor", _INPUTS,
                              describe_spec(got))
    texts = []
    for item in items:
        if not (isinstance(item, tuple) and 2 <= len(item) <= 3 and isinstance(item[0], TensorSpec)
                and item[0].rank == 3 and isinstance(item[1], TensorSpec) and item[1].dtype == "long"
                and (len(item) == 2 or item[2] is None)):
            raise named_error(where, component, "every text input must be a sequence without target", _INPUTS,
                              describe_spec(item))
        texts.append(item[0])
    if image is None and general is None and not texts:
        raise named_error(where, component, "needs at least one of image, general, text", _INPUTS, "no input")
    return image, general, texts


def _check(condition: bool, where: str, problem: str, expected: object, got: object) -> None:
    if not condition:
        raise named_error(where, "CMBF", problem, expected, got)


@COMPONENTS.register(
    "CMBF", params=CMBFParams, input_kind="fields",
    examples=[
        ({"has_image": True, "has_general": True, "text_head_size": 4, "image_cross_head_size": 4,
          "text_cross_head_size": 4, "multi_head_num": 2, "text_multi_head_num": 2, "image_head_size": 4,
          "image_multi_head_num": 2, "image_feature_dim": 6, "image_self_attention_layer_num": 1,
          "max_position_embeddings": 5, "use_token_type": True},
         [TensorSpec((1, 10)), TensorSpec((3, 4)), (TensorSpec((5, 4)), TensorSpec((), "long")),
          (TensorSpec((3, 6)), TensorSpec((), "long"))]),
        ({"text_head_size": 8, "image_cross_head_size": 4, "text_cross_head_size": 4, "max_position_embeddings": 4},
         [(TensorSpec((4, 8)), TensorSpec((), "long"))]),
    ])
class CMBF(Component):
    """Cross-modal-based fusion: image and text self-attention towers, then cross-modal attention layers.

    Paper: Chen et al., "CMBF: Cross-Modal-Based Fusion Recommendation Algorithm", Sensors 2021
    (EasyRec ``CMBF`` layer). With ``m = multi_head_num`` heads everywhere:

    * image tower (``has_image``): the image regions ``(B, N, D_i)``; without self-attention layers
      they are projected to ``m * image_cross_head_size`` (when the widths differ). Otherwise the
      width is ``H_i = image_head_size * image_multi_head_num``: several regions are projected to
      it; one image of ``P = image_feature_patch_num > 1`` patches is cut into ``P`` regions of
      ``D_i / P`` then projected; one plain image vector is projected to ``image_feature_dim``
      values (when different) and each value ``v_k`` becomes ``v_k * M_k`` with a learned
      ``M (image_feature_dim, H_i)``. Then ``image_self_attention_layer_num`` BERT layers
      (feed-forward ``4 H_i``, tanh-GELU).
    * text tower: the general fields ``(B, F, D_g)`` (projected to ``H_t = text_head_size *
      text_multi_head_num`` when different) and each text sequence ``t`` (projected likewise,
      then token type ``t`` when ``use_token_type``, its own learned positions when
      ``use_position_embeddings``, LayerNorm and dropout ``text_seq_emb_dropout_prob``) are
      concatenated along the tokens and run through ``text_self_attention_layer_num`` BERT layers
      (padding masked).
    * with both towers, ``cross_modal_layer_num`` layers update both at once: image tokens attend
      to the text (padding masked) with head width ``image_cross_head_size``, text tokens attend
      to the image with ``text_cross_head_size``, each followed by self-attention and a ReLU
      feed-forward of ``4 m * head width``.
    * output: the mean over image tokens, concatenated with the text tokens of the general
      fields flattened and each text sequence's mean over its valid tokens (a text-only
      model without sequences flattens all its tokens).

    Args:
        has_image: the first input is the image regions.
        has_general: the next input is the general fields.
        multi_head_num: heads of every attention layer.
        image_multi_head_num: image tower width ``H_i = image_head_size * image_multi_head_num``.
        text_multi_head_num: text tower width ``H_t = text_head_size * text_multi_head_num``.
        text_head_size: see ``text_multi_head_num``.
        image_head_size: see ``image_multi_head_num``.
        image_feature_patch_num: patches a single image vector is cut into.
        image_feature_dim: values of a single plain image vector (see above).
        image_self_attention_layer_num: BERT layers of the image tower (0: projection only).
        text_self_attention_layer_num: BERT layers of the text tower.
        cross_modal_layer_num: cross-modal layers.
        image_cross_head_size: head width of the image side of the cross-modal layers.
        text_cross_head_size: head width of the text side.
        hidden_dropout_prob: dropout after attention and feed-forward (training only).
        attention_probs_dropout_prob: dropout of the attention weights.
        use_token_type: add a learned embedding per text sequence.
        use_position_embeddings: add learned positions to the text sequences.
        max_position_embeddings: rows of each position table (at least the longest ``L_t``).
        text_seq_emb_dropout_prob: dropout of the text sequence embeddings.

    Shape:
        - Input: a list ``[image (B, N, D_i)] [general (B, F, D_g)] text_1 ... text_T`` with each
          text ``(seq (B, L_t, D_t), lengths (B,) long[, None])``.
        - Output: ``(B, W)``: ``W = W_i + W_t`` with ``W_i`` the image token width and
          ``W_t = (F + T) * text token width`` (``F * width`` without sequences).

    Example:
        >>> params = CMBFParams(has_image=True, text_head_size=4, image_cross_head_size=4,
        ...                     text_cross_head_size=4, max_position_embeddings=6)
        >>> spec = [TensorSpec((2, 8)), (TensorSpec((6, 4)), TensorSpec((), "long"))]
        >>> layer = CMBF.from_spec(params, spec)
        >>> layer([torch.randn(3, 2, 8), (torch.randn(3, 6, 4), torch.tensor([6, 2, 1]))]).shape
        torch.Size([3, 8])
    """

    def __init__(self, params: CMBFParams, input_spec: Any, where: str) -> None:
        super().__init__(params)
        self.where = where
        p = params
        image, general, texts = modal_inputs(input_spec, p.has_image, p.has_general, where, "CMBF")
        self.num_general = general.shape[0] if general is not None else 0
        self.text_lengths = [t.shape[0] for t in texts]
        m, gelu = p.multi_head_num, nn.GELU(approximate="tanh")
        drops = (p.hidden_dropout_prob, p.attention_probs_dropout_prob)
        # image tower
        self.image_mode, image_width, self.image_regions = "", 0, 0
        self.value_projection: nn.Module | None = None
        if image is not None:
            regions, dim = image.shape
            self.image_mode = "regions"
            if p.image_self_attention_layer_num == 0:
                image_width = m * p.image_cross_head_size
            else:
                image_width = p.image_head_size * p.image_multi_head_num
                if regions == 1 and p.image_feature_patch_num > 1:
                    _check(dim % p.image_feature_patch_num == 0, where, "the image width must split into "
                           "image_feature_patch_num patches", f"a multiple of {p.image_feature_patch_num}", dim)
                    self.image_mode, regions, dim = "patches", p.image_feature_patch_num, \
                        dim // p.image_feature_patch_num
                elif regions == 1:
                    _check(p.image_feature_dim > 0, where, "a single image vector needs image_feature_dim",
                           "image_feature_dim >= 1", 0)
                    self.image_mode, regions, dim = "values", p.image_feature_dim, p.image_feature_dim
                    self.value_map = nn.Parameter(torch.empty(1, regions, image_width))
                    nn.init.xavier_uniform_(self.value_map[0])
                    if image.shape[1] != p.image_feature_dim:
                        self.value_projection = glorot_linear(image.shape[1], p.image_feature_dim)
                _check(image_width % m == 0, where, "the image width must be divisible by multi_head_num",
                       f"a multiple of {m}", image_width)
            self.image_regions = regions
            self.image_projection = glorot_linear(dim, image_width) \
                if dim != image_width and self.image_mode != "values" else None
            self.image_layers = nn.ModuleList(
                BertEncoderLayer(image_width, m, 4 * image_width, gelu, *drops)
                for _ in range(p.image_self_attention_layer_num))
        # text tower
        text_width = p.text_head_size * p.text_multi_head_num
        self.has_text = general is not None or bool(texts)
        if self.has_text:
            _check(text_width % m == 0, where, "the text width must be divisible by multi_head_num",
                   f"a multiple of {m}", text_width)
        self.general_projection = glorot_linear(general.shape[1], text_width) \
            if general is not None and general.shape[1] != text_width else None
        self.text_projections = nn.ModuleList(glorot_linear(t.shape[1], text_width) if t.shape[1] != text_width
                                              else nn.Identity() for t in texts)
        if texts and p.use_position_embeddings:
            _check(p.max_position_embeddings >= max(self.text_lengths), where, "max_position_embeddings must "
                   "cover the longest text sequence", f">= {max(self.text_lengths)}", p.max_position_embeddings)
        table = new_token_table(len(texts), text_width) if texts and p.use_token_type else None
        self.token_table = table
        self.postprocessors = nn.ModuleList(
            EmbeddingPostprocessor(text_width, i if table is not None else None, table,
                                   p.max_position_embeddings if p.use_position_embeddings else None,
                                   p.text_seq_emb_dropout_prob) for i in range(len(texts)))
        self.text_layers = nn.ModuleList(BertEncoderLayer(text_width, m, 4 * text_width, gelu, *drops)
                                         for _ in range(p.text_self_attention_layer_num if self.has_text else 0))
        # cross-modal layers
        self.left_layers, self.right_layers = nn.ModuleList(), nn.ModuleList()
        if image is not None and self.has_text:
            left, right = image_width, text_width
            for _ in range(p.cross_modal_layer_num):
                self.left_layers.append(CrossAttentionLayer(left, right, m, p.image_cross_head_size,
                                                            4 * m * p.image_cross_head_size, *drops))
                self.right_layers.append(CrossAttentionLayer(right, left, m, p.text_cross_head_size,
                                                             4 * m * p.text_cross_head_size, *drops))
                left, right = m * p.image_cross_head_size, m * p.text_cross_head_size
            image_width, text_width = left, right
        self.width = (image_width if image is not None else 0) + \
            (text_width * ((self.num_general + len(texts)) if texts else self.num_general) if self.has_text else 0)

    @classmethod
    def from_spec(cls, params: CMBFParams, input_spec: Any, where: str = "") -> "CMBF":
        return cls(params, input_spec, where or "CMBF")

    def output_spec(self, input_spec: Any) -> TensorSpec:
        modal_inputs(input_spec, self.params.has_image, self.params.has_general, self.where, "CMBF")
        return TensorSpec((self.width,))

    def _image(self, image: torch.Tensor) -> torch.Tensor:
        b = image.shape[0]
        if self.image_mode == "values":
            x = image.reshape(b, -1)
            if self.value_projection is not None:
                x = self.value_projection(x)
            x = x.unsqueeze(-1) * self.value_map
        else:
            x = image.reshape(b, self.image_regions, -1)
            if self.image_projection is not None:
                x = self.image_projection(x)
        for layer in self.image_layers:
            x = layer(x, None)
        return x

    def _text(self, general: torch.Tensor | None, texts: list[tuple[torch.Tensor, torch.Tensor]]
              ) -> tuple[torch.Tensor, torch.Tensor | None, list[torch.Tensor]]:
        tokens, masks, seq_masks = [], [], []
        if general is not None:
            tokens.append(self.general_projection(general) if self.general_projection is not None else general)
            masks.append(torch.ones(general.shape[:2], dtype=torch.bool, device=general.device))
        for (seq, lengths), project, post in zip(texts, self.text_projections, self.postprocessors):
            tokens.append(post(project(seq)))
            seq_masks.append(lengths_mask(lengths, seq.shape[1]))
        masks.extend(seq_masks)
        x = torch.cat(tokens, dim=1)
        mask = torch.cat(masks, dim=1) if texts else None
        for layer in self.text_layers:
            x = layer(x, mask)
        return x, mask, seq_masks

    def _merge_text(self, x: torch.Tensor, seq_masks: list[torch.Tensor]) -> torch.Tensor:
        if not seq_masks:
            return x.flatten(1)
        parts = [x[:, : self.num_general].flatten(1)] if self.num_general else []
        begin = self.num_general
        for mask in seq_masks:
            weights = mask.to(x.dtype).unsqueeze(-1)
            chunk = x[:, begin: begin + mask.shape[1]]
            parts.append((chunk * weights).sum(1) / weights.sum(1).clamp_min(1.0))
            begin += mask.shape[1]
        return torch.cat(parts, dim=1)

    def forward(self, inputs: Any) -> torch.Tensor:
        items = list(inputs) if isinstance(inputs, list) else [inputs]
        image = items.pop(0) if self.params.has_image else None
        general = items.pop(0) if self.params.has_general else None
        texts = [(t[0], t[1]) for t in items]
        outputs = []
        img = self._image(image) if image is not None else None
        txt, mask, seq_masks = self._text(general, texts) if self.has_text else (None, None, [])
        if img is not None and txt is not None:
            for left_layer, right_layer in zip(self.left_layers, self.right_layers):
                img, txt = left_layer(img, txt, mask, None), right_layer(txt, img, None, mask)
        if img is not None:
            outputs.append(img.mean(dim=1))
        if txt is not None:
            outputs.append(self._merge_text(txt, seq_masks))
        return torch.cat(outputs, dim=1) if len(outputs) > 1 else outputs[0]
