"""A training run: config -> plan -> data -> preprocessing -> model (built once) -> trainer.

:class:`Experiment` is what ``recblocks train`` (:func:`train_run`) and
:meth:`recblocks.runs.Model.fit` both run, so a model trained in Python and the same model
trained from its saved config go through the same objects (preprocessing, loaders, seeding,
trainer). Everything checkable without data (config keys, names, shapes, the memory plan,
the early-stopping metric) is checked by :meth:`Experiment.plan` on the meta device, before
any file is read; the real model is then built once, after the preprocessing is fitted (table
sizes come from it). Writing a run directory is a trainer callback
(:class:`~recblocks.runs.run_callback.RunDirCallback`); without one nothing is written.

Callbacks: those the caller passes, those ``train.callbacks`` declares (made from the
``CALLBACKS`` registry) and, for a run directory with ``train.tensorboard`` on (the default)
and no TensorBoard callback among them, a :class:`~recblocks.training.tensorboard.TensorBoardCallback`
writing ``tensorboard/`` there (rank 0 alone under data-parallel training). Every :class:`~recblocks.training.TrackingCallback` is told the
run directory and the resolved config before the fit and closed after it, also when it fails.

Data-parallel training (``torchrun``; :mod:`recblocks.training.distributed`): rank 0 fits the
preprocessing and broadcasts it, every rank trains on its shard of the training split
(``shard_index``/``num_shards``: the rank and the world size; ``train.batch_size`` rows per
rank per step) and evaluates its shard of the validation and test splits (the predictions are
gathered, so the metrics are those of the whole split), and rank 0 alone writes the run
directory, the logs and the tracking callbacks' output.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from recblocks.core.errors import ConfigError, DataError
from recblocks.data.loader import InMemoryLoader, StreamingLoader, load_batch
from recblocks.data.readers import DataSource, naming_source, read_table
from recblocks.data.report import format_report
from recblocks.datasets.splits import random_split
from recblocks.datasets.synthetic import bayes_auc, make_synthetic
from recblocks.datasets.synthetic_multitask import multitask_bayes_auc
from recblocks.features.batch import Batch
from recblocks.features.preprocess import Preprocessor
from recblocks.features.schema import Schema
from recblocks.models.registry import MODEL_CLASSES
from recblocks.runs.config import (
    RunConfig,
    check_columns,
    check_table_columns,
    label_columns,
    label_owners,
    parse_run_config,
    run_extras,
)
from recblocks.runs.config_paths import absolute_data_paths
from recblocks.runs.hard_negatives import fit_hard_negatives
from recblocks.runs.memory_plan import check_run_memory
from recblocks.runs.run_callback import RunDirCallback
from recblocks.runs.streaming import fit_out_of_memory
from recblocks.runs.run_dir import RunDir
from recblocks.runs.errors import ResumeError
from recblocks.runs.run_files import jsonable, read_text
from recblocks.runs.warm_start import warm_start
from recblocks.training import distributed
from recblocks.training.callback_registry import CALLBACKS, RunContext, TrackingCallback, build_callback
from recblocks.training.callbacks import Callback
from recblocks.training.history import History
from recblocks.training.monitor import resolve_monitor
from recblocks.training.tensorboard import TensorBoardCallback
from recblocks.training.train_state import TrainingState
from recblocks.training.trainer import Trainer, seed_everything

__all__ = ["Experiment", "RunResult", "build_model", "placeholder_vocab", "train_run"]

log = logging.getLogger("recblocks")

SPLITS = ("train", "valid", "test")


def placeholder_vocab(schema: Schema) -> dict[str, int]:
    """Table sizes to plan a model before vocabularies are fitted (shapes are still exact)."""
    sizes = {}
    for f in schema:
        if not f.is_id:
            continue
        if getattr(f, "vocabulary", None) is not None:  # a dynamic vocabulary's table has max_rows rows
            sizes[f.name] = int(f.vocabulary.max_rows)
            continue
        size = getattr(f, "hash_bucket_size", None) or (len(f.boundaries) + 1 if getattr(f, "boundaries", None) else
                                                        getattr(f, "num_buckets", None) or 1)
        sizes[f.name] = int(size) + 2
    return sizes


def build_model(config: RunConfig, schema: Schema, preprocessor: Preprocessor | None = None,
                purpose: Literal["train", "evaluate"] = "train", meta: bool = False) -> Any:
    """The model class ``model.model_class`` names, for the fitted table sizes of ``preprocessor``
    (placeholder sizes without one: shapes are still exact).

    The model is first planned on the meta device and its memory for ``purpose`` checked
    against ``train.memory_limit_gb`` (:func:`~recblocks.runs.memory_plan.check_run_memory`);
    ``meta=True`` returns that storage-less model instead of building the real one.
    """
    if preprocessor is None:
        vocab = placeholder_vocab(schema)
    else:
        vocab = {f.name: preprocessor.num_embeddings(f.name) for f in schema if f.is_id}
    model_class = MODEL_CLASSES.get(config.model.model_class, "model.model_class").cls

    def factory() -> Any:
        return model_class(schema, config.model, vocab, where="model")

    planned = check_run_memory(factory, config.train, purpose, config.data.synthetic)
    return planned if meta else factory()


@dataclass
class RunResult:
    """What a training run produced: metrics, and the trained model with its preprocessing."""

    run_dir: Path | None
    valid_metrics: dict[str, float]
    test_metrics: dict[str, float]
    best_epoch: int | None
    samples_per_second: float
    bayes_auc: dict[str, float] = field(default_factory=dict)
    data_report: str = ""
    model: Any = field(default=None, repr=False)
    preprocessor: Preprocessor | None = field(default=None, repr=False)
    history: History | None = field(default=None, repr=False)
    optimizer_state: dict[str, Any] | None = field(default=None, repr=False)
    init_from: dict[str, Any] | None = field(default=None, repr=False)


class Experiment:
    """One training run of a typed :class:`RunConfig` (see module docstring).

    Args:
        config: the run config.
        schema: its feature schema.
        tables: in-memory splits (``train``/``valid``/``test`` -> pyarrow table) used instead of
            the data section's files for those splits (``Model.fit`` with DataFrames).
    """

    def __init__(self, config: RunConfig, schema: Schema, tables: Mapping[str, pa.Table] | None = None) -> None:
        distributed.init_from_env()
        distributed.quiet_other_ranks()
        unknown = sorted(set(tables or {}) - set(SPLITS))
        if unknown:
            raise ConfigError("tables", "unknown split", f"some of {list(SPLITS)}", unknown, choices=SPLITS)
        self.config = config
        self.schema = schema
        self.tables: dict[str, pa.Table] = dict(tables or {})
        self.labels = label_columns(config.model, config.data.soft_labels)
        self.extras = run_extras(config)
        self.owners = label_owners(config.model)
        self.bayes: dict[str, float] = {}

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> "Experiment":
        """The experiment of a config mapping (every section validated)."""
        return cls(*parse_run_config(raw))

    # ------------------------------------------------------------------ before any data
    def plan(self, read_data: bool = True) -> Any:
        """Check everything that needs no data and return the model planned on the meta device:
        config errors, the memory plan, the early-stopping metric, the training data's presence
        (and validation data's, for early stopping) and, for file splits, that every column
        exists (first file of each source). ``read_data=False`` checks the config alone."""
        config = self.config
        planned = build_model(config, self.schema, meta=True)
        resolve_monitor(planned.evaluator(config.train.gauc_group), config.train.early_stopping)
        for index, params in enumerate(config.train.callbacks):  # e.g. mlflow requested but not installed
            CALLBACKS.get(params.type).cls.check_available(f"train.callbacks[{index}]")
        if not read_data:
            return planned
        data = config.data
        if "train" not in self.tables and data.synthetic is None and data.train is None:
            raise ConfigError("data.train", "no training data", "a path (data.train or --train), a table, or "
                              "data.synthetic", "none")
        has_valid = ("valid" in self.tables or (data.valid is not None and data.synthetic is None)
                     or (data.synthetic is not None and len(data.synthetic_split) > 1 and "train" not in self.tables))
        for key, wanted, what in (("eval_steps", config.train.eval_steps is not None, "evaluation every N steps"),
                                    ("early_stopping", config.train.early_stopping is not None, "early stopping")):
            if wanted and not has_valid:
                raise ConfigError(f"train.{key}", f"{what} needs validation data",
                                  "data.valid (or --valid), a valid table, or data.synthetic with a validation share",
                                  "no validation data")
        preprocessor = Preprocessor(self.schema)
        if data.synthetic is not None and "train" not in self.tables:  # a tower naming a label it does not make
            tasks = data.synthetic.multitask
            made = ["label"] if tasks is None else [tasks.click_label, tasks.conversion_label]
            for name, owner in self.owners.items():
                if name not in made:
                    raise ConfigError(owner, "the tower's label is not a label of the synthetic data",
                                      f"one of {made}", repr(name), choices=made)
        for split in SPLITS:
            table, source = self.tables.get(split), getattr(data, split)
            if table is not None:
                check_table_columns(table, preprocessor, self.labels, self.extras, f"the {split} table", self.owners)
            elif source is not None and data.synthetic is None:
                check_columns(source, preprocessor, self.labels, self.extras, self.owners)
        return planned

    # ------------------------------------------------------------------ data
    def _load_synthetic(self) -> None:
        data = self.config.data
        if data.synthetic is None or self.tables:
            return
        names = list(SPLITS[: len(data.synthetic_split)])
        parts = random_split(make_synthetic(data.synthetic), data.synthetic_split, seed=data.synthetic.seed)
        self.tables = dict(zip(names, parts))
        tasks = data.synthetic.multitask
        if tasks is None:
            self.bayes = {name: bayes_auc(t) for name, t in self.tables.items()}
        else:  # one figure per task and split: valid/click, valid/conversion, valid/conversion_clicked
            self.bayes = {f"{name}/{key}": value for name, t in self.tables.items()
                          for key, value in multitask_bayes_auc(t, tasks.click_label, tasks.conversion_label).items()}

    def fit_preprocessor(self) -> Preprocessor:
        """The preprocessing fitted on the training split (vocabularies, statistics)."""
        self._load_synthetic()
        preprocessor = Preprocessor(self.schema)
        table = self.tables.get("train")
        origin = "the train table"
        if self.config.data.fit_preprocessing != "memory":
            return fit_out_of_memory(self.schema, self.config.data, table, self.config.train.seed)
        if table is None:
            source: DataSource = self.config.data.train  # type: ignore[assignment]  (plan() checked it)
            table, origin = read_table(source, [*preprocessor.required_columns()]), source.name
        if table.num_rows == 0:
            raise DataError(origin, "the training data has no rows", "at least one data row",
                            "0 rows (an empty or header-only file)")
        with naming_source(origin):
            preprocessor.fit(table)
        return preprocessor

    def batch(self, split: str, preprocessor: Preprocessor) -> Batch | None:
        """A whole split, preprocessed (bad rows dropped and counted), or None when absent."""
        if split in self.tables:
            with naming_source(f"the {split} table"):
                return preprocessor.transform(self.tables[split], self.labels, self.extras)[0]
        source: DataSource | None = getattr(self.config.data, split)
        if source is None or self.config.data.synthetic is not None:
            return None
        return load_batch(source, preprocessor, self.labels, self.extras, self.config.data.max_bad_fraction)[0]

    def _train_loader(self, preprocessor: Preprocessor) -> Any:
        data, train = self.config.data, self.config.train
        if data.streaming and data.train is not None and "train" not in self.tables:
            return StreamingLoader(data.train, preprocessor, self.labels, self.extras, batch_size=train.batch_size,
                                   shuffle=True, seed=train.seed, rows_per_chunk=data.rows_per_chunk,
                                   max_bad_fraction=data.max_bad_fraction,
                                   shuffle_buffer_rows=data.shuffle_buffer_rows, **_shards("data.streaming", StreamingLoader))
        return InMemoryLoader(self.batch("train", preprocessor), train.batch_size, shuffle=True,  # type: ignore[arg-type]
                              seed=train.seed, **_shards("data.train"))

    def _streamed_splits(self) -> set[str]:
        """The evaluation splits a ``data.streaming`` run reads piece by piece (files, not tables)."""
        data = self.config.data
        if not data.streaming or data.synthetic is not None:
            return set()
        return {split for split in ("valid", "test") if split not in self.tables and getattr(data, split) is not None}

    def _eval_loader(self, split: str, batch: Batch | None, size: int, model: Any,
                     stream: Preprocessor | None = None) -> InMemoryLoader | StreamingLoader | None:
        """An evaluation loader; under data-parallel training each rank holds its shard when the
        model's evaluator can gather the ranks' rows (else every rank evaluates the whole split).
        ``stream``: the fitted preprocessing, to read ``split`` piece by piece in file order
        instead of ``batch`` (a ``data.streaming`` run: its valid and test files are never held
        whole either)."""
        gathers = callable(getattr(model.evaluator(self.config.train.gauc_group), "gather", None))
        if stream is not None:
            data = self.config.data
            return StreamingLoader(getattr(data, split), stream, self.labels, self.extras, batch_size=size,
                                   shuffle=False, rows_per_chunk=data.rows_per_chunk,
                                   max_bad_fraction=data.max_bad_fraction,
                                   **(_shards(f"data.{split}", StreamingLoader) if gathers else {}))
        if batch is None:
            return None
        sharded = gathers and len(batch) >= 2 * distributed.world_size()
        return InMemoryLoader(batch, size, shuffle=False, **(_shards("data") if sharded else {}))

    # ------------------------------------------------------------------ training
    def callbacks(self, run_dir: RunDir | None, given: Sequence[Callback] = ()) -> list[Callback]:
        """The fit's callbacks (see module docstring), tracking ones attached to the run; the
        run directory's own writer comes last."""
        train = self.config.train
        made = [build_callback(params, f"train.callbacks[{index}]") for index, params in enumerate(train.callbacks)]
        every: list[Callback] = [*given, *made]
        if not distributed.is_main():  # rank 0 alone reports to trackers
            every = [c for c in every if not isinstance(c, TrackingCallback)]
        if run_dir is not None and train.tensorboard and not any(isinstance(c, TensorBoardCallback) for c in every):
            every.append(TensorBoardCallback())
        context = RunContext(run=run_dir, config=jsonable(self.config))
        for callback in every:
            if isinstance(callback, TrackingCallback):
                callback.attach(context)
        return [*every, *([RunDirCallback(run_dir)] if run_dir is not None else [])]

    def train(self, run_dir: RunDir | None = None, callbacks: Sequence[Callback] = (), *,
              resume: TrainingState | None = None, previous: RunResult | None = None) -> RunResult:
        """Fit the preprocessing, build the model once, train, evaluate valid and test.

        With ``run_dir`` the preprocessing, epochs, checkpoints and metrics are written there
        (the caller writes the config and finishes the run directory). ``resume``: continue
        from a checkpoint of ``run_dir`` (the refitted preprocessing must equal the run's: else
        the data changed). ``previous``: continue training its model and preprocessing
        (``Model.fit`` called again; its optimizer state too when it has one).
        ``train.init_from`` warm-starts a new model (not a resumed or continued one).
        """
        config = self.config
        if previous is not None:
            self._load_synthetic()
            preprocessor = previous.preprocessor
        elif distributed.is_distributed():  # rank 0 fits, every rank uses its fitted state
            if not distributed.is_main():
                self._load_synthetic()
            preprocessor = distributed.on_main(self.fit_preprocessor, "data.train", share=True)
        else:
            preprocessor = self.fit_preprocessor()
        if run_dir is not None:
            if resume is not None:
                check_same_preprocessing(run_dir, preprocessor)
            run_dir.write_preprocessor(preprocessor)  # type: ignore[arg-type]
        seed_everything(config.train.seed)  # initial weights depend only on the config's seed
        if previous is not None:
            model = previous.model
        else:
            model = build_model(config, self.schema, preprocessor)
        if config.train.init_from is not None and resume is None and previous is None:
            report = warm_start(model, config.train.init_from)
            self.warm_start_report = report
            if run_dir is not None:
                run_dir.record(init_from=report)
                run_dir.write_metrics({"init_from": report})
        eval_size = config.train.eval_batch_size or max(config.train.batch_size, 4096)
        train_loader = self._train_loader(preprocessor)
        fit_data = getattr(model, "fit_training_data", None)  # e.g. MatchModel: catalogue, item frequencies
        add_seen = getattr(model, "add_seen_interactions", None)
        streamed = self._streamed_splits() if add_seen is None else set()  # retrieval holds valid whole
        valid_batch, test_batch = (None if split in streamed else self.batch(split, preprocessor)
                                   for split in ("valid", "test"))
        if fit_data is not None and resume is None and previous is None:
            held = getattr(train_loader, "batch", None)  # a streaming run reads its training split once here
            fit_data(held if held is not None else self.batch("train", preprocessor))
            if add_seen is not None and valid_batch is not None:  # test ranking leaves out valid items
                add_seen(valid_batch)
        if resume is None and previous is None:  # a resumed model has its edges in its checkpoint
            fit_hard_negatives(model, config.data.hard_negatives, preprocessor)
        valid_loader = self._eval_loader("valid", valid_batch, eval_size, model,
                                         preprocessor if "valid" in streamed else None)
        test_loader = self._eval_loader("test", test_batch, eval_size, model,
                                        preprocessor if "test" in streamed else None)
        if "test" in streamed:  # read its first piece now: a test file that cannot be used fails before training
            first = next(iter(test_loader), None)  # type: ignore[arg-type]
            if first is not None:
                model.check_batch(first, "test batch")
        every = self.callbacks(run_dir, callbacks)
        trainer = Trainer(model, config.train, every)
        if previous is not None and previous.optimizer_state is not None:
            trainer.optimizer.load_state_dict(previous.optimizer_state)
        tracking = [c for c in every if isinstance(c, TrackingCallback)]
        try:
            history = trainer.fit(train_loader, valid_loader, resume=resume)
        except BaseException:
            for callback in tracking:
                try:
                    callback.close()
                except Exception as exc:  # the fit's own error is the one to report
                    log.warning("%s: could not close after the failed fit: %s", type(callback).__name__, exc)
            raise
        for callback in tracking:
            callback.close()
        valid = trainer.evaluate(valid_loader) if valid_loader is not None else {}
        test = trainer.evaluate(test_loader) if test_loader is not None else {}
        report = format_report(preprocessor.report_, "data")
        best_epoch = None if history.best_epoch is None else history.best_epoch + 1  # 1-based, as printed
        speed = getattr(history, "samples_per_second", 0.0) or 0.0
        if run_dir is not None:
            run_dir.write_metrics({"valid": valid, "test": test, "best_epoch": best_epoch,
                                   "train_samples_per_second": speed, "bayes_auc": self.bayes,
                                   "data_report": preprocessor.report_.to_dict()})
        model.eval()
        return RunResult(run_dir.path if run_dir is not None else None, valid, test, best_epoch, speed, self.bayes,
                         report, model, preprocessor, history, trainer.optimizer.state_dict(),
                         getattr(self, "warm_start_report", None))


def _shards(where: str, loader: Any = InMemoryLoader) -> dict[str, int]:
    """``shard_index``/``num_shards`` for this rank's loader (nothing in a single process)."""
    if not distributed.is_distributed():
        return {}
    if loader is not InMemoryLoader:
        import inspect

        if "num_shards" not in inspect.signature(loader).parameters:
            raise ConfigError(where, "this loader cannot be split between processes", "a loader with shard_index/"
                              "num_shards (or data.streaming: false)", loader.__name__)
    return {"shard_index": distributed.rank(), "num_shards": distributed.world_size()}


def check_same_preprocessing(run_dir: RunDir, preprocessor: Preprocessor) -> None:
    """Refuse to resume on other data: the preprocessing refitted now must equal the run's."""
    if not run_dir.preprocess_path.is_file():
        return  # killed before it was written: nothing to compare
    saved = json.loads(read_text(run_dir.preprocess_path))
    now = json.loads(json.dumps(preprocessor.state_dict(), ensure_ascii=False))
    if saved != now:
        keys = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
        raise ResumeError("data.train", "the training data changed since the run started: the preprocessing "
                          f"fitted on it differs from the run's preprocess.json (in {keys[:3]})",
                          "the data the run was started with", "other data")


def train_run(raw: dict[str, Any], output: str | Path, overwrite: bool = False, command: str = "python") -> RunResult:
    """Train the run described by ``raw`` (a config mapping) into the run directory ``output``.

    The run directory is created only after the config is valid and the data columns are
    checked; it is locked while training writes it and its manifest ends ``complete``, or
    ``failed`` with the error when training raises (see :class:`RunDir` for ``overwrite``).
    ``command`` is recorded in the manifest as what wrote the run. Relative data paths in
    ``raw`` are relative to the current directory (a config file's were resolved when it was
    loaded); ``config.yaml`` records them absolute, so the run reads the same from anywhere.
    """
    raw = absolute_data_paths(raw)
    experiment = Experiment.from_raw(raw)
    experiment.plan()
    if not distributed.is_main():  # data-parallel: rank 0 writes the run directory, the others train silently
        distributed.on_main(lambda: None, str(output))
        return experiment.train(None)
    with distributed.on_main(lambda: RunDir(output, overwrite=overwrite, command=command), str(output)) as run_dir:
        run_dir.write_config(raw)  # complete, or failed on error
        return experiment.train(run_dir)
