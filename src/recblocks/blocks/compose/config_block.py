"""``BackboneBlock``: a backbone loaded from a config, usable as one block of a Python body."""

from __future__ import annotations

import copy
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

    Compiling emits the config verbatim: same block, group and package names, same output
    rule, so ``Model.from_config(cfg).to_config()`` gives back the same graph and the same
    parameter names. Blocks connected after it read its output (``concat_blocks`` merged,
    ``output_blocks`` as a list, ``top_mlp`` applied; without either, the leaf blocks).

    Args:
        backbone: the ``model.backbone`` mapping (validated now).
        feature_groups: the ``model.feature_groups`` list (validated now).
        where: config path for messages.

    Shape:
        - Input: the raw features (the backbone reads its feature groups).
        - Output: the backbone's output.
    """

    default_name = "backbone"

    def __init__(self, backbone: Mapping[str, Any], feature_groups: Sequence[Mapping[str, Any]],
                 where: str = "model") -> None:
        super().__init__(None)
        self.parsed: BackboneConfig = parse_backbone(dict(backbone) if isinstance(backbone, Mapping) else backbone,
                                                     join_path(where, "backbone"))
        if not isinstance(feature_groups, (list, tuple)):
            raise ConfigError(join_path(where, "feature_groups"), "feature_groups must be a list", "a list",
                              type(feature_groups).__name__)
        for i, group in enumerate(feature_groups):
            parse_params(FeatureGroupConfig, group, join_path(where, "feature_groups", i))
        self.backbone = copy.deepcopy(dict(backbone))
        self.feature_groups = copy.deepcopy(list(feature_groups))
        self.path = where

    def _args(self) -> str:
        return f"{len(self.parsed.blocks)} blocks, groups {self.group_names()}"

    def group_names(self) -> list[str]:
        return [g["group_name"] for g in self.feature_groups]

    def reserve_names(self, ctx: CompileContext) -> None:
        """Claim every group, block and package name before any Python block takes one."""
        names = set(self.group_names()) | {b.name for b in self.parsed.blocks}
        for package in self.parsed.packages:
            names |= {package.name, *(b.name for b in package.blocks)}
        for name in sorted(names):
            ctx.reserve(name, f"{self.path}.backbone")

    def output_names(self) -> list[str]:
        """The blocks whose values form the output (output_blocks, concat_blocks or leaves)."""
        cfg = self.parsed
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
        ctx.groups.extend(copy.deepcopy(self.feature_groups))
        ctx.packages.extend(copy.deepcopy(self.backbone.get("packages") or []))
        ctx.blocks.extend(copy.deepcopy(self.backbone.get("blocks") or []))
        outputs = {k: copy.deepcopy(self.backbone[k]) for k in ("concat_blocks", "output_blocks", "top_mlp")
                   if self.backbone.get(k) not in (None, [], "")}
        edges = tuple(Edge(name) for name in self.output_names())
        return Ref(edges, into_list=bool(self.parsed.output_blocks), outputs=outputs)
