"""``BackboneBlock``: a backbone loaded from a config, usable as one block of a Python body."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from recblocks.blocks.backbone.config import BackboneConfig, parse_backbone
from recblocks.blocks.backbone.graph import build_graph
from recblocks.blocks.compose.base import Block
from recblocks.blocks.compose.compile import CompileContext, Edge, RawFeatures, Ref, Value, describe_value
from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path, parse_params
from recblocks.features.groups import FeatureGroupConfig

__all__ = ["BackboneBlock"]


class BackboneBlock(Block):
    """A whole EasyRec backbone (blocks, packages, output rule) and its feature groups.

    Compiling emits the config's own objects: same block, group and package names, same
    output rule, so ``Model.from_config(cfg).to_config()`` gives back the same graph and the
    same parameter names. Blocks connected after it read its output (``concat_blocks``
    merged, ``output_blocks`` as a list, ``top_mlp`` applied; without either, the leaf blocks).

    Args:
        backbone: the parsed ``BackboneConfig`` (or a ``model.backbone`` mapping, parsed now).
        feature_groups: the parsed groups (or the ``model.feature_groups`` list, parsed now).
        where: config path for messages.

    Shape:
        - Input: the raw features (the backbone reads its feature groups).
        - Output: the backbone's output.
    """

    default_name = "backbone"

    def __init__(self, backbone: BackboneConfig | Mapping[str, Any],
                 feature_groups: Sequence[FeatureGroupConfig | Mapping[str, Any]], where: str = "model") -> None:
        super().__init__(None)
        self.backbone: BackboneConfig = parse_backbone(backbone, join_path(where, "backbone"))
        if not isinstance(feature_groups, (list, tuple)):
            raise ConfigError(join_path(where, "feature_groups"), "feature_groups must be a list", "a list",
                              type(feature_groups).__name__)
        self.feature_groups: list[FeatureGroupConfig] = [
            group if isinstance(group, FeatureGroupConfig)
            else parse_params(FeatureGroupConfig, group, join_path(where, "feature_groups", i))
            for i, group in enumerate(feature_groups)]
        self.path = where

    def _args(self) -> str:
        return f"{len(self.backbone.blocks)} blocks, groups {self.group_names()}"

    def group_names(self) -> list[str]:
        return [g.group_name for g in self.feature_groups]

    def reserve_names(self, ctx: CompileContext) -> None:
        """Claim every group, block and package name before any Python block takes one."""
        names = set(self.group_names()) | {b.name for b in self.backbone.blocks}
        for package in self.backbone.packages:
            names |= {package.name, *(b.name for b in package.blocks)}
        for name in sorted(names):
            ctx.reserve(name, f"{self.path}.backbone")

    def output_names(self) -> list[str]:
        """The blocks whose values form the output (output_blocks, concat_blocks or leaves)."""
        cfg = self.backbone
        if cfg.output_blocks:
            return list(cfg.output_blocks)
        if cfg.concat_blocks:
            return list(cfg.concat_blocks)
        graph = build_graph(cfg.blocks, join_path(self.path, "backbone", "blocks"), self.group_names(),
                            [p.name for p in cfg.packages])
        return graph.leaves()

    def compile(self, ctx: CompileContext, value: Value, hint: str | None) -> Value:
        if not isinstance(value, RawFeatures):
            raise ConfigError(self.where(), "a loaded backbone reads its feature groups itself",
                              "the raw features (put it first)", describe_value(value))
        cfg = self.backbone
        ctx.groups.extend(self.feature_groups)
        ctx.packages.extend(cfg.packages)
        ctx.blocks.extend(cfg.blocks)
        outputs = {key: getattr(cfg, key) for key in ("concat_blocks", "output_blocks", "top_mlp")
                   if key in cfg.model_fields_set and getattr(cfg, key) not in (None, [])}
        edges = tuple(Edge(name) for name in self.output_names())
        return Ref(edges, into_list=bool(cfg.output_blocks), outputs=outputs)
