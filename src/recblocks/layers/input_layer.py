"""Turn a feature group's embeddings into the shape a block asks for (EasyRec ``input_layer``).

Output formats (checked in this order, as EasyRec does):

* ``output_seq_and_normal_feature`` -> ``(seq (B, L, sum E), lengths (B,), target (B, sum D) | None)``;
* ``only_output_feature_list`` -> ``[F x (B, D_f)]``;
* ``only_output_3d_tensor`` -> ``(B, F, D)`` (all widths equal, else SchemaError);
* ``output_2d_tensor_and_feature_list`` -> ``((B, sum D), [F x (B, D_f)])``;
* otherwise the 2-D concat ``(B, sum D)``.

Options: ``do_batch_norm`` / ``do_layer_norm`` (not both), ``dropout_rate`` (ordinary dropout),
``feature_dropout_rate`` (drops whole features in training, rescaled by 1/keep).
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field, model_validator
from torch import nn

from recblocks.core.errors import SchemaError
from recblocks.core.limits import MAX_EMBEDDING_DIM
from recblocks.core.params import Params
from recblocks.core.shapes import TensorSpec
from recblocks.layers.embedding import EmbeddingSlot, FeatureEmbeddings

__all__ = ["InputLayerConfig", "GroupInput", "GroupRawInput"]


class InputLayerConfig(Params):
    """Options of an ``input_layer`` block (EasyRec ``InputLayer``)."""

    do_batch_norm: bool = False
    do_layer_norm: bool = False
    dropout_rate: float = Field(default=0.0, ge=0.0, lt=1.0)
    feature_dropout_rate: float = Field(default=0.0, ge=0.0, lt=1.0)
    only_output_feature_list: bool = False
    only_output_3d_tensor: bool = False
    output_2d_tensor_and_feature_list: bool = False
    output_seq_and_normal_feature: bool = False
    wide_output_dim: int | None = Field(default=None, gt=0, le=MAX_EMBEDDING_DIM,
                                        description=f"width of WIDE groups, at most {MAX_EMBEDDING_DIM:,}")
    concat_seq_feature: bool = True

    @model_validator(mode="after")
    def _one_norm(self) -> "InputLayerConfig":
        if self.do_batch_norm and self.do_layer_norm:
            raise ValueError("do_batch_norm and do_layer_norm cannot both be true")
        return self

    @property
    def output_format(self) -> str:
        if self.output_seq_and_normal_feature:
            return "seq"
        if self.only_output_feature_list:
            return "list"
        if self.only_output_3d_tensor:
            return "3d"
        if self.output_2d_tensor_and_feature_list:
            return "2d_and_list"
        return "2d"


class GroupInput(nn.Module):
    """Formats one feature group's embeddings for a block.

    Args:
        group: group name (for messages).
        slots: the group's embedding slots in feature order.
        options: :class:`InputLayerConfig`.

    Shape:
        - Input: :class:`FeatureEmbeddings` of the batch.
        - Output: see the module docstring; ``D_f`` is each slot's width.
    """

    def __init__(self, group: str, slots: list[EmbeddingSlot], options: InputLayerConfig,
                 norms: nn.ModuleDict | None = None) -> None:
        super().__init__()
        self.group = group
        self.options = options
        self.all_slots = list(slots)
        self.seq_len = 0
        fmt = options.output_format
        if fmt == "seq":
            self.seq_slots = [s for s in slots if s.kind == "sequence"]
            self.slots = [s for s in slots if s.kind != "sequence"]
            if not self.seq_slots:
                raise SchemaError(f"feature group '{group}'", "output_seq_and_normal_feature needs sequence features",
                                  "at least one feature of kind 'sequence'", [s.feature for s in slots])
            lengths = {s.max_len for s in self.seq_slots}
            if len(lengths) > 1:
                raise SchemaError(f"feature group '{group}'", "sequence features of one group need one max_len",
                                  "equal max_len", {s.feature: s.max_len for s in self.seq_slots})
            self.seq_len = lengths.pop()
        else:
            self.seq_slots = []
            self.slots = list(slots)
        self.keys = [s.key for s in self.slots]
        self.dims = [s.dim for s in self.slots]
        self.total_dim = sum(self.dims)
        if fmt == "3d" and len(set(self.dims)) > 1:
            raise SchemaError(
                f"feature group '{group}'",
                "only_output_3d_tensor needs equal embedding dims",
                "one width for every feature",
                {s.feature: s.dim for s in self.slots},
            )
        self.norms = norms if norms is not None else self._build_norms()
        self.dropout = nn.Dropout(options.dropout_rate) if options.dropout_rate > 0 else None

    def _build_norms(self) -> nn.ModuleDict:
        norms = nn.ModuleDict()
        if self.total_dim == 0:
            return norms
        if self.options.do_batch_norm:
            norms["concat"] = nn.BatchNorm1d(self.total_dim)
        elif self.options.do_layer_norm:
            norms["concat"] = nn.LayerNorm(self.total_dim)
            if self.options.output_format in ("list", "3d", "2d_and_list"):
                norms["fields"] = nn.ModuleList([nn.LayerNorm(d) for d in self.dims])
        return norms

    def with_options(self, options: InputLayerConfig) -> "GroupInput":
        """A variant for a package call's ``reset_input``: shares normalisation parameters."""
        same_norm = (options.do_batch_norm, options.do_layer_norm) == (
            self.options.do_batch_norm, self.options.do_layer_norm)
        return GroupInput(self.group, self.all_slots, options, self.norms if same_norm else None)

    # ---------------------------------------------------------------- shapes
    def output_spec(self) -> Any:
        fmt = self.options.output_format
        fields = [TensorSpec((d,)) for d in self.dims]
        if fmt == "seq":
            seq_dims = [s.dim for s in self.seq_slots]
            seq_len = self.seq_len
            if self.options.concat_seq_feature:
                seq: Any = TensorSpec((seq_len, sum(seq_dims)))
            else:
                seq = [TensorSpec((seq_len, d)) for d in seq_dims]
            target = TensorSpec((self.total_dim,)) if self.slots else None
            return (seq, TensorSpec((), "long"), target)
        if fmt == "list":
            return fields
        if fmt == "3d":
            return TensorSpec((len(self.dims), self.dims[0]))
        if fmt == "2d_and_list":
            return (TensorSpec((self.total_dim,)), fields)
        return TensorSpec((self.total_dim,))

    # ---------------------------------------------------------------- forward
    def _fields(self, emb: FeatureEmbeddings) -> list[torch.Tensor]:
        fields = [emb.pooled[k] for k in self.keys]
        rate = self.options.feature_dropout_rate
        if self.training and rate > 0 and fields:
            keep = 1.0 - rate
            batch = fields[0].shape[0]
            mask = torch.bernoulli(torch.full((batch, len(fields)), keep, device=fields[0].device)) / keep
            fields = [f * mask[:, i : i + 1] for i, f in enumerate(fields)]
        return fields

    def _normalised(self, fields: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        concat = torch.cat(fields, dim=1) if len(fields) > 1 else fields[0]
        if "concat" in self.norms:
            concat = self.norms["concat"](concat)
            if "fields" in self.norms:
                fields = [norm(f) for norm, f in zip(self.norms["fields"], fields)]
            elif self.options.output_format != "2d":
                fields = list(torch.split(concat, self.dims, dim=1))
        if self.dropout is not None:
            concat = self.dropout(concat)
            if self.options.output_format != "2d":
                fields = [self.dropout(f) for f in fields]
        return concat, fields

    def forward(self, emb: FeatureEmbeddings) -> Any:
        fmt = self.options.output_format
        if fmt == "seq":
            return self._sequence_output(emb)
        concat, fields = self._normalised(self._fields(emb))
        if fmt == "2d":
            return concat
        if fmt == "list":
            return fields
        if fmt == "3d":
            return torch.stack(fields, dim=1)
        return concat, fields

    def _sequence_output(self, emb: FeatureEmbeddings) -> tuple:
        seqs = [emb.sequences[s.key] for s in self.seq_slots]
        lengths = emb.lengths[self.seq_slots[0].key]
        seq: Any = torch.cat(seqs, dim=-1) if self.options.concat_seq_feature and len(seqs) > 1 else (
            seqs[0] if self.options.concat_seq_feature else seqs)
        target = None
        if self.slots:
            target, _ = self._normalised(self._fields(emb))
        return seq, lengths, target


class GroupRawInput(nn.Module):
    """A feature group's transformed values as they are, without embedding (EasyRec ``raw_input``).

    The list has one tensor per feature in the group's order, as the preprocessor emits it:
    local ids ``(B,)`` long for sparse / hashed / bucketized features, ``(B, L)`` long for
    multi / sequence features (``0`` = padding, left-aligned; ``1`` = unknown or missing),
    values ``(B,)`` float for dense features (``(B, N)`` for a vector one, ``dim: N``). Components over token ids (``EditDistance``,
    ``OverlapFeature``) read text features this way: in recblocks text is split into ids
    by the preprocessor (a ``multi``/``sequence`` feature with a ``separator``), never
    passed as strings.

    Shape:
        - Input: :class:`FeatureEmbeddings` of the batch (its ``features``).
        - Output: ``F x (B,)`` or ``(B, L_f)``.
    """

    def __init__(self, group: str, slots: list[EmbeddingSlot]) -> None:
        super().__init__()
        self.group = group
        self.features = [s.feature for s in slots]
        self.spec = [TensorSpec(((s.max_len,) if s.numeric else ()) + ((s.width,) if s.width > 1 else ()), "float")
                     if s.kind == "dense" or s.numeric else
                     TensorSpec((s.max_len,), "long") if s.is_list else TensorSpec((), "long") for s in slots]

    def output_spec(self) -> list[TensorSpec]:
        return list(self.spec)

    def forward(self, emb: FeatureEmbeddings) -> list[torch.Tensor]:
        return [emb.features[name] for name in self.features]
