"""``Block``: the base of the Python composition API (Merlin Models' Block semantics).

A block is an immutable *description*: it holds no tensors and no parameters. Connecting
blocks returns new blocks (nothing is ever mutated, unlike Merlin's in-place append), and a
body compiles to the typed backbone config (see :mod:`recblocks.blocks.compose.compile`), the
very objects a YAML config parses into, which the model builds as it builds a YAML config.
Every use of a block in a body creates its own backbone block, hence its own parameters.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from recblocks.core.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from recblocks.blocks.compose.compile import CompileContext, Value
    from recblocks.blocks.compose.containers import SequentialBlock

__all__ = ["Block", "check_block_name", "snake_case"]

B = TypeVar("B", bound="Block")

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """``DotInteraction`` -> ``dot_interaction``; ``MLP`` -> ``mlp``."""
    return _CAMEL.sub("_", name).lower()


def check_block_name(name: Any, where: str) -> str | None:
    """None, or a non-empty string without dots (backbone block names cannot contain '.')."""
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip() or "." in name:
        raise ConfigError(where, "a block name must be a non-empty string without '.'", "e.g. 'deep'", repr(name))
    return name


class Block:
    """Base of every composable block.

    Subclasses implement :meth:`compile` (emit backbone blocks for an input value and return
    the output value) and, when they hold other blocks, :meth:`children`.

    Args:
        name: the backbone block name to use for the block's output (made unique with a
            ``_1``, ``_2``... suffix when taken); default: the branch key it sits under, else
            :attr:`default_name`.

    Shape:
        - Input: whatever flows in: the raw features (input blocks), a tensor, or a dict of
          named tensors (the output of a :class:`ParallelBlock`).
        - Output: a tensor or a dict of named tensors; shapes are planned when the model is
          built, with the same errors as a config.
    """

    default_name: ClassVar[str] = "block"

    def __init__(self, name: str | None = None) -> None:
        self._name = check_block_name(name, f"{type(self).__name__}(name=...)")

    # ------------------------------------------------------------------ identity
    @property
    def name(self) -> str | None:
        """The explicit name, or None."""
        return self._name

    @property
    def output_name(self) -> str:
        """The name this block's output is known by (explicit name or :attr:`default_name`)."""
        return self._name or self.default_name

    def named(self: B, name: str) -> B:
        """A copy of this block with another name (the block itself is unchanged)."""
        clone = copy.copy(self)
        clone._name = check_block_name(name, f"{type(self).__name__}.named")
        return clone

    def children(self) -> tuple["Block", ...]:
        """Blocks held by this one (containers override)."""
        return ()

    def walk(self) -> Iterator["Block"]:
        """This block and every block below it, depth first."""
        yield self
        for child in self.children():
            yield from child.walk()

    def compile(self, ctx: "CompileContext", value: "Value", hint: str | None) -> "Value":
        """Emit backbone blocks for ``value`` flowing in; return what flows out."""
        raise NotImplementedError

    def where(self) -> str:
        """How messages name this block."""
        return repr(self)

    def _args(self) -> str:
        return ""

    def __repr__(self) -> str:
        args = self._args()
        if self._name:
            args = f"{args}, name={self._name!r}" if args else f"name={self._name!r}"
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ connecting (Merlin)
    def connect(self, *blocks: "Block", block_name: str | None = None) -> "SequentialBlock":
        """Sequential ``[self, *blocks]``: each block takes the previous output."""
        from recblocks.blocks.compose.containers import SequentialBlock

        return SequentialBlock(self, *blocks, name=block_name)

    def connect_branch(self, *branches: "Block", aggregation: str | None = None,
                       block_name: str | None = None) -> "SequentialBlock":
        """``[self, ParallelBlock(branches)]``: a dict (one entry per branch, or the branch's
        own entries) unless ``aggregation`` ('concat' | 'stack' | 'sum') merges it."""
        from recblocks.blocks.compose.containers import ParallelBlock

        return self.connect(ParallelBlock(*branches, aggregation=aggregation), block_name=block_name)

    def connect_with_shortcut(self, block: "Block", shortcut_filter: "Block | None" = None,
                              aggregation: str | None = None, block_outputs_name: str | None = None,
                              block_name: str | None = None) -> "SequentialBlock":
        """``[self, WithShortcut(block, ...)]`` = ``ParallelBlock({name: block, "shortcut":
        shortcut_filter or identity})``; ``name = block_outputs_name or block's name``. With
        ``aggregation='concat'`` the output is the sorted-key concatenation of both."""
        from recblocks.blocks.compose.containers import WithShortcut

        return self.connect(WithShortcut(block, shortcut_filter, aggregation, block_outputs_name),
                            block_name=block_name)

    def connect_with_residual(self, block: "Block", activation: str | None = None,
                              block_name: str | None = None) -> "SequentialBlock":
        """``[self, ResidualBlock(block, activation)]``: ``y = act(block(x) + x)``."""
        from recblocks.blocks.compose.containers import ResidualBlock

        return self.connect(ResidualBlock(block, activation), block_name=block_name)

    def repeat(self, num: int = 1) -> "SequentialBlock":
        """This block followed by ``num`` copies (``num + 1`` in sequence, separate parameters)."""
        from recblocks.blocks.compose.containers import SequentialBlock

        if not isinstance(num, int) or num < 1:
            raise ConfigError(f"{self!r}.repeat", "num must be a positive int", ">= 1", num)
        return SequentialBlock(*([self] * (num + 1)))

    def repeat_in_parallel(self, num: int = 1, aggregation: str | None = None,
                           names: list[str] | None = None) -> "Block":
        """``num`` copies on the same input (separate parameters), as a dict or aggregated."""
        from recblocks.blocks.compose.containers import ParallelBlock

        if not isinstance(num, int) or num < 1:
            raise ConfigError(f"{self!r}.repeat_in_parallel", "num must be a positive int", ">= 1", num)
        keys = list(names) if names is not None else [f"{self.output_name}_{i}" for i in range(num)]
        if len(keys) != num:
            raise ConfigError(f"{self!r}.repeat_in_parallel", "one name per copy", num, len(keys))
        return ParallelBlock({key: self for key in keys}, aggregation=aggregation)
