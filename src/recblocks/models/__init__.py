"""Models: the network classes and the typed model section they are built from.

``RankModel`` = fused embeddings + input layers + compiled backbone + task heads; it owns its
loss (:meth:`RankModel.loss`), evaluation and predictions. Model classes are registered in
``MODEL_CLASSES``; a config's ``model_class`` names one. The Python ``Model`` facade (fit,
evaluate, predict) lives above, in :mod:`recblocks.runs`.
"""

from recblocks.models.config import ModelConfig, ModelParams, parse_model_config
from recblocks.models.evaluation import TaskEvaluator
from recblocks.models.outputs import ModelOutput, TaskHeads
from recblocks.models.rank_model import RankModel, build_slots
from recblocks.models.multi_task import MultiTaskModel, TowerEvaluator
from recblocks.models.esmm import ESMM, ESMMParams
from recblocks.models.towers import MultiTaskModelParams, TaskTowerConfig, TowerLossConfig
from recblocks.models.match_config import MatchModelParams
from recblocks.models.match_model import MatchModel, MatchOutput
from recblocks.models.metric_learning_config import CoMetricLearningParams
from recblocks.models.metric_learning import CoMetricLearningI2I, InBatchEvaluator, MetricLearningOutput
from recblocks.models.registry import MODEL_CLASSES, ModelClassSpec

__all__ = ["CoMetricLearningI2I", "CoMetricLearningParams", "ESMM", "ESMMParams", "InBatchEvaluator", "MODEL_CLASSES",
           "MatchModel", "MatchModelParams", "MatchOutput", "MetricLearningOutput", "ModelClassSpec", "ModelConfig",
           "ModelOutput", "ModelParams", "MultiTaskModel", "MultiTaskModelParams", "RankModel", "TaskEvaluator",
           "TaskHeads", "TaskTowerConfig", "TowerEvaluator", "TowerLossConfig", "build_slots", "parse_model_config"]
