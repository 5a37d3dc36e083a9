"""The component contract every registered layer follows.

A component is an ``nn.Module`` that

* is registered with ``@COMPONENTS.register("Name", params=NameParams, input_kind=..., examples=[...])``,
  the one place that holds every fact about it (see :class:`~recblocks.core.registry.ComponentSpec`:
  params with defaults and ranges, input kind, contract-test examples, aliases, ``uses_context``,
  positional parameters of its Python block);
* is built by :meth:`Component.from_spec` from its typed params and the *static* spec of its
  input (so widths are known at build time: no lazy modules);
* answers :meth:`Component.output_spec` for that input spec without running tensors;
* keeps its params in ``self.params`` so :meth:`Component.to_config` round-trips.

Inputs are a tensor, or a list of tensors for components that take field lists.

A component that needs the side channels of the forward pass (add a named loss or a named
extra output, read the labels or the training flag) sets the class attribute
``uses_context = True``; the backbone then calls it ``module(x, context)`` with the model's
:class:`~recblocks.core.context.ForwardContext` (decided once, when the plan is built). Every
other component is called ``module(x)``. The flag is read from the built module, so a
component whose params decide it (e.g. an MLP that adds its hidden output only when asked)
may set ``self.uses_context`` in ``__init__``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from recblocks.core.errors import ShapeError
from recblocks.core.params import Params
from recblocks.core.shapes import TensorSpec, describe_spec

__all__ = ["Component", "field_list_spec", "tensor_spec"]


class Component(nn.Module):
    """Base class of registered components (see module docstring)."""

    registry_name: ClassVar[str]
    params_cls: ClassVar[type[Params]]
    #: True: ``forward(x, context)`` receives the forward's ForwardContext (see module docstring); set from the registration.
    uses_context: ClassVar[bool] = False

    def __init__(self, params: Params) -> None:
        super().__init__()
        self.params = params

    @classmethod
    def from_spec(cls, params: Params, input_spec: Any, where: str = "") -> "Component":
        """Build for inputs described by ``input_spec``; raise ShapeError naming ``where``."""
        raise NotImplementedError

    def output_spec(self, input_spec: Any) -> Any:
        """Spec of the output for ``input_spec`` (static; must match the real forward)."""
        raise NotImplementedError

    def regularization_loss(self) -> torch.Tensor | None:
        """Penalty on this component's own weights (e.g. Keras ``kernel_regularizer``), or None.

        Not a per-batch loss: the model adds it once per step to its ``regularization`` term,
        however often the component is called.
        """
        return None

    def to_config(self) -> dict[str, Any]:
        """``{"class_name": ..., "params": {...}}`` that rebuilds this component."""
        return {"class_name": self.registry_name, "params": self.params.to_dict()}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.params.to_dict().items())


def tensor_spec(spec: Any, where: str, rank: int | None = None, name: str = "input") -> TensorSpec:
    """Check ``spec`` is one tensor (optionally of a given rank incl. batch) and return it."""
    if not isinstance(spec, TensorSpec):
        raise ShapeError(where, f"{name} must be a single tensor", "a tensor" if rank is None else f"a rank-{rank} tensor",
                         describe_spec(spec))
    if rank is not None and spec.rank != rank:
        raise ShapeError(where, f"{name} has the wrong rank", f"a rank-{rank} tensor", describe_spec(spec))
    return spec


def field_list_spec(spec: Any, where: str, min_fields: int = 1) -> tuple[int, int]:
    """For a field list ``F x (B, D)`` or a stacked ``(B, F, D)`` input, return ``(F, D)``.

    Raises ShapeError when the widths differ ("all embedding dims must be equal") or when the
    input is neither form.
    """
    if isinstance(spec, TensorSpec):
        if spec.rank != 3:
            raise ShapeError(where, "input must be a field list or a 3-D tensor", "(B, F, D) or [F x (B, D)]",
                             describe_spec(spec))
        num_fields, dim = spec.shape
    elif isinstance(spec, (list, tuple)) and spec and all(isinstance(s, TensorSpec) for s in spec):
        if any(s.rank != 2 for s in spec):
            raise ShapeError(where, "every field must be a 2-D tensor", "[F x (B, D)]", describe_spec(spec))
        dims = [s.shape[0] for s in spec]
        if len(set(dims)) != 1:
            raise ShapeError(where, "all embedding dims must be equal", "one width for every field", dims)
        num_fields, dim = len(spec), dims[0]
    else:
        raise ShapeError(where, "input must be a field list or a 3-D tensor", "(B, F, D) or [F x (B, D)]",
                         describe_spec(spec))
    if num_fields < min_fields:
        raise ShapeError(where, "too few fields", f"at least {min_fields}", num_fields)
    return num_fields, dim


def stack_fields(x: torch.Tensor | list[torch.Tensor] | tuple[torch.Tensor, ...]) -> torch.Tensor:
    """``F x (B, D)`` -> ``(B, F, D)``; a 3-D tensor is returned as is."""
    if isinstance(x, torch.Tensor):
        return x
    return torch.stack(list(x), dim=1)


__all__.append("stack_fields")


def block_name(where: str) -> str:
    """The block's own name in a ``where`` text (``"block 'aux' (model.backbone.blocks[3])"`` -> ``aux``).

    Components that name what they add to the forward context (EasyRec names them after the
    layer) use it; a ``where`` that is not a block's becomes a name with ``/`` and blanks replaced.

    Example:
        >>> block_name("block 'aux' (model.backbone.blocks[3])"), block_name("case MLP")
        ('aux', 'case_MLP')
    """
    start = where.find("block '")
    if start >= 0:
        end = where.find("'", start + 7)
        if end > start + 7:
            return where[start + 7:end].replace("/", "_")
    return "_".join(where.replace("/", " ").split()) or "block"


__all__.append("block_name")
