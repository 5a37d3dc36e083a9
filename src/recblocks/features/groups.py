"""Feature groups (EasyRec ``feature_groups``): named, ordered feature lists fed to blocks.

A ``DEEP`` group embeds each feature with its own ``embedding_dim``; a ``WIDE`` group embeds
each feature into the model-wide ``wide_output_dim`` (usually 1: one weight per value),
using tables separate from the deep ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import Field

from recblocks.core.errors import ConfigError, SchemaError
from recblocks.core.params import Params, join_path, parse_params
from recblocks.features.schema import Schema

__all__ = ["FeatureGroupConfig", "FeatureGroups"]


class FeatureGroupConfig(Params):
    """One group: ``group_name``, its ``feature_names`` in order, and ``wide_deep``."""

    group_name: str = Field(min_length=1)
    feature_names: list[str]
    wide_deep: Literal["DEEP", "WIDE"] = "DEEP"


class FeatureGroups:
    """The model's groups, checked against the schema (unknown features, empty groups)."""

    def __init__(self, groups: Iterable[object], schema: Schema, where: str = "feature_groups") -> None:
        self.groups: list[FeatureGroupConfig] = []
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
        self._by_name = {g.group_name: g for g in self.groups}

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
        return [g.model_dump(mode="json") for g in self.groups]
