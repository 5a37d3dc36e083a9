"""Training: the trainer, optimizers (sparse vs dense groups), schedules, checkpoints, run dirs.

Talks to the model only through :class:`TrainableModel`; never imports ``recblocks.models``.
"""

from recblocks.training.callbacks import Callback
from recblocks.training.checkpoint import copy_state_dict, load_state_dict, save_state_dict
from recblocks.training.config import EarlyStoppingConfig, OptimizerConfig, TrainConfig
from recblocks.training.easyrec import train_config_from_easyrec
from recblocks.training.errors import (
    NonFiniteLossError,
    NonFiniteScoresError,
    NonFiniteWeightsError,
    OutputPathError,
    RunDirExistsError,
    RunLockedError,
    UnfinishedRunError,
)
from recblocks.training.history import EpochRecord, History
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
from recblocks.training.monitor import resolve_monitor
from recblocks.training.protocol import Evaluator, TrainableModel, check_evaluator, check_trainable
from recblocks.training.manifest import MANIFEST, RunManifest
from recblocks.training.run_dir import RUN_FILES, RunDir
from recblocks.training.run_callback import RunDirCallback
from recblocks.training.schedules import (
    SCHEDULES,
    ConstantSchedule,
    ExponentialDecaySchedule,
    Schedule,
    ScheduleSpec,
    normalize_schedule,
    parse_schedule,
)
from recblocks.training.trainer import Trainer, seed_everything
from recblocks.training.config_file import apply_overrides, load_config_file
from recblocks.training.experiment import (
    DataConfig,
    RunConfig,
    RunResult,
    evaluate_run,
    plan_rows,
    predict_run,
    train_run,
)
from recblocks.training.model_runner import ExperimentRunner  # registers the runner behind Model.fit

__all__ = [
    "MANIFEST",
    "OPTIMIZERS",
    "RUN_FILES",
    "SCHEDULES",
    "Callback",
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
    "OutputPathError",
    "RunDir",
    "RunDirCallback",
    "RunDirExistsError",
    "RunLockedError",
    "RunManifest",
    "Schedule",
    "ScheduleSpec",
    "TrainConfig",
    "TrainableModel",
    "Trainer",
    "UnfinishedRunError",
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
    "DataConfig",
    "ExperimentRunner",
    "RunConfig",
    "RunResult",
    "apply_overrides",
    "evaluate_run",
    "load_config_file",
    "plan_rows",
    "predict_run",
    "train_run",
]
