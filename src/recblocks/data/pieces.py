"""The read plan of a streaming source: which pieces (files, Parquet row groups, row ranges) a
shard reads, planned from Parquet metadata without reading a row.

Sharding (``shard_index`` of ``num_shards``, e.g. a process's rank and the world size) is
disjoint and complete: every row of the source belongs to exactly one shard.

* **Parquet** files are laid end to end in file order (row counts from their footers) and cut
  into ``num_shards`` contiguous row ranges of equal size (within one row). A shard reads the
  whole files and row groups inside its range and a row range of the row group at each end,
  so the shards' row counts differ by at most one (data-parallel ranks then take the same
  number of steps, bad rows aside) and no shard opens a row group outside its range.
* **Other formats** (CSV, TSV, RTP, TFRecord) carry no row counts, so with one shard a piece
  is a whole file; with several, every shard reads every file and keeps the rows whose index
  in the file is ``shard_index`` modulo ``num_shards`` (row striding; for large data sharded
  over many processes, prefer Parquet).

Example:
    >>> [(p.path.name, p.row_group, p.start, p.stop) for p in split_rows([("a", [4, 4]), ("b", [5])], 0, 2)]
    [('a', 0, 0, 4), ('a', 1, 0, 2)]
    >>> [(p.path.name, p.row_group, p.start, p.stop) for p in split_rows([("a", [4, 4]), ("b", [5])], 1, 2)]
    [('a', 1, 2, 4), ('b', 0, 0, 5)]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from recblocks.core.errors import ConfigError
from recblocks.data.readers import DataSource, file_format, iter_file_tables, iter_row_group, list_files

__all__ = ["Piece", "check_shard", "plan_pieces", "split_rows", "read_piece"]


@dataclass(frozen=True)
class Piece:
    """One unit of streaming work.

    ``row_group`` None means the whole file (non-Parquet); ``start``/``stop`` are the rows
    kept within the row group (Parquet; ``stop`` None: to its end); ``stride``/``phase`` keep
    the rows ``i`` of a non-Parquet file with ``i % stride == phase``; ``file_row`` is the
    file's row number of the piece's first row (for messages naming data rows).
    """

    path: Path
    row_group: int | None = None
    start: int = 0
    stop: int | None = None
    stride: int = 1
    phase: int = 0
    file_row: int = 0

    @property
    def rows(self) -> int | None:
        """Rows of the piece when known from metadata (Parquet), else None."""
        return None if self.stop is None else self.stop - self.start


def check_shard(shard_index: int, num_shards: int) -> None:
    """ConfigError unless ``0 <= shard_index < num_shards``."""
    if not isinstance(num_shards, int) or num_shards < 1:
        raise ConfigError("num_shards", "must be a positive integer (the world size)", ">= 1", num_shards)
    if not isinstance(shard_index, int) or not 0 <= shard_index < num_shards:
        raise ConfigError("shard_index", "must be a shard of the source (the rank)", f"0 to {num_shards - 1}",
                          shard_index)


def split_rows(files: Sequence[tuple[object, Sequence[int]]], shard_index: int, num_shards: int) -> list[Piece]:
    """The pieces of shard ``shard_index`` for files given as ``(path, row counts of its row groups)``.

    The rows of all files, end to end, are cut into ``num_shards`` contiguous ranges whose
    sizes differ by at most one; a row group crossing a cut is split into row ranges.
    """
    total = sum(sum(groups) for _, groups in files)
    low, high = shard_index * total // num_shards, (shard_index + 1) * total // num_shards
    pieces: list[Piece] = []
    offset = 0
    for path, groups in files:
        file_row = 0
        for index, rows in enumerate(groups):
            start, stop = max(low, offset), min(high, offset + rows)
            if start < stop:
                pieces.append(Piece(Path(str(path)), index, start - offset, stop - offset,
                                    file_row=file_row + start - offset))
            offset += rows
            file_row += rows
    return pieces


def plan_pieces(source: DataSource, shard_index: int = 0, num_shards: int = 1,
                files: Sequence[Path] | None = None) -> list[Piece]:
    """The pieces shard ``shard_index`` of ``num_shards`` reads, in file order (see module docstring)."""
    check_shard(shard_index, num_shards)
    files = list(files) if files is not None else list_files(source)
    parquet = []
    other = []
    for path in files:
        if file_format(source, path)[0] == "parquet":
            metadata = pq.ParquetFile(path).metadata
            parquet.append((path, [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]))
        else:
            other.append(path)
    pieces = split_rows(parquet, shard_index, num_shards)
    pieces += [Piece(path, stride=num_shards, phase=shard_index) for path in other]
    order = {path: index for index, path in enumerate(files)}
    return sorted(pieces, key=lambda p: (order[p.path], p.row_group or 0))


def read_piece(source: DataSource, piece: Piece, columns: Sequence[str], rows_per_chunk: int,
               string_columns: Sequence[str] = ()) -> Iterator[tuple[int, pa.Table]]:
    """The rows of ``piece`` as ``(file row of the first row, table)`` chunks of at most
    ``rows_per_chunk`` rows; a Parquet piece reads only its own row group."""
    if piece.row_group is not None:
        row = piece.file_row
        for table in iter_row_group(source, piece.path, piece.row_group, columns, rows_per_chunk, piece.start,
                                    piece.stop):
            yield row, table
            row += table.num_rows
        return
    row = 0
    for _, table in iter_file_tables(source, columns, rows_per_chunk, files=[piece.path],
                                     string_columns=string_columns):
        first, row = row, row + table.num_rows
        if piece.stride > 1:
            keep = (np.arange(first, row) % piece.stride) == piece.phase
            table = table.filter(pa.array(keep))
        if table.num_rows:
            yield first, table
