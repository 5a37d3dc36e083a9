"""Training: the trainer, optimizers (sparse vs dense groups), schedules, callbacks, checkpoints.

Talks to the model only through :class:`TrainableModel`; never imports ``recblocks.models``.
Writing a run directory is a callback that lives above, in :mod:`recblocks.runs`.
"""

from recblocks.training.callback_registry import (
    CALLBACKS,
    CallbackParams,
    CallbackSpec,
    RunContext,
    TrackingCallback,
    build_callback,
    parse_callback,
)
from recblocks.training.callbacks import Callback
from recblocks.training.checkpoint import copy_state_dict, load_state_dict, save_state_dict
from recblocks.training.config import EarlyStoppingConfig, OptimizerConfig, TrainConfig
from recblocks.training.easyrec import train_config_from_easyrec
from recblocks.training.errors import NonFiniteLossError, NonFiniteScoresError, NonFiniteWeightsError
from recblocks.training.history import EpochRecord, History
from recblocks.training.mlflow_callback import MLflowCallback, MLflowParams
from recblocks.training.monitor import resolve_monitor
from recblocks.training.optimizers import (
    OPTIMIZERS,
    CompositeOptimizer,
    OptimizerSpec,
    build_optimizer,
    clip_grad_norm,
    make_dense_optimizer,
    make_sparse_optimizer,
    sparse_parameter_ids,
)
from recblocks.training.progress import progress_bar
from recblocks.training.protocol import Evaluator, TrainableModel, check_evaluator, check_trainable
from recblocks.training.schedules import (
    SCHEDULES,
    ConstantSchedule,
    ExponentialDecaySchedule,
    Schedule,
    ScheduleSpec,
    normalize_schedule,
    parse_schedule,
)
from recblocks.training.tensorboard import TensorBoardCallback, TensorBoardParams
from recblocks.training.trainer import Trainer, seed_everything

__all__ = [
    "CALLBACKS",
    "OPTIMIZERS",
    "SCHEDULES",
    "Callback",
    "CallbackParams",
    "CallbackSpec",
    "MLflowCallback",
    "MLflowParams",
    "RunContext",
    "TensorBoardCallback",
    "TensorBoardParams",
    "TrackingCallback",
    "build_callback",
    "parse_callback",
    "CompositeOptimizer",
    "ConstantSchedule",
    "EarlyStoppingConfig",
    "EpochRecord",
    "Evaluator",
    "ExponentialDecaySchedule",
    "History",
    "NonFiniteLossError",
    "NonFiniteScoresError",
    "NonFiniteWeightsError",
    "OptimizerConfig",
    "OptimizerSpec",
    "Schedule",
    "ScheduleSpec",
    "TrainConfig",
    "TrainableModel",
    "Trainer",
    "build_optimizer",
    "check_evaluator",
    "check_trainable",
    "clip_grad_norm",
    "copy_state_dict",
    "load_state_dict",
    "make_dense_optimizer",
    "make_sparse_optimizer",
    "normalize_schedule",
    "parse_schedule",
    "progress_bar",
    "resolve_monitor",
    "save_state_dict",
    "seed_everything",
    "sparse_parameter_ids",
    "train_config_from_easyrec",
]
