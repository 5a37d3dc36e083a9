"""The compiler: Python blocks -> the typed backbone config (the same objects a YAML config parses into).

Compiling walks the block tree once with a symbolic *value* standing for what flows between
blocks (no tensors, no shapes: shapes are planned when the model is built, by the same
builder as a YAML config, with the same errors):

* :class:`RawFeatures` — the batch's raw features (what input blocks such as
  ``EmbeddingFeatures`` read), optionally restricted to some feature names;
* :class:`Ref` — the merge of one or more backbone inputs (``block_name`` + ``input_slice``),
  i.e. what a backbone block with exactly these ``inputs`` would receive;
* :class:`Named` — a dict of named refs (the output of a ``ParallelBlock``), iterated in sorted
  key order (Merlin) unless built ``ordered``.

A :class:`CompileContext` allocates unique block/group names, collects
:class:`~recblocks.features.groups.FeatureGroupConfig`, :class:`~recblocks.blocks.backbone.config.BlockConfig`
and :class:`~recblocks.blocks.backbone.config.PackageConfig` objects and per-feature embedding
widths, and turns the final value into the backbone's output rule (``concat_blocks`` |
``output_blocks`` | ``top_mlp``). Each emitted block keeps the Python block it came from as
its ``origin``, so build errors name it. Nothing is turned into dicts and parsed again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Union

from recblocks.blocks.backbone.config import (
    BackboneConfig,
    BlockConfig,
    BlockInputConfig,
    ComponentConfig,
    LambdaConfig,
    LayerConfig,
    PackageConfig,
)
from recblocks.core.errors import ConfigError
from recblocks.features.groups import FeatureGroupConfig
from recblocks.features.schema import Schema

if TYPE_CHECKING:  # pragma: no cover
    from recblocks.blocks.compose.base import Block

__all__ = ["Edge", "Ref", "Named", "RawFeatures", "Value", "CompileContext", "CompiledBody", "compile_body",
           "describe_value"]


@dataclass(frozen=True)
class Edge:
    """One backbone input: a block (or feature group) and an optional ``input_slice``."""

    source: str
    input_slice: str = ""
    group: bool = False

    def sliced(self, text: str) -> "Edge":
        return replace(self, input_slice=self.input_slice + text)

    def to_config(self) -> BlockInputConfig:
        """The typed input edge (only the keys that are set)."""
        data: dict[str, Any] = {("feature_group_name" if self.group else "block_name"): self.source}
        if self.input_slice:
            data["input_slice"] = self.input_slice
        return BlockInputConfig(**data)


@dataclass(frozen=True)
class Ref:
    """The value a backbone block with these ``edges`` as inputs receives (merge rules apply).

    ``outputs`` keeps the verbatim output rule of a loaded backbone (``concat_blocks``,
    ``output_blocks``, ``top_mlp``: the typed values) so a config round-trips unchanged.
    """

    edges: tuple[Edge, ...]
    into_list: bool = False
    outputs: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def is_single(self) -> bool:
        return len(self.edges) == 1 and not self.into_list and not _pending_top(self)


@dataclass(frozen=True)
class Named:
    """Named refs (a dict output). Iterated in sorted key order unless ``ordered``."""

    entries: tuple[tuple[str, Ref], ...]
    ordered: bool = False

    def items(self) -> list[tuple[str, Ref]]:
        return list(self.entries) if self.ordered else sorted(self.entries, key=lambda kv: kv[0])

    def keys(self) -> list[str]:
        return [k for k, _ in self.items()]


@dataclass(frozen=True)
class RawFeatures:
    """The raw features of the batch; ``names`` restricts them (None: the whole schema)."""

    names: tuple[str, ...] | None = None


Value = Union[Ref, Named, RawFeatures]


def _pending_top(ref: Ref) -> bool:
    return bool(ref.outputs and ref.outputs.get("top_mlp") is not None)


_NAME_OK = re.compile(r"[^A-Za-z0-9_]+")


def describe_value(value: Value) -> str:
    """Short text for messages: ``raw features``, ``dict ['a', 'b']``, ``a value``."""
    if isinstance(value, RawFeatures):
        return "the raw features"
    if isinstance(value, Named):
        return f"a dict with entries {value.keys()}"
    return "a tensor value"


class CompileContext:
    """Collects the backbone while blocks compile; allocates unique names.

    Args:
        schema: the model's feature schema (input blocks select features from it).
    """

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.blocks: list[BlockConfig] = []
        self.packages: list[PackageConfig] = []
        self.groups: list[FeatureGroupConfig] = []
        self.used: set[str] = set()
        self.reserved: set[str] = set()
        self.dims: dict[str, tuple[int, str]] = {}

    # ------------------------------------------------------------------ names
    def reserve(self, name: str, where: str) -> None:
        """Claim a name used verbatim by a loaded config (a second claim is an error)."""
        if name in self.reserved:
            raise ConfigError(where, "a name is used by two loaded backbones", "unique block and group names",
                              repr(name))
        self.reserved.add(name)

    def unique(self, base: str) -> str:
        """``base`` (sanitised) or ``base_1``, ``base_2``... not used by any block, group or package."""
        base = _NAME_OK.sub("_", str(base)).strip("_") or "block"
        name, i = base, 0
        while name in self.used or name in self.reserved:
            i += 1
            name = f"{base}_{i}"
        self.used.add(name)
        return name

    # ------------------------------------------------------------------ emitting
    def add_group(self, base: str, feature_names: list[str], wide_deep: str = "DEEP") -> str:
        """A feature group (its name is also free for its input_layer block)."""
        name = self.unique(base)
        extra = {"wide_deep": wide_deep} if wide_deep != "DEEP" else {}
        self.groups.append(FeatureGroupConfig(group_name=name, feature_names=list(feature_names), **extra))
        return name

    def add_block(self, base: str, body: Mapping[str, Any], inputs: list[Edge], into_list: bool = False,
                  origin: str = "", name: str | None = None) -> Ref:
        """Emit a block with these inputs and ``body``; return a ref to it.

        ``body`` maps registered body kinds (``component``, ``lambda``, ``layers``...) to their
        typed configs, plus an optional ``extra_input_fn`` text; ``{}`` is a merge-only block.
        ``origin`` (the Python block) is kept on the block for error messages.
        """
        name = name or self.unique(base)
        block = BlockConfig(name=name, inputs=[e.to_config() for e in inputs],
                            **({"merge_inputs_into_list": True} if into_list else {}))
        for kind, config in body.items():
            if kind == "extra_input_fn":
                block.extra_input_fn = config
            else:
                block.set_body(kind, config)
        block.origin = origin or None
        self.blocks.append(block)
        return Ref((Edge(name),))

    def set_dim(self, feature: str, dim: int, where: str) -> None:
        """Record the embedding width an input block asks for (conflicts are errors)."""
        own = self.schema[feature].embedding_dim
        if own is not None and own != dim:
            raise ConfigError(where, f"feature '{feature}' has embedding_dim {own} in the schema",
                              f"embedding_dim {own} (or leave it unset)", dim)
        seen = self.dims.get(feature)
        if seen is not None and seen[0] != dim:
            raise ConfigError(where, f"feature '{feature}' is embedded with two widths",
                              f"{seen[0]} (as {seen[1]})", dim)
        self.dims[feature] = (dim, where)

    # ------------------------------------------------------------------ values
    def compile(self, block: "Block", value: Value, hint: str | None = None) -> Value:
        """Compile ``block`` applied to ``value``; ``hint`` names its output block."""
        return block.compile(self, value, hint)

    def resolve(self, value: Value, where: str) -> Ref | Named:
        """A value a block can consume: raw features are refused, a pending top_mlp is emitted."""
        if isinstance(value, RawFeatures):
            raise ConfigError(where, "this block cannot read the raw features",
                              "an input block first (EmbeddingFeatures, ContinuousFeatures, InputBlock)",
                              describe_value(value))
        if isinstance(value, Ref) and _pending_top(value):
            outputs = value.outputs or {}
            inputs, into_list = list(value.edges), bool(outputs.get("output_blocks"))
            origin = "top_mlp of a loaded backbone"
            mlp = ComponentConfig.create("MLP", outputs["top_mlp"], origin)
            body: dict[str, Any] = {"component": mlp} if not into_list else {"layers": [
                LayerConfig(component=ComponentConfig.create("Concatenate", None, origin)), LayerConfig(component=mlp)]}
            return self.add_block("top_mlp", body, inputs, into_list, origin=origin)
        return value

    def inputs(self, value: Value, merge: str, where: str) -> tuple[list[Edge], bool]:
        """Edges and ``merge_inputs_into_list`` for a block consuming ``value``.

        A dict is merged in key order: ``merge='concat'`` concatenates its entries on the last
        axis (backbone merge of tensors), ``merge='list'`` passes them as a list of fields.
        """
        value = self.resolve(value, where)
        if isinstance(value, Ref):
            return list(value.edges), value.into_list
        edges = [self.single(ref, where) for _, ref in value.items()]
        if not edges:
            raise ConfigError(where, "the input dict is empty", "at least one entry", "{}")
        if merge == "list":
            return edges, True
        return edges, False

    def single(self, value: Value, where: str, base: str = "merge") -> Edge:
        """One edge carrying ``value`` (a merge block is emitted when several edges are needed)."""
        value = self.resolve(value, where)
        if isinstance(value, Ref) and value.is_single:
            return value.edges[0]
        edges, into_list = self.inputs(value, "concat", where)
        if len(edges) == 1 and not into_list:
            return edges[0]
        return self.add_block(base, {}, edges, into_list, origin=where).edges[0]

    def aggregate(self, value: Value, how: str, base: str, where: str) -> Ref:
        """Merge a dict (sorted keys) into one tensor: ``concat`` | ``stack`` | ``sum``."""
        how = _AGGREGATION_ALIASES.get(how, how)
        if how not in _AGGREGATIONS:
            raise ConfigError(where, "unknown aggregation", f"one of {sorted(_AGGREGATIONS)}", repr(how),
                              choices=[*_AGGREGATIONS, *_AGGREGATION_ALIASES])
        edges, _ = self.inputs(value, "list", where)
        if how == "concat" and len(edges) == 1:
            return Ref((edges[0],))
        return self.add_block(base, _AGGREGATIONS[how](where), edges, True, origin=where)


#: Bodies merging a dict's entries (given as a list): the stack is allow-listed expression text.
_AGGREGATIONS: dict[str, Callable[[str], dict[str, Any]]] = {
    "concat": lambda where: {"component": ComponentConfig.create("Concatenate", None, where)},
    "stack": lambda where: {"lambda": LambdaConfig(expression="lambda x: tf.stack(x, axis=1)")},
    "sum": lambda where: {"component": ComponentConfig.create("Add", None, where)},
}
_AGGREGATION_ALIASES = {"element-wise-sum": "sum", "add": "sum", "cat": "concat"}


@dataclass
class CompiledBody:
    """What a body compiles to: typed feature groups, the typed backbone and embedding widths."""

    feature_groups: list[FeatureGroupConfig]
    backbone: BackboneConfig
    dims: dict[str, int]


def _output_rule(ctx: CompileContext, value: Value, task_names: list[str]) -> dict[str, Any]:
    where = "model output"
    if isinstance(value, Ref) and value.outputs is not None:
        return dict(value.outputs)
    if isinstance(value, Named) and len(task_names) > 1 and set(task_names) <= set(value.keys()):
        entries = dict(value.entries)
        return {"output_blocks": [_plain_block(ctx, entries[t], f"{where} '{t}'") for t in task_names]}
    if isinstance(value, Named):
        if all(_is_plain(ref) for _, ref in value.items()):
            return {"concat_blocks": [ref.edges[0].source for _, ref in value.items()]}
        value = ctx.aggregate(value, "concat", "output", where)
    ref = ctx.resolve(value, where)
    if isinstance(ref, Ref) and not ref.into_list and all(not e.input_slice and not e.group for e in ref.edges):
        return {"concat_blocks": [e.source for e in ref.edges]}
    return {"concat_blocks": [ctx.single(ref, where, "output").source]}


def _is_plain(ref: Ref) -> bool:
    return ref.is_single and not ref.edges[0].input_slice and not ref.edges[0].group


def _plain_block(ctx: CompileContext, ref: Ref, where: str) -> str:
    if _is_plain(ref):
        return ref.edges[0].source
    return ctx.add_block("output", {}, [ctx.single(ref, where)], origin=where).edges[0].source


def compile_body(body: "Block", schema: Schema, task_names: list[str] | None = None) -> CompiledBody:
    """Compile ``body`` (applied to the raw features) into feature groups and a backbone.

    With several tasks and a dict output holding every task name, each task reads its own
    entry (``output_blocks`` in task order); otherwise the output is concatenated.
    """
    ctx = CompileContext(schema)
    for block in body.walk():
        reserve = getattr(block, "reserve_names", None)
        if reserve is not None:
            reserve(ctx)
    value = ctx.compile(body, RawFeatures(), None)
    if isinstance(value, RawFeatures):
        raise ConfigError(f"body {body!r}", "the body outputs the raw features", "at least one input block",
                          "no input block")
    outputs = _output_rule(ctx, value, list(task_names or []))
    backbone = BackboneConfig(**({"packages": ctx.packages} if ctx.packages else {}), blocks=ctx.blocks, **outputs)
    return CompiledBody(ctx.groups, backbone, {k: v[0] for k, v in ctx.dims.items()})
