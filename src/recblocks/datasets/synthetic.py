"""A Criteo-like synthetic CTR dataset drawn from a planted model, with its Bayes-optimal AUC.

Columns: ``label`` (int64 0/1), dense ``I1..In`` (float64 counts with nulls), categorical
``C1..Cm`` (8-hex-digit string ids drawn Zipf-distributed over each vocabulary), an optional
multi-valued column (``separator``-joined ids) and ``true_prob`` — the probability the label
was drawn with. ``true_prob`` is the answer key, never a feature.

The planted logit is ``bias + scale * (z - mean)`` with ``z`` the sum of

* first-order weights ``w_j[value] ~ N(0, 1)`` of every categorical field;
* dense weights ``u_i ~ N(0, 1)`` on ``(log1p(x_i) - mu_i) / sigma_i`` (0 when missing);
* pairwise interactions ``<e_a[v_a], e_b[v_b]>`` between the first ``interaction_fields``
  categorical fields (planted vectors of width ``interaction_rank``);
* for the multi-valued field: the mean of its elements' weights and the interaction of the
  mean of their vectors with field ``C1``.

``scale`` and ``bias`` are calibrated on a fixed reference sample so that the logit has
std ``signal_std`` and the mean probability is ``positive_rate``; the planted model depends
only on ``seed`` and the sizes, not on ``num_rows``. Everything is vectorized numpy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field

from recblocks.core.errors import DataError
from recblocks.core.limits import (MAX_SEED, MAX_SEQUENCE_LENGTH, MAX_SYNTHETIC_FIELDS, MAX_SYNTHETIC_ROWS,
                                   MAX_SYNTHETIC_VOCAB)
from recblocks.core.params import Params
from recblocks.datasets.splits import random_split

__all__ = [
    "TRUE_PROB_COLUMN",
    "CRITEO_LIKE_VOCAB_SIZES",
    "CorrelatedTasksConfig",
    "MultiValuedConfig",
    "SyntheticConfig",
    "feature_columns",
    "DEFAULT_SYNTHETIC",
    "make_synthetic",
    "iter_synthetic",
    "bayes_auc",
    "synthetic_schema",
    "write_synthetic",
]

#: Column holding the true probability of each row.
TRUE_PROB_COLUMN = "true_prob"

#: 26 vocabulary sizes shaped like Criteo's (a few tiny, most mid-size, some large).
CRITEO_LIKE_VOCAB_SIZES = [1000, 500, 100000, 50000, 200, 20, 10000, 500, 3, 30000, 5000, 100000, 3000, 25, 10000,
                           80000, 10, 4000, 2000, 4, 90000, 15, 15, 40000, 80, 30000]

_REFERENCE_ROWS = 50_000


class MultiValuedConfig(Params):
    """The optional multi-valued field: ``name``, ``vocab`` size, 1..``max_len`` ids per row."""

    name: str = "tags"
    vocab: int = Field(default=100, gt=1, le=MAX_SYNTHETIC_VOCAB,
                       description=f"distinct ids, at most {MAX_SYNTHETIC_VOCAB:,}")
    max_len: int = Field(default=5, gt=0, le=MAX_SEQUENCE_LENGTH,
                         description=f"most ids per row, at most {MAX_SEQUENCE_LENGTH:,}")
    separator: str = Field(default="|", min_length=1)


class CorrelatedTasksConfig(Params):
    """Two correlated tasks instead of ``label`` (:mod:`recblocks.datasets.synthetic_multitask`).

    Args:
        shared_fraction: share of each task's logit variance that comes from the planted
            structure both tasks share (the rest is the task's own).
        click_rate: mean click probability.
        conversion_rate: mean probability of a conversion given a click.
        click_label, conversion_label: the label column names.
    """

    shared_fraction: float = Field(default=0.5, ge=0.0, le=1.0)
    click_rate: float = Field(default=0.3, gt=0, lt=1)
    conversion_rate: float = Field(default=0.3, gt=0, lt=1)
    click_label: str = Field(default="click", min_length=1)
    conversion_label: str = Field(default="conversion", min_length=1)


class SyntheticConfig(Params):
    """Sizes, seed and signal of :func:`make_synthetic` (see the module docstring)."""

    num_rows: int = Field(default=100_000, gt=0, le=MAX_SYNTHETIC_ROWS,
                          description=f"rows generated in memory, at most {MAX_SYNTHETIC_ROWS:,}")
    num_dense: int = Field(default=13, ge=0, le=MAX_SYNTHETIC_FIELDS,
                           description=f"dense columns, at most {MAX_SYNTHETIC_FIELDS:,}")
    vocab_sizes: list[Annotated[int, Field(gt=0, le=MAX_SYNTHETIC_VOCAB)]] = Field(
        default_factory=lambda: list(CRITEO_LIKE_VOCAB_SIZES), max_length=MAX_SYNTHETIC_FIELDS,
        description=f"one vocabulary per categorical column: at most {MAX_SYNTHETIC_FIELDS:,} columns of at most "
                    f"{MAX_SYNTHETIC_VOCAB:,} ids")
    multi_valued: MultiValuedConfig | None = None
    seed: int = Field(default=0, ge=0, le=MAX_SEED, description=f"0 to {MAX_SEED:,}")
    zipf_exponent: float = Field(default=1.1, gt=0)
    missing_rate: float = Field(default=0.05, ge=0, lt=1)
    interaction_fields: int = Field(default=4, ge=0, le=100,
                                    description="fields with planted pairwise interactions, at most 100")
    interaction_rank: int = Field(default=4, gt=0, le=1024, description="width of planted vectors, at most 1,024")
    signal_std: float = Field(default=1.6, gt=0)
    positive_rate: float = Field(default=0.3, gt=0, lt=1)
    multitask: CorrelatedTasksConfig | None = None


#: Small config for demos and smoke tests: 50k rows, 4 dense, 8 categorical, one multi-valued field.
DEFAULT_SYNTHETIC = SyntheticConfig(
    num_rows=50_000,
    num_dense=4,
    vocab_sizes=[10, 20, 50, 100, 300, 1000, 2000, 5000],
    multi_valued=MultiValuedConfig(name="tags", vocab=100, max_len=5),
    seed=0,
)


def _zipf_cdf(size: int, exponent: float) -> np.ndarray:
    weights = np.arange(1, size + 1, dtype=np.float64) ** -exponent
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


def _draw(rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(cdf) - 1)


def _vocabulary(size: int, salt: int) -> pa.Array:
    """Unique 8-hex-digit ids: an odd multiplier plus a salt is a bijection on 32-bit integers."""
    codes = (np.arange(size, dtype=np.uint64) * np.uint64(2654435761) + np.uint64(salt)) % np.uint64(2**32)
    return pa.array(np.char.mod("%08x", codes).astype(object), type=pa.string())


class _Planted:
    """The planted model's parameters, drawn from the config's seed alone."""

    def __init__(self, c: SyntheticConfig) -> None:
        rng = np.random.default_rng(np.random.SeedSequence([c.seed, 1]))
        self.cdfs = [_zipf_cdf(v, c.zipf_exponent) for v in c.vocab_sizes]
        self.weights = [rng.standard_normal(v) for v in c.vocab_sizes]
        k = min(c.interaction_fields, len(c.vocab_sizes))
        self.pairs = [(a, b) for a in range(k) for b in range(a + 1, k)]
        scale = 1.0 / np.sqrt(c.interaction_rank)
        self.vectors = [rng.standard_normal((v, c.interaction_rank)) * scale for v in c.vocab_sizes[:max(k, 1)]]
        self.dense_mu = rng.uniform(0.0, 3.0, c.num_dense)
        self.dense_sigma = rng.uniform(0.5, 1.5, c.num_dense)
        self.dense_weights = rng.standard_normal(c.num_dense)
        self.missing_rates = c.missing_rate * rng.uniform(0.0, 2.0, c.num_dense).clip(0, 1)
        m = c.multi_valued
        if m is not None:
            self.multi_cdf = _zipf_cdf(m.vocab, c.zipf_exponent)
            self.multi_weights = rng.standard_normal(m.vocab)
            self.multi_vectors = rng.standard_normal((m.vocab, c.interaction_rank)) * scale
        self.scale, self.bias, self.center = 1.0, 0.0, 0.0


def _sample(c: SyntheticConfig, planted: _Planted, n: int, rng: np.random.Generator) -> dict[str, Any]:
    """Raw columns (index arrays, dense values, missing masks, multi lists) and the raw logit ``z``."""
    z = np.zeros(n)
    cats = [_draw(rng, cdf, n) for cdf in planted.cdfs]
    for j, idx in enumerate(cats):
        z += planted.weights[j][idx]
    for a, b in planted.pairs:
        z += np.einsum("nr,nr->n", planted.vectors[a][cats[a]], planted.vectors[b][cats[b]])
    dense, missing = [], []
    for i in range(c.num_dense):
        normal = rng.standard_normal(n)
        values = np.floor(np.exp(planted.dense_mu[i] + planted.dense_sigma[i] * normal))
        absent = rng.random(n) < planted.missing_rates[i]
        z += np.where(absent, 0.0, planted.dense_weights[i] * (np.log1p(values) - planted.dense_mu[i])
                      / planted.dense_sigma[i])
        dense.append(values)
        missing.append(absent)
    multi = None
    m = c.multi_valued
    if m is not None:
        lengths = rng.integers(1, m.max_len + 1, n)
        elements = _draw(rng, planted.multi_cdf, int(lengths.sum()))
        rows = np.repeat(np.arange(n), lengths)
        z += np.bincount(rows, planted.multi_weights[elements], minlength=n) / lengths
        if cats:
            pooled = np.zeros((n, c.interaction_rank))
            np.add.at(pooled, rows, planted.multi_vectors[elements])
            pooled /= lengths[:, None]
            z += np.einsum("nr,nr->n", pooled, planted.vectors[0][cats[0]])
        multi = (lengths, elements)
    return {"cats": cats, "dense": dense, "missing": missing, "multi": multi, "z": z}


def _calibrate(c: SyntheticConfig, planted: _Planted) -> None:
    ref = _sample(c, planted, _REFERENCE_ROWS, np.random.default_rng(np.random.SeedSequence([c.seed, 2])))["z"]
    planted.center = float(ref.mean())
    std = float(ref.std())
    planted.scale = c.signal_std / std if std > 0 else 0.0
    logits = planted.scale * (ref - planted.center)
    low, high = -30.0, 30.0
    for _ in range(100):  # bisection: mean sigmoid(bias + logit) = positive_rate
        mid = (low + high) / 2
        if np.mean(1.0 / (1.0 + np.exp(-(mid + logits)))) < c.positive_rate:
            low = mid
        else:
            high = mid
    planted.bias = (low + high) / 2


def make_synthetic(config: SyntheticConfig | None = None, **overrides: Any) -> pa.Table:
    """A Criteo-like table drawn from the planted model (deterministic by ``seed``).

    Args:
        config: a :class:`SyntheticConfig` (defaults to ``SyntheticConfig()``).
        **overrides: fields of the config, e.g. ``num_rows=10_000, vocab_sizes=[10, 100], seed=3``.

    Example:
        >>> t = make_synthetic(num_rows=1000, num_dense=2, vocab_sizes=[5, 50], seed=1)
        >>> t.column_names
        ['label', 'I1', 'I2', 'C1', 'C2', 'true_prob']
    """
    base = (config or SyntheticConfig()).model_dump()
    c = SyntheticConfig.model_validate(base | overrides)
    if c.multitask is not None:
        from recblocks.datasets.synthetic_multitask import make_multitask  # it builds on this module

        return make_multitask(c)
    planted = _Planted(c)
    _calibrate(c, planted)
    rng = np.random.default_rng(np.random.SeedSequence([c.seed, 3]))
    raw = _sample(c, planted, c.num_rows, rng)
    prob = 1.0 / (1.0 + np.exp(-(planted.bias + planted.scale * (raw["z"] - planted.center))))
    label = (rng.random(c.num_rows) < prob).astype(np.int64)
    columns: dict[str, pa.Array] = {"label": pa.array(label), **feature_columns(c, raw)}
    columns[TRUE_PROB_COLUMN] = pa.array(prob)
    return pa.table(columns)


def iter_synthetic(config: SyntheticConfig, num_rows: int, rows_per_chunk: int = 1_000_000,
                   stream: int = 0) -> Iterator[pa.Table]:
    """``num_rows`` rows of ``config``'s planted model (its ``num_rows`` is ignored) as tables of
    at most ``rows_per_chunk`` rows, generated one at a time: data larger than memory, written
    chunk by chunk. Chunk ``i`` draws from ``(seed, 4, stream, i)``: another ``stream`` (e.g. a
    validation split) gives other rows of the same planted model. Multi-task configs are refused.

    Example:
        >>> c = SyntheticConfig(num_dense=1, vocab_sizes=[5], seed=1)
        >>> [t.num_rows for t in iter_synthetic(c, 25, rows_per_chunk=10)]
        [10, 10, 5]
    """
    if config.multitask is not None:
        raise DataError("synthetic.multitask", "chunked generation draws single-task data", "multitask: null",
                        "a multitask config")
    planted = _Planted(config)
    _calibrate(config, planted)
    for index, start in enumerate(range(0, num_rows, rows_per_chunk)):
        n = min(rows_per_chunk, num_rows - start)
        rng = np.random.default_rng(np.random.SeedSequence([config.seed, 4, stream, index]))
        raw = _sample(config, planted, n, rng)
        prob = 1.0 / (1.0 + np.exp(-(planted.bias + planted.scale * (raw["z"] - planted.center))))
        label = (rng.random(n) < prob).astype(np.int64)
        yield pa.table({"label": pa.array(label), **feature_columns(config, raw), TRUE_PROB_COLUMN: pa.array(prob)})


def feature_columns(c: SyntheticConfig, raw: dict[str, Any]) -> dict[str, pa.Array]:
    """The feature columns (``I*``, ``C*``, the multi-valued one) of a :func:`_sample` draw."""
    columns: dict[str, pa.Array] = {}
    for i, (values, absent) in enumerate(zip(raw["dense"], raw["missing"])):
        columns[f"I{i + 1}"] = pa.array(values, mask=absent, type=pa.float64())
    for j, idx in enumerate(raw["cats"]):
        columns[f"C{j + 1}"] = _vocabulary(c.vocab_sizes[j], salt=1000003 * (j + 1)).take(pa.array(idx))
    if raw["multi"] is not None:
        m = c.multi_valued
        lengths, elements = raw["multi"]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        values = _vocabulary(m.vocab, salt=7919).take(pa.array(elements))
        columns[m.name] = pc.binary_join(pa.LargeListArray.from_arrays(pa.array(offsets), values), m.separator)
    return columns


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Rank-based (Mann-Whitney) AUC with tied scores sharing their average rank; NaN if one class is absent."""
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_scores[1:] != sorted_scores[:-1]]))
    ends = np.concatenate([starts[1:], [len(scores)]])
    average_rank = (starts + ends + 1) / 2.0  # ranks are 1-based: group covers starts+1..ends
    ranks = np.empty(len(scores))
    ranks[order] = np.repeat(average_rank, ends - starts)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def bayes_auc(table: pa.Table, label: str = "label", prob: str = TRUE_PROB_COLUMN) -> float:
    """AUC of the true probabilities on ``table``: the best AUC any model can expect there."""
    for name in (label, prob):
        if name not in table.column_names:
            raise DataError(f"column '{name}'", "column is missing (is this a synthetic table?)",
                            f"one of {table.column_names}", repr(name), choices=table.column_names)
    return _auc(table[label].to_numpy(), table[prob].to_numpy())


def synthetic_schema(config: SyntheticConfig = DEFAULT_SYNTHETIC, embedding_dim: int = 16) -> list[dict[str, Any]]:
    """Feature configs for a synthetic table: dense ``I*`` (log1p), sparse ``C*``, the multi-valued field."""
    features: list[dict[str, Any]] = [{"name": f"I{i + 1}", "kind": "dense", "normalization": "log1p"}
                                      for i in range(config.num_dense)]
    features += [{"name": f"C{j + 1}", "kind": "sparse", "embedding_dim": embedding_dim}
                 for j in range(len(config.vocab_sizes))]
    m = config.multi_valued
    if m is not None:
        features.append({"name": m.name, "kind": "multi", "separator": m.separator, "max_len": m.max_len,
                         "embedding_dim": embedding_dim})
    return features


def write_synthetic(output_dir: str | Path, config: SyntheticConfig = DEFAULT_SYNTHETIC,
                    fractions: Sequence[float] = (0.8, 0.1, 0.1), split_seed: int = 0) -> dict[str, dict[str, Any]]:
    """Write ``train/valid/test.parquet`` and ``synthetic.json`` (config + Bayes AUC per split).

    Returns:
        Split name -> ``{"path", "rows", "bayes_auc"}``.
    """
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    parts = random_split(make_synthetic(config), fractions, split_seed)
    names = ("train", "valid", "test")[:len(parts)] if len(parts) <= 3 else [f"part{i}" for i in range(len(parts))]
    info: dict[str, dict[str, Any]] = {}
    for name, part in zip(names, parts):
        path = output / f"{name}.parquet"
        pq.write_table(part, path)
        info[name] = {"path": str(path), "rows": part.num_rows, "bayes_auc": bayes_auc(part)}
    (output / "synthetic.json").write_text(json.dumps({"config": config.model_dump(mode="json"), "splits": info},
                                                      indent=2), encoding="utf-8")
    return info
