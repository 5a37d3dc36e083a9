"""What the server scores with: the :class:`Scorer` interface and :class:`RunScorer`.

A scorer turns JSON rows (one mapping of column -> value per row) into one list of scores per
output column, in row order: ``score(rows) -> {"ctr": [0.31, ...], ...}``, the columns
``recblocks predict`` writes (a ``(N, C)`` output is ``<name>_0 .. <name>_{C-1}``). ``check(rows)``
runs first, per request, and raises :class:`RowError` naming the first bad row and field, so a
request with a bad row never reaches a batch shared with other requests.

:class:`RunScorer` scores with the eager network of a run directory through
:meth:`recblocks.runs.Model.predict` (the code path of ``recblocks predict``); :class:`ExportScorer`
with an export folder's preprocessing and graph (ONNX Runtime, TorchScript or ``torch.export``, as
the folder's manifest says); :func:`scorer_for` picks one by what the path holds.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from recblocks.features.schema import ID_KINDS
from recblocks.runs import load_run
from recblocks.runs.scoring import score_columns

__all__ = ["Scorer", "RunScorer", "ExportScorer", "RowError", "column_kinds", "rows_to_table", "scorer_for"]

_NUMERIC_KINDS = ("dense", "bucketized")


class RowError(ValueError):
    """A bad request row: ``rows[<index>].<field>: <problem>`` (the server answers 422)."""

    def __init__(self, index: int | None, field: str | None, problem: str) -> None:
        where = "rows" if index is None else f"rows[{index}]"
        self.index, self.field, self.problem = index, field, problem
        self.where = f"{where}.{field}" if field else where
        super().__init__(f"{self.where}: {problem}")


class Scorer(Protocol):
    """Scores JSON rows; what the server needs of a model."""

    #: The input columns every row must hold.
    columns: list[str]
    #: The output columns ``score`` returns.
    outputs: list[str]

    def check(self, rows: Sequence[Any]) -> None:
        """Raise :class:`RowError` for the first row or field that cannot be scored."""

    def score(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[float]]:
        """One list of scores per output column, in row order (rows already checked)."""


def _feature_kind(feature: Any) -> str:
    if feature.kind in _NUMERIC_KINDS:
        return "numeric"
    if feature.kind in ("multi", "sequence"):
        return "ids" if getattr(feature, "separator", None) else "id_list"
    return "id" if feature.kind in ID_KINDS else "any"


def column_kinds(schema: Any) -> dict[str, str]:
    """Input column -> what its JSON values must be: ``numeric`` (dense / bucketized features),
    ``id`` (a string or integer: sparse, hashed), ``ids`` (a separated string or a list: multi /
    sequence with a ``separator``), ``id_list`` (a list: multi / sequence without one) or ``any``
    (a column read by features of different kinds)."""
    kinds: dict[str, set[str]] = {}
    for feature in schema:
        for column in feature.source_columns:
            kinds.setdefault(column, set()).add(_feature_kind(feature))
    return {c: k.pop() if len(k) == 1 else "any" for c, k in kinds.items()}


def _id_value(value: Any) -> Any:
    """A JSON id as the preprocessing reads it: strings as they are, integers as their digits."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected a string or an integer id, got {_json_type(value)}")


def _numeric_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"expected a number, got the string {value[:40]!r}") from None
        return number
    raise ValueError(f"expected a number, got {_json_type(value)}")


def _json_type(value: Any) -> str:
    return {bool: "a boolean", dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def _convert(value: Any, kind: str) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("expected a finite number")
    if isinstance(value, dict):
        raise ValueError(f"expected {_EXPECTED[kind]}, got an object")
    if isinstance(value, list):
        if kind == "id":
            raise ValueError("expected one id (a string or an integer), got a list")
        if kind in ("ids", "id_list"):
            return [_id_value(v) for v in value]
        if kind == "numeric":
            return [_numeric_value(v) for v in value]
        if any(isinstance(v, (list, dict)) for v in value):
            raise ValueError("expected a flat list of strings or numbers")
        return value
    if kind == "id_list" and value is not None:
        raise ValueError(f"expected a list of ids, got {_json_type(value)}")
    return _id_value(value) if kind in ("id", "ids") else _numeric_value(value) if kind == "numeric" else value


_EXPECTED = {"numeric": "a number", "id": "a string or an integer id", "ids": "a list of ids or a separated string",
             "id_list": "a list of ids", "any": "a string, a number or a list"}


def rows_to_table(rows: Sequence[Any], kinds: Mapping[str, str]) -> pa.Table:
    """The input columns of ``rows`` as a pyarrow table (ids as strings, numbers as floats).

    Raises:
        RowError: naming the first row that is not an object, lacks a column (with the nearest
            key it has, when one is close), or holds a value of the wrong type.
    """
    if not isinstance(rows, list) or not rows:
        raise RowError(None, None, "expected a non-empty list of row objects")
    columns: dict[str, list[Any]] = {name: [] for name in kinds}
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RowError(index, None, f"expected an object of column -> value, got {_json_type(row)}")
        for name, kind in kinds.items():
            if name not in row:
                near = difflib.get_close_matches(name, [str(k) for k in row if k not in kinds], n=1)
                hint = f"; did you mean '{near[0]}'?" if near else ""
                raise RowError(index, name, f"missing; expected every row to hold {list(kinds)[:8]}{hint}")
            try:
                columns[name].append(_convert(row[name], kind))
            except ValueError as exc:
                raise RowError(index, name, str(exc)) from None
    arrays = {}
    for name, values in columns.items():
        try:
            arrays[name] = pa.array(values)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            arrays[name] = _find_mixed(name, values)
    return pa.table(arrays)


def _find_mixed(name: str, values: list[Any]) -> pa.Array:
    """Raise the RowError of the first value whose type differs from the column's first one."""
    first = next((v for v in values if v is not None), None)
    for index, value in enumerate(values):
        if value is not None and _json_type(value) != _json_type(first):
            raise RowError(index, name, f"expected {_json_type(first)} as in the rows before, got {_json_type(value)}")
        if isinstance(value, list):
            try:
                pa.array(value)
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                raise RowError(index, name, "expected a list of values of one type") from None
    raise RowError(None, name, "the values cannot form one column")


class _TableScorer:
    """The common part of the scorers: JSON rows -> a checked table -> ``_predict`` -> score columns."""

    kinds: dict[str, str]
    columns: list[str]
    outputs: list[str]
    info: dict[str, Any]

    def _setup(self, preprocessor: Any) -> None:
        kinds = column_kinds(preprocessor.schema)
        self.columns = preprocessor.required_columns()
        self.kinds = {name: kinds.get(name, "any") for name in self.columns}
        self.outputs = list(score_columns(self._predict(self._probe())))

    def _predict(self, table: pa.Table) -> Any:
        raise NotImplementedError

    def _probe(self) -> pa.Table:
        """One row of missing values: scored once at start, to learn the output columns and warm up."""
        return pa.table({name: pa.array([[]], pa.list_(pa.string())) if kind == "id_list" else
                         pa.array([None], pa.float64() if kind == "numeric" else pa.string())
                         for name, kind in self.kinds.items()})

    def check(self, rows: Sequence[Any]) -> None:
        rows_to_table(rows, self.kinds)

    def score(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[float]]:
        table = rows_to_table(list(rows), self.kinds)
        scores = score_columns(self._predict(table))
        return {name: column.to_pylist() for name, column in scores.items()}


class RunScorer(_TableScorer):
    """The eager model of a finished run directory (:func:`recblocks.load`).

    Args:
        run_dir: a run written by ``recblocks train`` (refused when unfinished, failed or changed,
            as ``recblocks predict`` refuses it).
        batch_size: rows per forward pass (None: the run's ``eval_batch_size``, else 8192).
    """

    def __init__(self, run_dir: str | Path, batch_size: int | None = None) -> None:
        self.model = load_run(run_dir)
        self.run_dir = self.model.run_dir
        self.batch_size = batch_size
        preprocessor = self.model.preprocessor
        assert preprocessor is not None
        config = self.model.fitted_run_config
        self.model_name = config.model.model_name if config is not None else None
        #: What ``GET /health`` shows about the model.
        self.info = {"run": str(self.run_dir), "model": self.model_name}
        self._setup(preprocessor)

    def _predict(self, table: pa.Table) -> Any:
        return self.model.predict(table, self.batch_size)


class ExportScorer(_TableScorer):
    """An export folder (``recblocks export``): its preprocessing, then its graph in ONNX Runtime,
    TorchScript or ``torch.export``, chosen by the folder's manifest (:func:`recblocks.export.load_export`).

    Args:
        folder: the folder ``recblocks export`` wrote (``manifest.json`` beside the graph).
    """

    def __init__(self, folder: str | Path) -> None:
        from recblocks.export.package import load_export

        self.export = load_export(folder)
        manifest = self.export.manifest
        #: What ``GET /health`` shows about the model.
        source = manifest.get("source_run")
        self.info = {"export": str(Path(folder)), "format": manifest.get("export_format"),
                     "run": source.get("path") if isinstance(source, dict) else None}
        self._setup(self.export.preprocessor)

    def _predict(self, table: pa.Table) -> Any:
        return self.export.predict(table)


def scorer_for(path: str | Path) -> RunScorer | ExportScorer:
    """The scorer of a run directory, or of an export folder (one holding ``manifest.json``)."""
    from recblocks.export.package import MANIFEST

    return ExportScorer(path) if (Path(path) / MANIFEST).is_file() else RunScorer(path)
