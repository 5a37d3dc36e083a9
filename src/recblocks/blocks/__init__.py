"""Blocks: containers (sequential, recurrent, repeat layers) and the EasyRec-style backbone."""

from recblocks.blocks.backbone import BLOCK_KINDS, Backbone, BackboneConfig, build_backbone, parse_backbone
from recblocks.blocks.containers import LambdaLayer, RecurrentLayers, RepeatLayers, SequentialLayers, run_recurrent

__all__ = ["BLOCK_KINDS", "Backbone", "BackboneConfig", "LambdaLayer", "RecurrentLayers", "RepeatLayers",
           "SequentialLayers", "build_backbone", "parse_backbone", "run_recurrent"]
