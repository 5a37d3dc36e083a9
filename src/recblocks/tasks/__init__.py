"""Prediction tasks: heads' losses, activations, label columns and metric names."""

from recblocks.tasks.config import DEFAULT_METRICS, TASK_TYPE_ALIASES, TASK_TYPES, TaskConfig, canonical_task_type
from recblocks.tasks.heads import (
    TASK_CLASSES,
    BinaryClassificationTask,
    MultiClassClassificationTask,
    RegressionTask,
    Task,
    build_task,
    build_tasks,
)
from recblocks.tasks.transforms import LogitsTemperatureScaler

__all__ = [
    "DEFAULT_METRICS",
    "TASK_CLASSES",
    "TASK_TYPES",
    "TASK_TYPE_ALIASES",
    "BinaryClassificationTask",
    "LogitsTemperatureScaler",
    "MultiClassClassificationTask",
    "RegressionTask",
    "Task",
    "TaskConfig",
    "build_task",
    "build_tasks",
    "canonical_task_type",
]
