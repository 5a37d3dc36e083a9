"""Input blocks: features of the schema -> a feature group + an ``input_layer`` block.

Features are selected by name or by tag. A feature's tags are the ``tags`` listed in the
schema plus tags implied by its kind (Merlin's ``Tags`` vocabulary): ``dense`` ->
``continuous``; every id kind -> ``categorical``; ``multi`` -> ``list``; ``sequence`` ->
``sequence`` and ``list``. Tags compare case-insensitively. Selected features are ordered by
name (sorted), so layouts do not depend on the schema's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from recblocks.blocks.compose.base import Block
from recblocks.blocks.compose.compile import CompileContext, Edge, Named, RawFeatures, Ref, Value, describe_value
from recblocks.core.errors import ConfigError, SchemaError
from recblocks.core.params import parse_params
from recblocks.features.schema import Schema
from recblocks.layers.input_layer import InputLayerConfig

__all__ = ["Tags", "feature_tags", "EmbeddingFeatures", "SequenceEmbeddingFeatures", "ContinuousFeatures",
           "InputBlock"]


class Tags:
    """Tag names (Merlin's vocabulary) usable in ``tags=`` and in the schema's ``tags`` lists."""

    CATEGORICAL = "categorical"
    CONTINUOUS = "continuous"
    LIST = "list"
    SEQUENCE = "sequence"
    ID = "id"
    USER = "user"
    ITEM = "item"
    CONTEXT = "context"
    SESSION = "session"
    TEXT = "text"
    TIME = "time"


_KIND_TAGS = {
    "dense": {Tags.CONTINUOUS},
    "sparse": {Tags.CATEGORICAL},
    "hashed": {Tags.CATEGORICAL},
    "bucketized": {Tags.CATEGORICAL},
    "multi": {Tags.CATEGORICAL, Tags.LIST},
    "sequence": {Tags.CATEGORICAL, Tags.SEQUENCE, Tags.LIST},
}


def feature_tags(feature: Any) -> set[str]:
    """The schema tags of ``feature`` (lower-cased) plus the tags its kind implies."""
    return {str(t).lower() for t in feature.tags} | _KIND_TAGS.get(feature.kind, set())


def _as_tuple(value: str | Sequence[str] | None, what: str, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = (value,) if isinstance(value, str) else tuple(value)
    if not items or not all(isinstance(v, str) and v for v in items):
        raise ConfigError(where, f"{what} must be a non-empty list of strings", "e.g. ['user_id']", repr(value))
    return items


class _FeatureInput(Block):
    """Shared selection logic: names or tags (any of them), restricted to allowed kinds."""

    kinds: ClassVar[tuple[str, ...]] = ()
    default_kinds: ClassVar[tuple[str, ...]] = ()
    kind_hint: ClassVar[str] = ""

    def __init__(self, names: str | Sequence[str] | None = None, *, tags: str | Sequence[str] | None = None,
                 embedding_dim: int | None = None, schema: Schema | None = None, name: str | None = None) -> None:
        super().__init__(name)
        where = type(self).__name__
        self.names = _as_tuple(names, "names", where)
        self.tags = _as_tuple(tags, "tags", where)
        if self.names is not None and self.tags is not None:
            raise ConfigError(where, "select features by names or by tags, not both", "one of them", "both")
        if embedding_dim is not None and (not isinstance(embedding_dim, int) or embedding_dim < 1):
            raise ConfigError(f"{where}.embedding_dim", "embedding_dim must be a positive int", ">= 1", embedding_dim)
        self.embedding_dim = embedding_dim
        self.schema = schema
        if schema is not None:  # resolve now so a typo fails here
            self.names = tuple(self.select(schema, None))
            self.tags = None

    @classmethod
    def from_schema(cls, schema: Schema, tags: str | Sequence[str] | None = None,
                    embedding_dim: int | None = None, name: str | None = None, **kwargs: Any) -> Any:
        """Select from ``schema`` now (by ``tags``, else every feature of a suitable kind)."""
        if embedding_dim is not None:
            kwargs["embedding_dim"] = embedding_dim
        return cls(tags=tags, schema=schema, name=name, **kwargs)

    def _args(self) -> str:
        parts = [repr(list(self.names))] if self.names else []
        if self.tags:
            parts.append(f"tags={list(self.tags)!r}")
        if self.embedding_dim:
            parts.append(f"embedding_dim={self.embedding_dim}")
        return ", ".join(parts)

    def select(self, schema: Schema, available: Sequence[str] | None) -> list[str]:
        """Sorted names of the selected features (errors name the feature or the tag)."""
        where = self.where()
        pool = list(available) if available is not None else schema.names()
        if self.names is not None:
            for n in self.names:
                if n not in schema:
                    raise SchemaError(where, "unknown feature", f"one of {schema.names()}", repr(n),
                                      choices=schema.names())
                if n not in pool:
                    raise ConfigError(where, f"feature '{n}' was filtered out before this block",
                                      f"one of {sorted(pool)}", repr(n))
                kind = schema[n].kind
                if kind not in self.kinds:
                    raise SchemaError(f"{where} feature '{n}'", f"a {kind} feature cannot be read here{self.kind_hint}",
                                      f"a feature of kind {list(self.kinds)}", kind)
            if len(set(self.names)) != len(self.names):
                raise ConfigError(where, "a feature is listed twice", "each feature once", list(self.names))
            return sorted(self.names)
        chosen = []
        for n in pool:
            feature = schema[n]
            if feature.kind not in self.default_kinds:
                continue
            if self.tags is None or feature_tags(feature) & {t.lower() for t in self.tags}:
                chosen.append(n)
        if not chosen:
            what = f"with tags {list(self.tags)}" if self.tags else f"of kind {list(self.default_kinds)}"
            raise SchemaError(where, f"no feature {what}", "at least one feature", "none")
        return sorted(chosen)

    def _group(self, ctx: CompileContext, value: Value, hint: str | None,
               wide_deep: str = "DEEP") -> tuple[str, list[str]]:
        if not isinstance(value, RawFeatures):
            raise ConfigError(self.where(), "an input block must receive the raw features",
                              "the first block of the body, or a branch of a ParallelBlock at the start",
                              describe_value(value))
        names = self.select(ctx.schema, value.names)
        if self.embedding_dim is not None:
            for n in names:
                ctx.set_dim(n, self.embedding_dim, self.where())
        return ctx.add_group(self.name or hint or self.default_name, names, wide_deep), names


class EmbeddingFeatures(_FeatureInput):
    """Embeddings of categorical features as a dict ``{feature: (B, D)}`` (Merlin).

    Compiles to a feature group of the features (sorted) and an ``input_layer`` block with
    ``only_output_feature_list``; entry ``k`` is ``input_slice: '[k]'`` of that block, so a
    :class:`Filter` can pick single features. Multi-valued features are pooled.

    Args:
        names: features to embed (any id kind); default: every categorical feature that is not
            a sequence (or those having one of ``tags``).
        tags: select by tag instead of names.
        embedding_dim: width ``D`` for these features (written to their schema entries;
            default: their ``embedding_dim``, else the model's).
        schema: resolve the selection against this schema now.

    Shape:
        - Input: the raw features.
        - Output: ``{feature: (B, D_f)}``.
    """

    default_name = "embeddings"
    kinds = ("sparse", "hashed", "bucketized", "multi", "sequence")
    default_kinds = ("sparse", "hashed", "bucketized", "multi")
    kind_hint = " (use ContinuousFeatures for dense features)"

    def compile(self, ctx: CompileContext, value: Value, hint: str | None) -> Value:
        group, names = self._group(ctx, value, hint)
        ref = ctx.add_block(group, {"input_layer": InputLayerConfig(only_output_feature_list=True)},
                            [Edge(group, group=True)], origin=self.where(), name=group)
        block = ref.edges[0].source
        return Named(tuple((n, Ref((Edge(block, f"[{k}]"),))) for k, n in enumerate(names)))


class SequenceEmbeddingFeatures(_FeatureInput):
    """Embeddings of sequence features, ``{feature: (B, L, D)}`` (Merlin).

    Compiles to an ``input_layer`` block with ``output_seq_and_normal_feature`` and
    ``concat_seq_feature: false``; entry ``k`` is ``input_slice: '[0][k]'``. Sequence features of
    one block must share ``max_len``.

    Shape:
        - Input: the raw features.
        - Output: ``{feature: (B, L, D_f)}``.
    """

    default_name = "sequence_embeddings"
    kinds = ("sequence",)
    default_kinds = ("sequence",)
    kind_hint = " (only sequence features)"

    def compile(self, ctx: CompileContext, value: Value, hint: str | None) -> Value:
        group, names = self._group(ctx, value, hint)
        body = {"input_layer": InputLayerConfig(output_seq_and_normal_feature=True, concat_seq_feature=False)}
        ref = ctx.add_block(group, body, [Edge(group, group=True)], origin=self.where(), name=group)
        block = ref.edges[0].source
        return Named(tuple((n, Ref((Edge(block, f"[0][{k}]"),))) for k, n in enumerate(names)))


class ContinuousFeatures(_FeatureInput):
    """Dense (continuous) features concatenated into one 2-D tensor ``(B, n)``.

    Compiles to a feature group of the features (sorted) and an ``input_layer`` block with the
    default 2-D output. A dense feature with an ``embedding_dim`` is projected to that width.

    Args:
        names / tags / schema: as :class:`EmbeddingFeatures`; default: every dense feature.

    Shape:
        - Input: the raw features.
        - Output: ``(B, n)`` (``n`` = sum of the features' widths, 1 each by default).
    """

    default_name = "continuous"
    kinds = ("dense",)
    default_kinds = ("dense",)
    kind_hint = " (use EmbeddingFeatures for id features)"

    def __init__(self, names: str | Sequence[str] | None = None, *, tags: str | Sequence[str] | None = None,
                 schema: Schema | None = None, name: str | None = None) -> None:
        super().__init__(names, tags=tags, schema=schema, name=name)

    def compile(self, ctx: CompileContext, value: Value, hint: str | None) -> Value:
        group, _ = self._group(ctx, value, hint)
        return ctx.add_block(group, {"input_layer": InputLayerConfig()}, [Edge(group, group=True)],
                             origin=self.where(), name=group)


class InputBlock(_FeatureInput):
    """Any features through an ``input_layer`` with the given options (EasyRec ``InputLayer``).

    Args:
        names / tags / embedding_dim / schema: as :class:`EmbeddingFeatures`; default: every
            feature except sequences.
        wide: a WIDE group (one ``wide_output_dim``-wide table per feature, Wide&Deep).
        **input_layer: ``InputLayerConfig`` options (validated now), e.g.
            ``only_output_3d_tensor=True``, ``output_2d_tensor_and_feature_list=True``,
            ``wide_output_dim=1``, ``do_batch_norm=True``.

    Shape:
        - Input: the raw features.
        - Output: ``(B, sum D)`` by default; see :mod:`recblocks.layers.input_layer`.
    """

    default_name = "inputs"
    kinds = ("sparse", "hashed", "bucketized", "multi", "sequence", "dense")
    default_kinds = ("sparse", "hashed", "bucketized", "multi", "dense")

    def __init__(self, names: str | Sequence[str] | None = None, *, tags: str | Sequence[str] | None = None,
                 embedding_dim: int | None = None, wide: bool = False, schema: Schema | None = None,
                 name: str | None = None, **input_layer: Any) -> None:
        super().__init__(names, tags=tags, embedding_dim=embedding_dim, schema=schema, name=name)
        # only the options that differ from the defaults are kept (and written to the config)
        self.options = InputLayerConfig(**parse_params(InputLayerConfig, input_layer, "InputBlock").to_dict())
        self.wide = wide

    def compile(self, ctx: CompileContext, value: Value, hint: str | None) -> Value:
        group, _ = self._group(ctx, value, hint, "WIDE" if self.wide else "DEEP")
        return ctx.add_block(group, {"input_layer": self.options.model_copy()}, [Edge(group, group=True)],
                             origin=self.where(), name=group)
