"""Wrapper blocks: safe lambdas, and repeat/recurrent bodies around one component.

Expressions are written as allow-listed text (the same safe language as configs, checked when
the block is created), never as Python callables: a model must save as a config, and a config
can never carry code. A callable is refused with a ConfigError that says so.
"""

from __future__ import annotations

from typing import Any

from recblocks.blocks.backbone.config import LambdaConfig, RecurrentConfig, RepeatConfig
from recblocks.blocks.backbone.expressions import compile_lambda, compile_slice
from recblocks.blocks.compose.base import Block
from recblocks.blocks.compose.compile import CompileContext, Value
from recblocks.blocks.compose.components import ComponentBlock, check_merge
from recblocks.core.errors import ConfigError
from recblocks.core.params import parse_params

__all__ = ["LambdaBlock", "StackFeatures", "RepeatBlock", "RecurrentBlock", "check_expression"]


def check_expression(text: Any, where: str, arity: int = 1, index_var: str | None = None,
                     slice_text: bool = False) -> str:
    """``text`` if it is an allow-listed lambda (or slice) expression; ConfigError otherwise.

    Example:
        >>> check_expression(lambda x: x, "LambdaBlock.expression")
        Traceback (most recent call last):
        ...
        recblocks.core.errors.ConfigError: LambdaBlock.expression: a Python function cannot be saved in a model config; write the expression as text in the allow-listed expression language (checked now, compiled safely at build); expected text such as 'lambda x: tf.reduce_sum(x, axis=1, keepdims=True)', got a Python function
    """
    if callable(text) and not isinstance(text, str):
        raise ConfigError(where, "a Python function cannot be saved in a model config; write the expression as "
                          "text in the allow-listed expression language (checked now, compiled safely at build)",
                          "text such as 'lambda x: tf.reduce_sum(x, axis=1, keepdims=True)'", "a Python function")
    if slice_text:
        compile_slice(text, where, index_var=index_var)
    else:
        compile_lambda(text, where, arity=arity)
    return text


class LambdaBlock(Block):
    """A safe lambda expression (allow-listed operations, TF spellings), checked now.

    Args:
        expression: e.g. ``'lambda x: tf.reduce_sum(x, axis=1, keepdims=True)'``.
        merge: how a dict input is merged: ``'concat'`` (default) or ``'list'``.

    Shape:
        - Input: any value. - Output: whatever the expression returns.
    """

    default_name = "lambda"

    def __init__(self, expression: str, *, merge: str = "concat", name: str | None = None) -> None:
        super().__init__(name)
        self.expression = check_expression(expression, f"{type(self).__name__}.expression")
        check_merge(merge, "LambdaBlock")
        self.merge = merge

    def _args(self) -> str:
        return repr(self.expression)

    def compile(self, ctx: CompileContext, value: Value, hint: str | None) -> Value:
        edges, into_list = ctx.inputs(value, self.merge, self.where())
        return ctx.add_block(self.name or hint or self.default_name,
                             {"lambda": LambdaConfig(expression=self.expression)}, edges, into_list, origin=self.where())


class StackFeatures(LambdaBlock):
    """Stack a dict's entries in sorted key order on ``axis`` (Merlin ``StackFeatures``).

    Shape:
        - Input: ``{key: (B, D)}`` with ``F`` entries.
        - Output: ``(B, F, D)`` for ``axis=1``.
    """

    default_name = "stack"

    def __init__(self, axis: int = 1, *, name: str | None = None) -> None:
        super().__init__(f"lambda x: tf.stack(x, axis={int(axis)})", merge="list", name=name)


def _component(block: Any, where: str) -> ComponentBlock:
    if not isinstance(block, ComponentBlock) or "component" not in block.body():
        raise ConfigError(where, "needs a single component block", "a ComponentBlock (or MLPBlock, DenseBlock...)",
                          repr(block))
    return block


class RepeatBlock(Block):
    """``num_repeat`` separate copies of a component on the same input (backbone ``repeat``).

    Args:
        block: a component block.
        num_repeat: copies (separate parameters).
        output_concat_axis: concatenate the outputs on this axis; None returns a list.
        input_slice: a slice taking ``i`` (e.g. ``'[i]'``) selecting copy ``i``'s input.
        input_fn: a lambda ``lambda x, i: ...`` selecting copy ``i``'s input.

    Shape:
        - Input: the block input.
        - Output: ``cat(out_i, axis)`` or ``[out_0, ...]`` (one copy: its output).
    """

    default_name = "repeat"

    def __init__(self, block: Block, num_repeat: int, *, output_concat_axis: int | None = None,
                 input_slice: str | None = None, input_fn: str | None = None, name: str | None = None) -> None:
        super().__init__(name)
        self.block = _component(block, "RepeatBlock.block")
        if not isinstance(num_repeat, int) or num_repeat < 1:
            raise ConfigError("RepeatBlock.num_repeat", "num_repeat must be a positive int", ">= 1", num_repeat)
        if input_slice is not None:
            check_expression(input_slice, "RepeatBlock.input_slice", index_var="i", slice_text=True)
        if input_fn is not None:
            check_expression(input_fn, "RepeatBlock.input_fn", arity=2)
        given = {"output_concat_axis": output_concat_axis, "input_slice": input_slice, "input_fn": input_fn}
        self.config: RepeatConfig = parse_params(RepeatConfig, {
            "num_repeat": num_repeat, "component": self.block.component_config(),
            **{k: v for k, v in given.items() if v is not None}}, "RepeatBlock")

    def children(self) -> tuple[Block, ...]:
        return (self.block,)

    def _args(self) -> str:
        return f"{self.block!r}, {self.config.num_repeat}"

    def compile(self, ctx: CompileContext, value: Value, hint: str | None) -> Value:
        edges, into_list = ctx.inputs(value, self.block.merge, self.where())
        return ctx.add_block(self.name or hint or self.default_name, {"repeat": self.config.model_copy(deep=True)},
                             edges, into_list, origin=self.where())


class RecurrentBlock(Block):
    """``num_steps`` separate copies of a component applied in a chain (backbone ``recurrent``).

    With ``fixed_input_index = k`` the input is a list whose slot ``k`` stays fixed (build the
    list with ``input_fn``, e.g. ``'lambda x: [x, x]'`` for DCN-v2).

    Shape:
        - Input: the block input (after ``input_fn``).
        - Output: the last step's output (without the fixed slot).
    """

    default_name = "recurrent"

    def __init__(self, block: Block, num_steps: int, *, fixed_input_index: int | None = None,
                 input_fn: str | None = None, name: str | None = None) -> None:
        super().__init__(name)
        self.block = _component(block, "RecurrentBlock.block")
        if not isinstance(num_steps, int) or num_steps < 1:
            raise ConfigError("RecurrentBlock.num_steps", "num_steps must be a positive int", ">= 1", num_steps)
        if input_fn is not None:
            check_expression(input_fn, "RecurrentBlock.input_fn")
        self.input_fn = input_fn
        fixed = {"fixed_input_index": fixed_input_index} if fixed_input_index is not None else {}
        self.config: RecurrentConfig = parse_params(RecurrentConfig, {
            "num_steps": num_steps, "component": self.block.component_config(), **fixed}, "RecurrentBlock")

    def children(self) -> tuple[Block, ...]:
        return (self.block,)

    def _args(self) -> str:
        return f"{self.block!r}, {self.config.num_steps}"

    def compile(self, ctx: CompileContext, value: Value, hint: str | None) -> Value:
        edges, into_list = ctx.inputs(value, self.block.merge, self.where())
        body: dict[str, Any] = {"recurrent": self.config.model_copy(deep=True)}
        if self.input_fn:
            body = {"extra_input_fn": self.input_fn, **body}
        return ctx.add_block(self.name or hint or self.default_name, body, edges, into_list, origin=self.where())
