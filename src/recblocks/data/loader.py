"""Columnar loaders that cut :class:`Batch` objects out of transformed data.

* :class:`InMemoryLoader` — the whole transformed dataset is one Batch; each epoch gathers
  rows by a permutation derived from ``(seed, epoch)``.
* :class:`StreamingLoader` — reads Parquet row groups (or file chunks) lazily, transforms each
  chunk, and shuffles through a bounded buffer; shards by ``shard_index``/``num_shards``; for
  data larger than memory.
* :func:`load_batch` — read and transform a whole source at once.

**A last batch of one row is never produced** (unless the whole epoch has one row, or
``batch_size`` is 1): when the rows of an epoch leave a remainder of exactly one row, that
row joins the batch before it, which then has ``batch_size + 1`` rows. Every row is still
visited once per epoch, and batch norm, which cannot normalise a single row in training
mode, never meets one mid-epoch. (With ``drop_last`` the remainder is dropped as before.)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recblocks.core.errors import ConfigError
from recblocks.data.pieces import Piece, plan_pieces, read_piece
from recblocks.data.readers import DataSource, as_source, list_files, naming_source, read_table
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
    """Read, transform and batch a source piece by piece (data larger than memory).

    The source is planned into pieces without reading a row (:mod:`recblocks.data.pieces`):
    Parquet row groups (a row range of one where a shard boundary cuts it) and whole files
    of other formats. Shard ``shard_index`` of ``num_shards`` (the rank and world size of a
    data-parallel run) reads a disjoint part; the shards together read every row once.
    Each epoch visits the shard's pieces in an order drawn from ``(seed, epoch)`` and reads
    each in chunks of at most ``rows_per_chunk`` rows, transformed by the fitted
    ``preprocessor`` as they arrive.

    **Shuffle buffer.** Transformed rows join a pool; whenever it holds more than
    ``shuffle_buffer_rows`` rows, whole batches are drawn from it at random (without
    replacement), leaving at least the buffer's rows for later, so a row may wait through
    several chunks (the mixing of TensorFlow's ``shuffle(buffer_size)``, drawn a batch at a
    time). At the end of the epoch the pool is drained in random order. The draws come from a
    generator seeded by ``(seed, epoch, shard_index)``: the same files give the same batches.

    **Memory** is bounded by the buffer plus one chunk: at most ``shuffle_buffer_rows +
    rows_per_chunk + batch_size`` transformed rows, plus the raw chunk being read (Parquet
    reads one row group's needed columns at a time). It does not grow with the data.

    Every kept row is yielded exactly once per epoch; a remainder of one row joins the batch
    before it (module docstring). The length is unknown before reading (bad rows are only
    found then), so there is no ``__len__`` (``len()`` raises TypeError); :meth:`estimate_rows`
    gives the shard's rows from Parquet metadata. The counters of the last epoch are in
    ``report_`` (they accumulate on ``preprocessor.report_`` too). :meth:`skip_batches` resumes
    mid-epoch: the skipped batches are read and dropped, so the rest is the same as in an
    uninterrupted epoch (when the files are).

    Args:
        source: a :class:`DataSource`, a path or a mapping of its fields.
        preprocessor: a fitted :class:`Preprocessor`.
        labels: label column -> ``"float"``/``"long"``.
        extras: passthrough columns.
        batch_size: rows per batch.
        shuffle: shuffle the pieces and the rows (through the buffer), by ``(seed, epoch)``.
        seed: base seed.
        rows_per_chunk: rows read and transformed at a time.
        shuffle_buffer_rows: rows held back for shuffling (default: ``rows_per_chunk``).
        drop_last: drop the last incomplete batch of the epoch.
        max_bad_fraction: raise DataError at the end of an epoch if more rows were dropped.
        string_columns: CSV columns read as text instead of inferred (see :func:`id_columns`).
        shard_index, num_shards: which part of the source this loader reads (rank, world size).
    """

    def __init__(self, source: DataSource | str | Path | Mapping[str, Any], preprocessor: Preprocessor,
                 labels: Mapping[str, str] | Sequence[str] | None = None, extras: Sequence[str] = (),
                 batch_size: int = 1024, shuffle: bool = True, seed: int = 0, rows_per_chunk: int = 100_000,
                 shuffle_buffer_rows: int | None = None, drop_last: bool = False,
                 max_bad_fraction: float | None = None, string_columns: Sequence[str] = (),
                 shard_index: int = 0, num_shards: int = 1) -> None:
        _check_batch_size(batch_size)
        if not isinstance(rows_per_chunk, int) or rows_per_chunk <= 0:
            raise ConfigError("rows_per_chunk", "must be a positive integer", "> 0", rows_per_chunk)
        if shuffle_buffer_rows is not None and (not isinstance(shuffle_buffer_rows, int) or shuffle_buffer_rows < 0):
            raise ConfigError("shuffle_buffer_rows", "must be a non-negative integer", ">= 0", shuffle_buffer_rows)
        self.source = as_source(source)
        self.preprocessor = preprocessor
        self.labels = labels
        self.extras = list(extras)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.rows_per_chunk = rows_per_chunk
        self.shuffle_buffer_rows = rows_per_chunk if shuffle_buffer_rows is None else shuffle_buffer_rows
        self.drop_last = drop_last
        self.max_bad_fraction = max_bad_fraction
        self.string_columns = list(string_columns)
        self.shard_index = shard_index
        self.num_shards = num_shards
        self.epoch = 0
        self._skip = 0
        self.report_ = TransformReport()
        self.files = list_files(self.source)
        self.pieces = plan_pieces(self.source, shard_index, num_shards, self.files)

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next ``iter()`` uses."""
        self.epoch = int(epoch)

    def skip_batches(self, count: int) -> None:
        """The next ``iter()`` starts at batch ``count`` of its epoch (read and dropped; see above)."""
        self._skip = max(int(count), 0)

    def estimate_rows(self) -> int | None:
        """Rows of this shard before bad rows are dropped (Parquet metadata); None for other formats."""
        counts = [piece.rows for piece in self.pieces]
        return None if any(c is None for c in counts) else sum(counts)  # type: ignore[misc]

    def __iter__(self) -> Iterator[Batch]:
        skip, self._skip = self._skip, 0
        return itertools.islice(_merge_single_rows(self._batches(), self.batch_size), skip, None)

    def _chunks(self, pieces: Sequence[Piece]) -> Iterator[Batch]:
        columns = needed_columns(self.preprocessor, self.labels, self.extras)
        for piece in pieces:
            for row, table in read_piece(self.source, piece, columns, self.rows_per_chunk, self.string_columns):
                with naming_source(piece.path):
                    batch, report = self.preprocessor.transform(table, self.labels, self.extras, row_offset=row)
                self.report_ = self.report_.merge(report)
                if len(batch):
                    yield batch

    def _batches(self) -> Iterator[Batch]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        self.report_ = TransformReport()
        rng = np.random.default_rng(np.random.SeedSequence([int(self.seed) & 0xFFFFFFFF, int(epoch) & 0xFFFFFFFF,
                                                            self.shard_index]))
        pieces = list(self.pieces)
        if self.shuffle and len(pieces) > 1:
            pieces = [pieces[i] for i in rng.permutation(len(pieces))]
        keep = self.shuffle_buffer_rows if self.shuffle else 0
        pool: Batch | None = None
        for chunk in self._chunks(pieces):
            pool = chunk if pool is None else Batch.concat([pool, chunk])
            ready = (len(pool) - keep) // self.batch_size * self.batch_size
            if ready <= 0:
                continue
            if self.shuffle:
                order = torch.from_numpy(rng.permutation(len(pool)))
                yield from self._cut(pool, order[:ready], ready)
                pool = pool.take(order[ready:])
            else:
                yield from self._cut(pool, None, ready)
                pool = pool.slice(ready, len(pool))
        if pool is not None and len(pool):
            order = torch.from_numpy(rng.permutation(len(pool))) if self.shuffle else None
            end = len(pool) // self.batch_size * self.batch_size if self.drop_last else len(pool)
            yield from self._cut(pool, order, end)
        check_bad_rows(self.report_, self.max_bad_fraction, self.source.name)

    def _cut(self, pool: Batch, order: torch.Tensor | None, end: int) -> Iterator[Batch]:
        for start in range(0, end, self.batch_size):
            stop = min(start + self.batch_size, end)
            yield pool.take(order[start:stop]) if order is not None else pool.slice(start, stop)


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
