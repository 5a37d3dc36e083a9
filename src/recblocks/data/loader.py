"""Columnar loaders that cut :class:`Batch` objects out of transformed data.

* :class:`InMemoryLoader` — the whole transformed dataset is one Batch; each epoch gathers
  rows by a permutation derived from ``(seed, epoch)``.
* :class:`StreamingLoader` — reads chunks from disk, transforms each, and shuffles inside a
  buffer; for data larger than memory.
* :func:`load_batch` — read and transform a whole source at once.

**A last batch of one row is never produced** (unless the whole epoch has one row, or
``batch_size`` is 1): when the rows of an epoch leave a remainder of exactly one row, that
row joins the batch before it, which then has ``batch_size + 1`` rows. Every row is still
visited once per epoch, and batch norm, which cannot normalise a single row in training
mode, never meets one mid-epoch. (With ``drop_last`` the remainder is dropped as before.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch

from recblocks.core.errors import ConfigError
from recblocks.data.readers import (
    DataSource,
    as_source,
    file_format,
    iter_file_tables,
    list_files,
    naming_source,
    read_table,
)
from recblocks.data.report import check_bad_rows
from recblocks.features.batch import Batch
from recblocks.features.preprocess import Preprocessor
from recblocks.features.stats import TransformReport

__all__ = ["InMemoryLoader", "StreamingLoader", "load_batch", "batch_bounds", "sharded_bounds", "epoch_seed", "needed_columns",
           "id_columns"]


def epoch_seed(seed: int, epoch: int) -> int:
    """A 63-bit seed derived from ``(seed, epoch)`` (numpy SeedSequence), the same in every process."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch) & 0xFFFFFFFF]).generate_state(2, np.uint64)
               [0] >> np.uint64(1))


def _permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    return torch.randperm(n, generator=generator)


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ConfigError("batch_size", "must be a positive integer", "> 0", batch_size)


def batch_bounds(rows: int, batch_size: int, drop_last: bool = False) -> list[tuple[int, int]]:
    """``(start, stop)`` of each batch of an epoch of ``rows`` rows.

    A trailing remainder of a single row joins the batch before it (see the module
    docstring); ``drop_last`` drops any incomplete last batch instead.

    Example:
        >>> batch_bounds(9, 4), batch_bounds(10, 4), batch_bounds(9, 4, drop_last=True)
        ([(0, 4), (4, 9)], [(0, 4), (4, 8), (8, 10)], [(0, 4), (4, 8)])
    """
    stop = rows // batch_size * batch_size if drop_last else rows
    bounds = [(start, min(start + batch_size, stop)) for start in range(0, stop, batch_size)]
    if batch_size > 1 and len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], bounds[-1][1])]
    return bounds


def sharded_bounds(rows: int, batch_size: int, num_shards: int = 1, drop_last: bool = False) -> list[tuple[int, int]]:
    """``(start, stop)`` of each *global* batch (``num_shards * batch_size`` rows) of an epoch
    split over ``num_shards`` shards: :func:`batch_bounds` with one more rule for W > 1 shards,
    a last global batch of fewer than ``2 * W`` rows joins the one before it (so no shard gets
    an empty batch or one of a single row).

    Example:
        >>> sharded_bounds(12, 2, 2), sharded_bounds(11, 2, 2), sharded_bounds(11, 2, 2, drop_last=True)
        ([(0, 4), (4, 8), (8, 12)], [(0, 4), (4, 11)], [(0, 4), (4, 8)])
    """
    bounds = batch_bounds(rows, batch_size * num_shards, drop_last)
    if num_shards > 1 and batch_size > 1 and len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < 2 * num_shards:
        bounds[-2:] = [(bounds[-2][0], bounds[-1][1])]
    return bounds


def _merge_single_rows(batches: Iterable[Batch], batch_size: int) -> Iterator[Batch]:
    """``batches`` one step late, with a batch of one row joined to the batch before it."""
    held: Batch | None = None
    for batch in batches:
        if held is not None and len(batch) == 1 and batch_size > 1:
            held = Batch.concat([held, batch])
            continue
        if held is not None:
            yield held
        held = batch
    if held is not None:
        yield held


def needed_columns(preprocessor: Preprocessor, labels: Mapping[str, str] | Sequence[str] | None,
                   extras: Sequence[str]) -> list[str]:
    """Columns to read: the schema's source columns, the labels and the extras."""
    return list(dict.fromkeys([*preprocessor.required_columns(), *(labels or {}), *extras]))


def id_columns(preprocessor: Preprocessor) -> list[str]:
    """Source columns of id features, to pass as ``string_columns`` so CSV ids keep their spelling.

    Pass them everywhere the same data is read (the fit read, the loaders, prediction): mixing
    inferred and verbatim reads makes ``"007"`` (text) and ``7`` (inferred int) different ids.
    """
    return list(dict.fromkeys(column for f in preprocessor.schema if f.kind not in ("dense", "bucketized")
                              for column in f.source_columns))


class InMemoryLoader:
    """Batches of ``batch_size`` rows from one in-memory :class:`Batch`.

    With ``shuffle``, epoch ``e`` visits rows in a permutation seeded by ``(seed, e)``: the same
    in every run, different between epochs. The epoch advances at each ``iter()``; call
    :meth:`set_epoch` to choose it and :meth:`skip_batches` to start mid-epoch (resuming). A remainder of one row joins the last
    batch (see the module docstring).

    Sharding (data-parallel training, one loader per rank): with ``num_shards`` W > 1 the
    epoch's order is cut into *global* batches of ``W * batch_size`` rows
    (:func:`sharded_bounds`) and shard ``shard_index`` takes its contiguous part of each
    (``tensor_split``: sizes differ by one row at most). ``batch_size`` is therefore per rank,
    every shard yields the same number of batches, the shards are disjoint and together visit
    every row once per epoch, and the shards' batches concatenated in shard order are the
    batches of a single loader with ``batch_size * W`` (but for the last one, when a remainder
    of fewer than ``2 * W`` rows joined it).

    Example:
        >>> data = Batch({"x": torch.arange(10)})
        >>> [len(b) for b in InMemoryLoader(data, batch_size=4, shuffle=False)]
        [4, 4, 2]
        >>> [len(b) for b in InMemoryLoader(Batch({"x": torch.arange(9)}), batch_size=4, shuffle=False)]
        [4, 5]
    """

    def __init__(self, batch: Batch, batch_size: int, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, shard_index: int = 0, num_shards: int = 1) -> None:
        _check_batch_size(batch_size)
        if not (isinstance(num_shards, int) and num_shards >= 1 and isinstance(shard_index, int)
                and 0 <= shard_index < num_shards):
            raise ConfigError("shard_index/num_shards", "the shard must be one of the shards",
                              "0 <= shard_index < num_shards, num_shards >= 1", (shard_index, num_shards))
        if len(batch) < num_shards:
            raise ConfigError("num_shards", "fewer rows than shards: some rank would get no data",
                              f"at least {num_shards} rows", len(batch))
        self.batch = batch
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.shard_index = shard_index
        self.num_shards = num_shards
        self.epoch = 0
        self._skip = 0
        self._skip_rows = 0

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next ``iter()`` uses."""
        self.epoch = int(epoch)

    def skip_batches(self, count: int) -> None:
        """The next ``iter()`` starts at batch ``count`` of its epoch (resuming a checkpoint
        taken mid-epoch: the batches are those an uninterrupted epoch yields from there)."""
        self._skip = max(int(count), 0)

    def skip_rows(self, count: int) -> None:
        """The next ``iter()`` starts after the first ``count`` rows of its epoch's (global) order,
        cut into batches from there: resuming a checkpoint taken under another number of shards
        (the order depends only on ``(seed, epoch)``, not on the shards)."""
        self._skip_rows = max(int(count), 0)

    def __len__(self) -> int:
        return len(sharded_bounds(len(self.batch), self.batch_size, self.num_shards, self.drop_last))

    def __iter__(self) -> Iterator[Batch]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        skip, self._skip = self._skip, 0
        offset, self._skip_rows = min(self._skip_rows, len(self.batch)), 0
        n = len(self.batch)
        order = _permutation(n, self.seed, epoch) if self.shuffle else None
        if self.num_shards == 1 and not offset:
            for start, end in batch_bounds(n, self.batch_size, self.drop_last)[skip:]:
                yield self.batch.take(order[start:end]) if order is not None else self.batch.slice(start, end)
            return
        rows = order if order is not None else torch.arange(n)
        rows = rows[offset:]
        if len(rows) < self.num_shards:
            return
        for start, end in sharded_bounds(len(rows), self.batch_size, self.num_shards, self.drop_last)[skip:]:
            yield self.batch.take(rows[start:end].tensor_split(self.num_shards)[self.shard_index])


class StreamingLoader:
    """Read, transform and batch a source chunk by chunk (data larger than memory).

    Each chunk of ``rows_per_chunk`` rows is transformed by the (fitted) ``preprocessor``;
    transformed rows fill a buffer of ``shuffle_buffer_rows`` rows that is shuffled and cut
    into batches. Every kept row is yielded exactly once per epoch.

    Limits: shuffling is only within the buffer (plus the order of the files, shuffled per
    epoch), so rows far apart in one file never meet in a batch unless the buffer holds the
    whole file. The length is unknown before reading (bad rows are only found then), so the
    loader has no ``__len__`` (``len()`` raises TypeError); :meth:`estimate_rows` gives an
    upper bound from parquet metadata. The counters of the last epoch are in ``report_``
    (and accumulate on ``preprocessor.report_``). Resuming mid-epoch (``recblocks train
    --resume``) reads and drops the batches already trained: the order depends only on
    ``(seed, epoch)`` and the files, so the rest of the epoch is the same (when the files are).

    Args:
        source: a :class:`DataSource`, a path or a mapping of its fields.
        preprocessor: a fitted :class:`Preprocessor`.
        labels: label column -> ``"float"``/``"long"``.
        extras: passthrough columns.
        batch_size: rows per batch.
        shuffle: shuffle files and rows within the buffer, by ``(seed, epoch)``.
        seed: base seed.
        rows_per_chunk: rows read and transformed at a time.
        shuffle_buffer_rows: rows shuffled together (default: ``rows_per_chunk``).
        drop_last: drop the last incomplete batch of the epoch.
        max_bad_fraction: raise DataError at the end of an epoch if more rows were dropped.
        string_columns: CSV columns read as text instead of inferred (see :func:`id_columns`).
    """

    def __init__(self, source: DataSource | str | Path | Mapping[str, Any], preprocessor: Preprocessor,
                 labels: Mapping[str, str] | Sequence[str] | None = None, extras: Sequence[str] = (),
                 batch_size: int = 1024, shuffle: bool = True, seed: int = 0, rows_per_chunk: int = 100_000,
                 shuffle_buffer_rows: int | None = None, drop_last: bool = False,
                 max_bad_fraction: float | None = None, string_columns: Sequence[str] = ()) -> None:
        _check_batch_size(batch_size)
        self.source = as_source(source)
        self.preprocessor = preprocessor
        self.labels = labels
        self.extras = list(extras)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.rows_per_chunk = rows_per_chunk
        self.shuffle_buffer_rows = max(shuffle_buffer_rows or rows_per_chunk, batch_size)
        self.drop_last = drop_last
        self.max_bad_fraction = max_bad_fraction
        self.string_columns = list(string_columns)
        self.epoch = 0
        self.report_ = TransformReport()
        self.files = list_files(self.source)

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next ``iter()`` uses."""
        self.epoch = int(epoch)

    def estimate_rows(self) -> int | None:
        """Rows in the files before bad rows are dropped (parquet metadata); None for CSV."""
        total = 0
        for path in self.files:
            if file_format(self.source, path)[0] != "parquet":
                return None
            total += pq.ParquetFile(path).metadata.num_rows
        return total

    def _cut(self, buffer: Batch, order: torch.Tensor | None, end: int) -> Iterator[Batch]:
        for start in range(0, end, self.batch_size):
            stop = start + self.batch_size
            yield buffer.take(order[start:stop]) if order is not None else buffer.slice(start, stop)

    def __iter__(self) -> Iterator[Batch]:
        return _merge_single_rows(self._batches(), self.batch_size)

    def _batches(self) -> Iterator[Batch]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        self.report_ = TransformReport()
        files = list(self.files)
        if self.shuffle and len(files) > 1:
            files = [files[i] for i in np.random.default_rng(epoch_seed(self.seed, epoch)).permutation(len(files))]
        columns = needed_columns(self.preprocessor, self.labels, self.extras)
        pending: list[Batch] = []
        pending_rows = 0
        flushes = 0
        offsets: dict[Path, int] = {}
        for path, table in iter_file_tables(self.source, columns, self.rows_per_chunk, files=files,
                                            string_columns=self.string_columns):
            offset = offsets.get(path, 0)
            offsets[path] = offset + table.num_rows
            with naming_source(path):
                batch, report = self.preprocessor.transform(table, self.labels, self.extras, row_offset=offset)
            self.report_ = self.report_.merge(report)
            if len(batch):
                pending.append(batch)
                pending_rows += len(batch)
            if pending_rows >= self.shuffle_buffer_rows:
                buffer = Batch.concat(pending)
                order = _permutation(len(buffer), self.seed, epoch * 1_000_003 + flushes) if self.shuffle else None
                flushes += 1
                full = len(buffer) // self.batch_size * self.batch_size
                yield from self._cut(buffer, order, full)
                rest = order[full:] if order is not None else torch.arange(full, len(buffer))
                pending = [buffer.take(rest)] if len(rest) else []
                pending_rows = len(rest)
        if pending_rows:
            buffer = Batch.concat(pending)
            order = _permutation(len(buffer), self.seed, epoch * 1_000_003 + flushes) if self.shuffle else None
            end = len(buffer) // self.batch_size * self.batch_size if self.drop_last else len(buffer)
            yield from self._cut(buffer, order, end)
        check_bad_rows(self.report_, self.max_bad_fraction, self.source.name)


def load_batch(source: DataSource | str | Path | Mapping[str, Any], preprocessor: Preprocessor,
               labels: Mapping[str, str] | Sequence[str] | None = None, extras: Sequence[str] = (),
               max_bad_fraction: float | None = None,
               string_columns: Sequence[str] = ()) -> tuple[Batch, TransformReport]:
    """Read the needed columns of the whole source and transform them.

    ``string_columns``: CSV columns read as text instead of inferred (see :func:`id_columns`).
    Raises DataError (naming the source) when there are no rows, every row is dropped, or more
    than ``max_bad_fraction`` of them; errors about a feature or label name the source too.
    """
    source = as_source(source)
    table = read_table(source, needed_columns(preprocessor, labels, extras), string_columns)
    with naming_source(source.name):
        batch, report = preprocessor.transform(table, labels, extras)
    check_bad_rows(report, max_bad_fraction, source.name)
    return batch, report
