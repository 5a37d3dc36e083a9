"""The built-in body kinds (registered in ``BLOCK_KINDS``) and :func:`build_body`.

Each kind builds its body for a known input spec: ``component``, ``lambda``, ``recurrent``,
``repeat`` and sequential ``layers`` transform the merged input; ``input_layer`` reads a
feature group; ``embedding_layer`` looks the group's ids up in one shared table; ``raw_input``
gives the group's ids and values as they are (no embedding).
The builder never names a kind: it asks the registry (see :mod:`~recblocks.blocks.backbone.kinds`).
Semantics: docs/backbone.md, "Bodies".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from recblocks.blocks.backbone.config import (
    BlockConfig,
    ComponentConfig,
    EmbeddingLayerConfig,
    LambdaConfig,
    LayerConfig,
    RawInputConfig,
    RecurrentConfig,
    RepeatConfig,
)
from recblocks.blocks.backbone.expressions import compile_lambda, compile_slice
from recblocks.blocks.backbone.kinds import BLOCK_KINDS, BlockKind, BuiltBody
from recblocks.blocks.containers import LambdaLayer, RecurrentLayers, RepeatLayers, SequentialLayers, run_recurrent
from recblocks.core.errors import ConfigError, RecBlocksError, ShapeError
from recblocks.core.params import join_path, parse_params
from recblocks.core.shapes import describe_spec, spec_from_value, spec_to_meta
from recblocks.layers.id_embedding import EmbeddingLayerParams, GroupIdEmbedding
from recblocks.layers.input_layer import GroupRawInput, InputLayerConfig

__all__ = ["Body", "build_body", "build_component", "body_label"]


@dataclass
class Body:
    """A built body: its kind, a module (or a bare expression), its output spec and a description."""

    kind: str
    module: nn.Module | None
    fn: Any
    output_spec: Any
    description: str


def build_component(cfg: ComponentConfig, in_spec: Any, path: str, where: str) -> tuple[nn.Module, Any]:
    """Build a bound component for ``in_spec``; return (module, output spec)."""
    entry = cfg.bind(path).entry
    try:
        module = entry.cls.from_spec(cfg.typed_params, in_spec, where=where)
        out_spec = module.output_spec(in_spec)
    except RecBlocksError:
        raise
    except Exception as exc:  # noqa: BLE001 - surface any build failure with the place
        raise ShapeError(where, f"{entry.name} cannot be built for input {describe_spec(in_spec)}",
                         "an input the component accepts", str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                         ) from None
    return module, out_spec


def _run_on_meta(fn: Any, args: tuple[Any, ...], where: str, what: str) -> Any:
    try:
        return fn(*args)
    except RecBlocksError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of a user expression is a shape problem here
        raise ShapeError(where, what, "an expression that fits", str(exc).splitlines()[0]) from None


# ---------------------------------------------------------------------------- transform kinds
@BLOCK_KINDS.register("component", params=ComponentConfig, aliases=("keras_layer", "module"))
class ComponentKind(BlockKind):
    """A registered component (``class_name`` + ``params``)."""

    attribute = "component"
    in_layers = True

    @classmethod
    def components(cls, config: ComponentConfig) -> Iterable[tuple[tuple[Any, ...], ComponentConfig]]:
        return [((), config)]

    @classmethod
    def describe(cls, config: ComponentConfig) -> str:
        return config.class_name

    @classmethod
    def label(cls, config: ComponentConfig) -> str:
        units = getattr(config.typed_params, "hidden_units", None) if config.is_bound else None
        return f"{config.class_name} {list(units)}" if units else config.class_name

    @classmethod
    def build(cls, config: ComponentConfig, in_spec: Any, path: str, where: str) -> BuiltBody:
        module, out = build_component(config, in_spec, path, where)
        return BuiltBody(module, None, out)


@BLOCK_KINDS.register("lambda", params=LambdaConfig)
class LambdaKind(BlockKind):
    """A safe lambda over the merged input (no parameters)."""

    attribute = "lambda_"
    in_layers = True

    @classmethod
    def build(cls, config: LambdaConfig, in_spec: Any, path: str, where: str) -> BuiltBody:
        fn = compile_lambda(config.expression, f"{path} ({where})", arity=1)
        out = _run_on_meta(fn, (spec_to_meta(in_spec),), where, f"lambda failed on input {describe_spec(in_spec)}")
        return BuiltBody(None, fn, spec_from_value(out, where))


@BLOCK_KINDS.register("recurrent", params=RecurrentConfig)
class RecurrentKind(BlockKind):
    """``num_steps`` separate instances chained by :func:`~recblocks.blocks.containers.run_recurrent`."""

    attribute = "recurrent"
    in_layers = True

    @classmethod
    def components(cls, config: RecurrentConfig) -> Iterable[tuple[tuple[Any, ...], ComponentConfig]]:
        return [(("component",), config.component)]

    @classmethod
    def steps(cls, config: RecurrentConfig) -> int:
        return config.num_steps

    @classmethod
    def describe(cls, config: RecurrentConfig) -> str:
        return f"recurrent {config.component.class_name} x{config.num_steps}"

    @classmethod
    def build(cls, config: RecurrentConfig, in_spec: Any, path: str, where: str) -> BuiltBody:
        fixed = config.fixed_input_index
        if fixed is not None and fixed < 0:
            fixed = None  # EasyRec: a negative index means no fixed slot (the steps are chained)
        if fixed is not None:
            if not isinstance(in_spec, (list, tuple)):
                raise ShapeError(where, "recurrent with fixed_input_index needs a list input",
                                 "a list (e.g. input_fn: 'lambda x: [x, x]')", describe_spec(in_spec))
            if fixed >= len(in_spec):
                raise ConfigError(join_path(path, "fixed_input_index"), "fixed_input_index is out of range",
                                  f"an index into the {len(in_spec)} inputs (negative: no fixed slot)", fixed)
        steps: list[nn.Module] = []

        def plan_step(i: int, spec: Any) -> Any:
            step, out = build_component(config.component, spec, join_path(path, "component"), f"{where} step {i}")
            steps.append(step)
            if fixed is not None and isinstance(out, (list, tuple)) and len(out) != len(spec) - 1:
                raise ShapeError(where, f"step {i} returns a list that must fill the slots other than "
                                 f"fixed_input_index {fixed}", f"a tensor or a list of {len(spec) - 1}",
                                 f"a list of {len(out)}")
            return out

        out_spec = run_recurrent(plan_step, in_spec, config.num_steps, fixed)
        return BuiltBody(RecurrentLayers(steps, fixed), None, out_spec)


@BLOCK_KINDS.register("repeat", params=RepeatConfig)
class RepeatKind(BlockKind):
    """``num_repeat`` separate instances on the same (or a per-copy selected) input."""

    attribute = "repeat"
    in_layers = True

    @classmethod
    def components(cls, config: RepeatConfig) -> Iterable[tuple[tuple[Any, ...], ComponentConfig]]:
        return [(("component",), config.component)]

    @classmethod
    def steps(cls, config: RepeatConfig) -> int:
        return config.num_repeat

    @classmethod
    def describe(cls, config: RepeatConfig) -> str:
        return f"repeat {config.component.class_name} x{config.num_repeat}"

    @classmethod
    def build(cls, config: RepeatConfig, in_spec: Any, path: str, where: str) -> BuiltBody:
        select = None
        if config.input_slice and config.input_fn:
            raise ConfigError(path, "repeat takes input_slice or input_fn, not both", "one of them", "both")
        if config.input_slice:
            select = compile_slice(config.input_slice, join_path(path, "input_slice") + f" ({where})", index_var="i")
        elif config.input_fn:
            select = compile_lambda(config.input_fn, join_path(path, "input_fn") + f" ({where})", arity=2)
        heads, outs = [], []
        meta = spec_to_meta(in_spec)
        for i in range(config.num_repeat):
            spec = in_spec
            if select is not None:
                selected = _run_on_meta(select, (meta, i), where, f"repeat input selection failed for i={i}")
                spec = spec_from_value(selected, where)
            head, out = build_component(config.component, spec, join_path(path, "component"), f"{where} repeat {i}")
            heads.append(head)
            outs.append(out)
        if len(outs) == 1:
            spec_out: Any = outs[0]
        elif config.output_concat_axis is not None:
            try:
                spec_out = spec_from_value(torch.cat(spec_to_meta(outs), dim=config.output_concat_axis), where)
            except RuntimeError as exc:
                raise ShapeError(where, "repeat outputs cannot be concatenated", "equal shapes",
                                 str(exc).splitlines()[0]) from None
        else:
            spec_out = outs
        return BuiltBody(RepeatLayers(heads, select, config.output_concat_axis), None, spec_out)


@BLOCK_KINDS.register("layers", params=LayerConfig)
class LayersKind(BlockKind):
    """A sequential list of bodies (each one of the kinds allowed ``in_layers``)."""

    attribute = "layers"

    @classmethod
    def is_set(cls, config: Any) -> bool:
        return bool(config)

    @classmethod
    def components(cls, config: list[LayerConfig]) -> Iterable[tuple[tuple[Any, ...], ComponentConfig]]:
        for i, layer in enumerate(config):
            for entry, body in layer.body_entries():
                for rel, component in entry.cls.components(body):
                    yield (i, entry.name, *rel), component

    @classmethod
    def steps(cls, config: list[LayerConfig]) -> int:
        return sum(entry.cls.steps(body) for layer in config for entry, body in layer.body_entries())

    @classmethod
    def describe(cls, config: list[LayerConfig]) -> str:
        return " -> ".join(entry.cls.describe(body) for layer in config for entry, body in layer.body_entries())

    @classmethod
    def build(cls, config: list[LayerConfig], in_spec: Any, path: str, where: str) -> BuiltBody:
        modules, spec = [], in_spec
        for i, layer in enumerate(config):
            lpath = join_path(path, i)
            found = layer.body_entries()
            if len(found) != 1:
                names = [e.name for e in BLOCK_KINDS.entries() if LayerConfig.accepts(e)]
                raise ConfigError(lpath, f"a layer needs exactly one of {', '.join(names)}", "one body",
                                  [e.name for e, _ in found] or "none")
            entry, body = found[0]
            built = entry.cls.build(body, spec, join_path(lpath, entry.name), f"{where} layer {i}")
            if built.module is not None:
                modules.append(built.module)
            elif built.fn is not None:
                modules.append(LambdaLayer(built.fn, getattr(body, "expression", entry.name)))
            else:
                modules.append(nn.Identity())
            spec = built.output_spec
        return BuiltBody(SequentialLayers(modules), None, spec)


# ---------------------------------------------------------------------------- input kinds
@BLOCK_KINDS.register("input_layer", params=InputLayerConfig)
class InputLayerKind(BlockKind):
    """Embeddings of one feature group, laid out as the options ask (EasyRec ``InputLayer``)."""

    attribute = "input_layer"
    reads_group = True

    @classmethod
    def describe(cls, config: InputLayerConfig) -> str:
        return f"input_layer ({config.output_format})"

    @classmethod
    def build_input(cls, config: InputLayerConfig, group: str, groups: Any, where: str) -> nn.Module:
        return groups.build(group, config)


@BLOCK_KINDS.register("raw_input", params=RawInputConfig)
class RawInputKind(BlockKind):
    """The group's transformed values without embedding: a list of id / value tensors (EasyRec ``RawInputLayer``).

    See :class:`~recblocks.layers.input_layer.GroupRawInput`: ids ``(B,)`` or ``(B, L)`` long,
    dense values ``(B,)`` float, in the group's order; components over token ids
    (``EditDistance``, ``OverlapFeature``) read text features this way.
    """

    attribute = "raw_input"
    reads_group = True

    @classmethod
    def describe(cls, config: RawInputConfig) -> str:
        return "raw_input (ids and values)"

    @classmethod
    def build_input(cls, config: RawInputConfig, group: str, groups: Any, where: str) -> nn.Module:
        slots_of = getattr(groups, "slots_of", None)
        if slots_of is None:
            raise ConfigError(where, "this model class does not give blocks its feature values", "a RankModel",
                              type(groups).__name__)
        return GroupRawInput(group, slots_of(group))


@BLOCK_KINDS.register("embedding_layer", params=EmbeddingLayerConfig)
class EmbeddingLayerKind(BlockKind):
    """The group's ids looked up in one shared table, one row range per feature (EasyRec ``EmbeddingLayer``).

    ``vocab_size`` is the sum of the group's vocabularies (a configured value is replaced, as
    EasyRec does); ``combiner`` pools multi-valued features; ``concat`` gives ``(B, F*D)``
    instead of a list. See :class:`~recblocks.layers.id_embedding.GroupIdEmbedding`.
    """

    attribute = "embedding_layer"
    reads_group = True

    @classmethod
    def describe(cls, config: EmbeddingLayerConfig) -> str:
        return f"embedding_layer (shared table, dim {config.embedding_dim}, {config.combiner})"

    @classmethod
    def build_input(cls, config: EmbeddingLayerConfig, group: str, groups: Any, where: str) -> nn.Module:
        slots_of = getattr(groups, "slots_of", None)
        if slots_of is None:
            raise ConfigError(where, "this model class does not give blocks its feature ids", "a RankModel",
                              type(groups).__name__)
        params = parse_params(EmbeddingLayerParams, {"embedding_dim": config.embedding_dim, "vocab_size": 1,
                                                     "combiner": config.combiner, "concat": config.concat}, where)
        return GroupIdEmbedding(group, slots_of(group), params, where)


# ---------------------------------------------------------------------------- dispatch
def body_label(block: BlockConfig | LayerConfig) -> str | None:
    """Text for model pictures (e.g. ``MLP [64, 32]``), or None for a block without a body."""
    found = block.body_entries()
    return found[0][0].cls.label(found[0][1]) if found else None


def build_body(block: BlockConfig, in_spec: Any, path: str, where: str) -> Body:
    """Build the body of a non-input block for its merged input spec (no body: the merge itself)."""
    found = block.body_entries()
    if not found:
        return Body("empty", None, None, in_spec, "merge")
    entry, config = found[0]
    built = entry.cls.build(config, in_spec, join_path(path, entry.name), where)
    return Body(entry.name, built.module, built.fn, built.output_spec, entry.cls.describe(config))
