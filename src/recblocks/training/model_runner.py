"""``Model.fit/evaluate/predict`` through the code path of ``recblocks train``.

:class:`~recblocks.models.Model` cannot import this layer, so importing ``recblocks.training``
registers an :class:`ExperimentRunner` with :func:`recblocks.models.model.set_runner`.

``fit`` writes the model's run config and calls :func:`~recblocks.training.experiment.train_run`
(same preprocessing, loaders, seeding and Trainer as the command line), after seeding with
``train.seed`` so the initial weights depend only on the seed; in-memory tables are written
to temporary Parquet files first. The trained weights and fitted preprocessing are then loaded
back into the model. ``evaluate``/``predict`` follow ``evaluate_run``/``predict_run`` with the
model's in-memory network and preprocessing.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from recblocks.core.errors import ConfigError, DataError
from recblocks.core.params import parse_params
from recblocks.data.loader import InMemoryLoader, load_batch
from recblocks.data.readers import as_source
from recblocks.features.batch import Batch
from recblocks.features.preprocess import Preprocessor
from recblocks.models.model import Model, set_runner
from recblocks.training.config import TrainConfig
from recblocks.training.experiment import RunResult, check_columns, label_columns, train_run
from recblocks.training.run_dir import RunDir
from recblocks.training.trainer import Trainer, seed_everything

__all__ = ["ExperimentRunner"]


def _table(data: Any) -> pa.Table | None:
    """An in-memory pyarrow table for ``data`` (pandas frames are converted), else None."""
    if isinstance(data, pa.Table):
        return data
    if type(data).__module__.startswith("pandas") and hasattr(data, "columns"):
        return pa.Table.from_pandas(data, preserve_index=False)
    return None


def _source(data: Any, folder: Path, split: str) -> Any:
    """A ``data`` section entry: paths and mappings as they are, tables written to Parquet."""
    table = _table(data)
    if table is not None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{split}.parquet"
        pq.write_table(table, path)
        return str(path)
    if isinstance(data, (str, Path)):
        return str(data)
    if isinstance(data, Mapping):
        return dict(data)
    raise ConfigError(f"fit({split}=...)", "unsupported data", "a path, a data-source mapping, a pyarrow Table or "
                      "a pandas DataFrame", type(data).__name__)


class ExperimentRunner:
    """Runs a :class:`Model` with :mod:`recblocks.training.experiment` (see module docstring)."""

    def fit(self, model: Model, train: Any, valid: Any = None, test: Any = None, *,
            output: str | Path | None = None, overwrite: bool = False, data: Mapping[str, Any] | None = None,
            train_config: Mapping[str, Any] | None = None) -> RunResult:
        """Train ``model`` (see :meth:`Model.fit`); returns the run result."""
        stored = dict(model.data_config or {})
        if train is None and not (stored.get("train") or stored.get("synthetic")):
            raise ConfigError("fit(train=...)", "no training data", "a path, a table, or a loaded data section",
                              "None")
        train_section = {**(model.train_config or {}), **dict(train_config or {})}
        train_cfg = parse_params(TrainConfig, train_section, "train")
        scratch = Path(tempfile.mkdtemp(prefix="recblocks-fit-"))
        try:
            given = train is not None
            data_section = {k: v for k, v in stored.items()
                            if not given or k not in ("train", "valid", "test", "synthetic")}
            data_section.update(dict(data or {}))
            for split, value in (("train", train), ("valid", valid), ("test", test)):
                if value is not None:
                    data_section[split] = _source(value, scratch / "data", split)
            raw = model.to_run_config(data=data_section, train=train_section)
            seed_everything(train_cfg.seed)
            result = train_run(raw, output if output is not None else scratch / "run", overwrite=overwrite)
            with RunDir.open(result.run_dir) as run:
                preprocessor = run.read_preprocessor()
                module = model.build(preprocessor, memory_limit_gb=train_cfg.memory_limit_gb)
                run.load_weights(module)
            module.eval()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        model.preprocessor = preprocessor
        model.fitted_train_config = train_section
        model.run_dir = Path(output) if output is not None else None
        return result if output is not None else replace(result, run_dir=None)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ evaluate / predict
    def _fitted(self, model: Model, what: str) -> tuple[Any, Preprocessor, TrainConfig, Mapping[str, str]]:
        if model.module is None or model.preprocessor is None:
            raise ConfigError(f"Model.{what}", "the model is not trained", "call fit(...) first", "an untrained model")
        train_cfg = parse_params(TrainConfig, model.fitted_train_config or {}, "train")
        labels = label_columns(model.config)
        return model.module, model.preprocessor, train_cfg.model_copy(update={"progress": False}), labels

    def _batch(self, data: Any, preprocessor: Preprocessor, labels: Mapping[str, str], extras: list[str]) -> Batch:
        preprocessor.reset_report()
        table = _table(data)
        if table is None:
            source = as_source(data, "data")
            check_columns(source, preprocessor, dict(labels), extras)
            return load_batch(source, preprocessor, labels, extras)[0]
        available = table.column_names
        wanted = [(f"feature '{f.name}'", f.source_column) for f in preprocessor.schema]
        wanted += [(f"label '{n}'", n) for n in labels] + [(f"column '{n}'", n) for n in extras]
        for where, column in wanted:
            if column not in available:
                raise DataError(where, f"column '{column}' is missing from the table", f"one of {available}",
                                repr(column), choices=available)
        return preprocessor.transform(table, labels, extras)[0]

    def evaluate(self, model: Model, data: Any, batch_size: int | None = None) -> dict[str, float]:
        """Metrics of the trained model on ``data`` (as ``recblocks evaluate``)."""
        module, preprocessor, cfg, labels = self._fitted(model, "evaluate")
        extras = [cfg.gauc_group] if cfg.gauc_group else []
        batch = self._batch(data, preprocessor, labels, extras)
        size = batch_size or cfg.eval_batch_size or max(cfg.batch_size, 4096)
        return Trainer(module, cfg).evaluate(InMemoryLoader(batch, size, shuffle=False))

    def predict(self, model: Model, data: Any, batch_size: int | None = None) -> dict[str, np.ndarray]:
        """Activated outputs per task (as ``recblocks predict``; no label needed)."""
        module, preprocessor, cfg, _ = self._fitted(model, "predict")
        batch = self._batch(data, preprocessor, {}, [])
        if preprocessor.report_.bad_rows:
            raise DataError("predict", "rows were dropped while predicting", "no dropped rows",
                            preprocessor.report_.bad_rows)
        size = batch_size or cfg.eval_batch_size or max(cfg.batch_size, 4096)
        return Trainer(module, cfg).predict(InMemoryLoader(batch, size, shuffle=False))


set_runner(ExperimentRunner())
