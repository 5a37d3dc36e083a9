"""Read parquet, CSV, RTP and TFRecord files (one file, a directory of shards, a glob, or a list of those) into pyarrow tables.

Only the requested columns are read. :func:`read_table` loads everything at once;
:func:`iter_tables` streams chunks (parquet row-group batches, CSV blocks) so a dataset
larger than memory can be transformed piece by piece.
"""

from __future__ import annotations

import glob as globlib
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pydantic import Field, model_validator

from recblocks.core.errors import ConfigError, DataError
from recblocks.core.limits import MAX_CSV_BLOCK_BYTES
from recblocks.core.params import Params, parse_params
from recblocks.data.rtp import RtpLayout, line_options, rtp_kv_table, rtp_options, rtp_table
from recblocks.data.tfrecord import record_tables, tfrecord_keys
from recblocks.features.columns import short_repr

__all__ = ["DataSource", "as_source", "list_files", "file_format", "read_columns", "read_table", "iter_tables",
           "iter_file_tables", "iter_row_group", "naming_source", "RtpLayout"]

_PARQUET = (".parquet", ".pq")
_CSV = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_COMPRESSED = (".gz", ".bz2", ".zst", ".lz4")
#: formats whose files have no telling suffix: every file of a folder is read
_TEXT_RECORDS = ("rtp", "rtp_kv", "tfrecord")


class DataSource(Params):
    """Where rows come from and how to parse them.

    Args:
        path: a file, a directory of shards (every parquet/CSV/TSV file in it, sorted; every
            file not starting with ``.`` or ``_`` for ``rtp``), a glob such as
            ``data/part-*.parquet``, or a list of those (read in order, as one source).
        format: ``auto`` (by suffix: ``.parquet``/``.pq``, ``.csv``, ``.tsv``), ``parquet``, ``csv``
            ``rtp`` (RTP feature-generation output, laid out by ``rtp``; :mod:`recblocks.data.rtp`),
            ``rtp_kv`` (RTP ``key\\x03value`` pairs separated by ``\\x02``, the keys read named by
            ``column_names``) or
            ``tfrecord`` (records of tf.Example messages; :mod:`recblocks.data.tfrecord`).
        delimiter: CSV field separator (default ``,``; tab for ``.tsv``); for ``rtp`` the column
            separator (default ``;``).
        header: whether CSV files start with a header line.
        column_names: names of the CSV columns: for header-less files (``f0, f1, ...`` when
            omitted), or to rename the columns of a file whose header line is then skipped; for
            ``tfrecord``, the features read (default: those of the first record).
        null_values: CSV cells read as null (pyarrow's defaults when omitted; ``""`` is always null).
        block_size: bytes per CSV block read at a time (streaming granularity, type inference);
            at most 1 GiB (pyarrow's reader takes a 32-bit size).
        rtp: the label and feature columns of an ``rtp`` source (:class:`RtpLayout`).
        record: what one record of a ``tfrecord`` source holds: ``example`` (one sample, EasyRec's
            TFRecordInput) or ``sequence_example`` (several, EasyRec's BatchTFRecordInput).
    """

    path: str | list[str] = Field(min_length=1)
    format: Literal["auto", "parquet", "csv", "rtp", "rtp_kv", "tfrecord"] = "auto"
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    header: bool = True
    column_names: list[str] | None = None
    null_values: list[str] | None = None
    block_size: int = Field(default=16 << 20, gt=0, le=MAX_CSV_BLOCK_BYTES,
                            description=f"bytes per CSV block, at most {MAX_CSV_BLOCK_BYTES:,}")
    rtp: RtpLayout | None = None
    record: Literal["example", "sequence_example"] = "example"

    @model_validator(mode="after")
    def _check_rtp(self) -> "DataSource":
        if (self.format == "rtp") != (self.rtp is not None):
            raise ValueError("format 'rtp' and the rtp layout go together: set both or neither")
        if self.format == "rtp_kv" and not self.column_names:
            raise ValueError("format 'rtp_kv' reads the keys named by column_names: set them")
        return self

    @property
    def paths(self) -> list[str]:
        """The path, or each path of a list."""
        return [self.path] if isinstance(self.path, str) else list(self.path)

    @property
    def name(self) -> str:
        """The path(s) as one string, for messages."""
        return ", ".join(self.paths)


def as_source(source: DataSource | str | Path | Mapping[str, Any], where: str = "data") -> DataSource:
    """A :class:`DataSource` from itself, a path, or a mapping of its fields."""
    if isinstance(source, DataSource):
        return source
    if isinstance(source, (str, Path)):
        return DataSource(path=str(source))
    return parse_params(DataSource, source, where)


def _is_data_file(path: Path, fmt: str) -> bool:
    name = path.name
    if name.startswith((".", "_")) or not path.is_file():
        return False
    return fmt in _TEXT_RECORDS or _suffix(path) in (*_PARQUET, *_CSV)


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    while suffixes and suffixes[-1] in _COMPRESSED:
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def list_files(source: DataSource | str | Path) -> list[Path]:
    """The files of the source (sorted within each path of a list, the paths in order);
    DataError naming the path when one names no file."""
    source = as_source(source)
    files: list[Path] = []
    for given in source.paths:
        files.extend(_path_files(given, source.format))
    return files


def _path_files(given: str, fmt: str) -> list[Path]:
    path = Path(given).expanduser()
    if any(ch in given for ch in "*?["):
        files = sorted(Path(p) for p in globlib.glob(str(path)) if Path(p).is_file())
        problem = "the glob matches no file"
    elif path.is_dir():
        files = sorted(p for p in path.iterdir() if _is_data_file(p, fmt))
        problem = "the directory holds no data file" if fmt in _TEXT_RECORDS else \
            "the directory holds no parquet/csv/tsv file"
    elif path.is_file():
        files = [path]
        problem = ""
    else:
        raise DataError(given, "no such file or directory", "an existing file, directory or glob", "nothing")
    if not files:
        raise DataError(given, problem, "at least one data file", "none")
    return files


def file_format(source: DataSource, path: Path) -> tuple[str, str]:
    """``(format, delimiter)`` of one file of the source."""
    suffix = _suffix(path)
    fmt = source.format
    if fmt == "auto":
        if suffix in _PARQUET:
            fmt = "parquet"
        elif suffix in _CSV:
            fmt = "csv"
        else:
            raise DataError(str(path), "cannot tell the file format from its suffix",
                            "a .parquet, .pq, .csv or .tsv file, or format set to 'parquet'/'csv'", repr(suffix))
    if fmt == "rtp":
        return fmt, source.delimiter or ";"
    if fmt in ("tfrecord", "rtp_kv"):
        return fmt, ""
    delimiter = source.delimiter or _CSV.get(suffix, ",")
    return fmt, delimiter


def _csv_options(source: DataSource, delimiter: str, columns: Sequence[str] | None,
                 string_columns: Sequence[str] = ()):
    if source.rtp is not None:
        return rtp_options(source.rtp, source.block_size, delimiter, columns)
    if source.format == "rtp_kv":
        return line_options(source.block_size)
    names = list(source.column_names) if source.column_names else None
    read = pacsv.ReadOptions(
        column_names=names,
        skip_rows=1 if source.header and names else 0,
        autogenerate_column_names=not source.header and not names,
        block_size=source.block_size,
    )
    parse = pacsv.ParseOptions(delimiter=delimiter)
    convert_kwargs: dict[str, Any] = {"strings_can_be_null": True}
    if string_columns:
        convert_kwargs["column_types"] = {name: pa.string() for name in string_columns}
    if columns is not None:
        convert_kwargs["include_columns"] = list(columns)
    if source.null_values is not None:
        convert_kwargs["null_values"] = list(dict.fromkeys(["", *source.null_values]))
    return read, parse, pacsv.ConvertOptions(**convert_kwargs)


def _check_rtp_width(source: DataSource, layout: RtpLayout, path: Path, delimiter: str) -> None:
    """DataError when the file's lines have fewer columns than the rtp layout reads."""
    read, parse, _ = rtp_options(layout, source.block_size, delimiter, None)
    try:
        with pacsv.open_csv(path, read_options=read, parse_options=parse,
                            convert_options=pacsv.ConvertOptions(include_columns=[])) as reader:
            width = len(reader.schema.names)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _read_error(source, path, "rtp", delimiter, exc) from None
    needed = max(layout.raw_columns()) + 1
    if width < needed:
        raise DataError(str(path), f"the first line has {width} columns separated by {delimiter!r}",
                        f"at least {needed} columns (label_columns {layout.label_columns}, feature_column "
                        f"{layout.feature_column})", f"{width} columns")


def read_columns(source: DataSource | str | Path, path: Path | None = None) -> list[str]:
    """Column names of one file of the source (the first one by default), without reading rows.

    DataError naming the file when it is empty, unreadable, or names a column twice.
    """
    source = as_source(source)
    path = path or list_files(source)[0]
    fmt, delimiter = file_format(source, path)
    _check_not_empty(path, fmt)
    try:
        if fmt == "parquet":
            names = list(pq.read_schema(path).names)
        elif source.rtp is not None:
            names = source.rtp.columns
        elif fmt == "rtp_kv":
            names = list(source.column_names or [])
        elif fmt == "tfrecord":
            names = list(source.column_names) if source.column_names else tfrecord_keys(path, source.record)
        elif source.column_names:
            names = list(source.column_names)
        else:
            read, parse, convert = _csv_options(source, delimiter, None)
            with pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert) as reader:
                names = list(reader.schema.names)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _read_error(source, path, fmt, delimiter, exc) from None
    _check_unique(path, names)
    return names


def _check_not_empty(path: Path, fmt: str) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataError(str(path), f"cannot read the file ({exc.strerror or type(exc).__name__})",
                        f"a readable {fmt} file", "an OS error") from None
    if size == 0:
        raise DataError(str(path), "the file is empty", f"a {fmt} file with a header and data rows", "0 bytes")


def _check_unique(path: Path, names: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(str(path), f"column {short_repr(name)} appears more than once in the header",
                            "unique column names", f"{list(names).count(name)} columns named {short_repr(name)}")
        seen.add(name)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    line = text.splitlines()[0]
    return line if len(line) <= 200 else f"{line[:200]}..."


def _bad_csv_row(source: DataSource, path: Path, delimiter: str) -> tuple[int | None, int, int, str] | None:
    """``(row number, expected fields, actual fields, text)`` of the first ragged CSV row, or None.

    A second, single-threaded pass (arrow numbers rows only then); row 1 is the file's first line.
    """
    found: list[tuple[int | None, int, int, str]] = []

    def record(row: Any) -> str:
        found.append((row.number, row.expected_columns, row.actual_columns, row.text or ""))
        return "error"

    read, parse, _ = _csv_options(source, delimiter, None)
    read.use_threads = False
    read.encoding = "latin-1"  # every byte decodes: arrow hands the row's text to ``record`` even for binary junk
    parse.invalid_row_handler = record
    try:
        with pacsv.open_csv(path, read_options=read, parse_options=parse) as reader:
            for _ in reader:
                pass
    except (pa.ArrowInvalid, OSError):
        pass
    return found[0] if found else None


def _read_error(source: DataSource, path: Path, fmt: str, delimiter: str, exc: BaseException) -> DataError:
    """One DataError naming the file (and the row or column arrow complains about) for a read error."""
    text = _first_line(exc)
    if fmt in ("csv", "rtp") and _starts_with(path, _GZIP_MAGIC) and not path.name.lower().endswith(".gz"):
        return DataError(str(path), "the file is gzip-compressed but its name does not end in .gz",
                         "a plain CSV file, or a compressed one named like data.csv.gz", "gzip bytes")
    if fmt in ("csv", "rtp") and "CSV parse error" in text:
        row = _bad_csv_row(source, path, delimiter)
        if row is not None:
            number, expected, actual, line = row
            where = f"{path}, row {number}" if number is not None else str(path)
            return DataError(where, f"the row has {actual} {'columns' if fmt == 'rtp' else 'fields'} but the "
                             f"first row has {expected} (row 1 is the file's first line)",
                             f"{expected} fields separated by {delimiter!r}", short_repr(line, 120))
    match = re.match(r"In CSV column #(\d+): (.*)", text)
    if fmt == "csv" and match:
        names = source.column_names or _header(source, path, delimiter)
        index = int(match.group(1))
        column = names[index] if names and index < len(names) else f"#{index}"
        return DataError(f"{path}, column {short_repr(column)}", f"a value does not fit the column's type "
                         f"({match.group(2)})", "one type per column (for CSV whose column types change after "
                         "the first block, raise block_size)", "mixed types")
    if fmt == "parquet" and re.search(r"magic bytes|footer|file size|Parquet file", text, re.IGNORECASE):
        return DataError(str(path), f"not a Parquet file, or a truncated one ({text})", "a complete Parquet file",
                         "unreadable bytes")
    return DataError(str(path), f"cannot read the file ({text})", f"a readable {fmt} file", type(exc).__name__)


_GZIP_MAGIC = b"\x1f\x8b"


def _starts_with(path: Path, magic: bytes) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(len(magic)) == magic
    except OSError:
        return False


def _header(source: DataSource, path: Path, delimiter: str) -> list[str] | None:
    try:
        read, parse, _ = _csv_options(source, delimiter, None)
        with pacsv.open_csv(path, read_options=read, parse_options=parse,
                            convert_options=pacsv.ConvertOptions(include_columns=[])) as reader:
            return list(reader.schema.names)
    except (pa.ArrowInvalid, OSError):
        return None


def _check_columns(path: Path, available: list[str], columns: Sequence[str] | None) -> None:
    if columns is None:
        return
    for name in columns:
        if name not in available:
            shown = available if len(available) <= 12 else f"{available[:12]} and {len(available) - 12} more"
            raise DataError(f"{path}", f"column '{name}' is missing", f"one of {shown}", repr(name),
                            choices=available)


def _read_file(source: DataSource, path: Path, columns: Sequence[str] | None,
               string_columns: Sequence[str]) -> pa.Table:
    fmt, delimiter = file_format(source, path)
    _check_columns(path, read_columns(source, path), columns)
    try:
        if fmt == "parquet":
            return pq.read_table(path, columns=list(columns) if columns is not None else None)
        if fmt == "tfrecord":
            names = list(columns) if columns is not None else read_columns(source, path)
            return pa.concat_tables(list(record_tables(path, names, source.record, 1 << 62)),
                                    promote_options="permissive")
        if source.rtp is not None:
            _check_rtp_width(source, source.rtp, path, delimiter)
        read, parse, convert = _csv_options(source, delimiter, columns, string_columns)
        table = pacsv.read_csv(path, read_options=read, parse_options=parse, convert_options=convert)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _read_error(source, path, fmt, delimiter, exc) from None
    if fmt == "rtp_kv":
        return rtp_kv_table(table.column("line").combine_chunks(), _kv_columns(source, columns), str(path))
    return rtp_table(table, source.rtp, str(path), 0, columns) if source.rtp is not None else table


def _kv_columns(source: DataSource, columns: Sequence[str] | None) -> list[str]:
    return list(columns) if columns is not None else list(source.column_names or [])


def _unique(columns: Sequence[str] | None) -> list[str] | None:
    if columns is None:
        return None
    if isinstance(columns, str):
        raise ConfigError("columns", "expected a list of column names", "a list", repr(columns))
    return list(dict.fromkeys(columns))


def read_table(source: DataSource | str | Path | Mapping[str, Any], columns: Sequence[str] | None = None,
               string_columns: Sequence[str] = ()) -> pa.Table:
    """All rows of the source (every shard, concatenated), reading only ``columns``.

    CSV columns named in ``string_columns`` are read as text, not inferred (ids such as
    ``"007"`` keep their leading zeros); parquet columns keep their stored types.
    """
    source = as_source(source)
    columns = _unique(columns)
    tables = [_read_file(source, path, columns, string_columns) for path in list_files(source)]
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(source.name, f"shards do not share one schema ({_first_line(exc)})",
                        "the same columns and compatible types in every file") from None


def iter_tables(
    source: DataSource | str | Path | Mapping[str, Any],
    columns: Sequence[str] | None = None,
    rows_per_chunk: int = 100_000,
    files: Sequence[Path] | None = None,
    string_columns: Sequence[str] = (),
) -> Iterator[pa.Table]:
    """Stream the source as tables of at most ``rows_per_chunk`` rows (a chunk never spans two files).

    Parquet is read batch by batch across row groups; CSV block by block (``block_size``).
    ``files`` overrides the order of the source's files (e.g. shuffled per epoch);
    ``string_columns`` as in :func:`read_table`.
    """
    for _, table in iter_file_tables(source, columns, rows_per_chunk, files, string_columns):
        yield table


def iter_file_tables(
    source: DataSource | str | Path | Mapping[str, Any],
    columns: Sequence[str] | None = None,
    rows_per_chunk: int = 100_000,
    files: Sequence[Path] | None = None,
    string_columns: Sequence[str] = (),
) -> Iterator[tuple[Path, pa.Table]]:
    """Like :func:`iter_tables`, with the file each chunk comes from: ``(path, table)``."""
    if rows_per_chunk <= 0:
        raise ConfigError("rows_per_chunk", "must be positive", "> 0", rows_per_chunk)
    source = as_source(source)
    columns = _unique(columns)
    for path in list(files) if files is not None else list_files(source):
        for table in _rechunk(_iter_batches(source, path, columns, rows_per_chunk, string_columns), rows_per_chunk):
            yield path, table


def iter_row_group(source: DataSource, path: Path, row_group: int, columns: Sequence[str] | None,
                   rows_per_chunk: int, start: int = 0, stop: int | None = None) -> Iterator[pa.Table]:
    """Rows ``start:stop`` of one row group of a Parquet file, as tables of at most ``rows_per_chunk``
    rows; only that row group is read (its needed columns), batch by batch."""
    columns = _unique(columns)
    _check_columns(path, read_columns(source, path), columns)
    offset = 0
    try:
        with pq.ParquetFile(path) as reader:
            for batch in reader.iter_batches(batch_size=rows_per_chunk, row_groups=[row_group], columns=columns):
                low, high = max(start - offset, 0), batch.num_rows if stop is None else min(stop - offset,
                                                                                           batch.num_rows)
                offset += batch.num_rows
                if low < high:
                    yield pa.Table.from_batches([batch.slice(low, high - low)])
                if stop is not None and offset >= stop:
                    return
    except (pa.ArrowInvalid, OSError) as exc:
        raise _read_error(source, path, "parquet", ",", exc) from None


def _iter_batches(source: DataSource, path: Path, columns: list[str] | None, rows_per_chunk: int,
                  string_columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
    fmt, delimiter = file_format(source, path)
    _check_columns(path, read_columns(source, path), columns)
    try:
        if fmt == "parquet":
            with pq.ParquetFile(path) as reader:
                yield from reader.iter_batches(batch_size=rows_per_chunk, columns=columns)
            return
        if fmt == "tfrecord":
            names = list(columns) if columns is not None else read_columns(source, path)
            for table in record_tables(path, names, source.record, rows_per_chunk):
                yield from table.to_batches()
            return
        if source.rtp is not None:
            _check_rtp_width(source, source.rtp, path, delimiter)
        read, parse, convert = _csv_options(source, delimiter, columns, string_columns)
        with pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert) as reader:
            if source.rtp is None and fmt != "rtp_kv":
                yield from reader
                return
            offset = 0
            for batch in reader:
                if fmt == "rtp_kv":
                    table = rtp_kv_table(batch.column(0), _kv_columns(source, columns), str(path), offset)
                else:
                    table = rtp_table(pa.Table.from_batches([batch]), source.rtp, str(path), offset, columns)
                offset += batch.num_rows
                yield from table.to_batches()
    except (pa.ArrowInvalid, OSError) as exc:
        raise _read_error(source, path, fmt, delimiter, exc) from None


def _rechunk(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = _joined(pending)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield _joined(pending)


def _joined(batches: list[pa.RecordBatch]) -> pa.Table:
    """One table of the batches; a column all null in one batch takes the type the others give it
    (a TFRecord feature absent from a whole chunk)."""
    if all(batch.schema == batches[0].schema for batch in batches):
        return pa.Table.from_batches(batches)
    return pa.concat_tables([pa.Table.from_batches([batch]) for batch in batches], promote_options="permissive")


@contextmanager
def naming_source(path: str | Path) -> Iterator[None]:
    """A plain DataError raised inside gets ``path`` in front of its place (feature, label, row),
    so errors found while transforming a file's rows name the file."""
    try:
        yield
    except DataError as exc:
        where = str(path)
        if type(exc) is not DataError or exc.where.startswith(where):
            raise
        raise DataError(f"{where}, {exc.where}" if exc.where else where, exc.problem, exc.expected,
                        exc.got) from None
