"""Turn a feature group's embeddings into the shape a block asks for (EasyRec ``input_layer``).

Output formats (checked in this order, as EasyRec does):

* ``output_seq_and_normal_feature`` -> ``(seq (B, L, sum E), lengths (B,), target (B, sum D) | None)``;
  with ``concat_seq_feature: false`` the sequence and the target are lists (one tensor per feature);
* ``only_output_feature_list`` -> ``[F x (B, D_f)]``;
* ``only_output_3d_tensor`` -> ``(B, F, D)`` (all widths equal, else SchemaError);
* ``output_2d_tensor_and_feature_list`` -> ``((B, sum D), [F x (B, D_f)])``;
* otherwise the 2-D concat ``(B, sum D)``.

Options, as EasyRec's ``InputLayer`` applies them (``output_seq_and_normal_feature`` ignores
them all: the sequence, lengths and target come out as they are):

* ``do_batch_norm`` / ``do_layer_norm`` (not both): one normalisation over the concatenation
  (the 2-D output) and one per feature (the list outputs), with separate parameters.
* ``dropout_rate``: ordinary dropout, drawn separately for the concatenation and for each
  feature of a list output.
* ``feature_dropout_rate`` (training only): drops whole features, one Bernoulli draw per
  feature for the whole batch, the kept ones scaled by ``1 / keep``. Then the features are
  normalised one by one (the concatenation's normalisation and its dropout are not used), the
  list dropout still applies to list outputs, and the 2-D output is the concatenation of the
  resulting features.
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
        if self.total_dim == 0 or self.options.output_format == "seq":
            return norms
        if self.options.do_batch_norm:
            norms["concat"] = nn.BatchNorm1d(self.total_dim)
            norms["fields"] = nn.ModuleList([nn.BatchNorm1d(d) for d in self.dims])
        elif self.options.do_layer_norm:
            norms["concat"] = nn.LayerNorm(self.total_dim)
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
            target: Any = TensorSpec((self.total_dim,)) if self.slots else None
            if not self.options.concat_seq_feature and self.slots:
                target = [TensorSpec((d,)) for d in self.dims]
            return (seq, TensorSpec((), "long"), target)
        if fmt == "list":
            return fields
        if fmt == "3d":
            return TensorSpec((len(self.dims), self.dims[0]))
        if fmt == "2d_and_list":
            return (TensorSpec((self.total_dim,)), fields)
        return TensorSpec((self.total_dim,))

    # ---------------------------------------------------------------- forward
    def _normalised(self, fields: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(concat (B, sum D), fields F x (B, D_f))`` after the options (module docstring)."""
        as_list = self.options.output_format != "2d"
        rate = self.options.feature_dropout_rate
        field_norms = self.norms["fields"] if "fields" in self.norms else None
        if self.training and rate > 0:
            keep = 1.0 - rate
            mask = torch.bernoulli(torch.full((len(fields),), keep, device=fields[0].device)) / keep
            if field_norms is not None:
                fields = [norm(f) for norm, f in zip(field_norms, fields)]
            if self.dropout is not None and as_list:
                fields = [self.dropout(f) for f in fields]
            fields = [f * mask[i] for i, f in enumerate(fields)]
            return (torch.cat(fields, dim=1) if len(fields) > 1 else fields[0]), fields
        concat = torch.cat(fields, dim=1) if len(fields) > 1 else fields[0]
        if "concat" in self.norms:
            concat = self.norms["concat"](concat)
        if as_list:
            if field_norms is not None:
                fields = [norm(f) for norm, f in zip(field_norms, fields)]
            if self.dropout is not None:
                fields = [self.dropout(f) for f in fields]
        if self.dropout is not None:
            concat = self.dropout(concat)
        return concat, fields

    def forward(self, emb: FeatureEmbeddings) -> Any:
        fmt = self.options.output_format
        if fmt == "seq":
            return self._sequence_output(emb)
        concat, fields = self._normalised([emb.pooled[k] for k in self.keys])
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
        targets = [emb.pooled[k] for k in self.keys]
        if not self.options.concat_seq_feature:  # EasyRec: both stay lists
            return seqs, lengths, (targets or None)
        seq = torch.cat(seqs, dim=-1) if len(seqs) > 1 else seqs[0]
        target = (torch.cat(targets, dim=1) if len(targets) > 1 else targets[0]) if targets else None
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
                     TensorSpec((s.max_len,) + ((s.element_len,) if s.element_len else ()), "long") if s.is_list
                     else TensorSpec((), "long") for s in slots]

    def output_spec(self) -> list[TensorSpec]:
        return list(self.spec)

    def forward(self, emb: FeatureEmbeddings) -> list[torch.Tensor]:
        return [emb.features[name] for name in self.features]
