"""Fitting the preprocessing on data larger than memory: one streaming pass, or a row sample.

:class:`StreamingFit` sees the training rows chunk by chunk (any iterable of pyarrow tables)
and keeps, per feature, only what the fitted state needs:

* vocabularies — the count of every distinct value (chunk counts merged by value), so the
  vocabulary (``min_count``, ``max_vocab_size``, ordered by count then value) is exactly the
  one :meth:`Preprocessor.fit` finds on the same rows; memory grows with the number of
  distinct values, not rows;
* ``standard`` dense statistics — running count, mean and sum of squared deviations merged
  per chunk (Chan et al.'s parallel update): the in-memory mean and population std up to
  floating-point rounding (about 1e-12 relative);
* ``minmax`` — running minimum and maximum (exact);
* fitted bucket boundaries — quantiles of a uniform sample of at most ``sample_rows`` finite
  values per feature (bottom-k sampling: each value draws a random key and the ``sample_rows``
  smallest keys are kept, a reservoir that merges chunk by chunk). Up to ``sample_rows``
  values the sample is every value and the boundaries are exact; beyond, they are quantiles
  of a uniform sample (the rank error of a quantile is about ``1/sqrt(sample_rows)``).

:func:`sample_rows` instead draws a uniform sample of whole rows with the same bottom-k
reservoir (memory: the sample plus one chunk) for an ordinary in-memory fit. A uniform sample,
not the first rows: training files are often sorted (by day, by user), and the first rows
would fit the vocabularies of the first day only. With at least as many sample rows as data
rows the sample is the data in file order, so the fit equals the in-memory one.

Example:
    >>> import pyarrow as pa
    >>> from recblocks.features.preprocess import Preprocessor
    >>> schema = [{"name": "u", "kind": "sparse"}, {"name": "x", "kind": "dense", "normalization": "minmax"}]
    >>> chunks = [pa.table({"u": ["a", "b"], "x": [1.0, 5.0]}), pa.table({"u": ["b"], "x": [3.0]})]
    >>> fitted = fit_streaming(schema, chunks)
    >>> fitted.vocabulary("u"), fitted.dense_stats_["x"]
    (['b', 'a'], {'min': 1.0, 'max': 5.0})
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recblocks.core.errors import ConfigError
from recblocks.features.columns import FLOAT32_MAX, parse_vectors, to_lists, to_numbers, to_strings
from recblocks.features.preprocess import Preprocessor, _mode
from recblocks.features.schema import Schema
from recblocks.features.stats import vocabulary_from_counts
from recblocks.features.vectors import is_vector
from recblocks.features.weighted import weighted_keys

__all__ = ["StreamingFit", "fit_streaming", "sample_rows", "RunningMoments"]


def _where(feature: Any) -> str:
    return f"feature '{feature.name}'"


def _finite(values: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return values[np.abs(values) <= FLOAT32_MAX]


class RunningMoments:
    """Count, mean and sum of squared deviations of the finite values seen so far (per position).

    Example:
        >>> m = RunningMoments(1)
        >>> m.update(np.array([[1.0], [2.0]])); m.update(np.array([[3.0], [np.nan]]))
        >>> m.result()
        ([2.0], [0.816496580927726])
    """

    def __init__(self, dim: int) -> None:
        self.count = np.zeros(dim)
        self.mean = np.zeros(dim)
        self.m2 = np.zeros(dim)
        self.low = np.full(dim, np.inf)
        self.high = np.full(dim, -np.inf)

    def update(self, values: np.ndarray) -> None:
        """Merge a ``(N, dim)`` chunk (non-finite values and values beyond float32 ignored)."""
        for j in range(values.shape[1]):
            finite = _finite(values[:, j])
            if finite.size == 0:
                continue
            n, mean = float(finite.size), float(finite.mean())
            m2 = float(((finite - mean) ** 2).sum())
            total = self.count[j] + n
            delta = mean - self.mean[j]
            self.mean[j] += delta * n / total
            self.m2[j] += m2 + delta * delta * self.count[j] * n / total
            self.count[j] = total
            self.low[j] = min(self.low[j], float(finite.min()))
            self.high[j] = max(self.high[j], float(finite.max()))

    def result(self, kind: str = "standard") -> tuple[list[float], list[float]]:
        """``(means, stds)`` for ``standard`` or ``(mins, maxs)`` for ``minmax``, with the in-memory
        fit's fallbacks where no value was finite (0, 1 and 0, 0)."""
        seen = self.count > 0
        if kind == "standard":
            std = np.sqrt(np.divide(self.m2, self.count, out=np.zeros_like(self.m2), where=seen))
            return ([float(x) for x in np.where(seen, self.mean, 0.0)],
                    [float(x) for x in np.where(seen, std, 1.0)])
        return [float(x) for x in np.where(seen, self.low, 0.0)], [float(x) for x in np.where(seen, self.high, 0.0)]


class _Reservoir:
    """A uniform sample of at most ``size`` items (bottom-k random keys), mergeable chunk by chunk."""

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.size, self.rng = size, rng
        self.keys = np.empty(0)
        self.seen = 0

    def offer(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions to keep among (the kept items, then ``count`` new ones), in arrival order."""
        keys = np.concatenate([self.keys, self.rng.random(count)])
        positions = np.arange(len(keys))
        if len(keys) > self.size:
            positions = np.sort(np.argpartition(keys, self.size - 1)[:self.size])
        self.keys = keys[positions]
        self.seen += count
        return positions, self.keys


class StreamingFit:
    """Accumulate the preprocessing's statistics over chunks; :meth:`finish` gives the fitted
    :class:`Preprocessor` (module docstring).

    Args:
        schema: a :class:`Schema` or its config.
        sample_rows: values kept per fitted bucket boundary feature (uniform sample).
        seed: seeds the sample.
    """

    def __init__(self, schema: Schema | Iterable[object], sample_rows: int = 1_000_000, seed: int = 0) -> None:
        if not isinstance(sample_rows, int) or sample_rows <= 0:
            raise ConfigError("fit_sample_rows", "must be a positive integer", "> 0", sample_rows)
        self.preprocessor = Preprocessor(schema)
        self.rows = 0
        self._counts: dict[str, pa.Table] = {}
        self._moments: dict[str, RunningMoments] = {}
        rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 11]))
        self._samples: dict[str, tuple[_Reservoir, np.ndarray]] = {}
        for f in self.preprocessor.schema:
            if _mode(f) == "bucket" and f.boundaries is None:
                self._samples[f.name] = (_Reservoir(sample_rows, rng), np.empty(0))

    def update(self, table: pa.Table) -> None:
        """Merge the statistics of one chunk of training rows."""
        p = self.preprocessor
        for f in p.schema:
            p._column(table, f, normalize=False)  # every column present (the in-memory fit's check)
        self.rows += table.num_rows
        for table_name, members in p._tables().items():
            arrays = [self._vocab_values(f, p._column(table, f)) for f in members]
            values = pa.concat_arrays([a.cast(pa.large_string()) for a in arrays])
            counted = pc.value_counts(values)
            chunk = pa.table({"value": counted.field("values"), "count": counted.field("counts").cast(pa.int64())})
            if table_name in self._counts:
                merged = pa.concat_tables([self._counts[table_name], chunk])
                chunk = merged.group_by("value").aggregate([("count", "sum")]).rename_columns(["value", "count"])
            self._counts[table_name] = chunk
        for f in p.schema:
            if is_vector(f):
                if f.normalization in ("standard", "minmax"):
                    values = parse_vectors(p._column(table, f), f.separator, f.dim, _where(f))[0]
                    self._moments.setdefault(f.name, RunningMoments(f.dim)).update(values)
            elif f.kind == "dense" and f.normalization in ("standard", "minmax"):
                values, _ = to_numbers(p._column(table, f), _where(f))
                self._moments.setdefault(f.name, RunningMoments(1)).update(np.asarray(values)[:, None])
            elif f.name in self._samples:
                values, _ = to_numbers(p._column(table, f), _where(f))
                reservoir, kept = self._samples[f.name]
                finite = _finite(np.asarray(values, dtype=np.float64))
                positions, _ = reservoir.offer(len(finite))
                self._samples[f.name] = (reservoir, np.concatenate([kept, finite])[positions])

    @staticmethod
    def _vocab_values(f: Any, column: pa.Array) -> pa.Array:
        if f.kind == "sparse":
            return to_strings(column, _where(f))
        if getattr(f, "weight_separator", None):
            return weighted_keys(column, f, _where(f))
        return pc.list_flatten(to_lists(column, f.separator, _where(f)))

    def finish(self) -> Preprocessor:
        """The fitted preprocessor."""
        p = self.preprocessor
        vocabularies = {}
        for table_name, members in p._tables().items():
            owner = members[0]
            counts = self._counts.get(table_name, pa.table({"value": pa.array([], pa.large_string()),
                                                            "count": pa.array([], pa.int64())}))
            vocabularies[table_name] = vocabulary_from_counts(counts, owner.min_count,
                                                              getattr(owner, "max_vocab_size", None))
        dense_stats: dict[str, dict[str, Any]] = {}
        boundaries: dict[str, list[float]] = {}
        for f in p.schema:
            if f.name in self._moments:
                keys = ("mean", "std") if f.normalization == "standard" else ("min", "max")
                first, second = self._moments[f.name].result(f.normalization)
                dense_stats[f.name] = ({keys[0]: first, keys[1]: second} if is_vector(f)
                                       else {keys[0]: first[0], keys[1]: second[0]})
            elif _mode(f) == "bucket":
                if f.boundaries is not None:
                    boundaries[f.name] = [float(b) for b in f.boundaries]
                else:
                    kept = self._samples[f.name][1]
                    qs = np.quantile(kept, np.linspace(0.0, 1.0, f.num_buckets + 1)[1:-1]) if kept.size else []
                    boundaries[f.name] = [float(q) for q in np.unique(qs)]
        return p.set_fitted(vocabularies, dense_stats, boundaries)


def fit_streaming(schema: Schema | Iterable[object], tables: Iterable[pa.Table], sample_rows: int = 1_000_000,
                  seed: int = 0) -> Preprocessor:
    """A :class:`Preprocessor` fitted in one pass over ``tables`` (see :class:`StreamingFit`)."""
    fit = StreamingFit(schema, sample_rows, seed)
    for table in tables:
        fit.update(table)
    return fit.finish()


def sample_rows(tables: Iterable[pa.Table], rows: int, seed: int = 0) -> pa.Table:
    """A uniform sample of at most ``rows`` rows of ``tables`` (in their order), holding no more
    than the sample and one chunk at a time (module docstring).

    Example:
        >>> chunks = [pa.table({"x": list(range(i, i + 5))}) for i in range(0, 20, 5)]
        >>> sample_rows(chunks, 30)["x"].to_pylist() == list(range(20)), sample_rows(chunks, 4).num_rows
        (True, 4)
    """
    if not isinstance(rows, int) or rows <= 0:
        raise ConfigError("fit_sample_rows", "must be a positive integer", "> 0", rows)
    reservoir = _Reservoir(rows, np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 12])))
    kept: pa.Table | None = None
    for table in tables:
        if table.num_rows == 0:
            continue
        joined = table if kept is None else pa.concat_tables([kept, table], promote_options="permissive")
        positions, _ = reservoir.offer(table.num_rows)
        kept = joined if len(positions) == joined.num_rows else joined.take(pa.array(positions))
    if kept is None:
        raise ConfigError("fit_sample_rows", "no rows to sample", "at least one data row", "0 rows")
    return kept.combine_chunks()
