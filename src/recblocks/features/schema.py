"""Feature schema: what each input column is and how it is embedded.

Kinds (``kind`` field of each entry):

* ``sparse``     — categorical id with a vocabulary fitted on train (``min_count``).
* ``hashed``     — categorical id hashed into ``hash_bucket_size`` buckets by a stable hash.
* ``multi``      — multi-valued ids (a list column or a ``separator``-joined string), pooled;
  with ``weight_separator`` each element is ``id<sep>weight`` and the pooling is weighted; with
  ``lookup`` the values are those a per-row map holds for another column's key.
* ``sequence``   — ordered ids (behaviour history), padded to ``max_len``, kept as a sequence;
  ``values: numbers`` for a sequence of numbers (raw, or bucketized by ``boundaries``).
* ``dense``      — a number, filled when missing and normalised with statistics fitted on train
  (or computed by an ``expression`` over numeric columns);
  with ``dim: N`` a vector of N numbers (a list column or a ``separator``-joined string),
  normalised per position.
* ``bucketized`` — a number turned into a bucket id by given ``boundaries`` or fitted quantiles.

``hashed`` and ``multi`` features may read a **cross** of several columns instead of one
(``cross: {columns: [a, b], separators: [null, ","], join: "_"}``; EasyRec's ``ComboFeature``):
the values of the columns joined into one id, the cartesian product when an input holds several
values (then ``multi``); see :mod:`recblocks.features.cross`.

Local id layout shared by every id kind (what the preprocessor emits and the embedding
tables are sized for): ``0`` = padding (multi/sequence only), ``1`` = out-of-vocabulary or
missing, ``2..`` = known values / hash buckets / buckets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated, Literal, Union

from pydantic import Field, ValidationInfo, field_validator, model_validator

from recblocks.core.errors import ConfigError, SchemaError
from recblocks.core.limits import MAX_BUCKETS, MAX_EMBEDDING_DIM, MAX_SEQUENCE_LENGTH, MAX_TABLE_ROWS
from recblocks.core.params import Params, join_path, parse_params
from recblocks.features.cross import CrossSpec
from recblocks.features.derived import ExpressionSpec, LookupSpec
from recblocks.features.dynamic_vocab_config import DynamicVocabularyConfig
from recblocks.features.text import TextNormalization

__all__ = [
    "PADDING_ID",
    "OOV_ID",
    "FIRST_ID",
    "SparseFeature",
    "HashedFeature",
    "MultiFeature",
    "SequenceFeature",
    "DenseFeature",
    "BucketizedFeature",
    "FeatureConfig",
    "ID_KINDS",
    "Schema",
]

PADDING_ID = 0
OOV_ID = 1
FIRST_ID = 2

ID_KINDS = ("sparse", "hashed", "multi", "sequence", "bucketized")


class _FeatureBase(Params):
    name: str = Field(min_length=1)
    column: str | None = None
    embedding_dim: int | None = Field(default=None, gt=0, le=MAX_EMBEDDING_DIM,
                                      description=f"embedding width, at most {MAX_EMBEDDING_DIM:,}")
    embedding_name: str | None = None
    tags: list[str] = Field(default_factory=list)

    @property
    def source_column(self) -> str:
        """Column read from the data (defaults to the feature name)."""
        return self.column or self.name

    @property
    def source_columns(self) -> list[str]:
        """Columns read from the data: the cross's columns for a crossed feature, else the source column."""
        cross = getattr(self, "cross", None)
        if cross is not None:
            return list(cross.columns)
        lookup, expression = getattr(self, "lookup", None), getattr(self, "expression", None)
        if lookup is not None:
            return [self.source_column, lookup.key]
        return list(expression.columns) if expression is not None else [self.source_column]

    @property
    def table_name(self) -> str:
        """Embedding table key: features with the same ``embedding_name`` share one table."""
        return self.embedding_name or self.name

    @property
    def is_id(self) -> bool:
        return self.kind in ID_KINDS  # type: ignore[attr-defined]


class _TextFeature(_FeatureBase):
    #: rewrite the strings before lookup/hashing, in fit and transform (recblocks.features.text)
    normalize: TextNormalization | None = None


class SparseFeature(_TextFeature):
    """Categorical id with a vocabulary fitted on train; ids seen fewer than ``min_count`` times are OOV."""

    kind: Literal["sparse"] = "sparse"
    min_count: int = Field(default=1, ge=1)
    max_vocab_size: int | None = Field(default=None, gt=0, le=MAX_TABLE_ROWS,
                                       description=f"largest vocabulary kept, at most {MAX_TABLE_ROWS:,}")
    #: ``{type: dynamic, max_rows, admit_min_count, evict_after}``: rows given to raw ids while
    #: training instead of a vocabulary fitted up front (:mod:`recblocks.features.dynamic_vocab`)
    vocabulary: DynamicVocabularyConfig | None = None

    @field_validator("vocabulary")
    @classmethod
    def _fitted_options_unused(cls, value: DynamicVocabularyConfig | None,
                               info: ValidationInfo) -> DynamicVocabularyConfig | None:
        if value is not None and (info.data.get("min_count", 1) != 1 or info.data.get("max_vocab_size") is not None):
            raise ValueError("min_count and max_vocab_size shape a vocabulary fitted up front; a dynamic vocabulary "
                             "admits ids by vocabulary.admit_min_count and bounds them by vocabulary.max_rows")
        return value


def _check_cross(feature: "_FeatureBase", cross: CrossSpec | None, single: bool) -> None:
    if cross is None:
        return
    if feature.column is not None:
        raise ValueError("a crossed feature reads cross.columns; leave 'column' out")
    if single and cross.multi_valued:
        raise ValueError("a cross with a multi-valued column (a separator in cross.separators) gives several "
                         "ids per row; use kind 'multi'")
    if not single and getattr(feature, "separator", None) is not None:
        raise ValueError("a crossed feature's columns are split by cross.separators; leave 'separator' out")


class HashedFeature(_TextFeature):
    """Categorical id hashed (stable across processes and runs) into ``hash_bucket_size`` buckets;
    with ``cross``, the id of the joined values of several columns."""

    kind: Literal["hashed"] = "hashed"
    hash_bucket_size: int = Field(gt=0, le=MAX_TABLE_ROWS, description=f"buckets, at most {MAX_TABLE_ROWS:,}")
    cross: CrossSpec | None = None

    @model_validator(mode="after")
    def _single_valued_cross(self) -> "HashedFeature":
        _check_cross(self, self.cross, single=True)
        return self


class _ListFeature(_TextFeature):
    separator: str | None = Field(default=None, min_length=1)  # "" cannot split a string
    max_len: int = Field(default=16, gt=0, le=MAX_SEQUENCE_LENGTH,
                         description=f"padded length, at most {MAX_SEQUENCE_LENGTH:,}")
    hash_bucket_size: int | None = Field(default=None, gt=0, le=MAX_TABLE_ROWS,
                                         description=f"buckets, at most {MAX_TABLE_ROWS:,}")
    min_count: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _separator_survives_normalize(self) -> "_ListFeature":
        if self.normalize is not None and self.normalize.remove_space and self.separator is not None \
                and not self.separator.strip():
            raise ValueError("normalize.remove_space removes the whitespace separator before the text is split; "
                             "use another separator or keep the spaces")
        return self


class MultiFeature(_ListFeature):
    """Multi-valued ids (list column or ``separator``-joined string), pooled by ``pooling``; with
    ``cross``, the crossed values of several columns (the cartesian product of their values)."""

    kind: Literal["multi"] = "multi"
    pooling: Literal["sum", "mean"] = "mean"
    cross: CrossSpec | None = None
    #: elements are ``id<weight_separator>weight`` pairs, pooled weighted (:mod:`recblocks.features.weighted`)
    weight_separator: str | None = Field(default=None, min_length=1)
    #: the values are looked up in the column's per-row map by another column's key (:mod:`recblocks.features.derived`)
    lookup: LookupSpec | None = None

    @model_validator(mode="after")
    def _list_cross(self) -> "MultiFeature":
        _check_cross(self, self.cross, single=False)
        if self.lookup is not None and (self.cross is not None or self.weight_separator is not None):
            raise ValueError("lookup reads a map column and a key column: no cross or weight_separator with it")
        if self.weight_separator is not None and (self.cross is not None or self.weight_separator == self.separator):
            raise ValueError("weight_separator splits each element into an id and its weight: it needs a single "
                             "input column and a separator other than the elements' one")
        return self


class SequenceFeature(_ListFeature):
    """Ordered ids kept as a padded sequence (B, L) for attention components; pooled in plain groups.

    ``values: numbers`` makes it a sequence of numbers (EasyRec's ``sub_feature_type: RawFeature``):
    with ``boundaries`` each number becomes a bucket id (an id sequence, ``0`` = padding); without,
    the batch holds the numbers, ``(B, L)`` float or ``(B, L, dim)`` when each element is ``dim``
    numbers joined by ``element_separator``, NaN marking padding (a row without elements is one
    ``fill_value`` element, as an empty id row is one missing id). Unparseable numbers become
    ``fill_value``; the input layer masks the padding (:mod:`recblocks.features.numeric_sequences`).
    With ``boundaries`` and ``element_separator`` (``dim`` 1) an element holds any number of
    numbers (EasyRec's ``seq_multi_sep``): each becomes a bucket id, the first ``element_len``
    are kept, ``(B, L, element_len)`` ids padded with ``0``, and an element's embedding is the
    ``pooling`` (sum or mean) of its ids' embeddings.
    """

    kind: Literal["sequence"] = "sequence"
    pooling: Literal["sum", "mean"] = "mean"
    values: Literal["ids", "numbers"] = "ids"
    boundaries: list[float] | None = Field(default=None, max_length=MAX_BUCKETS - 1,
                                           description=f"bucket boundaries, at most {MAX_BUCKETS - 1:,}")
    dim: int = Field(default=1, ge=1, le=MAX_EMBEDDING_DIM,
                     description=f"numbers per element, at most {MAX_EMBEDDING_DIM:,}")
    element_separator: str | None = Field(default=None, min_length=1)
    element_len: int = Field(default=8, ge=1, le=MAX_SEQUENCE_LENGTH,
                             description="numbers kept per element with boundaries and element_separator")
    fill_value: float = 0.0

    @model_validator(mode="after")
    def _number_options(self) -> "SequenceFeature":
        numeric = ("boundaries", "element_separator")
        if self.values == "ids":
            given = [k for k in numeric if getattr(self, k) is not None] + (["dim"] if self.dim > 1 else [])
            if given:
                raise ValueError(f"{given} apply to a sequence of numbers; set values: numbers")
            return self
        if self.hash_bucket_size is not None or self.min_count != 1:
            raise ValueError("hash_bucket_size and min_count apply to id sequences, not values: numbers")
        if self.boundaries is not None and self.dim > 1:
            raise ValueError("boundaries bucketize single numbers; leave dim at 1")
        if self.element_separator is not None and self.dim == 1 and self.boundaries is None:
            raise ValueError("element_separator splits an element into several numbers: set dim > 1 (a vector "
                             "per element) or boundaries (bucket ids pooled per element)")
        if self.boundaries is not None and list(self.boundaries) != sorted(set(self.boundaries)):
            raise ValueError("'boundaries' must be strictly increasing")
        return self

    @property
    def is_id(self) -> bool:
        return self.values == "ids" or self.boundaries is not None

    @property
    def is_numeric(self) -> bool:
        """A sequence of raw numbers: no table, the values themselves reach the input layer."""
        return self.values == "numbers" and self.boundaries is None

    @property
    def multi_bucket(self) -> bool:
        """Several bucketized numbers per element: ``(B, L, element_len)`` ids, pooled per element."""
        return self.boundaries is not None and self.element_separator is not None


class DenseFeature(_FeatureBase):
    """A number: missing/unparseable -> ``fill_value``; then ``normalization`` fitted on train.

    ``dim: N`` (> 1) makes it a vector of N numbers, read from a list column or a
    ``separator``-joined string column; statistics are fitted per position, a row with another
    number of values is a bad row (dropped and counted), and the batch holds ``(B, N)``.
    """

    kind: Literal["dense"] = "dense"
    dim: int = Field(default=1, ge=1, le=MAX_EMBEDDING_DIM,
                     description=f"numbers per row, at most {MAX_EMBEDDING_DIM:,}")
    separator: str | None = Field(default=None, min_length=1)
    fill_value: float = 0.0
    normalization: Literal["none", "standard", "minmax", "log1p"] = "none"
    allow_missing: bool = True
    #: a number computed from numeric columns by a formula (:mod:`recblocks.features.derived`)
    expression: ExpressionSpec | None = None

    @model_validator(mode="after")
    def _scalar_expression(self) -> "DenseFeature":
        if self.expression is not None and self.dim > 1:
            raise ValueError("an expression computes one number per row; leave dim at 1")
        return self


class BucketizedFeature(_FeatureBase):
    """A number bucketized by ``boundaries`` (given) or ``num_buckets`` quantiles fitted on train."""

    kind: Literal["bucketized"] = "bucketized"
    boundaries: list[float] | None = Field(default=None, max_length=MAX_BUCKETS - 1,
                                           description=f"bucket boundaries, at most {MAX_BUCKETS - 1:,}")
    num_buckets: int | None = Field(default=None, gt=1, le=MAX_BUCKETS,
                                    description=f"quantile buckets, at most {MAX_BUCKETS:,}")
    fill_value: float = 0.0

    @model_validator(mode="after")
    def _one_source_of_boundaries(self) -> "BucketizedFeature":
        if (self.boundaries is None) == (self.num_buckets is None):
            raise ValueError("set exactly one of 'boundaries' or 'num_buckets'")
        if self.boundaries is not None and list(self.boundaries) != sorted(set(self.boundaries)):
            raise ValueError("'boundaries' must be strictly increasing")
        return self


FeatureConfig = Annotated[
    Union[SparseFeature, HashedFeature, MultiFeature, SequenceFeature, DenseFeature, BucketizedFeature],
    Field(discriminator="kind"),
]

_KINDS = {
    "sparse": SparseFeature,
    "hashed": HashedFeature,
    "multi": MultiFeature,
    "sequence": SequenceFeature,
    "dense": DenseFeature,
    "bucketized": BucketizedFeature,
}


def parse_feature(data: object, where: str) -> FeatureConfig:
    """Validate one feature entry; the error names the entry and the bad key."""
    if isinstance(data, tuple(_KINDS.values())):
        return data  # type: ignore[return-value]
    if not isinstance(data, dict):
        raise ConfigError(where, "a feature must be a mapping", "a mapping with 'name' and 'kind'", type(data).__name__)
    kind = data.get("kind")
    if kind not in _KINDS:
        raise ConfigError(join_path(where, "kind"), "unknown feature kind", f"one of {sorted(_KINDS)}",
                          repr(kind), choices=_KINDS)
    try:
        return parse_params(_KINDS[kind], data, where)
    except ConfigError as exc:
        name = data.get("name")
        if not isinstance(name, str) or not name or exc.where == where:
            raise
        raise ConfigError(f"{exc.where} (feature '{name[:60]}')", exc.problem, exc.expected, exc.got,
                          choices=[exc.suggestion] if exc.suggestion else None) from None


class Schema:
    """An ordered collection of features with name lookup (and did-you-mean on misses).

    Example:
        >>> s = Schema([{"name": "user_id", "kind": "sparse", "embedding_dim": 8}])
        >>> s["user_id"].kind
        'sparse'
    """

    def __init__(self, features: Iterable[object], where: str = "features") -> None:
        self.features: list = []
        seen: set[str] = set()
        for i, raw in enumerate(features):
            feature = parse_feature(raw, join_path(where, i))
            if feature.name in seen:
                raise ConfigError(join_path(where, i, "name"), "duplicate feature name", "unique names",
                                  repr(feature.name))
            seen.add(feature.name)
            self.features.append(feature)
        self._by_name = {f.name: f for f in self.features}
        self._check_shared_tables(where)

    def _check_shared_tables(self, where: str) -> None:
        tables: dict[str, object] = {}
        for f in self.features:
            if not f.is_id or f.embedding_name is None:
                continue
            first = tables.setdefault(f.table_name, f)
            if first is f:
                continue
            a = (first.embedding_dim, getattr(first, "hash_bucket_size", None), first.kind == "bucketized")
            b = (f.embedding_dim, getattr(f, "hash_bucket_size", None), f.kind == "bucketized")
            if a != b:
                raise SchemaError(
                    f"feature '{f.name}'",
                    f"shares embedding table '{f.table_name}' with '{first.name}' but differs",
                    f"the same embedding_dim/hash_bucket_size as '{first.name}' {a[:2]}",
                    b[:2],
                )

    def __getitem__(self, name: str):
        feature = self._by_name.get(name)
        if feature is None:
            raise SchemaError(f"feature '{name}'", "unknown feature", f"one of {self.names()}", repr(name),
                              choices=self._by_name)
        return feature

    def get(self, name: str, where: str):
        """Like ``schema[name]`` but the error names ``where`` (a config path)."""
        if name not in self._by_name:
            raise ConfigError(where, "unknown feature", f"one of {self.names()}", repr(name), choices=self._by_name)
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self):
        return iter(self.features)

    def __len__(self) -> int:
        return len(self.features)

    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def select_by_tag(self, tag: str) -> list:
        return [f for f in self.features if tag in f.tags]

    def select_by_name(self, names: Sequence[str]) -> list:
        return [self[n] for n in names]

    def to_config(self) -> list[dict]:
        """Plain-data form that rebuilds this schema."""
        return [f.model_dump(mode="json", exclude_defaults=True) | {"name": f.name, "kind": f.kind}
                for f in self.features]


