"""The allow-list of the safe expression evaluator and the runtime pieces its closures use.

TensorFlow spellings (``tf.reduce_sum``, ``tf.nn.l2_normalize``...) run as torch code with TF
semantics, so EasyRec configs keep their meaning; torch spellings are torch itself. All of them
work on meta tensors. A config reaches nothing here but :data:`FUNCTIONS`, :data:`CONSTANTS`,
:data:`TENSOR_ATTRIBUTES` and :data:`TENSOR_METHODS`.
"""

from __future__ import annotations

import builtins
import functools
import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from recblocks.blocks.backbone.expression_budget import charge, safe_add, safe_mul, safe_pow

__all__ = [
    "ALLOWED_FUNCTIONS", "BUDGETED", "CONSTANTS", "FUNCTIONS", "MODULE_ROOTS", "SYNTAX", "TENSOR_ATTRIBUTES",
    "TENSOR_METHODS", "UNMETERED", "boolean", "charge", "compare_chain", "comprehension", "describe_allowed",
    "require_tensor", "safe_add", "safe_mod", "safe_mul", "safe_pow", "unpacking_list",
]

_SEQUENCES = (list, tuple, str, bytes)


def safe_mod(a: Any, b: Any) -> Any:
    """``a % b`` without string formatting."""
    if isinstance(a, (str, bytes)):
        raise TypeError("string formatting with '%' is not allowed")
    return a % b


# --------------------------------------------------------------------------- closure pieces
def require_tensor(get: Callable[[list], Any], what: str) -> Callable[[list], Tensor]:
    """``get(env)``, refusing anything but a tensor (tensor members exist only on tensors)."""

    def value_of(env: list) -> Tensor:
        value = get(env)
        if not isinstance(value, Tensor):
            raise TypeError(f"{what} needs a tensor, got {type(value).__name__}")
        return value

    return value_of


def unpacking_list(parts: list[tuple[Callable[[list], Any], bool]]) -> Callable[[list], list]:
    """Build a list from ``(getter, starred)`` parts; ``*value`` parts are unpacked and charged."""

    def build(env: list) -> list:
        out: list = []
        for part, star in parts:
            if star:
                values = list(part(env))
                charge(env, len(values))
                out.extend(values)
            else:
                out.append(part(env))
        return out

    return build


def comprehension(loops: list[tuple], element: Callable[[list], Any]) -> Callable[[list], list]:
    """Run ``[element for <slot(s)> in iterable if conditions ...]`` loops, writing loop variables into env."""

    def run(env: list, level: int, out: list) -> list:
        iterable, slot, conditions = loops[level]
        for item in iterable(env):
            charge(env, 1)
            if isinstance(slot, int):
                env[slot] = item
            else:
                for s, v in zip(slot, tuple(item), strict=True):
                    env[s] = v
            if all(c(env) for c in conditions):
                out.append(element(env)) if level + 1 == len(loops) else run(env, level + 1, out)
        return out

    return lambda env: run(env, 0, [])


def compare_chain(first: Callable[[list], Any], rest: list[tuple[Callable, Callable]]) -> Callable[[list], Any]:
    """``a < b < c``: each operand evaluated once, stopping at the first false comparison."""

    def chain(env: list) -> Any:
        left = first(env)
        for op, get in rest:
            right = get(env)
            if not op(left, right):
                return False
            left = right
        return True

    return chain


def boolean(parts: list[Callable[[list], Any]], is_and: bool) -> Callable[[list], Any]:
    """``a and b`` / ``a or b`` with Python's short-circuit and value semantics."""

    def run(env: list) -> Any:
        for part in parts:
            value = part(env)
            if bool(value) != is_and:
                return value
        return value

    return run


# --------------------------------------------------------------------------- helpers
def _tensor(value: Any) -> Tensor:
    """TF ``convert_to_tensor``: a list of tensors is stacked, numbers become tensors."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Tensor) for v in value):
        return torch.stack(list(value))
    return torch.as_tensor(value)


def _dims(axis: Any, ndim: int) -> tuple[int, ...]:
    """Axis argument (None, int or list of ints) as a tuple of dims; None means all."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (list, tuple, torch.Size)):
        return tuple(operator.index(a) for a in axis)
    return (operator.index(axis),)


def _reducer(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    def reduce(input_tensor, axis=None, keepdims=False, reduction_indices=None, keep_dims=None):
        x = _tensor(input_tensor)
        dims = _dims(axis if axis is not None else reduction_indices, x.dim())
        keep = bool(keepdims if keep_dims is None else keep_dims)
        return fn(x, dim=dims, keepdim=keep) if dims else x  # TF: an empty axis list reduces nothing

    return reduce


def _prod(x: Tensor, dim: tuple[int, ...], keepdim: bool) -> Tensor:
    for d in sorted({d % x.dim() for d in dim}, reverse=True):
        x = torch.prod(x, dim=d, keepdim=keepdim)
    return x


def _unary(fn: Callable[[Tensor], Tensor]) -> Callable[[Any], Tensor]:
    return lambda x: fn(_tensor(x))


def _elementwise(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """A binary TF op: lists become tensors, numbers stay numbers (``tf.multiply(x, 2)``)."""
    return lambda x, y: op(*(_tensor(v) if isinstance(v, (list, tuple)) else v for v in (x, y)))


def _extremum(both: Callable, clamp: Callable, plain: Callable) -> Callable[[Any, Any], Any]:
    def apply(x, y):
        if isinstance(x, Tensor) and isinstance(y, Tensor):
            return both(x, y)
        if isinstance(x, Tensor) or isinstance(y, Tensor):
            return clamp(x, y) if isinstance(x, Tensor) else clamp(y, x)
        return plain(x, y)

    return _elementwise(apply)


# --------------------------------------------------------------------------- TF semantics
def tf_add_n(inputs):
    values = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if not values:
        raise ValueError("tf.add_n needs at least one input")
    if any(isinstance(v, Tensor) and v.shape != values[0].shape for v in values):
        raise ValueError(f"tf.add_n needs inputs of one shape, got {[tuple(v.shape) for v in values]}")
    return functools.reduce(operator.add, values)


def tf_unstack(value, num=None, axis=0):
    x = _tensor(value)
    if num is not None and x.shape[axis] != num:
        raise ValueError(f"tf.unstack num={num} but axis {axis} has size {x.shape[axis]}")
    return list(torch.unbind(x, dim=axis))


def tf_squeeze(input, axis=None, squeeze_dims=None):  # noqa: A002 - TF's argument names
    x, axis = _tensor(input), axis if axis is not None else squeeze_dims
    if axis is None:
        return torch.squeeze(x)
    dims = _dims(axis, x.dim())
    if any(x.shape[d] != 1 for d in dims):
        raise ValueError(f"tf.squeeze axis {axis} of shape {tuple(x.shape)} does not have size 1")
    return torch.squeeze(x, dim=dims)


def tf_matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False):
    a, b = _tensor(a), _tensor(b)
    a = a.transpose(-2, -1) if transpose_a or adjoint_a else a
    return torch.matmul(a, b.transpose(-2, -1) if transpose_b or adjoint_b else b)


def tf_reshape(tensor, shape):
    shape = shape if isinstance(shape, (list, tuple, torch.Size)) else (shape,)
    return torch.reshape(_tensor(tensor), tuple(operator.index(s) for s in shape))


def tf_transpose(a, perm=None, conjugate=False):
    x = _tensor(a)
    return x.permute(*(reversed(range(x.dim())) if perm is None else perm))


def tf_split(value, num_or_size_splits, axis=0, num=None):
    x = _tensor(value)
    size = x.shape[axis]
    if isinstance(num_or_size_splits, int):
        n = num_or_size_splits
        if n <= 0 or size % n:
            raise ValueError(f"tf.split cannot cut axis {axis} of size {size} into {n} equal parts")
        return list(torch.split(x, size // n, dim=axis))
    sizes = [operator.index(s) for s in num_or_size_splits]
    if -1 in sizes and sizes.count(-1) == 1:
        sizes[sizes.index(-1)] = size - (sum(sizes) + 1)
    if sum(sizes) != size or min(sizes, default=0) < 0:
        raise ValueError(f"tf.split sizes {list(num_or_size_splits)} do not add up to {size}")
    return list(torch.split(x, sizes, dim=axis))


def tf_gather(params, indices, *, axis=None, batch_dims=0, validate_indices=None):
    if batch_dims:
        raise ValueError("tf.gather batch_dims is not supported")
    x = _tensor(params)
    axis = 0 if axis is None else axis % x.dim()
    idx = indices if isinstance(indices, Tensor) else torch.as_tensor(indices, device=x.device)
    picked = torch.index_select(x, axis, idx.reshape(-1).long())
    return picked.reshape(x.shape[:axis] + idx.shape + x.shape[axis + 1 :])


def tf_l2_normalize(x, axis=None, epsilon=1e-12, dim=None):
    """TF: ``x / sqrt(max(sum(x**2, axis), epsilon))``; ``axis=None`` spans every axis."""
    x = _tensor(x)
    dims = _dims(axis if axis is not None else dim, x.dim())
    square_sum = torch.sum(x * x, dim=dims, keepdim=True) if dims else x * x
    return x * torch.rsqrt(torch.clamp_min(square_sum, epsilon))


_DTYPE_NAMES = {k: getattr(torch, k) for k in ("float16", "bfloat16", "float32", "float64", "int32", "int64", "bool")}


def tf_cast(x, dtype):
    dtype = _DTYPE_NAMES.get(dtype, dtype) if isinstance(dtype, str) else dtype  # also 'float32' etc.
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"tf.cast needs a dtype such as tf.float32, got {dtype!r}")
    return _tensor(x).to(dtype)


# --------------------------------------------------------------------------- builtins
def py_sum(iterable, start=0):
    if isinstance(start, _SEQUENCES):
        raise TypeError("sum() of lists/strings is not allowed; use a list display or tf.concat")
    return sum(iterable, start)


def _collect(kind: type) -> Callable[..., Any]:
    """``kind(*args)`` (range, list, tuple) charged to the work budget by its length."""

    def collect(env: list, *args):
        out = kind(*args)
        charge(env, len(out))
        return out

    return collect


# --------------------------------------------------------------------------- the tables
_UNARY_TF = {"square": torch.square, "sqrt": torch.sqrt, "rsqrt": torch.rsqrt, "exp": torch.exp, "log": torch.log,
             "log1p": torch.log1p, "abs": torch.abs, "sign": torch.sign, "negative": torch.neg,
             "sigmoid": torch.sigmoid, "tanh": torch.tanh}
_TF: dict[str, Callable[..., Any]] = {
    "add_n": tf_add_n,
    **{f"reduce_{k}": _reducer(f) for k, f in [("sum", torch.sum), ("mean", torch.mean), ("max", torch.amax),
                                                 ("min", torch.amin), ("prod", _prod)]},
    "add": _elementwise(operator.add), "subtract": _elementwise(operator.sub),
    "multiply": _elementwise(operator.mul), "divide": _elementwise(operator.truediv), "pow": _elementwise(operator.pow),
    "maximum": _extremum(torch.maximum, torch.clamp_min, max),
    "minimum": _extremum(torch.minimum, torch.clamp_max, min),
    "l2_normalize": tf_l2_normalize,
    **{k: _unary(v) for k, v in _UNARY_TF.items()},
}
_TF_NN: dict[str, Callable[..., Any]] = {
    "softmax": lambda logits, axis=None, dim=None: torch.softmax(
        _tensor(logits), dim=axis if axis is not None else (-1 if dim is None else dim)),
    "l2_normalize": tf_l2_normalize,
    "leaky_relu": lambda features, alpha=0.2: F.leaky_relu(_tensor(features), alpha),
    "gelu": lambda features, approximate=False: F.gelu(_tensor(features),
                                                       approximate="tanh" if approximate else "none"),
    **{k: _unary(v) for k, v in {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "elu": F.elu,
                                  "selu": F.selu, "softplus": F.softplus, "swish": F.silu, "silu": F.silu}.items()},
}
_TF_TOP_ONLY: dict[str, Callable[..., Any]] = {
    "concat": lambda values, axis: values if isinstance(values, Tensor) else torch.cat([*map(_tensor, values)], axis),
    "stack": lambda values, axis=0: torch.stack([_tensor(v) for v in values], dim=axis),
    "unstack": tf_unstack, "squeeze": tf_squeeze, "matmul": tf_matmul, "reshape": tf_reshape,
    "expand_dims": lambda input, axis: torch.unsqueeze(_tensor(input), axis),  # noqa: A006
    "transpose": tf_transpose, "split": tf_split, "gather": tf_gather, "cast": tf_cast,
    "identity": _unary(lambda x: x), "stop_gradient": _unary(lambda x: x.detach()), "ones_like": _unary(torch.ones_like), "zeros_like": _unary(torch.zeros_like),
    "shape": lambda input, out_type=None: _tensor(input).shape,  # noqa: A006 - static ints (TF: a tensor)
    "clip_by_value": lambda t, clip_value_min, clip_value_max: torch.clamp(_tensor(t), clip_value_min,
                                                                            clip_value_max),
    "einsum": torch.einsum,
}
_TORCH_NAMES = (
    "cat concat stack sum mean amax amin max min prod relu sigmoid tanh softmax reshape flatten unbind "
    "split chunk squeeze unsqueeze matmul bmm mul add sub div exp log sqrt rsqrt abs square pow maximum "
    "minimum clamp transpose permute einsum ones_like zeros_like where sign neg"
).split()
_F_NAMES = "relu gelu silu elu selu leaky_relu softplus softmax normalize".split()
FUNCTIONS: dict[str, Callable[..., Any]] = {
    **{f"tf.{k}": v for k, v in {**_TF, **_TF_TOP_ONLY}.items()},
    **{f"tf.math.{k}": v for k, v in _TF.items()},
    "tf.math.softmax": _TF_NN["softmax"], "tf.linalg.matmul": tf_matmul, "tf.linalg.l2_normalize": tf_l2_normalize,
    **{f"tf.nn.{k}": v for k, v in _TF_NN.items()},
    **{f"torch.{k}": getattr(torch, k) for k in _TORCH_NAMES},
    **{f"F.{k}": getattr(F, k) for k in _F_NAMES},
    **{f"torch.nn.functional.{k}": getattr(F, k) for k in _F_NAMES},
    "F.sigmoid": torch.sigmoid, "F.tanh": torch.tanh,
    **{k: getattr(builtins, k) for k in "len min max abs int float bool round zip enumerate reversed".split()},
    "sum": py_sum,
    **{k.__name__: _collect(k) for k in (range, list, tuple)},
}
#: Functions that build Python sequences: called as ``fn(env, *args)`` to charge the budget.
BUDGETED = frozenset({"range", "list", "tuple"})
#: Builtins that do no tensor work: called without metering tensor operands (see expression_budget).
UNMETERED = frozenset({"len", "int", "float", "bool", "zip", "enumerate", "reversed", *BUDGETED})
#: Names that may only start a dotted function or constant name.
MODULE_ROOTS = frozenset({"tf", "torch", "F"})
#: Dotted names that are values, not functions.
CONSTANTS: dict[str, Any] = {
    **{f"{m}.{k}": v for m in ("tf", "torch") for k, v in _DTYPE_NAMES.items()},
    "torch.float": torch.float32, "torch.long": torch.int64, "torch.int": torch.int32, "tf.newaxis": None,
}
#: Tensor attributes an expression may read (``x.shape``).
TENSOR_ATTRIBUTES = frozenset({"shape", "ndim", "T", "mT", "dtype"})
#: Tensor methods an expression may call (``x.sum(dim=1)``); resolved on ``torch.Tensor``.
TENSOR_METHODS = frozenset(
    "sum mean max min amax amin prod unsqueeze squeeze reshape view view_as reshape_as transpose permute "
    "flatten float double long int bool contiguous size dim numel t split chunk unbind softmax sigmoid "
    "relu tanh exp log sqrt abs pow matmul norm clamp neg".split()
)
#: Every function name an expression may call (dotted TF/torch names and Python builtins).
ALLOWED_FUNCTIONS: tuple[str, ...] = tuple(sorted(FUNCTIONS))
SYNTAX = (
    "a lambda with positional parameters; its parameter names; numbers, strings, True/False/None, ...; "
    "subscripts and slices; list/tuple displays (with *unpacking); list comprehensions; + - * / // % ** @; "
    "comparisons; and/or/not; if-else; calls of allow-listed functions; allow-listed tensor attributes/methods"
)


def describe_allowed() -> str:
    """A human-readable summary of what expressions may contain (for docs and error help)."""
    groups: dict[str, list[str]] = {}
    for name in ALLOWED_FUNCTIONS:
        prefix, _, short = name.rpartition(".")
        groups.setdefault(prefix or "builtins", []).append(short)
    lines = [f"Syntax: {SYNTAX}.", "Functions:", *(f"  {k}: {', '.join(v)}" for k, v in sorted(groups.items()))]
    lines.append(f"Constants: {', '.join(sorted(CONSTANTS))}")
    lines.append(f"Tensor attributes: {', '.join(sorted(TENSOR_ATTRIBUTES))}")
    lines.append(f"Tensor methods: {', '.join(sorted(TENSOR_METHODS))}")
    return "\n".join(lines)
