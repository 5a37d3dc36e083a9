"""Scoring with a trained model: evaluate and predict, from a run directory or in memory.

``recblocks evaluate`` / ``recblocks predict`` (:func:`evaluate_run`, :func:`predict_run`) open a
finished run directory; :class:`recblocks.runs.Model` scores with the network and
preprocessing it holds. Both go through :func:`data_batch`, :func:`evaluate_batch` and
:func:`predict_batch`, so the same rows give the same numbers either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from recblocks.core.errors import ConfigError, DataError, RecBlocksError
from recblocks.data.loader import InMemoryLoader, StreamingLoader, load_batch
from recblocks.data.readers import DataSource, as_source, iter_file_tables, list_files, naming_source, read_table
from recblocks.data.report import format_report
from recblocks.features.batch import Batch
from recblocks.features.preprocess import Preprocessor
from recblocks.features.schema import Schema
from recblocks.runs.config import (
    RunConfig,
    check_columns,
    check_table_columns,
    label_columns,
    parse_run_config,
    run_extras,
)
from recblocks.runs.experiment import build_model
from recblocks.runs.predictions import check_prediction_output, write_prediction_chunks
from recblocks.runs.run_dir import RunDir
from recblocks.training.devices import resolve_device
from recblocks.training.config import TrainConfig
from recblocks.training.trainer import Trainer

__all__ = ["as_table", "data_batch", "evaluate_batch", "predict_batch", "score_columns", "open_run", "evaluate_run",
           "predict_run", "evaluate_data", "predict_data", "predict_chunks", "read_like_training", "EVAL_BATCH_SIZE"]

#: Rows per forward pass when scoring, unless the train config sets ``eval_batch_size``.
EVAL_BATCH_SIZE = 8192


def as_table(data: Any) -> pa.Table | None:
    """An in-memory pyarrow table for ``data`` (pandas frames are converted), else None."""
    if isinstance(data, pa.Table):
        return data
    if type(data).__module__.startswith("pandas") and hasattr(data, "columns"):
        return pa.Table.from_pandas(data, preserve_index=False)
    return None


def data_batch(data: Any, preprocessor: Preprocessor, labels: Mapping[str, str], extras: list[str],
               max_bad_fraction: float | None = None, where: str = "data", keep: list[str] | None = None
               ) -> tuple[Batch, pa.Table | None, str]:
    """``data`` (a path, a data-source mapping, a pyarrow table or a pandas frame) preprocessed.

    Returns the batch (features, the ``labels`` columns, the ``extras`` columns), the table when
    it was read whole (it holds the ``keep`` columns, e.g. passthrough columns for predictions;
    None when nothing needs keeping), and the data's name for messages.
    """
    preprocessor.reset_report()
    keep = list(keep or [])
    table = as_table(data)
    if table is None:
        source = as_source(data, where)
        name = source.name
        check_columns(source, preprocessor, dict(labels), [*extras, *keep])
        if labels and not keep:  # evaluation: rows with bad labels are dropped and counted
            return load_batch(source, preprocessor, labels, extras, max_bad_fraction)[0], None, name
        columns = [*preprocessor.required_columns(), *labels, *extras, *keep]
        table = read_table(source, list(dict.fromkeys(columns)))
    else:
        name = "the table"
        check_table_columns(table, preprocessor, dict(labels), [*extras, *keep], name)
    if table.num_rows == 0:
        raise DataError(name, "no rows to score", "at least one data row", "0 rows (an empty or header-only file)")
    with naming_source(name):
        batch, _ = preprocessor.transform(table, dict(labels) or None, extras)
    return batch, table, name


def _trainer(model: Any, train: TrainConfig, device: str | None = None) -> Trainer:
    """A trainer that scores in float32 on ``device`` (None: where the model is, not the device
    the run trained on: a run trained on a GPU scores on a machine without one)."""
    return Trainer(model, train.model_copy(update={"progress": False, "device": device, "mixed_precision": "none"}))


def _scoring_batch_size(train: TrainConfig, batch_size: int | None) -> int:
    """Rows per scoring batch: the caller's, else ``train.eval_batch_size``, else the default."""
    return batch_size or train.eval_batch_size or EVAL_BATCH_SIZE


def evaluate_batch(model: Any, train: TrainConfig, batch: Batch, where: str, batch_size: int | None = None,
                   device: str | None = None) -> dict[str, float]:
    """The model's evaluator over ``batch`` (eval mode, no gradients)."""
    loader = InMemoryLoader(batch, _scoring_batch_size(train, batch_size), shuffle=False)
    return _trainer(model, train, device).evaluate(loader, where=where)


def predict_batch(model: Any, train: TrainConfig, batch: Batch, where: str, batch_size: int | None = None,
                  device: str | None = None) -> dict[str, np.ndarray]:
    """Activated outputs (and extra outputs) per name, in row order."""
    loader = InMemoryLoader(batch, _scoring_batch_size(train, batch_size), shuffle=False)
    return _trainer(model, train, device).predict(loader, where=where)


def score_columns(scores: Mapping[str, np.ndarray]) -> dict[str, pa.Array]:
    """One column per output; a ``(N, C)`` output becomes columns ``<name>_0 .. <name>_{C-1}``."""
    columns: dict[str, pa.Array] = {}
    for name, values in scores.items():
        if getattr(values, "ndim", 1) == 2:
            for c in range(values.shape[1]):
                columns[f"{name}_{c}"] = pa.array(values[:, c])
        else:
            columns[name] = pa.array(values)
    return columns


def check_passthrough(keep: list[str], scores: list[str], where: str) -> None:
    """A passthrough column may not share a name with a score column (it would be replaced)."""
    for name in keep:
        if name in scores:
            raise ConfigError(f"{where} {name}", f"the passthrough column '{name}' has the name of the score column "
                              f"'{name}', which would replace it", f"passthrough columns other than {scores}",
                              repr(name))


def open_run(run_dir: str | Path, allow_unfinished: bool = False, warn: Callable[[str], None] | None = None
             ) -> tuple[RunDir, RunConfig, Schema, Preprocessor, Any]:
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


def read_like_training(data: str | Path | dict[str, Any], config: RunConfig, where: str = "--data") -> DataSource:
    """The source for ``data``; a bare path is read as the run's header-less training text was.

    EasyRec's CSV/TSV files have no header line: their columns are the ``input_fields`` in order
    (the translated ``data.train`` has ``header: false``, ``column_names`` and the ``separator``).
    A path given to ``recblocks predict``/``evaluate`` for such a run is read with the same
    format, delimiter, column names and null values, unless it is Parquet; a mapping is taken as
    it is written.
    """
    train = config.data.train
    if not isinstance(data, (str, Path)) or train is None or train.header or not train.column_names:
        return as_source(data, where)
    source = DataSource(path=str(data))
    if any(_is_parquet(path) for path in list_files(source)):
        return source
    return DataSource(path=str(data), format="csv", delimiter=train.delimiter, header=False,
                      column_names=list(train.column_names), null_values=train.null_values)


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def _source(data: Any, config: RunConfig, where: str) -> Any:
    """``data`` as :func:`data_batch` takes it: a table as it is, a path read as training read its text."""
    return data if as_table(data) is not None else read_like_training(data, config, where)


def evaluate_data(model: Any, config: RunConfig, preprocessor: Preprocessor, data: Any, where: str = "--data",
                  batch_size: int | None = None, device: str | None = None) -> dict[str, float]:
    """Metrics of ``model`` on ``data`` (a path, a data-source mapping, a pyarrow table or a pandas
    frame) with the run config's labels, extra columns and bad-row limit."""
    labels = label_columns(config.model, config.data.soft_labels)
    source = _source(data, config, where)
    if config.data.streaming and as_table(source) is None:
        return _evaluate_streaming(model, config, preprocessor, as_source(source, where), labels, batch_size, device)
    batch, _, name = data_batch(source, preprocessor, labels, run_extras(config), config.data.max_bad_fraction, where)
    return evaluate_batch(model, config.train, batch, f"evaluation of {name}", batch_size, device)


def _evaluate_streaming(model: Any, config: RunConfig, preprocessor: Preprocessor, source: DataSource,
                        labels: Mapping[str, str], batch_size: int | None, device: str | None) -> dict[str, float]:
    """A ``data.streaming`` run's evaluation: the file read, transformed and scored piece by piece
    (``data.rows_per_chunk`` rows at a time), so its size is not bounded by memory."""
    preprocessor.reset_report()
    extras = run_extras(config)
    check_columns(source, preprocessor, dict(labels), extras)
    loader = StreamingLoader(source, preprocessor, labels, extras, shuffle=False,
                             batch_size=_scoring_batch_size(config.train, batch_size),
                             rows_per_chunk=config.data.rows_per_chunk, max_bad_fraction=config.data.max_bad_fraction)
    return _trainer(model, config.train, device).evaluate(loader, where=f"evaluation of {source.name}")


def predict_chunks(model: Any, config: RunConfig, preprocessor: Preprocessor, data: Any, where: str = "--data",
                   keep: list[str] | None = None, batch_size: int | None = None, rows_per_chunk: int | None = None,
                   device: str | None = None) -> Iterator[tuple[pa.Table, dict[str, np.ndarray]]]:
    """``(the chunk's keep columns, its activated outputs per name)`` of ``data`` (a path, a
    data-source mapping, a pyarrow table or a pandas frame), chunk by chunk in row order.

    Files are read ``rows_per_chunk`` rows at a time (default ``data.rows_per_chunk``) and only
    the chunk being scored is held, so data larger than memory streams through. A row the
    preprocessing drops is a DataError; so is data without rows.
    """
    preprocessor.reset_report()
    keep = list(dict.fromkeys(keep or []))
    data = _source(data, config, where)
    size = rows_per_chunk or config.data.rows_per_chunk
    table = as_table(data)
    if table is None:
        source = as_source(data, where)
        name = source.name
        check_columns(source, preprocessor, {}, keep)
        columns = list(dict.fromkeys([*preprocessor.required_columns(), *keep]))
        chunks: Iterator[tuple[Any, pa.Table]] = iter_file_tables(source, columns, size)
    else:
        name = "the table"
        check_table_columns(table, preprocessor, {}, keep, name)
        chunks = ((name, table.slice(i, size)) for i in range(0, table.num_rows, size))
    rows = 0
    offsets: dict[Any, int] = {}
    for origin, chunk in chunks:
        offset = offsets.get(origin, 0)
        offsets[origin] = offset + chunk.num_rows
        with naming_source(origin):
            batch, report = preprocessor.transform(chunk, None, [], row_offset=offset)
        if report.bad_rows:
            raise DataError(name, "rows were dropped while predicting", "no dropped rows", report.bad_rows)
        scores = predict_batch(model, config.train, batch, f"prediction of {name}", batch_size, device)
        rows += chunk.num_rows
        yield chunk.select(keep), scores
    if rows == 0:
        raise DataError(name, "no rows to score", "at least one data row", "0 rows (an empty or header-only file)")


def predict_data(model: Any, config: RunConfig, preprocessor: Preprocessor, data: Any, where: str = "--data",
                 keep: list[str] | None = None, batch_size: int | None = None, device: str | None = None
                 ) -> tuple[dict[str, np.ndarray], pa.Table | None, str]:
    """Activated outputs per name (row order) of ``model`` on ``data``, a table of the ``keep``
    columns and the data's name; a row the preprocessing drops is a DataError. The data is read
    and scored chunk by chunk (:func:`predict_chunks`): only the outputs and ``keep`` columns are
    held whole."""
    kept: list[pa.Table] = []
    parts: dict[str, list[np.ndarray]] = {}
    for chunk, scores in predict_chunks(model, config, preprocessor, data, where, keep, batch_size, device=device):
        kept.append(chunk)
        for key, values in scores.items():
            parts.setdefault(key, []).append(values)
    source = _source(data, config, where)
    name = "the table" if as_table(source) is not None else as_source(source, where).name
    table = pa.concat_tables(kept) if keep else None
    return {key: np.concatenate(values) for key, values in parts.items()}, table, name


def evaluate_run(run_dir: str | Path, data: str | Path | dict[str, Any], allow_unfinished: bool = False,
                 warn: Callable[[str], None] | None = None, device: str | None = None) -> tuple[dict[str, float], str]:
    """Metrics of a trained run on ``data`` with the run's fitted preprocessing.

    An unfinished or damaged run is refused unless ``allow_unfinished`` (then ``warn`` - default
    a log warning - is told why). ``device``: where to score (``cpu | cuda | cuda:N | auto``;
    None: the CPU, whatever device the run trained on).
    """
    if device is not None:
        resolve_device(device, "--device")  # before reading anything
    _, config, _, preprocessor, model = open_run(run_dir, allow_unfinished, warn)
    metrics = evaluate_data(model, config, preprocessor, data, "--data", device=device)
    return metrics, format_report(preprocessor.report_, "data")


def predict_run(run_dir: str | Path, data: str | Path | dict[str, Any], output: str | Path,
                passthrough: list[str] | None = None, overwrite: bool = False, allow_unfinished: bool = False,
                warn: Callable[[str], None] | None = None, device: str | None = None) -> tuple[int, str]:
    """Write one score column per task (plus extra outputs and passthrough columns) to
    ``.parquet``, ``.csv`` or ``.tsv``, chunk by chunk: the data is read, scored and written
    ``data.rows_per_chunk`` rows at a time, so memory stays bounded for data of any size.

    The output is checked before any work (:func:`check_prediction_output`: never an input,
    a run file, a folder, or a file recblocks did not write; ``overwrite`` replaces only
    recblocks' own earlier Parquet output) and written through a temporary file renamed into
    place. A passthrough column named like a score column is a ConfigError. ``device``: as
    :func:`evaluate_run`'s.
    """
    if device is not None:
        resolve_device(device, "--device")  # before reading anything
    path = check_prediction_output(output, [as_source(data, "--data")], Path(run_dir), overwrite)
    run, config, _, preprocessor, model = open_run(run_dir, allow_unfinished, warn)
    where = "--passthrough" if passthrough else "data.passthrough"
    keep = list(dict.fromkeys(passthrough or config.data.passthrough))
    check_passthrough(keep, [task.name for task in getattr(model, "tasks", [])], where)
    checked: list[bool] = []

    def tables() -> Iterator[pa.Table]:
        for chunk, scores in predict_chunks(model, config, preprocessor, data, "--data", keep, device=device):
            columns = score_columns(scores)
            if not checked:
                check_passthrough(keep, list(columns), where)
                checked.append(True)
            yield pa.table({**{key: chunk.column(key) for key in keep}, **columns})

    rows = write_prediction_chunks(tables(), path, run.path)
    return rows, format_report(preprocessor.report_, "data")
