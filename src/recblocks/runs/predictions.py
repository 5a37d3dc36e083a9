"""Where ``recblocks predict`` may write its scores, and writing them safely.

:func:`check_prediction_output` runs before any work and refuses (:class:`OutputPathError`,
naming the path and why) an output that:

- is an existing folder;
- is one of the ``--data`` files (also through a symlink, ``..`` or a hard link), or lies in
  an input folder, or matches an input glob;
- lies inside the run directory being used, or inside any other recblocks run directory
  (a folder with a recblocks ``run.json``): weights, ``preprocess.json``, the config...;
- has an extension other than ``.parquet``, ``.csv`` or ``.tsv`` (case-insensitive);
- exists, unless ``overwrite`` is given *and* the file is recblocks' own earlier prediction
  output. Parquet output carries the schema metadata key ``recblocks.predictions`` (JSON:
  recblocks version, run directory, time), which is how it is recognised. CSV/TSV files
  cannot carry such a mark, so recblocks never overwrites an existing CSV/TSV file: remove
  it yourself, or write Parquet.

All checks compare resolved paths (``~``, ``..``, symlinks). :func:`write_predictions` writes
through a temporary file in the output's folder, renamed into place: on any error (a full
disk, a file size limit, permission) the temporary file is removed, an earlier file at the
path is left as it was, no truncated result remains, and the error names the path.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

import recblocks
from recblocks.core.files import (
    OutputPathError,
    atomic_write,
    make_dirs,
    path_kind,
    resolve_path,
)
from recblocks.data.readers import DataSource, list_files
from recblocks.runs.manifest import MANIFEST, is_run_manifest, now

__all__ = ["OUTPUT_FORMATS", "PREDICTIONS_KEY", "check_prediction_output", "write_predictions",
           "write_prediction_chunks",
           "is_prediction_file"]

#: Output extension -> CSV delimiter (None: Parquet).
OUTPUT_FORMATS: dict[str, str | None] = {".parquet": None, ".csv": ",", ".tsv": "\t"}
#: Parquet schema metadata key marking a file as recblocks' prediction output.
PREDICTIONS_KEY = b"recblocks.predictions"


def is_prediction_file(path: Path) -> bool:
    """Whether ``path`` is a Parquet file recblocks wrote with :func:`write_predictions`."""
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (pa.ArrowException, OSError, ValueError):
        return False
    return PREDICTIONS_KEY in metadata


def _inputs(sources: Sequence[DataSource]) -> tuple[list[Path], list[Path], list[str]]:
    """Resolved input files, input folders and input globs of the sources."""
    files: list[Path] = []
    folders: list[Path] = []
    globs: list[str] = []
    for source in sources:
        for given in source.paths:
            if any(ch in given for ch in "*?["):
                globs.append(str(resolve_path(given)))
            elif resolve_path(given).is_dir():
                folders.append(resolve_path(given))
        files.extend(resolve_path(p) for p in list_files(source))
    return files, folders, globs


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (hard links, case-insensitive file systems)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_prediction_output(output: str | Path, sources: Sequence[DataSource], run_dir: Path,
                            overwrite: bool = False, where: str = "--output") -> Path:
    """The resolved output path, or :class:`OutputPathError` (see module docstring)."""
    path = resolve_path(output)
    label = f"{where} {output}" if Path(str(output)) == path else f"{where} {output} (= {path})"
    suffix, kind = path.suffix.lower(), path_kind(path)
    if kind == "folder":
        raise OutputPathError(label, "the output is an existing folder", "a file path such as "
                              f"{Path(str(output)) / 'scores.parquet'}", "a folder")
    files, folders, globs = _inputs(sources)
    if path in files or (kind == "file" and any(_same_file(path, f) for f in files)):
        raise OutputPathError(label, "the output is an input of this prediction; it would be overwritten",
                              "a path that is not one of the --data files", "the input file")
    for folder in folders:
        if folder in path.parents:
            raise OutputPathError(label, "the output lies in an input folder (it would become an input)",
                                  "a path outside the --data folder", str(folder))
    for pattern in globs:
        if fnmatch.fnmatch(str(path), pattern):
            raise OutputPathError(label, "the output matches the --data glob (it would become an input)",
                                  "a path the glob does not match", pattern)
    run = resolve_path(run_dir)
    if path == run or run in path.parents:
        raise OutputPathError(label, "the output lies inside the run directory (weights, preprocess.json, "
                              "config...)", "a path outside the run directory", str(run))
    for folder in path.parents:
        if is_run_manifest(folder / MANIFEST):
            raise OutputPathError(label, "the output lies inside a recblocks run directory",
                                  "a path outside every run directory", str(folder))
    if suffix not in OUTPUT_FORMATS:
        raise OutputPathError(label, "unknown output format", f"a file name ending in one of {list(OUTPUT_FORMATS)}",
                              repr(path.suffix or path.name))
    if kind == "file":
        if not overwrite:
            raise OutputPathError(label, "the output file exists; pass --overwrite to replace recblocks' own "
                                  "earlier prediction output", "a new file", "an existing file")
        if OUTPUT_FORMATS[suffix] is not None:
            raise OutputPathError(label, "refusing to overwrite an existing CSV/TSV file: recblocks cannot tell "
                                  "its own output from another file there; remove it yourself or write .parquet",
                                  "a new file", "an existing file")
        if not is_prediction_file(path):
            raise OutputPathError(label, "refusing to overwrite a file recblocks did not write (no "
                                  "'recblocks.predictions' Parquet metadata)", "recblocks' own earlier "
                                  "prediction output", "another file")
    return path


def write_predictions(table: pa.Table, path: Path, run_dir: Path) -> Path:
    """Write ``table`` to ``path`` (checked by :func:`check_prediction_output`) atomically."""
    write_prediction_chunks(iter([table]), path, run_dir)
    return path


def _marked(schema: pa.Schema, delimiter: str | None, run_dir: Path) -> pa.Schema:
    if delimiter is not None:
        return schema
    mark = {"recblocks_version": recblocks.__version__, "run": str(run_dir), "written": now()}
    return schema.with_metadata({**(schema.metadata or {}), PREDICTIONS_KEY: json.dumps(mark).encode()})


def write_prediction_chunks(tables: Iterator[pa.Table], path: Path, run_dir: Path) -> int:
    """Write the ``tables`` (one schema) one after another to ``path`` (checked by
    :func:`check_prediction_output`) through a temporary file renamed into place; returns the rows.

    Only the table being written is held: Parquet gets a row group per table
    (``pyarrow.parquet.ParquetWriter``), CSV/TSV appends rows after one header line. An error
    from ``tables`` (or the disk) leaves no file and no folder it created.
    """
    delimiter = OUTPUT_FORMATS[path.suffix.lower()]
    created = make_dirs(path.parent)
    rows = [0]

    def write(tmp: Path) -> None:
        writer: Any = None
        schema: pa.Schema | None = None
        try:
            for table in tables:
                if writer is None:
                    schema = _marked(table.schema, delimiter, run_dir)
                    writer = _open_writer(tmp, schema, delimiter)
                writer.write_table(table if table.schema.equals(schema) else table.cast(schema))
                rows[0] += table.num_rows
        finally:
            if writer is not None:
                writer.close()

    try:
        atomic_write(path, write)
    except BaseException:
        for folder in reversed(created):  # leave no empty folders behind either
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    return rows[0]


def _open_writer(path: Path, schema: pa.Schema, delimiter: str | None) -> Any:
    """A Parquet writer (``delimiter`` None) or a CSV writer appending tables to ``path``."""
    if delimiter is None:
        return pq.ParquetWriter(path, schema)
    return pacsv.CSVWriter(path, schema, write_options=pacsv.WriteOptions(delimiter=delimiter))
