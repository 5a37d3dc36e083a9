"""The EasyRec-style backbone: config, safe expressions, graph, plan and the compiled module."""

from recblocks.blocks.backbone.builder import GroupInputFactory, build_backbone, referenced_groups, wide_output_dim
from recblocks.blocks.backbone.config import (
    BackboneConfig,
    BlockConfig,
    BlockInputConfig,
    ComponentConfig,
    LambdaConfig,
    LayerConfig,
    PackageConfig,
    RecurrentConfig,
    RepeatConfig,
    parse_backbone,
)
from recblocks.blocks.backbone.expressions import ALLOWED_FUNCTIONS, compile_lambda, compile_slice, describe_allowed
from recblocks.blocks.backbone.module import Backbone

__all__ = [
    "ALLOWED_FUNCTIONS",
    "Backbone",
    "BackboneConfig",
    "BlockConfig",
    "BlockInputConfig",
    "ComponentConfig",
    "GroupInputFactory",
    "LambdaConfig",
    "LayerConfig",
    "PackageConfig",
    "RecurrentConfig",
    "RepeatConfig",
    "build_backbone",
    "compile_lambda",
    "compile_slice",
    "describe_allowed",
    "parse_backbone",
    "referenced_groups",
    "wide_output_dim",
]
