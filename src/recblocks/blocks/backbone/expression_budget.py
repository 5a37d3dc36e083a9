"""Work budgets of one expression evaluation, charged as it runs.

Expressions are evaluated when the plan is built, on meta tensors (shapes only, batch
:data:`~recblocks.core.shapes.META_BATCH`), and again on every forward pass. Each
evaluation gets a fresh :class:`WorkBudget`; going over any limit raises
:class:`ExpressionLimitError`, which the compiled expression reports as a ConfigError naming
the block and the expression. As the plan is built first, a config whose expression would
build a ``(B, 40, 40, 40, 40)`` tensor, sum half a million terms or square an integer thirty
times is refused at plan time, before a single real tensor exists.

Limits (tensor sizes are per sample, i.e. divided by the batch size of the evaluation's
first tensor argument, so they hold for the planning batch and a real one alike):

* :data:`PYTHON_ELEMENTS`: list items, range steps and loop turns built;
* :data:`TENSOR_ELEMENTS_PER_SAMPLE`: elements of any one tensor an operation produces;
* :data:`TENSOR_WORK_PER_SAMPLE`: elements read and written by all tensor operations
  (multiply-adds for ``matmul``/``@``/``einsum``);
* :data:`TENSOR_OPERANDS`: tensors passed to tensor operations (``tf.add_n`` over half a
  million terms is refused even when each term is small);
* :data:`MAX_INT_BITS`: size of any Python integer built by ``*`` or ``**``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "PYTHON_ELEMENTS", "TENSOR_ELEMENTS_PER_SAMPLE", "TENSOR_WORK_PER_SAMPLE", "TENSOR_OPERANDS", "MAX_INT_BITS",
    "ExpressionLimitError", "WorkBudget", "batch_of", "charge", "safe_add", "safe_mul", "safe_pow", "metered",
    "metered_binary", "metered_call", "metered_subscript", "metered_unary",
]

#: Python elements (list items, range steps, loop turns) one evaluation may build.
PYTHON_ELEMENTS = 1_000_000
#: Elements per sample of the largest tensor one operation may produce (4 MB of float32).
TENSOR_ELEMENTS_PER_SAMPLE = 2**20
#: Elements per sample read and written by all tensor operations of one evaluation.
TENSOR_WORK_PER_SAMPLE = 2**24
#: Tensors passed to tensor operations in one evaluation.
TENSOR_OPERANDS = 10_000
#: Bits of the largest Python integer ``*`` or ``**`` may build.
MAX_INT_BITS = 4096
_SEQUENCES = (list, tuple, str, bytes)
_MAX_SCAN_DEPTH = 3  # nesting of lists scanned for tensor operands


class ExpressionLimitError(Exception):
    """An evaluation went over a budget: ``problem``, ``expected`` (the limit) and ``got``."""

    def __init__(self, problem: str, expected: str, got: str) -> None:
        super().__init__(f"{problem}; expected {expected}, got {got}")
        self.problem, self.expected, self.got = problem, expected, got


def _tensors(value: Any, depth: int = 0) -> list[Tensor]:
    """Tensors in ``value`` and in lists/tuples nested up to a few levels."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (list, tuple)) and depth < _MAX_SCAN_DEPTH:
        found: list[Tensor] = []
        for item in value:
            if isinstance(item, (Tensor, list, tuple)):
                found.extend(_tensors(item, depth + 1))
        return found
    return []


def batch_of(args: Iterable[Any]) -> int:
    """Batch size of an evaluation: the leading axis of the first tensor among ``args`` (else 1)."""
    for arg in args:
        for tensor in _tensors(arg):
            return max(int(tensor.shape[0]), 1) if tensor.dim() else 1
    return 1


def recording_graph() -> bool:
    """True while torch.export records a graph with symbolic sizes (``recblocks export``).

    The tensor budget is not metered then (:meth:`WorkBudget.unmetered`): reading a symbolic
    batch size as a number would fix the graph's batch size. The same expression ran metered
    when the model trained, and an exported graph holds only the recorded tensor operations.
    """
    return bool(torch.compiler.is_exporting())


class WorkBudget:
    """What one evaluation may still spend (see the module docstring); slot 0 of the closures' env."""

    __slots__ = ("python", "work", "operands", "batch", "active")

    @classmethod
    def unmetered(cls) -> "WorkBudget":
        """A budget that meters no tensor work (see :func:`recording_graph`); Python elements still count."""
        budget = cls(1)
        budget.active = False
        return budget

    def __init__(self, batch: int = 1) -> None:
        self.active = True
        self.batch = max(int(batch), 1)
        self.python = PYTHON_ELEMENTS
        self.work = TENSOR_WORK_PER_SAMPLE * self.batch
        self.operands = TENSOR_OPERANDS

    def spend_python(self, count: int) -> None:
        self.python -= count
        if self.python < 0:
            raise ExpressionLimitError("it builds too many Python elements", f"at most {PYTHON_ELEMENTS:,}",
                                       f"more than {PYTHON_ELEMENTS:,}")

    def spend_operands(self, count: int) -> None:
        self.operands -= count
        if self.operands < 0:
            raise ExpressionLimitError("it passes too many tensors to tensor operations",
                                       f"at most {TENSOR_OPERANDS:,} tensor operands", f"more than {TENSOR_OPERANDS:,}")

    def spend_work(self, elements: int, what: str) -> None:
        self.work -= elements
        if self.work < 0:
            per_sample = TENSOR_WORK_PER_SAMPLE
            raise ExpressionLimitError(f"its tensor work is too large ({what})",
                                       f"at most {per_sample:,} elements per sample in all",
                                       f"more than {per_sample:,} per sample")

    def check_output(self, out: Any, what: str) -> None:
        for tensor in _tensors(out):
            per_sample = tensor.numel() // self.batch
            if per_sample > TENSOR_ELEMENTS_PER_SAMPLE:
                raise ExpressionLimitError(f"{what} builds a tensor that is too large",
                                           f"at most {TENSOR_ELEMENTS_PER_SAMPLE:,} elements per sample",
                                           f"shape {tuple(tensor.shape)} ({per_sample:,} per sample)")
            self.spend_work(tensor.numel(), what)


def charge(env: list, count: int) -> None:
    """Spend ``count`` Python elements of the evaluation's budget (slot 0 of ``env``)."""
    env[0].spend_python(count)


def _check_int(value: Any, what: str) -> Any:
    if type(value) is int and value.bit_length() > MAX_INT_BITS:
        raise ExpressionLimitError(f"{what} builds an integer that is too large", f"at most {MAX_INT_BITS:,} bits",
                                   f"{value.bit_length():,} bits")
    return value


def safe_add(env: list, a: Any, b: Any) -> Any:
    """``a + b``; sequence concatenation is charged, tensor additions are metered."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return metered_binary(env, operator.add, a, b, "'+'")
    out = a + b
    if isinstance(out, _SEQUENCES):
        charge(env, len(out))
    return out


def safe_mul(env: list, a: Any, b: Any) -> Any:
    """``a * b``; sequence repetition is charged before it is built, integers are size-checked."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return metered_binary(env, operator.mul, a, b, "'*'")
    if isinstance(a, _SEQUENCES) or isinstance(b, _SEQUENCES):
        seq, times = (a, b) if isinstance(a, _SEQUENCES) else (b, a)
        charge(env, len(seq) * max(operator.index(times), 0))
    elif type(a) is int and type(b) is int and a.bit_length() + b.bit_length() > MAX_INT_BITS + 1:
        raise ExpressionLimitError("'*' builds an integer that is too large", f"at most {MAX_INT_BITS:,} bits",
                                   f"about {a.bit_length() + b.bit_length():,} bits")
    return a * b


def safe_pow(a: Any, b: Any) -> Any:
    """``a ** b`` refusing Python integers of more than :data:`MAX_INT_BITS` bits (checked before)."""
    if type(a) is int and type(b) is int and b > 0 and abs(a) > 1:
        bits = b * math.log2(abs(a))
        if bits > MAX_INT_BITS:
            base = a if a.bit_length() <= 64 else "(a large integer)"
            raise ExpressionLimitError(f"integer power {base} ** {b} is too large", f"at most {MAX_INT_BITS:,} bits",
                                       f"about {bits:,.0f} bits")
    return a**b


def _matmul_work(a: Any, b: Any, out: Any) -> int:
    """Multiply-adds of ``a @ b``: output elements times the contracted length."""
    if isinstance(a, Tensor) and isinstance(out, Tensor) and a.dim():
        return out.numel() * max(int(a.shape[-1]), 1)
    return 0


def _einsum_work(args: tuple) -> int:
    """Multiply-adds of a plain einsum: the product of every index's size (0 when not plain)."""
    if not args or not isinstance(args[0], str) or "." in args[0]:
        return 0
    operands = [a for a in args[1:] if isinstance(a, Tensor)]
    if len(operands) == 1 and isinstance(args[1], (list, tuple)):
        operands = _tensors(args[1])
    inputs = args[0].replace(" ", "").split("->")[0].split(",")
    sizes: dict[str, int] = {}
    for letters, tensor in zip(inputs, operands):
        for letter, size in zip(letters, tensor.shape):
            sizes[letter] = int(size)
    return math.prod(sizes.values()) if sizes else 0


def metered(env: list, func: Callable[..., Any], args: tuple, kwargs: dict[str, Any], what: str,
            kind: str = "elements") -> Any:
    """Call ``func`` charging its tensor operands, work and output size to ``env[0]``.

    ``kind`` is ``elements`` (inputs read plus outputs written), ``matmul`` or ``einsum``
    (multiply-adds, charged before the call for einsum).
    """
    budget: WorkBudget = env[0]
    if not budget.active:
        return func(*args, **kwargs)
    inputs = _tensors(args) + _tensors(list(kwargs.values()))
    if inputs:
        budget.spend_operands(len(inputs))
        if kind == "einsum":
            budget.spend_work(_einsum_work(args), what)
        else:
            budget.spend_work(sum(t.numel() for t in inputs), what)
    out = func(*args, **kwargs)
    budget.check_output(out, what)
    if kind == "matmul" and len(args) >= 2:
        budget.spend_work(_matmul_work(args[0], args[1], out), what)
    return _check_int(out, what)


def metered_binary(env: list, op: Callable[[Any, Any], Any], a: Any, b: Any, what: str) -> Any:
    """``op(a, b)`` metered like :func:`metered` when an operand is a tensor (``@`` counts multiply-adds)."""
    if not (isinstance(a, Tensor) or isinstance(b, Tensor)):
        return _check_int(op(a, b), what)
    return metered(env, op, (a, b), {}, what, "matmul" if op is operator.matmul else "elements")


# --------------------------------------------------------------------------- closures for the compiler
Closure = Callable[[list], Any]


def metered_call(func: Callable[..., Any], name: str, method: bool, args_of: Closure,
                 keywords: dict[str, Closure]) -> Closure:
    """A closure calling ``func(*args_of(env), **keywords)`` through :func:`metered`."""
    what = f"'.{name}()'" if method else f"'{name}'"
    short = name.rsplit(".", 1)[-1]
    kind = "matmul" if short in ("matmul", "bmm") else "einsum" if short == "einsum" else "elements"
    items = list(keywords.items())
    return lambda env: metered(env, func, tuple(args_of(env)), {k: v(env) for k, v in items}, what, kind)


def metered_subscript(value: Closure, index: Closure) -> Closure:
    """``value[index]``; indexing a tensor is metered (advanced indexing can build a larger one)."""

    def subscript(env: list) -> Any:
        container = value(env)
        if isinstance(container, Tensor):
            return metered(env, operator.getitem, (container, index(env)), {}, "indexing")
        return container[index(env)]

    return subscript


def metered_unary(op: Callable[[Any], Any], operand: Closure) -> Closure:
    """``op(operand)``; metered when the operand is a tensor."""

    def unary(env: list) -> Any:
        value = operand(env)
        return metered(env, op, (value,), {}, "a unary operator") if isinstance(value, Tensor) else op(value)

    return unary
