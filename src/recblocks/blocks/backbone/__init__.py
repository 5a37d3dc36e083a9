"""The EasyRec-style backbone: typed config, block kinds, safe expressions, graph, plan and module.

Semantics: ``docs/backbone.md``.
"""

from recblocks.blocks.backbone.builder import GroupInputFactory, build_backbone, referenced_groups, wide_output_dim
from recblocks.blocks.backbone.bodies import body_label
from recblocks.blocks.backbone.config import (
    BackboneConfig,
    BlockConfig,
    BlockInputConfig,
    ComponentConfig,
    ConfigNode,
    EmbeddingLayerConfig,
    LambdaConfig,
    LayerConfig,
    PackageConfig,
    RawInputConfig,
    RecurrentConfig,
    RepeatConfig,
    bind_backbone,
    parse_backbone,
)
from recblocks.blocks.backbone.expressions import ALLOWED_FUNCTIONS, compile_lambda, compile_slice, describe_allowed
from recblocks.blocks.backbone.kinds import BLOCK_KINDS, BlockKind, BuiltBody
from recblocks.blocks.backbone.module import Backbone

__all__ = [
    "ALLOWED_FUNCTIONS",
    "BLOCK_KINDS",
    "Backbone",
    "BackboneConfig",
    "BlockConfig",
    "BlockInputConfig",
    "BlockKind",
    "BuiltBody",
    "ComponentConfig",
    "ConfigNode",
    "EmbeddingLayerConfig",
    "GroupInputFactory",
    "LambdaConfig",
    "LayerConfig",
    "PackageConfig",
    "RawInputConfig",
    "RecurrentConfig",
    "RepeatConfig",
    "bind_backbone",
    "body_label",
    "build_backbone",
    "compile_lambda",
    "compile_slice",
    "describe_allowed",
    "parse_backbone",
    "referenced_groups",
    "wide_output_dim",
]
