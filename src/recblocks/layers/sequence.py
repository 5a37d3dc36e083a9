"""The one sequence input every sequence component takes, checked statically.

A feature group with ``output_seq_and_normal_feature`` delivers ``(seq, lengths, target)``:

* ``seq`` ``(B, L, D)`` float: the padded behaviour sequence;
* ``lengths`` ``(B,)`` long: the number of valid (leading) positions of each row; positions
  ``t >= lengths[b]`` are padding and are masked by every sequence component;
* ``target`` ``(B, D_q)`` float, or ``None`` when the group has no non-sequence feature.

A list or a tuple is accepted; ``None`` entries are dropped first, so merging the group with a
target from another block (``[seq, lengths, None, target]``) reads the same as one group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from recblocks.core.errors import ShapeError
from recblocks.core.shapes import TensorSpec, describe_spec

__all__ = ["SEQUENCE_INPUT", "SequenceSpec", "length_mask", "sequence_spec", "split_sequence"]

#: The expected sequence input, in words (used in every error message).
SEQUENCE_INPUT = "(sequence (B, L, D), lengths (B,) long, target (B, D_q) or None)"


@dataclass(frozen=True)
class SequenceSpec:
    """Static facts of a sequence input: ``L``, ``D`` and the target width (None: no target)."""

    length: int
    dim: int
    target_dim: int | None


def sequence_spec(spec: Any, where: str, component: str, need_target: bool = False) -> SequenceSpec:
    """Check a sequence input spec (see the module docstring) and return its facts.

    Raises:
        ShapeError: naming ``where`` and ``component``: a bare tensor (no lengths), a list
            of sequences, a wrong rank or dtype, too many entries, or no target where
            ``need_target``.

    Example:
        >>> sequence_spec((TensorSpec((5, 4)), TensorSpec((), "long"), None), "din", "DIN")
        SequenceSpec(length=5, dim=4, target_dim=None)
    """
    expected = f"{SEQUENCE_INPUT}{'' if not need_target else ' with a target'}"
    got = describe_spec(spec)
    if isinstance(spec, TensorSpec):
        problem = "a sequence without lengths" if spec.rank == 3 else "a single tensor"
        raise ShapeError(where, f"{component} needs a sequence with its lengths, got {problem}", expected, got)
    if not isinstance(spec, (list, tuple)):
        raise ShapeError(where, f"{component} needs a sequence input", expected, got)
    parts = [s for s in spec if s is not None]
    if len(parts) < 2:
        raise ShapeError(where, f"{component} needs a sequence with its lengths", expected, got)
    if len(parts) > 3 or not all(isinstance(s, TensorSpec) for s in parts):
        raise ShapeError(where, f"{component} needs one sequence tensor, its lengths and at most one target "
                         "(set concat_seq_feature to concatenate several sequence features)", expected, got)
    seq, lengths = parts[0], parts[1]
    if seq.rank != 3 or seq.dtype != "float":
        raise ShapeError(where, f"{component}: the sequence must be a float (B, L, D) tensor", expected, got)
    if lengths.rank != 1 or lengths.dtype != "long":
        raise ShapeError(where, f"{component}: the lengths must be a long (B,) tensor", expected, got)
    target_dim = None
    if len(parts) == 3:
        target = parts[2]
        if target.rank != 2 or target.dtype != "float":
            raise ShapeError(where, f"{component}: the target must be a float (B, D_q) tensor", expected, got)
        target_dim = target.shape[0]
    if need_target and target_dim is None:
        raise ShapeError(where, f"{component} needs a target (the group's non-sequence features)", expected, got)
    return SequenceSpec(seq.shape[0], seq.shape[1], target_dim)


def split_sequence(x: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(seq, lengths, target | None)`` from a checked sequence input (``None`` entries dropped)."""
    parts = [p for p in x if p is not None]
    return parts[0], parts[1], parts[2] if len(parts) > 2 else None


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """``(B, L)`` bool mask, True on the valid positions ``t < lengths[b]``.

    Example:
        >>> length_mask(torch.tensor([0, 2]), 3).tolist()
        [[False, False, False], [True, True, False]]
    """
    return torch.arange(max_len, device=lengths.device) < lengths.unsqueeze(-1)
