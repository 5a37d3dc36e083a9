"""The streaming parts of a run: fitting the preprocessing without holding the training set,
and the shard of the training data this process reads.

``data.fit_preprocessing`` chooses how the preprocessing is fitted:

* ``memory`` (default): the whole training split read at once (:meth:`Preprocessor.fit`);
* ``streaming``: one pass over the split in chunks of ``data.rows_per_chunk`` rows
  (:class:`~recblocks.features.streaming_fit.StreamingFit`: exact vocabularies and moments,
  bucket boundaries from a uniform sample of ``data.fit_sample_rows`` values);
* ``sample``: an in-memory fit on a uniform sample of ``data.fit_sample_rows`` rows drawn in
  one pass (:func:`~recblocks.features.streaming_fit.sample_rows`).

Both out-of-memory fits hold one chunk (plus the sample or the value counts) at a time.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from recblocks.core.errors import DataError
from recblocks.data.readers import iter_tables, naming_source
from recblocks.features.preprocess import Preprocessor
from recblocks.features.schema import Schema
from recblocks.features.streaming_fit import fit_streaming, sample_rows
from recblocks.runs.config import DataConfig

__all__ = ["fit_out_of_memory"]


def fit_out_of_memory(schema: Schema, data: DataConfig, table: pa.Table | None = None, seed: int = 0) -> Preprocessor:
    """The preprocessing fitted as ``data.fit_preprocessing`` says (``streaming`` or ``sample``) on
    ``table`` when given, else on ``data.train`` read chunk by chunk (module docstring)."""
    columns = Preprocessor(schema).required_columns()
    size = data.rows_per_chunk
    if table is not None:
        origin = "the train table"
        chunks: Iterator[pa.Table] = (table.slice(i, size) for i in range(0, table.num_rows, size))
    else:
        origin = data.train.name  # type: ignore[union-attr]  (plan() checked it)
        chunks = iter_tables(data.train, columns, size)  # type: ignore[arg-type]
    seen = [0]

    def counted() -> Iterator[pa.Table]:
        for chunk in chunks:
            seen[0] += chunk.num_rows
            yield chunk

    with naming_source(origin):
        if data.fit_preprocessing == "streaming":
            preprocessor = fit_streaming(schema, counted(), data.fit_sample_rows, seed)
        else:
            sampled = sample_rows(_nonempty(counted(), origin), data.fit_sample_rows, seed)
            preprocessor = Preprocessor(schema).fit(sampled)
    if seen[0] == 0:
        raise DataError(origin, "the training data has no rows", "at least one data row",
                        "0 rows (an empty or header-only file)")
    return preprocessor


def _nonempty(chunks: Iterator[pa.Table], origin: str) -> Iterator[pa.Table]:
    any_rows = False
    for chunk in chunks:
        any_rows = any_rows or chunk.num_rows > 0
        yield chunk
    if not any_rows:
        raise DataError(origin, "the training data has no rows", "at least one data row",
                        "0 rows (an empty or header-only file)")
