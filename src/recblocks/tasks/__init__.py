"""Prediction tasks: the ``TASKS`` registry of task types, their configs, losses, activations and metrics."""

from recblocks.tasks.config import (
    BinaryTaskConfig,
    MultiClassTaskConfig,
    RegressionTaskConfig,
    TaskConfig,
    parse_task_config,
)
from recblocks.tasks.heads import (
    BinaryClassificationTask,
    MultiClassClassificationTask,
    RegressionTask,
    Task,
    build_task,
    build_tasks,
)
from recblocks.tasks.losses import LOSSES, LossSpec
from recblocks.tasks.metric_losses import circle_loss, multi_similarity_loss
from recblocks.tasks.registry import TASKS, TaskSpec
from recblocks.tasks.transforms import LogitsTemperatureScaler
from recblocks.tasks.ziln import ZilnTask, ZilnTaskConfig

__all__ = [
    "LOSSES",
    "LossSpec",
    "TASKS",
    "BinaryClassificationTask",
    "BinaryTaskConfig",
    "LogitsTemperatureScaler",
    "MultiClassClassificationTask",
    "MultiClassTaskConfig",
    "RegressionTask",
    "RegressionTaskConfig",
    "Task",
    "TaskConfig",
    "TaskSpec",
    "ZilnTask",
    "ZilnTaskConfig",
    "build_task",
    "build_tasks",
    "circle_loss",
    "multi_similarity_loss",
    "parse_task_config",
]
