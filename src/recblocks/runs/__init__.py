"""Runs: data + features + model + trainer + run directory, and the Python ``Model`` facade.

What ``recblocks train | evaluate | predict | validate`` call (:func:`train_run`, :func:`load_run`,
:func:`evaluate_run`, :func:`predict_run`, :func:`plan_rows`) and what :class:`Model.fit`
trains through (:class:`Experiment`). Nothing below this package imports it.
"""

from recblocks.runs.config import DataConfig, RunConfig, label_columns, parse_run_config
from recblocks.runs.config_file import apply_overrides, load_config_file
from recblocks.runs.errors import (
    OutputPathError,
    ResumeError,
    RunDirExistsError,
    RunLockedError,
    UnfinishedRunError,
)
from recblocks.runs.experiment import Experiment, RunResult, build_model, placeholder_vocab, train_run
from recblocks.runs.manifest import MANIFEST, RunManifest
from recblocks.runs.model import Model
from recblocks.runs.loading import load_run
from recblocks.runs.multi_task import MultiTask
from recblocks.runs.ranking import Ranking
from recblocks.runs.retrieval_tasks import ItemRetrievalTask, NextItemPredictionTask, RetrievalTask
from recblocks.runs.two_tower import TwoTower
from recblocks.runs.resume import resume_run
from recblocks.runs.run_callback import RunDirCallback
from recblocks.runs.run_dir import RUN_FILES, RunDir
from recblocks.runs.scoring import evaluate_run, open_run, predict_run
from recblocks.runs.validation import check_run_output, plan_rows

__all__ = [
    "ItemRetrievalTask",
    "MultiTask",
    "NextItemPredictionTask",
    "RetrievalTask",
    "TwoTower",
    "MANIFEST",
    "RUN_FILES",
    "DataConfig",
    "Experiment",
    "Model",
    "OutputPathError",
    "Ranking",
    "ResumeError",
    "RunConfig",
    "RunDir",
    "RunDirCallback",
    "RunDirExistsError",
    "RunLockedError",
    "RunManifest",
    "RunResult",
    "UnfinishedRunError",
    "apply_overrides",
    "build_model",
    "evaluate_run",
    "label_columns",
    "load_run",
    "load_config_file",
    "open_run",
    "parse_run_config",
    "placeholder_vocab",
    "check_run_output",
    "plan_rows",
    "predict_run",
    "resume_run",
    "train_run",
]
