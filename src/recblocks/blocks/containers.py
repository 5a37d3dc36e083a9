"""Modules that combine built components: sequential chains, recurrent and repeat bodies.

They hold already-built children (widths known), so they plan no shapes themselves. Their
names end in ``Layers``/``Layer`` so they are never confused with the Python composition
blocks of :mod:`recblocks.blocks.compose` (``SequentialBlock``, ``RecurrentBlock``...), which
are descriptions that compile to a config, not modules.

The recurrent rule is written once, in :func:`run_recurrent`: the builder plans output shapes
with it (each step maps input specs to output specs) and :class:`RecurrentLayers` runs it on
tensors, so planning and running cannot disagree.

Side channels: a child whose ``uses_context`` is true (a component that adds losses or
outputs through the forward's :class:`~recblocks.core.context.ForwardContext`) is called
``child(x, context)``; then the container itself has ``uses_context = True`` and is called
``container(x, context)`` by the backbone. Containers without such a child keep the plain
``container(x)`` call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from recblocks.core.context import ForwardContext

__all__ = ["SequentialLayers", "RecurrentLayers", "RepeatLayers", "LambdaLayer", "run_recurrent"]


def _context_flags(children: list[nn.Module]) -> list[bool]:
    """Which children are called with the forward context."""
    return [bool(getattr(child, "uses_context", False)) for child in children]


def _bind_context(children: nn.ModuleList, flags: list[bool], context: ForwardContext | None,
                  training: bool) -> list[Callable[[Any], Any]]:
    """The children as one-argument callables, those that use the context bound to it."""
    bound = context if context is not None else ForwardContext(training)
    return [(lambda x, child=child: child(x, bound)) if flag else child for child, flag in zip(children, flags)]


def run_recurrent(step: Callable[[int, Any], Any], x: Any, num_steps: int, fixed_input_index: int | None) -> Any:
    """EasyRec's ``recurrent`` rule: apply ``step(i, value)`` for ``i < num_steps``.

    Without ``fixed_input_index``, or with a negative one (EasyRec's "no fixed slot"), the steps
    are chained: ``L_{n-1}(...L_0(x))``. With ``fixed_input_index = k >= 0``, ``x`` is a list;
    every step receives the whole list and its output replaces every slot but ``k``: a tensor
    goes into each of them, a list fills them in order (its j-th element goes into the j-th slot
    that is not ``k``). Slot ``k`` is removed at the end and a single remaining value is
    unwrapped. DCN-v2: ``x1 = C(x0, x0), x2 = C(x0, x1), x3 = C(x0, x2)``. ``x`` is never mutated.

    ``step`` may map tensors to tensors (running) or shape specs to shape specs (planning).

    Example:
        >>> run_recurrent(lambda i, v: v[0] + v[1], [1, 1], 3, 0)
        4
        >>> run_recurrent(lambda i, v: v * 2, 1, 3, -1)
        8
        >>> run_recurrent(lambda i, v: [v[1], v[0] + v[2]], [1, 2, 3], 1, 0)
        [2, 4]
    """
    if fixed_input_index is None or fixed_input_index < 0:
        for i in range(num_steps):
            x = step(i, x)
        return x
    values = list(x)
    fixed = fixed_input_index
    for i in range(num_steps):
        out = step(i, values)
        free = iter(out) if isinstance(out, (list, tuple)) else None
        values = [values[j] if j == fixed else (next(free) if free is not None else out) for j in range(len(values))]
    del values[fixed]
    return values[0] if len(values) == 1 else values


class LambdaLayer(nn.Module):
    """Wraps a compiled (safe) expression so it can sit in a chain.

    Args:
        fn: the compiled callable.
        text: the source expression (kept for printing).

    Shape:
        - Input: whatever the expression takes. - Output: whatever it returns.
    """

    def __init__(self, fn: Callable[..., Any], text: str) -> None:
        super().__init__()
        self.fn = fn
        self.text = text

    def forward(self, x: Any) -> Any:
        return self.fn(x)

    def extra_repr(self) -> str:
        return repr(self.text)


class SequentialLayers(nn.Module):
    """Applies children in order; the output of child i feeds child i+1 (backbone ``layers``).

    Shape:
        - Input: whatever the first child takes.
        - Output: whatever the last child returns.
    """

    def __init__(self, children: list[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(children)
        self._context_flags = _context_flags(children)
        self.uses_context = any(self._context_flags)

    def forward(self, x: Any, context: ForwardContext | None = None) -> Any:
        layers = self.layers if not self.uses_context else _bind_context(self.layers, self._context_flags, context,
                                                                         self.training)
        for layer in layers:
            x = layer(x)
        return x


class RecurrentLayers(nn.Module):
    """``num_steps`` separate instances applied in turn (backbone ``recurrent``; see :func:`run_recurrent`).

    Shape:
        - Input: a tensor, or a list when ``fixed_input_index`` is set.
        - Output: as the last step returns (without the fixed slot).
    """

    def __init__(self, steps: list[nn.Module], fixed_input_index: int | None) -> None:
        super().__init__()
        self.steps = nn.ModuleList(steps)
        self.fixed_input_index = fixed_input_index
        self._context_flags = _context_flags(steps)
        self.uses_context = any(self._context_flags)

    def forward(self, x: Any, context: ForwardContext | None = None) -> Any:
        steps = self.steps if not self.uses_context else _bind_context(self.steps, self._context_flags, context,
                                                                       self.training)
        return run_recurrent(lambda i, value: steps[i](value), x, len(steps), self.fixed_input_index)


class RepeatLayers(nn.Module):
    """``num_repeat`` separate instances on the same input (backbone ``repeat``, "multi-head").

    Repetition ``i`` sees ``select(x, i)`` (from ``input_slice``/``input_fn`` taking ``i``) or the
    input itself. A single repetition returns its output unwrapped; with
    ``output_concat_axis`` the outputs are concatenated, otherwise a list is returned.

    Shape:
        - Input: the block input.
        - Output: ``out_0`` | ``cat(out_i, axis)`` | ``[out_0, ..., out_{n-1}]``.
    """

    def __init__(self, heads: list[nn.Module], select: Callable[[Any, int], Any] | None,
                 output_concat_axis: int | None) -> None:
        super().__init__()
        self.heads = nn.ModuleList(heads)
        self.select = select
        self.output_concat_axis = output_concat_axis
        self._context_flags = _context_flags(heads)
        self.uses_context = any(self._context_flags)

    def forward(self, x: Any, context: ForwardContext | None = None) -> Any:
        heads = self.heads if not self.uses_context else _bind_context(self.heads, self._context_flags, context,
                                                                       self.training)
        outputs = [head(self.select(x, i) if self.select else x) for i, head in enumerate(heads)]
        if len(outputs) == 1:
            return outputs[0]
        if self.output_concat_axis is not None:
            return torch.cat(outputs, dim=self.output_concat_axis)
        return outputs
