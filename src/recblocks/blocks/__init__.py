"""Blocks: containers (sequential, recurrent, repeat) and the EasyRec-style backbone."""

from recblocks.blocks.backbone import Backbone, build_backbone, parse_backbone
from recblocks.blocks.containers import LambdaModule, RecurrentBlock, RepeatBlock, SequentialBlock

__all__ = ["Backbone", "LambdaModule", "RecurrentBlock", "RepeatBlock", "SequentialBlock", "build_backbone",
           "parse_backbone"]
