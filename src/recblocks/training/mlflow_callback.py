"""MLflow tracking of a run, when ``mlflow`` is installed (it is not a dependency of recblocks).

``train.callbacks: [{type: mlflow, tracking_uri: "file:/data/mlruns", experiment: ctr}]``
(or ``Model.fit(callbacks=[MLflowCallback(...)])``) logs into one MLflow run:

* params: the resolved run config, flattened to dotted keys (``train.optimizer.lr``,
  ``features.0.name``; values shortened to 500 characters);
* tags: ``recblocks.run_dir`` (the run directory: where the weights, metrics and TensorBoard
  log of the run are - its artifact location; nothing is copied) when there is one;
* metrics (step = the trainer's global step): at every ``log_every`` flush ``train/loss``,
  the loss terms ``train/task/<name>``... and ``lr/<optimizer>``; after every epoch
  ``valid/<metric>``, ``epoch/train_loss`` and ``throughput/samples_per_s``. Characters MLflow
  does not allow in a key (``recall@10``) become ``_``.

When a run is already active (``with mlflow.start_run(): model.fit(...)``) it is logged into
and left open; otherwise a run is started and ended with the fit (``FAILED`` when it fails).
Requested without mlflow installed, it is a ConfigError naming ``pip install mlflow``, raised
before any data is read.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field

from recblocks.core.errors import ConfigError
from recblocks.training.callback_registry import CALLBACKS, CallbackParams, RunContext, TrackingCallback

if TYPE_CHECKING:  # pragma: no cover
    from recblocks.training.history import EpochRecord, History
    from recblocks.training.trainer import Trainer

__all__ = ["MLflowCallback", "MLflowParams", "flatten_params", "import_mlflow", "metric_key"]

#: The longest parameter value logged (MLflow refuses longer ones).
MAX_PARAM_CHARS = 500
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_\-. /]")


class MLflowParams(CallbackParams):
    """``{type: mlflow, tracking_uri: ..., experiment: ..., run_name: ...}``.

    Args:
        tracking_uri: where MLflow stores runs (``file:/path``, ``http://server:5000``); None:
            MLflow's own default (``MLFLOW_TRACKING_URI``).
        experiment: the MLflow experiment name; None: MLflow's default experiment.
        run_name: the MLflow run's name; None: MLflow picks one.
    """

    type: str = "mlflow"
    tracking_uri: str | None = Field(default=None, min_length=1)
    experiment: str | None = Field(default=None, min_length=1)
    run_name: str | None = Field(default=None, min_length=1)


def import_mlflow(where: str) -> Any:
    """The ``mlflow`` module; ConfigError naming the install command when it is not installed."""
    try:
        return importlib.import_module("mlflow")
    except ImportError:
        raise ConfigError(where, "the mlflow callback needs MLflow, which is not installed (recblocks does not "
                          "depend on it)", "pip install mlflow", "no mlflow module") from None


def metric_key(key: str) -> str:
    """``key`` with the characters MLflow refuses in names replaced by ``_``."""
    return _NOT_ALLOWED.sub("_", key)


def flatten_params(config: Any, prefix: str = "") -> dict[str, str]:
    """A nested mapping as dotted keys and string values (lists by index).

    Example:
        >>> flatten_params({"train": {"optimizer": {"lr": 0.01}, "epochs": 2}, "features": [{"name": "C1"}]})
        {'train.optimizer.lr': '0.01', 'train.epochs': '2', 'features.0.name': 'C1'}
    """
    flat: dict[str, str] = {}
    if isinstance(config, Mapping):
        items = [(str(k), v) for k, v in config.items()]
    elif isinstance(config, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(config)]
    else:
        return {metric_key(prefix): str(config)[:MAX_PARAM_CHARS]} if prefix else {}
    if not items and prefix:
        return {metric_key(prefix): "{}" if isinstance(config, Mapping) else "[]"}
    for key, value in items:
        flat.update(flatten_params(value, f"{prefix}.{key}" if prefix else key))
    return flat


@CALLBACKS.register("mlflow", params=MLflowParams, aliases=("ml_flow",))
class MLflowCallback(TrackingCallback):
    """Logs the run's params, metrics and run directory to MLflow (see module docstring).

    Args:
        tracking_uri: where MLflow stores runs; None: MLflow's default.
        experiment: the MLflow experiment name; None: the default experiment.
        run_name: the MLflow run's name.
    """

    params_type = MLflowParams
    where = "MLflowCallback"

    def __init__(self, tracking_uri: str | None = None, experiment: str | None = None,
                 run_name: str | None = None) -> None:
        self.tracking_uri, self.experiment, self.run_name = tracking_uri, experiment, run_name
        self._context = RunContext()
        self._mlflow: Any = None
        self._owns_run = False
        #: The MLflow run id (set when the fit starts).
        self.run_id: str | None = None
        self._valid_step = -1  # global step of the last validation logged (step evaluations)

    @classmethod
    def check_available(cls, where: str) -> None:
        import_mlflow(where)

    def attach(self, context: RunContext) -> None:
        self._context = context
        import_mlflow(self.where)

    def on_fit_start(self, trainer: "Trainer") -> None:
        mlflow = self._mlflow = import_mlflow(self.where)
        if self.tracking_uri is not None:
            mlflow.set_tracking_uri(self.tracking_uri)
        active = mlflow.active_run()
        if active is None:
            if self.experiment is not None:
                mlflow.set_experiment(self.experiment)
            active = mlflow.start_run(run_name=self.run_name)
            self._owns_run = True
        self.run_id = active.info.run_id
        params = flatten_params(self._context.config)
        if params:
            mlflow.log_params(params)
        if self._context.run is not None:
            mlflow.set_tag("recblocks.run_dir", str(self._context.run.path))

    def on_log(self, trainer: "Trainer", step: int, loss: float, terms: dict[str, float]) -> None:
        if self._mlflow is None:
            return
        metrics = {"train/loss": loss, **{f"train/{k}": v for k, v in terms.items()},
                   **{f"lr/{k}": v for k, v in trainer.optimizer.learning_rates().items()}}
        self._log(metrics, step)

    def on_evaluate(self, trainer: "Trainer", evaluation: dict[str, Any]) -> None:
        """A validation every ``train.eval_steps`` steps, logged at its step."""
        if self._mlflow is None:
            return
        self._log({f"valid/{k}": v for k, v in (evaluation.get("valid") or {}).items()}, evaluation["step"])
        self._valid_step = evaluation["step"]

    def on_epoch_end(self, trainer: "Trainer", record: "EpochRecord") -> None:
        if self._mlflow is None:
            return
        valid = record.valid if self._valid_step != trainer.global_step else {}
        metrics = {**{f"valid/{k}": v for k, v in (valid or {}).items()},
                   "epoch/train_loss": record.train_loss, "throughput/samples_per_s": record.samples_per_s}
        self._log(metrics, trainer.global_step)

    def _log(self, metrics: Mapping[str, float], step: int) -> None:
        self._mlflow.log_metrics({metric_key(k): float(v) for k, v in metrics.items()}, step=step)

    def on_fit_end(self, trainer: "Trainer", history: "History") -> None:
        self._end("FINISHED")

    def close(self) -> None:
        """End the MLflow run this callback started, as ``FAILED`` when the fit did not end."""
        self._end("FAILED")

    def _end(self, status: str) -> None:
        mlflow, self._mlflow = self._mlflow, None
        if mlflow is not None and self._owns_run:
            mlflow.end_run(status=status)
        self._owns_run = False
