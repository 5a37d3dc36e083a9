"""Models: RankModel = fused embeddings + input layers + compiled backbone + task heads."""

from recblocks.models.config import ModelConfig, ModelParams
from recblocks.models.rank_model import RankModel, build_slots

__all__ = ["ModelConfig", "ModelParams", "RankModel", "build_slots"]
