"""How a block merges several inputs (EasyRec ``merge_inputs``), decided once at plan time.

See docs/backbone.md, "Inputs and merging":

* one input -> itself (even a list or tuple);
* all inputs lists/tuples -> one list, in order;
* some lists -> tensors wrapped and everything flattened into one list;
* all tensors -> ``cat`` on ``input_concat_axis``;
* ``merge_inputs_into_list`` -> a plain list of the inputs, no merging.

Unlike EasyRec, tuples are treated like lists when merging (EasyRec sends a tuple mixed with
tensors to ``concat``, which fails).
"""

from __future__ import annotations

from typing import Any

import torch

from recblocks.core.errors import ShapeError
from recblocks.core.shapes import describe_spec, spec_from_value

__all__ = ["choose_merge", "merge_values"]


def _is_seq(value: Any) -> bool:
    return isinstance(value, (list, tuple))


def choose_merge(values: list[Any], into_list: bool) -> str:
    """The merge mode for these (example) values: single | list | concat_lists | flatten | cat."""
    if into_list:
        return "list"
    if len(values) == 1:
        return "single"
    kinds = [_is_seq(v) for v in values]
    if all(kinds):
        return "concat_lists"
    if any(kinds):
        return "flatten"
    return "cat"


def merge_values(mode: str, values: list[Any], axis: int) -> Any:
    """Merge runtime (or meta) values with a mode from :func:`choose_merge`."""
    if mode == "single":
        return values[0]
    if mode == "list":
        return list(values)
    if mode == "cat":
        return torch.cat(values, dim=axis)
    merged: list[Any] = []
    for value in values:
        if _is_seq(value):
            merged.extend(value)
        else:
            merged.append(value)
    return merged


def plan_merge(values: list[Any], into_list: bool, axis: int, where: str) -> tuple[str, Any]:
    """Choose the mode and merge meta values, turning shape failures into ShapeError."""
    if not values:
        raise ShapeError(where, "no inputs left to merge (every input has ignore_input)",
                         "at least one input without ignore_input, or merge_inputs_into_list", "none")
    mode = choose_merge(values, into_list)
    if mode == "cat":
        ranks = {v.dim() for v in values}
        shapes = [describe_spec(spec_from_value(v, where)) for v in values]
        if len(ranks) != 1:
            raise ShapeError(where, f"cannot concatenate inputs of different ranks on axis {axis}",
                             "inputs of one rank", shapes)
        try:
            merged = torch.cat(values, dim=axis)
        except (RuntimeError, IndexError) as exc:
            raise ShapeError(where, f"cannot concatenate inputs on axis {axis}",
                             f"equal sizes on every other axis ({str(exc).splitlines()[0]})", shapes) from None
        return mode, merged
    return mode, merge_values(mode, values, axis)


__all__.append("plan_merge")
