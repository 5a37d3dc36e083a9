"""Containers: sequential and parallel composition, filters, shortcuts and residuals."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.blocks.backbone.config import ComponentConfig, LayerConfig
from recblocks.blocks.compose.base import Block, check_block_name
from recblocks.blocks.compose.compile import CompileContext, Named, RawFeatures, Ref, Value, describe_value
from recblocks.core.errors import ConfigError, SchemaError
from recblocks.layers.activations import check_activation

__all__ = ["SequentialBlock", "ParallelBlock", "Filter", "Identity", "WithShortcut", "ShortcutBlock",
           "ResidualBlock"]


class SequentialBlock(Block):
    """Blocks applied in order: the output of block ``i`` feeds block ``i + 1``.

    Nested sequential blocks without a name of their own are flattened. The name (or the
    branch key it sits under) names the output of the last block.

    Shape:
        - Input: what the first block takes.
        - Output: what the last block returns.
    """

    default_name = "sequential"

    def __init__(self, *blocks: Block, name: str | None = None) -> None:
        super().__init__(name)
        if len(blocks) == 1 and isinstance(blocks[0], (list, tuple)):
            blocks = tuple(blocks[0])
        flat: list[Block] = []
        for i, block in enumerate(blocks):
            if not isinstance(block, Block):
                raise ConfigError(f"SequentialBlock[{i}]", "not a block", "a Block", type(block).__name__)
            if isinstance(block, SequentialBlock) and block.name is None:
                flat.extend(block.blocks)
            else:
                flat.append(block)
        if not flat:
            raise ConfigError("SequentialBlock", "needs at least one block", "one or more blocks", "none")
        self.blocks: tuple[Block, ...] = tuple(flat)

    @property
    def output_name(self) -> str:
        return self.name or self.blocks[-1].output_name

    def children(self) -> tuple[Block, ...]:
        return self.blocks

    def _args(self) -> str:
        return ", ".join(repr(b) for b in self.blocks)

    def compile(self, ctx: CompileContext, value: Value, hint: str | None) -> Value:
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            value = ctx.compile(block, value, (self.name or hint) if i == last else None)
        return value


class ParallelBlock(Block):
    """Every branch on the same input; the output is a dict keyed by branch name.

    A branch returning a dict contributes its entries (two branches producing one key is an
    error). Dict entries are iterated in sorted key order (Merlin). With ``aggregation`` the
    dict is merged into one tensor: ``'concat'`` (last axis), ``'stack'`` (``(B, F, D)``) or
    ``'sum'``.

    Args:
        branches: a ``{name: block}`` mapping, or blocks (keyed by their names, else
            ``branch_<i>``).
        aggregation: None (dict output), ``'concat'``, ``'stack'`` or ``'sum'``.

    Shape:
        - Input: any value.
        - Output: ``{key: (B, ...)}``; ``(B, sum D)`` with concat; ``(B, F, D)`` with stack.
    """

    default_name = "parallel"

    def __init__(self, *branches: Block | Mapping[str, Block], aggregation: str | None = None,
                 name: str | None = None) -> None:
        super().__init__(name)
        if len(branches) == 1 and isinstance(branches[0], Mapping):
            items = list(branches[0].items())
        else:
            items = []
            for i, block in enumerate(branches):
                if isinstance(block, Mapping):
                    raise ConfigError("ParallelBlock", "give one mapping or several blocks", "not both",
                                      "a mapping among blocks")
                items.append((block.name if isinstance(block, Block) and block.name else f"branch_{i}", block))
        if not items:
            raise ConfigError("ParallelBlock", "needs at least one branch", "one or more branches", "none")
        keys = [k for k, _ in items]
        for key, block in items:
            check_block_name(key, f"ParallelBlock[{key!r}]")
            if not isinstance(block, Block):
                raise ConfigError(f"ParallelBlock[{key!r}]", "not a block", "a Block", type(block).__name__)
        if len(set(keys)) != len(keys):
            raise ConfigError("ParallelBlock", "branch names must be unique", "unique names", keys)
        self.branches: dict[str, Block] = dict(items)
        self.aggregation = aggregation

    def children(self) -> tuple[Block, ...]:
        return tuple(self.branches.values())

    def _args(self) -> str:
        text = "{" + ", ".join(f"{k!r}: {b!r}" for k, b in self.branches.items()) + "}"
        return text + (f", aggregation={self.aggregation!r}" if self.aggregation else "")

    def compile(self, ctx: CompileContext, value: Value, hint: str | None) -> Value:
        entries: dict[str, Ref] = {}
        origin: dict[str, str] = {}
        for key, branch in self.branches.items():
            out = ctx.compile(branch, value, key)
            if isinstance(out, RawFeatures):
                raise ConfigError(f"{self.where()} branch '{key}'", "the branch passes the raw features through",
                                  "a branch starting with an input block", describe_value(out))
            items = out.items() if isinstance(out, Named) else [(key, ctx.resolve(out, self.where()))]
            for entry, ref in items:
                if entry in entries:
                    raise ConfigError(f"{self.where()} branch '{key}'", f"entry '{entry}' is also produced by "
                                      f"branch '{origin[entry]}'", "unique entry names", repr(entry))
                entries[entry], origin[entry] = ref, key  # type: ignore[assignment]
        named = Named(tuple(entries.items()))
        if self.aggregation is None:
            return named
        return ctx.aggregate(named, self.aggregation, self.name or hint or self.aggregation, self.where())


class Identity(Block):
    """Passes its input through unchanged (the default shortcut).

    Shape:
        - Input: any value. - Output: the same value.
    """

    default_name = "identity"

    def compile(self, ctx: CompileContext, value: Value, hint: str | None) -> Value:
        return value


class Filter(Block):
    """Keep (or, with ``exclude``, drop) named entries of a dict, or raw features by name.

    Args:
        names: one name or a list of names.
        exclude: drop the names instead of keeping them.

    Shape:
        - Input: ``{key: (B, ...)}`` (or the raw features).
        - Output: the dict restricted to ``names`` (sorted keys).

    Raises:
        ConfigError: a name is not an entry of the dict (the message lists the entries and
            suggests the nearest one).
    """

    default_name = "filter"

    def __init__(self, names: str | list[str] | tuple[str, ...], exclude: bool = False,
                 name: str | None = None) -> None:
        super().__init__(name)
        self.names = (names,) if isinstance(names, str) else tuple(names)
        if not self.names or not all(isinstance(n, str) for n in self.names):
            raise ConfigError("Filter", "names must be a non-empty list of strings", "e.g. Filter('deep')",
                              repr(names))
        self.exclude = exclude

    def _args(self) -> str:
        shown = repr(self.names[0]) if len(self.names) == 1 else repr(list(self.names))
        return shown + (", exclude=True" if self.exclude else "")

    def compile(self, ctx: CompileContext, value: Value, hint: str | None) -> Value:
        if isinstance(value, RawFeatures):
            available = list(value.names or ctx.schema.names())
            self._check(available, SchemaError, "unknown feature")
            keep = [n for n in available if (n in self.names) != self.exclude]
            return RawFeatures(tuple(keep))
        if not isinstance(value, Named):
            raise ConfigError(self.where(), "a Filter needs a dict input (the output of a ParallelBlock)",
                              "a dict of named outputs", describe_value(value))
        self._check(value.keys(), ConfigError, "unknown branch or entry")
        kept = tuple((k, v) for k, v in value.entries if (k in self.names) != self.exclude)
        return Named(kept, value.ordered)

    def _check(self, available: list[str], error: type, problem: str) -> None:
        for n in self.names:
            if n not in available:
                raise error(f"{self.where()}", problem, f"one of {sorted(available)}", repr(n), choices=available)


class WithShortcut(ParallelBlock):
    """``ParallelBlock({name: block, "shortcut": shortcut_filter or Identity()})`` (Merlin).

    ``name = block_outputs_name or block.output_name``. A dict-valued shortcut (e.g. a
    :class:`Filter`) contributes its own entries instead of a ``shortcut`` entry.

    Shape:
        - Input: any value ``x``.
        - Output: ``{name: block(x), "shortcut": x}``; with ``aggregation='concat'`` the
          sorted-key concatenation.
    """

    default_name = "shortcut"

    def __init__(self, block: Block, shortcut_filter: Block | None = None, aggregation: str | None = None,
                 block_outputs_name: str | None = None, name: str | None = None) -> None:
        key = block_outputs_name or block.output_name
        super().__init__({key: block, "shortcut": shortcut_filter or Identity()}, aggregation=aggregation,
                         name=name)
        self.block = block
        self.shortcut_filter = shortcut_filter
        self.block_outputs_name = key


ShortcutBlock = WithShortcut


class ResidualBlock(Block):
    """``y = act(block(x) + x)`` (Merlin ``ResidualBlock``); the widths must match.

    Compiles to one backbone block with sequential layers ``Add`` (+ ``Activation``) over
    ``[block(x), x]``; a dict input is concatenated first (sorted keys).

    Args:
        block: the block on the residual branch.
        activation: applied after the sum (None: none).

    Shape:
        - Input: ``(B, ..., D)``.
        - Output: ``(B, ..., D)``; a block output of another width is a ShapeError at build.
    """

    default_name = "residual"

    def __init__(self, block: Block, activation: str | None = None, name: str | None = None) -> None:
        super().__init__(name)
        if not isinstance(block, Block):
            raise ConfigError("ResidualBlock", "not a block", "a Block", type(block).__name__)
        check_activation(activation, "ResidualBlock.activation")
        self.block = block
        self.activation = activation

    def children(self) -> tuple[Block, ...]:
        return (self.block,)

    def _args(self) -> str:
        return repr(self.block) + (f", activation={self.activation!r}" if self.activation else "")

    def compile(self, ctx: CompileContext, value: Value, hint: str | None) -> Value:
        x = ctx.single(value, self.where())
        y = ctx.single(ctx.compile(self.block, Ref((x,)), None), self.where())
        where = self.where()
        add = ComponentConfig.create("Add", None, where)
        if self.activation:
            activation = ComponentConfig.create("Activation", {"activation": self.activation}, where)
            body: dict[str, Any] = {"layers": [LayerConfig(component=add), LayerConfig(component=activation)]}
        else:
            body = {"component": add}
        return ctx.add_block(self.name or hint or self.default_name, body, [y, x], True, origin=self.where())
