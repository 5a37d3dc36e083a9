"""Feature groups (EasyRec ``feature_groups``): named, ordered feature lists fed to blocks.

A ``DEEP`` group embeds each feature with its own ``embedding_dim``; a ``WIDE`` group embeds
each feature into the model-wide ``wide_output_dim`` (usually 1: one weight per value),
using tables separate from the deep ones.

EasyRec's ``sequence_features`` spelling is accepted inside a group: each entry
``{group_name: G, seq_att_map: [{key: [k1, ...], hist_seq: [h1, ...]}]}`` defines one more
group ``G`` holding the ``hist_seq`` features (kind ``sequence``) then their ``key`` (target)
features (EasyRec concatenates each list along the width; the attention needs the widths to agree,
or ``allow_key_transform``), so ``input_layer: {output_seq_and_normal_feature: true}``
on ``G`` gives ``(sequence, lengths, target)`` for DIN, DIEN or BST. ``tf_summary`` is accepted
and has no effect. ``allow_key_search`` is accepted and changes nothing: in EasyRec it only says
whether a ``key`` that the enclosing group lists without an output tensor may be embedded on its
own (true) or is an error (false); recblocks always embeds each key from its feature, through the
same table either way. ``aux_hist_seq`` (auxiliary behaviour sequences, pooled with the weights
of the ``hist_seq`` ones but not scored) are placed after the ``hist_seq`` features, so the
sequence input holds ``[hist_seq..., aux_hist_seq...]`` along its width (a ``DIN`` block reads
them with ``aux_dim``). The attention options of EasyRec's entry (``seq_dnn``,
``need_key_feature``, ``allow_key_transform``, ``transform_dnn``) are the ``DIN`` block's
parameters, not the group's: a group that sets them is refused with that advice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import Field, field_validator, model_validator

from recblocks.core.errors import ConfigError, SchemaError
from recblocks.core.params import Params, join_path, parse_params
from recblocks.features.schema import Schema

__all__ = ["FeatureGroupConfig", "FeatureGroups", "SeqAttGroupConfig", "SeqAttMapConfig"]


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


class SeqAttMapConfig(Params):
    """EasyRec ``SeqAttMap``: target features ``key`` and their behaviour sequences ``hist_seq``, in pairs."""

    key: list[str] = Field(min_length=1)
    hist_seq: list[str] = Field(min_length=1)
    #: sequences pooled with the attention weights of ``hist_seq`` without being scored
    aux_hist_seq: list[str] = Field(default_factory=list)

    @field_validator("key", "hist_seq", "aux_hist_seq", mode="before")
    @classmethod
    def _one_name(cls, value: object) -> object:
        return _as_list(value)


#: EasyRec's attention options of a ``sequence_features`` entry -> the ``DIN`` parameter that holds each
_DIN_OPTIONS = {"seq_dnn": "attention_dnn", "need_key_feature": "need_target_feature",
                "allow_key_transform": "allow_key_transform", "transform_dnn": "transform_dnn"}


class SeqAttGroupConfig(Params):
    """EasyRec ``SeqAttGroupConfig``: a sequence group (its name and ``seq_att_map`` entries)."""

    group_name: str = Field(min_length=1)
    seq_att_map: list[SeqAttMapConfig] = Field(min_length=1)
    tf_summary: bool = False
    #: accepted for EasyRec configs; no effect (keys are always embedded from their feature)
    allow_key_search: bool = False

    @field_validator("seq_att_map", mode="before")
    @classmethod
    def _one_map(cls, value: object) -> object:
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="before")
    @classmethod
    def _attention_options_belong_to_din(cls, value: object) -> object:
        if isinstance(value, dict):
            for key, din in _DIN_OPTIONS.items():
                if key in value:
                    raise ValueError(f"{key} is an option of the attention over the group, not of the group: set "
                                     f"the DIN block's {din} (EasyRec's built-in classes are translated so)")
        return value


class FeatureGroupConfig(Params):
    """One group: ``group_name``, its ``feature_names`` in order, and ``wide_deep``."""

    group_name: str = Field(min_length=1)
    feature_names: list[str]
    wide_deep: Literal["DEEP", "WIDE"] = "DEEP"
    sequence_features: list[SeqAttGroupConfig] = Field(default_factory=list)

    @field_validator("sequence_features", mode="before")
    @classmethod
    def _one_sequence_group(cls, value: object) -> object:
        return [value] if isinstance(value, dict) else value


class FeatureGroups:
    """The model's groups, checked against the schema (unknown features, empty groups)."""

    def __init__(self, groups: Iterable[object], schema: Schema, where: str = "feature_groups") -> None:
        self.groups: list[FeatureGroupConfig] = []
        self._configs: list[FeatureGroupConfig] = []  # as written (sequence groups stay inside theirs)
        for i, raw in enumerate(groups):
            path = join_path(where, i)
            group = raw if isinstance(raw, FeatureGroupConfig) else parse_params(FeatureGroupConfig, raw, path)
            if any(g.group_name == group.group_name for g in self.groups):
                raise ConfigError(join_path(path, "group_name"), "duplicate feature group name", "unique names",
                                  repr(group.group_name))
            if not group.feature_names:
                raise SchemaError(f"feature group '{group.group_name}'", "the group is empty",
                                  "at least one feature name", "[]")
            for j, name in enumerate(group.feature_names):
                schema.get(name, join_path(path, "feature_names", j))
            if len(set(group.feature_names)) != len(group.feature_names):
                dup = next(n for n in group.feature_names if group.feature_names.count(n) > 1)
                raise SchemaError(f"feature group '{group.group_name}'", "a feature is listed twice",
                                  "each feature once", repr(dup))
            self.groups.append(group)
            self._configs.append(group)
            for k, seq_group in enumerate(group.sequence_features):
                self._add_sequence_group(seq_group, schema, join_path(path, "sequence_features", k))
        self._by_name = {g.group_name: g for g in self.groups}

    def _add_sequence_group(self, seq_group: SeqAttGroupConfig, schema: Schema, path: str) -> None:
        """The group an EasyRec ``sequence_features`` entry defines: its sequences, then their keys."""
        if any(g.group_name == seq_group.group_name for g in self.groups):
            raise ConfigError(join_path(path, "group_name"), "duplicate feature group name", "unique names",
                              repr(seq_group.group_name))
        keys: list[str] = []
        sequences: list[str] = []
        aux: list[str] = []
        for m, att in enumerate(seq_group.seq_att_map):
            where = join_path(path, "seq_att_map", m)
            for j, name in enumerate(att.key):
                schema.get(name, join_path(where, "key", j))
            for field in ("hist_seq", "aux_hist_seq"):
                for j, name in enumerate(getattr(att, field)):
                    feature = schema.get(name, join_path(where, field, j))
                    if feature.kind != "sequence":
                        raise SchemaError(f"feature group '{seq_group.group_name}'", f"{field} '{name}' is not a "
                                          "sequence feature", "a feature of kind 'sequence'", repr(feature.kind))
            keys += att.key
            sequences += att.hist_seq
            aux += att.aux_hist_seq
        names = [*sequences, *aux, *keys]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup is not None:
            raise SchemaError(f"feature group '{seq_group.group_name}'", "a feature is listed twice",
                              "each feature once", repr(dup))
        self.groups.append(FeatureGroupConfig(group_name=seq_group.group_name, feature_names=names))

    def __getitem__(self, name: str) -> FeatureGroupConfig:
        return self._by_name[name]

    def get(self, name: str, where: str) -> FeatureGroupConfig:
        if name not in self._by_name:
            raise ConfigError(where, "unknown feature group", f"one of {self.names()}", repr(name),
                              choices=self._by_name)
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self):
        return iter(self.groups)

    def names(self) -> list[str]:
        return [g.group_name for g in self.groups]

    def to_config(self) -> list[dict]:
        return [g.model_dump(mode="json", exclude_defaults=True) | {"group_name": g.group_name,
                "feature_names": g.feature_names, "wide_deep": g.wide_deep} for g in self._configs]
