"""A run from a config: read data, fit preprocessing, build the model, train, evaluate, save.

This is what ``recblocks train | evaluate | predict | validate`` call. Everything checkable
without data (config keys, names, shapes) is checked before any file is read, and everything
checkable without training before the first step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import pyarrow as pa
from pydantic import Field, field_validator

from recblocks.core.errors import ConfigError, DataError, RecBlocksError
from recblocks.core.limits import MAX_ROWS_PER_CHUNK
from recblocks.core.params import Params, join_path, parse_params
from recblocks.data.loader import InMemoryLoader, StreamingLoader, load_batch
from recblocks.data.readers import DataSource, as_source, naming_source, read_columns, read_table
from recblocks.data.report import format_report
from recblocks.datasets.synthetic import SyntheticConfig, bayes_auc, make_synthetic
from recblocks.datasets.splits import random_split
from recblocks.features.batch import Batch
from recblocks.features.preprocess import Preprocessor
from recblocks.features.schema import Schema
from recblocks.models.config import ModelConfig, parse_model_config
from recblocks.models.model import placeholder_vocab
from recblocks.models.rank_model import RankModel
from recblocks.training.config import TrainConfig
from recblocks.training.memory_plan import check_run_memory
from recblocks.training.predictions import check_prediction_output, write_predictions
from recblocks.training.monitor import resolve_monitor
from recblocks.training.run_callback import RunDirCallback
from recblocks.training.run_dir import RunDir
from recblocks.training.trainer import Trainer, seed_everything

__all__ = ["DataConfig", "RunConfig", "RunResult", "parse_run_config", "build_model", "train_run",
           "evaluate_run", "predict_run", "plan_rows", "label_columns", "check_columns"]

log = logging.getLogger("recblocks")


class DataConfig(Params):
    """Where the data comes from: files (``train``/``valid``/``test``) or a synthetic generator.

    ``passthrough`` columns are carried next to predictions; ``max_bad_fraction`` turns too many
    dropped rows into a DataError; ``streaming`` reads the train set chunk by chunk;
    ``soft_labels`` lets binary labels be fractional (in [0, 1]) for training and evaluation
    instead of refusing them (see :mod:`recblocks.features.labels`).
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
    soft_labels: bool = False

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
    """Label column -> label kind for every task of the model section: ``binary`` (0/1, or
    ``soft_binary`` with ``soft_labels``), ``classes:N`` for multiclass, else the task's dtype."""
    from recblocks.tasks import build_task

    labels: dict[str, str] = {}
    for i, task in enumerate(model_config.tasks):
        built = build_task(task, join_path("model.tasks", i))
        labels[built.label] = built.label_kind(soft_labels)
    return labels


def build_model(config: RunConfig, schema: Schema, preprocessor: Preprocessor | None = None,
                purpose: Literal["train", "evaluate"] = "train", meta: bool = False) -> RankModel:
    """The model; without a fitted preprocessor, tables get placeholder sizes (shapes still exact).

    The model is first planned on the meta device and its memory for ``purpose`` checked
    against ``train.memory_limit_gb`` (:func:`~recblocks.training.memory_plan.check_run_memory`);
    ``meta=True`` returns that storage-less model instead of building the real one.
    """
    if preprocessor is None:
        vocab = placeholder_vocab(schema)
    else:
        vocab = {f.name: preprocessor.num_embeddings(f.name) for f in schema if f.kind != "dense"}

    def factory() -> RankModel:
        return RankModel(schema, config.model, vocab, where="model")

    planned = check_run_memory(factory, config.train, purpose, config.data.synthetic)
    return planned if meta else factory()


@dataclass
class RunResult:
    """What a training run produced."""

    run_dir: Path
    valid_metrics: dict[str, float]
    test_metrics: dict[str, float]
    best_epoch: int | None
    samples_per_second: float
    bayes_auc: dict[str, float] = field(default_factory=dict)
    data_report: str = ""


def _synthetic_tables(data: DataConfig) -> dict[str, pa.Table]:
    table = make_synthetic(data.synthetic)
    names = ["train", "valid", "test"][: len(data.synthetic_split)]
    return dict(zip(names, random_split(table, data.synthetic_split, seed=data.synthetic.seed)))  # type: ignore[union-attr]


def _extras(config: RunConfig) -> list[str]:
    extras = list(config.data.passthrough)
    if config.train.gauc_group and config.train.gauc_group not in extras:
        extras.append(config.train.gauc_group)
    return extras


def check_columns(source: DataSource, preprocessor: Preprocessor, labels: dict[str, str],
                  extras: list[str]) -> None:
    """Every feature, label and passthrough column exists in ``source`` (checked on its first file)."""
    available = read_columns(source)
    wanted = [(f"feature '{f.name}'", f.source_column) for f in preprocessor.schema]
    wanted += [(f"label '{name}'", name) for name in labels] + [(f"column '{name}'", name) for name in extras]
    for where, column in wanted:
        if column not in available:
            shown = available if len(available) <= 12 else [*available[:12], "..."]
            raise DataError(where, f"column '{column}' is missing from {source.path}", f"one of {shown}",
                            repr(column), choices=available)


def train_run(raw: dict[str, Any], output: str | Path, overwrite: bool = False, command: str = "python") -> RunResult:
    """Train the run described by ``raw`` (a config mapping) into ``output``.

    The run directory is created only after the config is valid and the data columns are
    checked; it is locked while training writes it and its manifest ends ``complete``, or
    ``failed`` with the error when training raises (see :class:`RunDir` for ``overwrite``).
    ``command`` is recorded in the manifest as what wrote the run.
    """
    config, schema = parse_run_config(raw)
    planned = build_model(config, schema, meta=True)  # every config error and the memory plan before any data
    resolve_monitor(planned.evaluator(config.train.gauc_group), config.train.early_stopping)  # metric names too
    data = config.data
    labels = label_columns(config.model, data.soft_labels)
    extras = _extras(config)
    if data.synthetic is None and data.train is None:
        raise ConfigError("data.train", "no training data", "a path (data.train or --train) or data.synthetic", "none")
    preprocessor = Preprocessor(schema)
    if data.synthetic is None:
        for source in (data.train, data.valid, data.test):
            if source is not None:
                check_columns(source, preprocessor, labels, extras)
    with RunDir(output, overwrite=overwrite, command=command) as run_dir:  # complete, or failed on error
        return _train_into(run_dir, raw, config, schema, preprocessor, labels, extras)


def _train_into(run_dir: RunDir, raw: dict[str, Any], config: RunConfig, schema: Schema, preprocessor: Preprocessor,
                labels: dict[str, str], extras: list[str]) -> RunResult:
    data = config.data
    run_dir.write_config(raw)
    tables: dict[str, pa.Table] = {}
    bayes: dict[str, float] = {}
    if data.synthetic is not None:
        tables = _synthetic_tables(data)
        bayes = {name: bayes_auc(t) for name, t in tables.items()}
        preprocessor.fit(tables["train"])
    else:
        columns = [*preprocessor.required_columns()]
        fit_table = read_table(data.train, columns)  # type: ignore[arg-type]
        if fit_table.num_rows == 0:
            raise DataError(data.train.path, "the training data has no rows",  # type: ignore[union-attr]
                            "at least one data row",
                            "0 rows (an empty or header-only file)")
        with naming_source(data.train.path):  # type: ignore[union-attr]
            preprocessor.fit(fit_table)
    run_dir.write_preprocessor(preprocessor)
    seed_everything(config.train.seed)  # initial weights depend only on the config's seed
    model = build_model(config, schema, preprocessor)
    batch_size = config.train.batch_size
    eval_size = config.train.eval_batch_size or max(batch_size, 4096)

    def batch_of(split: str, source: DataSource | None) -> Batch | None:
        if split in tables:
            return preprocessor.transform(tables[split], labels, extras)[0]
        if source is None:
            return None
        return load_batch(source, preprocessor, labels, extras, data.max_bad_fraction)[0]

    if data.streaming and data.train is not None:
        train_loader: Any = StreamingLoader(data.train, preprocessor, labels, extras, batch_size=batch_size,
                                            shuffle=True, seed=config.train.seed, rows_per_chunk=data.rows_per_chunk,
                                            max_bad_fraction=data.max_bad_fraction)
    else:
        train_batch = batch_of("train", data.train)
        train_loader = InMemoryLoader(train_batch, batch_size, shuffle=True, seed=config.train.seed)  # type: ignore[arg-type]
    valid_batch = batch_of("valid", data.valid)
    test_batch = batch_of("test", data.test)
    valid_loader = InMemoryLoader(valid_batch, eval_size, shuffle=False) if valid_batch is not None else None
    trainer = Trainer(model, config.train, [RunDirCallback(run_dir)])
    history = trainer.fit(train_loader, valid_loader)
    valid_metrics = trainer.evaluate(valid_loader) if valid_loader is not None else {}
    test_metrics = trainer.evaluate(InMemoryLoader(test_batch, eval_size, shuffle=False)) if test_batch is not None else {}
    report = format_report(preprocessor.report_, "data")
    best_epoch = None if history.best_epoch is None else history.best_epoch + 1  # 1-based, as printed
    speed = getattr(history, "samples_per_second", 0.0) or 0.0
    run_dir.write_metrics({"valid": valid_metrics, "test": test_metrics, "best_epoch": best_epoch,
                           "train_samples_per_second": speed, "bayes_auc": bayes,
                           "data_report": preprocessor.report_.to_dict() if hasattr(preprocessor.report_, "to_dict")
                           else report})
    return RunResult(run_dir.path, valid_metrics, test_metrics, best_epoch, speed, bayes, report)


def _open_run(run_dir: str | Path, allow_unfinished: bool = False, warn: Callable[[str], None] | None = None
              ) -> tuple[RunDir, RunConfig, Schema, Preprocessor, RankModel]:
    """Config, preprocessing and weights of a finished run (see :meth:`RunDir.open` for
    ``allow_unfinished``); every damaged file is a DataError naming it."""
    with RunDir.open(run_dir, allow_unfinished=allow_unfinished, warn=warn) as run:
        raw = run.read_config()
        try:
            config, schema = parse_run_config(raw)
        except RecBlocksError as exc:
            raise DataError(str(run.config_path), f"the run's config is not valid ({exc})",
                            "the config training wrote", "an invalid config") from None
        preprocessor = run.read_preprocessor()
        fitted, wanted = [f.name for f in preprocessor.schema], [f.name for f in schema]
        if fitted != wanted:
            raise DataError(str(run.preprocess_path), "the preprocessing was fitted for other features than the "
                            "run's config.yaml names", f"features {wanted[:8]}", fitted[:8])
        model = build_model(config, schema, preprocessor, purpose="evaluate")
        run.load_weights(model)
    model.eval()
    return run, config, schema, preprocessor, model


def evaluate_run(run_dir: str | Path, data: str | Path | dict[str, Any], allow_unfinished: bool = False,
                 warn: Callable[[str], None] | None = None) -> tuple[dict[str, float], str]:
    """Metrics of a trained run on ``data`` with the run's fitted preprocessing.

    An unfinished or damaged run is refused unless ``allow_unfinished`` (then ``warn`` - default
    a log warning - is told why).
    """
    run, config, _, preprocessor, model = _open_run(run_dir, allow_unfinished, warn)
    preprocessor.reset_report()
    source, extras = as_source(data, "--data"), _extras(config)
    labels = label_columns(config.model, config.data.soft_labels)
    check_columns(source, preprocessor, labels, extras)
    batch, _ = load_batch(source, preprocessor, labels, extras, config.data.max_bad_fraction)
    trainer = Trainer(model, config.train.model_copy(update={"progress": False}))
    metrics = trainer.evaluate(InMemoryLoader(batch, 8192, shuffle=False), where=f"evaluation of {source.path}")
    return metrics, format_report(preprocessor.report_, "data")


def predict_run(run_dir: str | Path, data: str | Path | dict[str, Any], output: str | Path,
                passthrough: list[str] | None = None, overwrite: bool = False, allow_unfinished: bool = False,
                warn: Callable[[str], None] | None = None) -> tuple[int, str]:
    """Write one score column per task (plus passthrough columns) to ``.parquet``, ``.csv`` or ``.tsv``.

    The output is checked before any work (:func:`check_prediction_output`: never an input,
    a run file, a folder, or a file recblocks did not write; ``overwrite`` replaces only
    recblocks' own earlier Parquet output) and written through a temporary file renamed into
    place. A passthrough column named like a score column is a ConfigError.
    """
    source = as_source(data, "--data")
    path = check_prediction_output(output, [source], Path(run_dir), overwrite)
    run, config, _, preprocessor, model = _open_run(run_dir, allow_unfinished, warn)
    preprocessor.reset_report()
    where = "--passthrough" if passthrough else "data.passthrough"
    keep = list(dict.fromkeys(passthrough or config.data.passthrough))
    _check_passthrough(keep, [task.name for task in model.tasks], where)
    check_columns(source, preprocessor, {}, keep)
    table = read_table(source, list(dict.fromkeys([*preprocessor.required_columns(), *keep])))
    if table.num_rows == 0:
        raise DataError(str(source.path), "no rows to score", "at least one data row",
                        "0 rows (an empty or header-only file)")
    with naming_source(source.path):
        batch, _ = preprocessor.transform(table, None, [])
    if preprocessor.report_.bad_rows:
        raise DataError(str(source.path), "rows were dropped while predicting", "no dropped rows",
                        preprocessor.report_.bad_rows)
    trainer = Trainer(model, config.train.model_copy(update={"progress": False}))
    scores = trainer.predict(InMemoryLoader(batch, 8192, shuffle=False), where=f"prediction of {source.path}")
    columns: dict[str, Any] = {}
    for name, values in scores.items():
        if getattr(values, "ndim", 1) == 2:
            for c in range(values.shape[1]):
                columns[f"{name}_{c}"] = pa.array(values[:, c])
        else:
            columns[name] = pa.array(values)
    _check_passthrough(keep, list(columns), where)
    out = pa.table({**{name: table.column(name) for name in keep}, **columns})
    write_predictions(out, path, run.path)
    return out.num_rows, format_report(preprocessor.report_, "data")


def _check_passthrough(keep: list[str], scores: list[str], where: str) -> None:
    """A passthrough column may not share a name with a score column (it would be replaced)."""
    for name in keep:
        if name in scores:
            raise ConfigError(f"{where} {name}", f"the passthrough column '{name}' has the name of the score column "
                              f"'{name}', which would replace it", f"passthrough columns other than {scores}",
                              repr(name))


def plan_rows(raw: dict[str, Any], fit_data: bool = True) -> tuple[RankModel, list[dict[str, Any]], str]:
    """Validate a config and return the model plan; fits vocabularies when the train file exists."""
    config, schema = parse_run_config(raw)
    build_model(config, schema, meta=True)  # config errors and the memory plan before any data is read
    source = config.data.train
    note = ("embedding rows are placeholders (vocabularies not fitted)" if not fit_data or source is None
            else "embedding rows are placeholders")
    preprocessor = None
    if fit_data and source is not None:
        try:
            preprocessor = Preprocessor(schema).fit(read_table(source, Preprocessor(schema).required_columns()))
            note = f"embedding rows fitted on {source.path}"
        except DataError as exc:
            note = f"embedding rows are placeholders ({exc})"
    elif config.data.synthetic is not None:
        note = "embedding rows are placeholders (synthetic data is generated at train time)"
    model = build_model(config, schema, preprocessor)
    return model, model.summary_rows(), note
