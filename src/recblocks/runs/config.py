"""The run config: ``data``, ``features``, ``model`` and ``train`` sections, typed.

:func:`parse_run_config` turns a config mapping (YAML, JSON, ``--set`` applied) into a
:class:`RunConfig` and the feature :class:`~recblocks.features.schema.Schema`; the ``model``
section goes through its one parse entry point
(:func:`~recblocks.models.config.parse_model_config`), and an already typed
:class:`~recblocks.models.config.ModelConfig` (built by the Python API) is taken as it is.
The helpers below derive what a run reads from the data: label columns with their kinds,
extra columns, and the check that every column exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field, field_validator

from recblocks.core.errors import ConfigError, DataError
from recblocks.core.limits import MAX_ROWS_PER_CHUNK
from recblocks.core.params import Params, join_path, parse_params
from recblocks.data.readers import DataSource, read_columns
from recblocks.datasets.synthetic import SyntheticConfig
from recblocks.features.preprocess import Preprocessor
from recblocks.features.schema import Schema
from recblocks.models.config import ModelConfig, parse_model_config
from recblocks.runs.hard_negatives import HardNegativeEdges
from recblocks.tasks import build_task
from recblocks.training.config import TrainConfig

__all__ = ["DataConfig", "RunConfig", "parse_run_config", "label_columns", "label_owners", "run_extras",
           "check_columns", "check_table_columns"]


class DataConfig(Params):
    """Where the data comes from: files (``train``/``valid``/``test``) or a synthetic generator.

    ``passthrough`` columns are carried next to predictions; ``max_bad_fraction`` turns too many
    dropped rows into a DataError; ``streaming`` reads the train set chunk by chunk through a
    shuffle buffer of ``shuffle_buffer_rows``; ``fit_preprocessing`` fits the preprocessing on
    the whole train set in memory (``memory``, the default), in one streaming pass
    (``streaming``) or on a uniform sample of ``fit_sample_rows`` rows (``sample``;
    :mod:`recblocks.features.streaming_fit`);
    ``soft_labels`` lets binary labels be fractional (in [0, 1]) for training and evaluation
    instead of refusing them (see :mod:`recblocks.features.labels`); ``hard_negatives`` is the
    (user, item) edge table of a MatchModel's hard negatives (:mod:`recblocks.runs.hard_negatives`).
    """

    train: DataSource | None = None
    valid: DataSource | None = None
    test: DataSource | None = None
    synthetic: SyntheticConfig | None = None
    synthetic_split: list[float] = Field(default_factory=lambda: [0.8, 0.1, 0.1])
    passthrough: list[str] = Field(default_factory=list)
    max_bad_fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    streaming: bool = False
    rows_per_chunk: int = Field(default=262_144, gt=0, le=MAX_ROWS_PER_CHUNK,
                                description=f"rows read at a time when streaming, at most {MAX_ROWS_PER_CHUNK:,}")
    shuffle_buffer_rows: int | None = Field(default=None, ge=0, le=MAX_ROWS_PER_CHUNK,
                                            description="rows held back for shuffling when streaming (default: "
                                                        "rows_per_chunk; docs/distributed/streaming.md)")
    fit_preprocessing: Literal["memory", "streaming", "sample"] = "memory"
    fit_sample_rows: int = Field(default=1_000_000, gt=0, le=MAX_ROWS_PER_CHUNK,
                                 description="rows of the uniform sample a 'sample' fit reads, and values per "
                                             "fitted bucket boundary feature in a 'streaming' fit")
    soft_labels: bool = False
    hard_negatives: HardNegativeEdges | None = None

    def __init__(self, **data: Any) -> None:
        for key in ("train", "valid", "test"):
            if isinstance(data.get(key), (str, Path)):
                data[key] = {"path": str(data[key])}
        super().__init__(**data)


class RunConfig(Params):
    """A whole run: ``data``, ``features``, ``model`` and ``train`` sections."""

    data: DataConfig = Field(default_factory=DataConfig)
    features: list[dict[str, Any]]
    model: ModelConfig
    train: TrainConfig = Field(default_factory=TrainConfig)

    @field_validator("model", mode="before")
    @classmethod
    def _parse_model(cls, value: Any) -> Any:
        """The model section goes through its one parse entry point (errors name ``model.*``)."""
        return parse_model_config(value, "model") if isinstance(value, (dict, ModelConfig)) else value


def parse_run_config(raw: dict[str, Any]) -> tuple[RunConfig, Schema]:
    """Validate every section; the schema errors name ``features[i]``."""
    config = parse_params(RunConfig, raw, "")
    return config, Schema(config.features, "features")


def label_columns(model_config: ModelConfig, soft_labels: bool = False) -> dict[str, str]:
    """Label column -> what it must hold, for every task of the model section
    (:meth:`Task.label_kind`: ``binary``, ``soft_binary`` with ``soft_labels``, ``classes:N``...)."""
    labels: dict[str, str] = {}
    for i, task in enumerate(model_config.task_configs()):
        built = build_task(task, join_path("model.tasks", i))
        labels[built.label] = built.label_kind(soft_labels)
    for name in model_config.weight_columns():
        labels.setdefault(name, "float")
    return labels


def run_extras(config: RunConfig) -> list[str]:
    """Extra columns a run carries beside features and labels: passthrough, the GAUC group and the model's
    own (sample weights, loss groups: :meth:`ModelConfig.extra_columns`)."""
    extras = list(config.data.passthrough)
    for name in [config.train.gauc_group, *config.model.extra_columns()]:
        if name and name not in extras:
            extras.append(name)
    return extras


def label_owners(model_config: ModelConfig) -> dict[str, str]:
    """Label column -> the task tower that reads it (config path and name), for MultiTaskModel-style
    ``model_params.task_towers``: a missing column is then a ConfigError naming the tower."""
    defined = getattr(model_config.model_params, "towers", None)
    towers = defined() if defined is not None else []
    owners: dict[str, str] = {}
    for i, tower in enumerate(towers):
        owners.setdefault(tower.label_name, f"model.model_params.task_towers[{i}].label_name (tower "
                                            f"'{tower.tower_name}')")
    return owners


def _check(available: list[str], preprocessor: Preprocessor, labels: dict[str, str], extras: list[str],
           origin: str, owners: dict[str, str] | None = None) -> None:
    for name, owner in (owners or {}).items():
        if name not in available:
            shown = available if len(available) <= 12 else [*available[:12], "..."]
            raise ConfigError(owner, f"the tower's label column is missing from {origin}", f"one of {shown}",
                              repr(name), choices=available)
    wanted = [(f"feature '{f.name}'", column) for f in preprocessor.schema for column in f.source_columns]
    wanted += [(f"label '{name}'", name) for name in labels] + [(f"column '{name}'", name) for name in extras]
    for where, column in wanted:
        if column not in available:
            shown = available if len(available) <= 12 else [*available[:12], "..."]
            raise DataError(where, f"column '{column}' is missing from {origin}", f"one of {shown}",
                            repr(column), choices=available)


def check_columns(source: DataSource, preprocessor: Preprocessor, labels: dict[str, str],
                  extras: list[str], owners: dict[str, str] | None = None) -> None:
    """Every feature, label and extra column exists in ``source`` (checked on its first file);
    ``owners`` (:func:`label_owners`) name the tower of a missing label."""
    _check(read_columns(source), preprocessor, labels, extras, source.name, owners)


def check_table_columns(table: pa.Table, preprocessor: Preprocessor, labels: dict[str, str], extras: list[str],
                        name: str = "the table", owners: dict[str, str] | None = None) -> None:
    """Every feature, label and extra column exists in an in-memory ``table``."""
    _check(list(table.column_names), preprocessor, labels, extras, name, owners)
