"""Models: RankModel = fused embeddings + input layers + compiled backbone + task heads;
``Model`` (a composed body + tasks, rebuilt from its config) and TFRS-style ``Ranking``."""

from recblocks.models.config import ModelConfig, ModelParams, parse_model_config
from recblocks.models.evaluation import TaskEvaluator
from recblocks.models.model import Model, ModelRunner, get_runner, placeholder_vocab, set_runner
from recblocks.models.outputs import ModelOutput, TaskHeads
from recblocks.models.rank_model import RankModel, build_slots
from recblocks.models.registry import MODEL_CLASSES, ModelClassSpec
from recblocks.models.ranking import Ranking, RankingBody

__all__ = ["MODEL_CLASSES", "Model", "ModelClassSpec", "ModelConfig", "ModelOutput", "ModelParams", "ModelRunner",
           "RankModel", "Ranking", "RankingBody", "TaskEvaluator", "TaskHeads", "build_slots", "get_runner",
           "parse_model_config", "placeholder_vocab", "set_runner"]
