"""Input checks shared by the feature-interaction components, with the component named in errors.

Every check raises :class:`~recblocks.core.errors.ShapeError` reading
``<where>: <Component>: <problem>; expected <input>, got <spec>``: the block (``where``), the
component and the input it accepts, so a wrong wiring in a backbone points at both.
"""

from __future__ import annotations

from typing import Any

import torch

from recblocks.core.errors import ShapeError
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.base import field_list_spec

__all__ = ["fields_of", "named_error", "pair_indices", "spec_list", "tensor_of"]


def named_error(where: str, component: str, problem: str, expected: object, got: object) -> ShapeError:
    """A ShapeError whose problem starts with the component name."""
    return ShapeError(where, f"{component}: {problem}", expected, got)


def fields_of(spec: Any, where: str, component: str, min_fields: int = 2) -> tuple[int, int]:
    """``(F, D)`` of a field list ``F x (B, D)`` or a ``(B, F, D)`` tensor, at least ``min_fields``."""
    try:
        num_fields, dim = field_list_spec(spec, where, min_fields=min_fields)
    except ShapeError as error:
        raise named_error(where, component, error.problem, error.expected, error.got) from None
    if isinstance(spec, TensorSpec) and spec.dtype != "float" or isinstance(spec, (list, tuple)) and any(
            s.dtype != "float" for s in spec):
        raise named_error(where, component, "field embeddings must be float tensors", "float fields",
                          describe_spec(spec))
    return num_fields, dim


def tensor_of(spec: Any, where: str, component: str, rank: int, name: str = "input",
              expected: str | None = None) -> TensorSpec:
    """Check ``spec`` is one float tensor of ``rank`` (batch included) and return it."""
    shape_text = expected or f"a rank-{rank} float tensor"
    if not isinstance(spec, TensorSpec):
        raise named_error(where, component, f"{name} must be a single tensor", shape_text, describe_spec(spec))
    if spec.rank != rank:
        raise named_error(where, component, f"{name} has the wrong rank", shape_text, describe_spec(spec))
    if spec.dtype != "float":
        raise named_error(where, component, f"{name} must be a float tensor", shape_text, describe_spec(spec))
    return spec


def spec_list(spec: Any, where: str, component: str, count: int, expected: str) -> list[Any]:
    """Check ``spec`` is a list/tuple of ``count`` entries and return it as a list."""
    if not isinstance(spec, (list, tuple)) or len(spec) != count:
        raise named_error(where, component, f"input must be a list of {count} values", expected, describe_spec(spec))
    return list(spec)


def pair_indices(num_fields: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows and columns of the pairs ``i < j`` in the canonical row-major upper-triangle order.

    Example:
        >>> [t.tolist() for t in pair_indices(3)]
        [[0, 0, 1], [1, 2, 2]]
    """
    rows, cols = torch.triu_indices(num_fields, num_fields, offset=1)
    return rows, cols
