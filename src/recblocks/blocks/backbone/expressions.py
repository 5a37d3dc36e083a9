"""Safe evaluation of the expression strings in backbone configs (``input_fn``, ``lambda``...).

The text is parsed with :func:`ast.parse` and compiled, against the allow-list of
:mod:`~recblocks.blocks.backbone.expression_functions`, into a tree of small closures; ``eval``,
``exec`` and ``compile`` never see it. Each evaluation runs under a fresh work budget
(:mod:`~recblocks.blocks.backbone.expression_budget`): going over it is a ConfigError, other
failures a ShapeError, both naming the config path and the expression.

Example:
    >>> import torch
    >>> fn = compile_lambda("lambda x: tf.reduce_sum(x, axis=1, keepdims=True)", "blocks[0].lambda")
    >>> fn(torch.ones(2, 3)).tolist()
    [[3.0], [3.0]]
    >>> compile_slice("[i]", "blocks[1].input_slice", index_var="i")([10, 20], 1)
    20
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any, NoReturn

import torch

from recblocks.blocks.backbone import expression_functions as fx
from recblocks.blocks.backbone.expression_budget import (ExpressionLimitError, WorkBudget, batch_of, metered_binary,
                                                         metered_call, metered_subscript, metered_unary,
                                                         recording_graph)
from recblocks.blocks.backbone.expression_functions import ALLOWED_FUNCTIONS, describe_allowed
from recblocks.core.errors import ConfigError, RecBlocksError, ShapeError

__all__ = ["ALLOWED_FUNCTIONS", "CompiledExpression", "compile_lambda", "compile_slice", "describe_allowed"]

MAX_LENGTH = 2000
MAX_DEPTH = 50
Closure = Callable[[list], Any]
_CONSTANT_TYPES = (int, float, complex, str, bool, type(None), type(Ellipsis))
_BINOPS: dict[type, tuple[Callable[[Any, Any], Any], str]] = {
    ast.Sub: (operator.sub, "'-'"), ast.Div: (operator.truediv, "'/'"), ast.FloorDiv: (operator.floordiv, "'//'"),
    ast.Mod: (fx.safe_mod, "'%'"), ast.Pow: (fx.safe_pow, "'**'"), ast.MatMult: (operator.matmul, "'@'"),
}
_BUDGETED_BINOPS = {ast.Add: fx.safe_add, ast.Mult: fx.safe_mul}
_UNARY_OPS = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_, ast.Invert: operator.invert}
_COMPARE_OPS = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_REFUSED = {"Lambda": "nested lambdas are not allowed", "JoinedStr": "f-strings are not allowed",
            "NamedExpr": "':=' assignment is not allowed",
            "Starred": "'*' unpacking is only allowed in lists, tuples and call arguments"}


class CompiledExpression:
    """A compiled, safe expression; call it like the lambda it was written as.

    Attributes: ``text`` (the source), ``where`` (config path), ``arity`` (number of arguments).
    Pickles and deep-copies by recompiling its text.
    """

    __slots__ = ("text", "where", "arity", "_body", "_pad", "_factory")

    def __init__(self, text: str, where: str, arity: int, body: Closure, slots: int, factory: tuple) -> None:
        self.text, self.where, self.arity = text, where, arity
        self._body, self._pad, self._factory = body, [None] * (slots - arity - 1), factory

    def __call__(self, *args: Any) -> Any:
        if len(args) != self.arity:
            raise ConfigError(self.where, f"expression '{self.text}' takes {self.arity} argument(s)",
                              self.arity, len(args))
        try:
            budget = WorkBudget.unmetered() if recording_graph() else WorkBudget(batch_of(args))
            return self._body([budget, *args, *self._pad])
        except RecBlocksError:
            raise
        except ExpressionLimitError as exc:
            shown = self.text if len(self.text) <= 120 else self.text[:117] + "..."
            raise ConfigError(self.where, f"expression '{shown}' is too expensive: {exc.problem}", exc.expected,
                              exc.got) from None
        except Exception as exc:  # noqa: BLE001 - every failure becomes a ShapeError naming the config
            message = (str(exc).strip().splitlines() or [""])[0][:300]
            raise ShapeError(self.where, f"expression '{self.text}' failed: {type(exc).__name__}: {message}") from exc

    def __reduce__(self) -> tuple:
        return self._factory

    def __repr__(self) -> str:
        return f"CompiledExpression({self.text!r}, where={self.where!r})"


def compile_lambda(text: str, where: str, arity: int | None = None) -> CompiledExpression:
    """Compile ``text``, exactly one ``lambda`` expression, into a safe callable.

    Args:
        text: e.g. ``'lambda x: tf.add_n(x)'`` or ``'lambda x, i: [x[0][i], x[1]]'``.
        where: config path named by every error.
        arity: when given, the lambda must take exactly this many parameters.

    Raises:
        ConfigError: the text is not a lambda, has the wrong arity or uses anything not allowed.
    """
    compiler = _Compiler(text, where, offset=0)
    tree = compiler.parse(text)
    if not isinstance(tree, ast.Lambda):
        compiler.reject(tree, "must be a single lambda expression", "'lambda x: ...'", type(tree).__name__)
    args = tree.args
    if args.posonlyargs or args.vararg or args.kwonlyargs or args.kwarg or args.defaults:
        compiler.reject(tree, "lambda parameters must be plain positional names", "'lambda x, i: ...'",
                        "*args, **kwargs, defaults or keyword-only parameters")
    names = [a.arg for a in args.args]
    if arity is not None and len(names) != arity:
        compiler.reject(tree, f"lambda must take exactly {arity} parameter(s)", arity, len(names))
    for name in names:
        compiler.declare(name, tree)
    body = compiler.expr(tree.body)
    return CompiledExpression(text, where, len(names), body, compiler.slots, (compile_lambda, (text, where, arity)))


def compile_slice(text: str, where: str, index_var: str | None = None) -> CompiledExpression:
    """Compile an ``input_slice`` suffix such as ``'[1]'``, ``'[0:2]'``, ``'[:, 0]'`` or ``'[i]'``.

    The result takes ``x`` (or ``x, <index_var>`` when ``index_var`` is given, as in repeat
    blocks); index expressions may use both names, as EasyRec's ``"lambda x: x" + slice`` does.

    Raises:
        ConfigError: the text is not a pure subscript suffix or uses anything not allowed.
    """
    compiler = _Compiler(text, where, offset=-1)
    if not text.strip().startswith("["):
        compiler.reject(None, "a slice must be a subscript suffix", "e.g. '[1]', '[0:2]', '[:, 0]'", repr(text))
    tree = compiler.parse("x" + text)
    node = tree
    while isinstance(node, ast.Subscript):
        node = node.value
    if tree is node or not (isinstance(node, ast.Name) and node.id == "x" and node.col_offset == 0):
        compiler.reject(None, "a slice must be a subscript suffix", "e.g. '[1]', '[0:2]', '[:, 0]'", repr(text))
    compiler.declare("x", tree)
    if index_var is not None:
        if not index_var.isidentifier() or index_var == "x":
            raise ConfigError(where, "bad index variable for a slice", "an identifier other than 'x'", index_var)
        compiler.declare(index_var, tree)
    body = compiler.expr(tree)
    arity = 1 if index_var is None else 2
    return CompiledExpression(text, where, arity, body, compiler.slots, (compile_slice, (text, where, index_var)))


def _starred(node: ast.AST) -> bool:
    return isinstance(node, ast.Starred)


def _dotted(node: ast.AST) -> str | None:
    """``tf.nn.relu`` for an Attribute chain rooted at a Name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else None


class _Compiler:
    """Compiles one expression's AST into closures ``f(env)``; env = [budget, *parameters, *loop vars]."""

    def __init__(self, text: str, where: str, offset: int) -> None:
        if not isinstance(text, str):
            raise ConfigError(where, "an expression must be a string", "str", type(text).__name__)
        self.text, self.where, self.offset = text, where, offset
        self.scope: dict[str, int] = {}
        self.slots, self.depth = 1, 0

    # ----------------------------------------------------------------- plumbing
    def reject(self, node: ast.AST | None, problem: str, expected: object, got: object,
               choices: Any = None) -> NoReturn:
        shown = self.text if len(self.text) <= 120 else self.text[:117] + "..."
        col = getattr(node, "col_offset", None)
        at = f" (column {col + self.offset + 1})" if col is not None and col + self.offset >= 0 else ""
        raise ConfigError(self.where, f"{problem} in expression '{shown}'{at}", expected, got, choices)

    def parse(self, source: str) -> ast.AST:
        if len(self.text) > MAX_LENGTH:
            self.reject(None, "expression is too long", f"at most {MAX_LENGTH} characters", len(self.text))
        try:
            return ast.parse(source, mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            detail = getattr(exc, "msg", None) or type(exc).__name__
            self.reject(None, "not valid Python", "one Python expression", detail)

    def declare(self, name: str, node: ast.AST) -> int:
        self.check_name(name, node)
        if name in fx.MODULE_ROOTS:
            self.reject(node, f"'{name}' is reserved for function names", "another variable name", name)
        self.scope[name], self.slots = self.slots, self.slots + 1
        return self.scope[name]

    def check_name(self, name: str, node: ast.AST) -> None:
        if name.startswith("_"):
            self.reject(node, "names starting with '_' are not allowed", "public names", name)

    def module_path(self, node: ast.AST) -> str | None:
        """The dotted name when ``node`` is ``tf.x.y`` / ``torch.x`` / ``F.x`` (checked for '_' parts)."""
        dotted = _dotted(node)
        root = dotted.split(".")[0] if dotted else None
        if root not in fx.MODULE_ROOTS or root in self.scope:
            return None
        for part in dotted.split("."):
            self.check_name(part, node)
        return dotted

    def expr(self, node: ast.AST) -> Closure:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.reject(node, "expression is nested too deeply", f"at most {MAX_DEPTH} levels", "deeper")
        try:
            kind = type(node).__name__
            method = getattr(self, "c_" + kind, None)
            if method is None:
                self.reject(node, _REFUSED.get(kind, f"'{kind}' syntax is not allowed"), fx.SYNTAX, kind)
            return method(node)
        finally:
            self.depth -= 1

    def literal(self, node: ast.AST | None) -> tuple[bool, Any]:
        """(True, value) for immutable literals: numbers, strings, tuples and slices of them."""
        if node is None or isinstance(node, ast.Constant) and isinstance(node.value, _CONSTANT_TYPES):
            return True, getattr(node, "value", None)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            ok, value = self.literal(node.operand)
            if ok and type(value) in (int, float):
                return True, -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, (ast.Tuple, ast.Slice)):
            parts = node.elts if isinstance(node, ast.Tuple) else [node.lower, node.upper, node.step]
            folded = [self.literal(p) for p in parts]
            if all(ok for ok, _ in folded):
                values = [v for _, v in folded]
                return True, tuple(values) if isinstance(node, ast.Tuple) else slice(*values)
        return False, None

    def sequence(self, elts: list[ast.expr], head: Closure | None = None) -> Closure:
        """A closure building the list ``[head(env), *elts]``; ``*value`` items are unpacked and charged."""
        parts = [(p, False) for p in ([head] if head else [])]
        parts += [(self.expr(e.value), True) if _starred(e) else (self.expr(e), False) for e in elts]
        if any(star for _, star in parts):
            return fx.unpacking_list(parts)
        getters = [p for p, _ in parts]
        return lambda env: [p(env) for p in getters]

    # ----------------------------------------------------------------- names and members
    def c_Constant(self, node: ast.Constant) -> Closure:
        if not isinstance(node.value, _CONSTANT_TYPES):
            self.reject(node, "constant not allowed", "numbers, strings, True/False/None", type(node.value).__name__)
        value = node.value
        return lambda env: value

    def c_Name(self, node: ast.Name) -> Closure:
        self.check_name(node.id, node)
        if node.id in self.scope:
            return operator.itemgetter(self.scope[node.id])
        if node.id in fx.MODULE_ROOTS:
            self.reject(node, f"module '{node.id}' can only prefix a function name", "e.g. 'tf.reduce_sum(x)'", node.id)
        if node.id in fx.FUNCTIONS:
            self.reject(node, f"function '{node.id}' must be called", f"'{node.id}(...)'", node.id)
        self.reject(node, "unknown name", f"one of the parameters {sorted(self.scope)}", node.id,
                    [*self.scope, *fx.FUNCTIONS])

    def c_Attribute(self, node: ast.Attribute) -> Closure:
        self.check_name(node.attr, node)
        dotted = self.module_path(node)
        if dotted is not None:
            if dotted in fx.CONSTANTS:
                value = fx.CONSTANTS[dotted]
                return lambda env: value
            if dotted in fx.FUNCTIONS:
                self.reject(node, f"function '{dotted}' must be called", f"'{dotted}(...)'", dotted)
            self.reject(node, "unknown name", "an allow-listed function or constant (see describe_allowed())",
                        dotted, [*fx.FUNCTIONS, *fx.CONSTANTS])
        if node.attr in fx.TENSOR_METHODS:
            self.reject(node, f"tensor method '{node.attr}' must be called", f"'.{node.attr}(...)'", node.attr)
        if node.attr not in fx.TENSOR_ATTRIBUTES:
            self.reject(node, "attribute not allowed", f"a tensor attribute {sorted(fx.TENSOR_ATTRIBUTES)}",
                        node.attr, [*fx.TENSOR_ATTRIBUTES, *fx.TENSOR_METHODS])
        obj, getter = fx.require_tensor(self.expr(node.value), f"'.{node.attr}'"), operator.attrgetter(node.attr)
        return lambda env: getter(obj(env))

    def c_Call(self, node: ast.Call) -> Closure:
        func_node, dotted, positional = node.func, self.module_path(node.func), list(node.args)
        if isinstance(func_node, ast.Name) and func_node.id not in self.scope and func_node.id in fx.FUNCTIONS:
            dotted = func_node.id
        elif dotted is not None:
            if dotted not in fx.FUNCTIONS:
                self.reject(node, "unknown function", "an allow-listed function (see describe_allowed())",
                            dotted, fx.FUNCTIONS)
        elif isinstance(func_node, ast.Attribute):
            self.check_name(func_node.attr, node)
            if func_node.attr not in fx.TENSOR_METHODS:
                self.reject(node, "method not allowed", "an allow-listed tensor method", func_node.attr,
                            fx.TENSOR_METHODS)
        else:
            name = func_node.id if isinstance(func_node, ast.Name) else type(func_node).__name__
            self.check_name(name, node)
            self.reject(node, "only allow-listed functions can be called", "e.g. len, sum, tf.add_n(x)", name,
                        fx.FUNCTIONS)
        if dotted is None:  # tensor method: Tensor.<method>(value, ...)
            func = getattr(torch.Tensor, func_node.attr)
            head = fx.require_tensor(self.expr(func_node.value), f"method '.{func_node.attr}()'")
            name = func_node.attr
        else:
            func = fx.FUNCTIONS[dotted]
            head = (lambda env: env) if dotted in fx.BUDGETED else None  # budgeted builtins charge the budget
            name = dotted
        keywords: dict[str, Closure] = {}
        for kw in node.keywords:
            if kw.arg is None:
                self.reject(kw, "'**' unpacking is not allowed", "named keyword arguments", "**")
            self.check_name(kw.arg, kw)
            if kw.arg == "out":
                self.reject(kw, "keyword 'out' is not allowed", "functions that return new values", "out=")
            if not (kw.arg == "name" and dotted and dotted.startswith("tf.")):  # TF op names mean nothing here
                keywords[kw.arg] = self.expr(kw.value)
        if dotted not in fx.UNMETERED:  # tensor work is metered (see expression_budget)
            return metered_call(func, name, dotted is None, self.sequence(positional, head), keywords)
        if head is None and not keywords and len(positional) <= 2 and not any(map(_starred, positional)):
            parts = [self.expr(a) for a in positional]  # fast paths for the common f(), f(x) and f(x, y)
            if len(parts) == 2:
                a0, a1 = parts
                return lambda env: func(a0(env), a1(env))
            a0 = parts[0] if parts else None
            return (lambda env: func(a0(env))) if parts else (lambda env: func())
        args_of = self.sequence(positional, head)
        items = list(keywords.items())
        if not items:
            return lambda env: func(*args_of(env))
        return lambda env: func(*args_of(env), **{k: v(env) for k, v in items})

    # ----------------------------------------------------------------- compound values
    def c_Subscript(self, node: ast.Subscript) -> Closure:
        value = self.expr(node.value)
        ok, key = self.literal(node.slice)
        return metered_subscript(value, (lambda env: key) if ok else self.expr(node.slice))

    def c_Slice(self, node: ast.Slice) -> Closure:
        lo, hi, st = [(lambda env: None) if p is None else self.expr(p) for p in (node.lower, node.upper, node.step)]
        return lambda env: slice(lo(env), hi(env), st(env))

    def c_List(self, node: ast.List) -> Closure:
        folded = [self.literal(e) for e in node.elts]
        if all(ok for ok, _ in folded):
            values = tuple(v for _, v in folded)
            return lambda env: list(values)
        return self.sequence(node.elts)

    def c_Tuple(self, node: ast.Tuple) -> Closure:
        ok, value = self.literal(node)
        build = self.sequence(node.elts) if not ok else None
        return (lambda env: value) if ok else (lambda env: tuple(build(env)))

    def c_ListComp(self, node: ast.ListComp | ast.GeneratorExp) -> Closure:
        saved, loops = dict(self.scope), []
        for gen in node.generators:
            if gen.is_async:
                self.reject(gen, "async comprehensions are not allowed", "'for'", "async for")
            iterable = self.expr(gen.iter)  # evaluated before its own loop names exist, as in Python
            targets = gen.target.elts if isinstance(gen.target, ast.Tuple) else [gen.target]
            if not all(isinstance(t, ast.Name) for t in targets):
                self.reject(gen.target, "loop targets must be plain names", "'for a in ...' or 'for a, b in ...'",
                            type(gen.target).__name__)
            slots = [self.declare(t.id, t) for t in targets]
            loops.append((iterable, slots if isinstance(gen.target, ast.Tuple) else slots[0],
                          [self.expr(c) for c in gen.ifs]))
        element = self.expr(node.elt)
        self.scope = saved
        return fx.comprehension(loops, element)

    c_GeneratorExp = c_ListComp  # materialised as a list

    # ----------------------------------------------------------------- operators
    def c_BinOp(self, node: ast.BinOp) -> Closure:
        left, right, kind = self.expr(node.left), self.expr(node.right), type(node.op)
        if kind in _BUDGETED_BINOPS:
            charged = _BUDGETED_BINOPS[kind]
            return lambda env: charged(env, left(env), right(env))
        if kind not in _BINOPS:
            self.reject(node, "operator not allowed", "+ - * / // % ** @", kind.__name__)
        op, what = _BINOPS[kind]
        return lambda env: metered_binary(env, op, left(env), right(env), what)

    def c_UnaryOp(self, node: ast.UnaryOp) -> Closure:
        return metered_unary(_UNARY_OPS[type(node.op)], self.expr(node.operand))

    def c_Compare(self, node: ast.Compare) -> Closure:
        first = self.expr(node.left)
        rest = [(_COMPARE_OPS[type(o)], self.expr(c)) for o, c in zip(node.ops, node.comparators)]
        if len(rest) == 1:
            ((op, get),) = rest
            return lambda env: metered_binary(env, op, first(env), get(env), "a comparison")
        return fx.compare_chain(first, rest)

    def c_BoolOp(self, node: ast.BoolOp) -> Closure:
        return fx.boolean([self.expr(v) for v in node.values], isinstance(node.op, ast.And))

    def c_IfExp(self, node: ast.IfExp) -> Closure:
        test, body, orelse = self.expr(node.test), self.expr(node.body), self.expr(node.orelse)
        return lambda env: body(env) if test(env) else orelse(env)
