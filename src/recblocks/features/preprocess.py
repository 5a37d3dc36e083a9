"""Fit feature statistics on train and turn pyarrow tables into :class:`Batch` tensors.

:class:`Preprocessor` follows the schema's local id layout (``0`` padding, ``1`` unseen or
missing, ``2..`` values). Every column is processed whole with pyarrow.compute and numpy;
no Python code runs per row. Fitted state lives in attributes ending with ``_``:

* ``vocabularies_`` — embedding table name -> values (features sharing ``embedding_name``
  share one vocabulary fitted over the union of their columns);
* ``dense_stats_`` — dense feature -> ``{"mean", "std"}`` or ``{"min", "max"}`` (lists of N for a
  vector feature, ``dim: N``; :mod:`recblocks.features.vectors`);
* ``boundaries_`` — bucketized feature -> increasing boundaries (given or fitted quantiles);
* ``report_`` — a :class:`TransformReport` accumulated over every ``transform`` call since
  ``fit`` (or :meth:`Preprocessor.reset_report`), so a whole run can be summarised at the end.

``transform`` returns ``(batch, report)``; the report covers that call only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from recblocks.core.errors import ConfigError, DataError, SchemaError
from recblocks.features.batch import Batch
from recblocks.features.columns import (
    FLOAT32_MAX,
    as_array,
    is_missing_string,
    encode_extra,
    hash_ids,
    lookup_ids,
    stable_hash,
    pad_lists,
    parse_numbers,
    to_lists,
    to_numbers,
    to_strings,
    unusable_numbers,
)
from recblocks.features.cross import cross_values
from recblocks.features.dynamic_vocab import raw_ids
from recblocks.features.numeric_sequences import encode_numeric_sequence
from recblocks.features.derived import Expression, evaluate, lookup_values
from recblocks.features.weighted import encode_weighted_multi, weight_key, weighted_keys
from recblocks.features.labels import LABEL_TYPES, encode_labels, label_dtype
from recblocks.features.schema import Schema
from recblocks.features.text import normalize_column
from recblocks.features.vectors import encode_vector, fit_vector_stats, is_vector, wrong_length_rows
from recblocks.features.stats import (
    FeatureCounts,
    TransformReport,
    fit_moments,
    fit_quantiles,
    fit_range,
    fit_vocabulary,
)

__all__ = ["Preprocessor", "LABEL_TYPES"]

_FORMAT = "recblocks.Preprocessor"
_VERSION = 1


def _mode(feature: Any) -> str:
    """How a feature becomes numbers: ``vocab``, ``hash``, ``bucket``, ``dense``, ``numbers`` (a
    sequence of raw numbers) or ``dynamic`` (raw 63-bit ids a model's dynamic vocabulary maps)."""
    if getattr(feature, "vocabulary", None) is not None:
        return "dynamic"
    if getattr(feature, "values", "ids") == "numbers":
        return "numbers" if feature.boundaries is None else "bucket"
    if feature.kind == "dense":
        return "dense"
    if feature.kind == "bucketized":
        return "bucket"
    if feature.kind == "hashed" or getattr(feature, "hash_bucket_size", None):
        return "hash"
    return "vocab"


def _where(feature: Any) -> str:
    return f"feature '{feature.name}'"


def _tensor(values: np.ndarray, dtype: Any) -> torch.Tensor:
    array = np.ascontiguousarray(values, dtype=dtype)
    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(array)


class Preprocessor:
    """Fits vocabularies and statistics on train; transforms tables into :class:`Batch`.

    Args:
        schema: a :class:`Schema` or its config (a list of feature mappings).

    Example:
        >>> import pyarrow as pa
        >>> p = Preprocessor([{"name": "user_id", "kind": "sparse"}])
        >>> p = p.fit(pa.table({"user_id": ["a", "b", "a"]}))
        >>> batch, report = p.transform(pa.table({"user_id": ["a", "z", None]}))
        >>> batch.features["user_id"].tolist(), p.num_embeddings("user_id")
        ([2, 1, 1], 4)
    """

    def __init__(self, schema: Schema | Iterable[object]) -> None:
        self.schema = schema if isinstance(schema, Schema) else Schema(schema)
        self.vocabularies_: dict[str, list[str]] = {}
        self.dense_stats_: dict[str, dict[str, Any]] = {}
        self.boundaries_: dict[str, list[float]] = {}
        self.report_ = TransformReport()
        self._fitted = False
        self._value_sets: dict[str, pa.Array] = {}
        #: the weights of the weighted multi features encoded by the last ``_encode`` calls (by name)
        self._weights: dict[str, torch.Tensor] = {}

    # ----------------------------------------------------------------- structure
    @property
    def is_fitted(self) -> bool:
        """True after :meth:`fit` or when loaded from a state dict."""
        return self._fitted

    def required_columns(self) -> list[str]:
        """Source columns the schema reads, in schema order without repeats."""
        return list(dict.fromkeys(c for f in self.schema for c in f.source_columns))

    def _tables(self) -> dict[str, list[Any]]:
        """Embedding table name -> member features, for features that need a vocabulary."""
        tables: dict[str, list[Any]] = {}
        for f in self.schema:
            if _mode(f) == "vocab":
                tables.setdefault(f.table_name, []).append(f)
        return tables

    def _require_fitted(self) -> None:
        if not self._fitted:
            raise ConfigError("preprocessor", "not fitted yet", "fit(train_table) or Preprocessor.load(path) first",
                              "an unfitted preprocessor")

    def num_embeddings(self, feature_name: str) -> int:
        """Rows of the feature's embedding table: 2 reserved ids + values/buckets (shared tables agree)."""
        feature = self.schema[feature_name]
        mode = _mode(feature)
        if mode in ("dense", "numbers"):
            raise SchemaError(_where(feature), f"a {mode} feature has no embedding table",
                              "an id feature (sparse, hashed, multi, sequence, bucketized)", "kind 'dense'")
        if mode == "hash":
            return 2 + int(feature.hash_bucket_size)
        if mode == "dynamic":
            return int(feature.vocabulary.max_rows)
        self._require_fitted()
        if mode == "vocab":
            return 2 + len(self.vocabularies_[feature.table_name])
        members = [f for f in self.schema if _mode(f) == "bucket" and f.table_name == feature.table_name]
        return 2 + max(len(self.boundaries_[f.name]) + 1 for f in members)

    def vocabulary(self, feature_name: str) -> list[str]:
        """Values of the feature's vocabulary; value ``i`` has id ``i + 2``."""
        feature = self.schema[feature_name]
        if _mode(feature) != "vocab":
            raise SchemaError(_where(feature), "the feature has no vocabulary", "a sparse, multi or sequence "
                              "feature without hash_bucket_size", f"kind '{feature.kind}'")
        self._require_fitted()
        return list(self.vocabularies_[feature.table_name])

    def _column(self, table: pa.Table, feature: Any, normalize: bool = True) -> pa.Array:
        """The feature's column (the crossed values of a ``cross``), its strings normalised (``normalize``
        option) unless ``normalize`` is False."""
        for name in feature.source_columns:
            if name not in table.column_names:
                raise DataError(_where(feature), f"column '{name}' is missing from the data",
                                f"one of {_preview(table.column_names)}", repr(name), choices=table.column_names)
        cross = getattr(feature, "cross", None)
        if cross is not None:
            if not normalize:
                return as_array(table.column(cross.columns[0]))
            inputs = [normalize_column(as_array(table.column(name)), feature.normalize) for name in cross.columns]
            return cross_values(inputs, cross.column_separators(), cross.join, _where(feature))
        lookup, expression = getattr(feature, "lookup", None), getattr(feature, "expression", None)
        if expression is not None:
            inputs = {name: as_array(table.column(name)) for name in expression.columns}
            parsed = Expression.parse(expression.formula, expression.columns, _where(feature))
            return pa.array(evaluate(parsed, inputs, _where(feature)), type=pa.float64())
        column = as_array(table.column(feature.source_column))
        if lookup is not None:
            return lookup_values(as_array(table.column(lookup.key)), column, feature.separator, lookup.kv_separator,
                                 lookup.max_selected, _where(feature))
        return normalize_column(column, getattr(feature, "normalize", None)) if normalize else column

    # ----------------------------------------------------------------------- fit
    def fit(self, table: pa.Table) -> "Preprocessor":
        """Fit vocabularies, dense statistics and quantile boundaries on ``table`` (train only)."""
        for f in self.schema:
            self._column(table, f, normalize=False)
        vocabularies: dict[str, list[str]] = {}
        for table_name, members in self._tables().items():
            arrays = []
            for f in members:
                column = self._column(table, f)
                if f.kind == "sparse":
                    arrays.append(to_strings(column, _where(f)))
                elif getattr(f, "weight_separator", None):
                    arrays.append(weighted_keys(column, f, _where(f)))
                else:
                    arrays.append(pc.list_flatten(to_lists(column, f.separator, _where(f))))
            owner = members[0]
            vocabularies[table_name] = fit_vocabulary(arrays, owner.min_count, getattr(owner, "max_vocab_size", None))
        dense_stats: dict[str, dict[str, Any]] = {}
        boundaries: dict[str, list[float]] = {}
        for f in self.schema:
            if is_vector(f):
                stats = fit_vector_stats(f, self._column(table, f))
                if stats is not None:
                    dense_stats[f.name] = stats
            elif f.kind == "dense":
                values, _ = to_numbers(self._column(table, f), _where(f))
                if f.normalization == "standard":
                    mean, std = fit_moments(values)
                    dense_stats[f.name] = {"mean": mean, "std": std}
                elif f.normalization == "minmax":
                    low, high = fit_range(values)
                    dense_stats[f.name] = {"min": low, "max": high}
            elif _mode(f) == "bucket":
                if f.boundaries is not None:
                    boundaries[f.name] = [float(b) for b in f.boundaries]
                else:
                    values, _ = to_numbers(self._column(table, f), _where(f))
                    boundaries[f.name] = fit_quantiles(values, f.num_buckets)
        return self.set_fitted(vocabularies, dense_stats, boundaries)

    def set_fitted(self, vocabularies: dict[str, list[str]], dense_stats: dict[str, dict[str, Any]],
                   boundaries: dict[str, list[float]]) -> "Preprocessor":
        """Take fitted state computed elsewhere (a streaming fit: :mod:`recblocks.features.streaming_fit`)."""
        self.vocabularies_, self.dense_stats_, self.boundaries_ = vocabularies, dense_stats, boundaries
        self._value_sets = {}
        self.report_ = TransformReport()
        self._fitted = True
        return self

    # ----------------------------------------------------------------- transform
    def _value_set(self, table_name: str) -> pa.Array:
        if table_name not in self._value_sets:
            self._value_sets[table_name] = pa.array(self.vocabularies_[table_name], type=pa.string())
        return self._value_sets[table_name]

    def _encode(self, feature: Any, column: pa.Array, row_offset: int = 0,
                kept_rows: np.ndarray | None = None) -> tuple[torch.Tensor, FeatureCounts]:
        """Ids or values of one feature; ``kept_rows`` maps ``column``'s rows to the table's when
        rows were dropped (so errors name the data row of the file)."""
        where, n, mode = _where(feature), len(column), _mode(feature)
        if feature.kind == "sequence" and mode in ("numbers", "bucket"):
            return encode_numeric_sequence(feature, column, self.boundaries_.get(feature.name) if mode == "bucket"
                                           else None)
        if feature.kind in ("multi", "sequence"):
            lists = to_lists(column, feature.separator, where)
            if mode == "hash":
                def element_ids(flat: pa.Array) -> tuple[np.ndarray, int]:
                    return hash_ids(flat, feature.hash_bucket_size)[0], 0
            else:
                value_set = self._value_set(feature.table_name)

                def element_ids(flat: pa.Array) -> tuple[np.ndarray, int]:
                    ids, oov, _ = lookup_ids(flat, value_set)
                    return ids, oov
            if getattr(feature, "weight_separator", None):
                ids_t, weights, counts = encode_weighted_multi(feature, column, element_ids)
                self._weights[feature.name] = weights
                return ids_t, counts
            ids, oov, missing, looked_up, truncated = pad_lists(lists, element_ids, feature.max_len,
                                                                keep_last=feature.kind == "sequence")
            return _tensor(ids, np.int64), FeatureCounts(n, looked_up, oov, missing, truncated=truncated)
        if mode == "vocab":
            ids, oov, missing = lookup_ids(to_strings(column, where), self._value_set(feature.table_name))
            return _tensor(ids, np.int64), FeatureCounts(n, n, oov, missing)
        if mode == "hash":
            ids, missing = hash_ids(to_strings(column, where), feature.hash_bucket_size)
            return _tensor(ids, np.int64), FeatureCounts(n, n, 0, missing)
        if mode == "dynamic":  # raw ids: the model maps them to rows (recblocks.features.dynamic_vocab)
            strings = to_strings(column, where)
            absent = is_missing_string(strings)
            return _tensor(raw_ids(stable_hash(strings), absent), np.int64), \
                FeatureCounts(n, n, 0, int(np.count_nonzero(absent)))
        if is_vector(feature):
            return encode_vector(feature, column, self.dense_stats_.get(feature.name), row_offset, kept_rows)
        return self._encode_numbers(feature, column, row_offset, kept_rows)

    def _encode_numbers(self, feature: Any, column: pa.Array, row_offset: int,
                        kept_rows: np.ndarray | None) -> tuple[torch.Tensor, FeatureCounts]:
        """Dense values or bucket ids; unusable numbers (see :meth:`transform`) are filled or refused."""
        where, n = _where(feature), len(column)
        values, unparseable = parse_numbers(column, where)
        missing, out_of_range = unusable_numbers(values)
        values = self._fill(feature, values, missing | out_of_range)
        if feature.kind == "bucketized":
            out = np.searchsorted(np.asarray(self.boundaries_[feature.name], dtype=np.float64), values,
                                  side="right") + 2
        else:
            with np.errstate(over="ignore", invalid="ignore"):
                out = self._normalize(feature, values)
                overflow = ~(np.abs(out) <= FLOAT32_MAX)  # beyond float32 only once normalized (tiny fitted std)
                if overflow.any():
                    out_of_range |= overflow
                    out = self._normalize(feature, self._fill(feature, values, overflow))
        counts = _numeric_counts(n, missing, out_of_range, unparseable)
        if counts.missing and feature.kind == "dense" and not feature.allow_missing:
            first = int(np.flatnonzero(missing | out_of_range)[0])
            row = row_offset + (first if kept_rows is None else int(kept_rows[first])) + 1
            raise DataError(where, f"{counts.missing} missing values (null, NaN, not a number, inf or beyond "
                            f"float32 range; first at data row {row}) while allow_missing is false",
                            "finite numbers within float32 range (|x| <= 3.4e38)", f"{counts.missing} of {n} rows")
        return _tensor(out, np.int64 if feature.kind == "bucketized" else np.float32), counts

    @staticmethod
    def _fill(feature: Any, values: np.ndarray, bad: np.ndarray) -> np.ndarray:
        return np.where(bad, feature.fill_value, values) if bad.any() else values

    def _normalize(self, feature: Any, values: np.ndarray) -> np.ndarray:
        kind = feature.normalization
        if kind == "standard":
            stats = self.dense_stats_[feature.name]
            return (values - stats["mean"]) / (stats["std"] or 1.0)
        if kind == "minmax":
            stats = self.dense_stats_[feature.name]
            return (values - stats["min"]) / ((stats["max"] - stats["min"]) or 1.0)
        if kind == "log1p":
            return np.sign(values) * np.log1p(np.abs(values))
        return values

    def transform(
        self,
        table: pa.Table,
        labels: Mapping[str, str] | Sequence[str] | None = None,
        extras: Sequence[str] = (),
        row_offset: int = 0,
    ) -> tuple[Batch, TransformReport]:
        """Turn ``table`` into a :class:`Batch`; rows with a bad label are dropped and counted.

        Numeric inputs (dense, bucketized) that are null, NaN, not a number, ±inf or beyond
        float32's range (|x| > 3.4e38, which a float32 tensor would hold as inf) are missing:
        counted per feature and filled with ``fill_value``, or refused (DataError naming the
        feature and the first data row) for a dense feature with ``allow_missing: false``.
        Multi/sequence rows longer than ``max_len`` are truncated and counted.

        Args:
            table: rows to transform (extra columns are ignored).
            labels: label column -> kind (``float``, ``long``, ``binary``, ``soft_binary`` or
                ``classes:N``; see :mod:`recblocks.features.labels`); a list of names means float.
            extras: passthrough columns, emitted as int64 codes (see :func:`encode_extra`).
            row_offset: data rows before ``table`` in its file, so errors name the file's rows.

        Returns:
            ``(batch, report)``: the report of this call; it is also merged into ``report_``.
        """
        self._require_fitted()
        if labels is None:
            labels = {}
        elif not isinstance(labels, Mapping):
            labels = {str(name): "float" for name in labels}
        for f in self.schema:
            self._column(table, f, normalize=False)
        for name in extras:
            if name not in table.column_names:
                raise DataError(f"extra '{name}'", f"column '{name}' is missing from the data",
                                f"one of {_preview(table.column_names)}", repr(name), choices=table.column_names)
        rows = table.num_rows
        label_values, bad, label_counts = encode_labels(table, labels, row_offset)
        wrong_length = {f.name: wrong_length_rows(f, self._column(table, f)) for f in self.schema if is_vector(f)}
        for mask in wrong_length.values():
            bad = bad | mask
        bad_rows = int(np.count_nonzero(bad))
        kept_rows = None
        if bad_rows:
            keep = ~bad
            kept_rows = np.flatnonzero(keep)
            table = table.filter(pa.array(keep))
            label_values = {k: v[keep] for k, v in label_values.items()}
        features: dict[str, torch.Tensor] = {}
        counts: dict[str, FeatureCounts] = {}
        self._weights = {}
        for f in self.schema:
            features[f.name], counts[f.name] = self._encode(f, self._column(table, f), row_offset, kept_rows)
        features.update({weight_key(name): weights for name, weights in self._weights.items()})
        for f in self.schema:
            if f.name in wrong_length:
                counts[f.name].wrong_length = int(np.count_nonzero(wrong_length[f.name]))
        label_tensors = {k: _tensor(v, np.float32 if label_dtype(labels[k]) == torch.float32 else np.int64)
                         for k, v in label_values.items()}
        extra_tensors = {k: _tensor(encode_extra(as_array(table.column(k)), f"extra '{k}'"), np.int64) for k in extras}
        report = TransformReport(rows, bad_rows, {k: c.bad for k, c in label_counts.items()}, counts,
                                 {k: c.reasons for k, c in label_counts.items()},
                                 {k: c.soft for k, c in label_counts.items() if c.soft})
        self.report_ = self.report_.merge(report)
        return Batch(features, label_tensors, extra_tensors), report

    def encode_feature(self, feature_name: str, table: pa.Table) -> torch.Tensor:
        """The ids (or values) of one feature for ``table``, which needs only that feature's
        column(s): e.g. the user and item ids of an edge table beside the training data.

        Example:
            >>> import pyarrow as pa
            >>> from recblocks.features.schema import Schema
            >>> pre = Preprocessor(Schema([{"name": "item", "kind": "sparse"}]))
            >>> pre = pre.fit(pa.table({"item": ["a", "b", "a"]}))
            >>> pre.encode_feature("item", pa.table({"item": ["b", "z", "a"]})).tolist()  # z: out of vocabulary
            [3, 1, 2]
        """
        self._require_fitted()
        feature = self.schema[feature_name]
        return self._encode(feature, self._column(table, feature))[0]

    def reset_report(self) -> TransformReport:
        """Return the accumulated report and start a new one."""
        report, self.report_ = self.report_, TransformReport()
        return report

    # --------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """JSON-serializable fitted state plus the schema config."""
        self._require_fitted()
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "schema": self.schema.to_config(),
            "vocabularies": {k: list(v) for k, v in self.vocabularies_.items()},
            "dense_stats": {k: dict(v) for k, v in self.dense_stats_.items()},
            "boundaries": {k: list(v) for k, v in self.boundaries_.items()},
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> "Preprocessor":
        """Rebuild a fitted preprocessor from :meth:`state_dict` output."""
        if not isinstance(state, Mapping) or state.get("format") != _FORMAT:
            got = state.get("format") if isinstance(state, Mapping) else type(state).__name__
            raise ConfigError("preprocessor state", "not a preprocessor state dict", f"format '{_FORMAT}'", repr(got))
        if state.get("version") != _VERSION:
            raise ConfigError("preprocessor state.version", "unsupported version", _VERSION, state.get("version"))
        p = cls(Schema(state["schema"]))
        p.vocabularies_ = {str(k): [str(x) for x in v] for k, v in state["vocabularies"].items()}
        p.dense_stats_ = {str(k): {s: [float(y) for y in x] if isinstance(x, list) else float(x) for s, x in v.items()}
                          for k, v in state["dense_stats"].items()}
        p.boundaries_ = {str(k): [float(x) for x in v] for k, v in state["boundaries"].items()}
        missing = [t for t in p._tables() if t not in p.vocabularies_]
        missing += [f.name for f in p.schema if _mode(f) == "bucket" and f.name not in p.boundaries_]
        if missing:
            raise ConfigError("preprocessor state", "fitted state is missing for some features",
                              "state for every feature of the schema", missing)
        p._fitted = True
        return p

    def save(self, path: str | Path) -> Path:
        """Write :meth:`state_dict` as JSON (UTF-8) and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.state_dict(), ensure_ascii=False), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Preprocessor":
        """Read a preprocessor written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise DataError(str(path), "preprocessor file not found", "a JSON file written by Preprocessor.save",
                            "no such file")
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(str(path), f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_state_dict(state)


def _numeric_counts(rows: int, missing: np.ndarray, out_of_range: np.ndarray,
                    unparseable: np.ndarray) -> FeatureCounts:
    return FeatureCounts(rows, rows, 0, int(np.count_nonzero(missing | out_of_range)),
                         int(np.count_nonzero(unparseable)), int(np.count_nonzero(out_of_range)))


def _preview(names: Sequence[str], limit: int = 12) -> list[str] | str:
    names = list(names)
    return names if len(names) <= limit else f"{names[:limit]} and {len(names) - limit} more"
