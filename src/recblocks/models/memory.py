"""Plan a model's memory before allocating it, and refuse plans above a limit.

The model is first built on PyTorch's ``meta`` device (:func:`build_on_meta`): parameters
have shapes but no storage, so a 10**12-row embedding table costs nothing to plan and its
size is exact. :func:`plan_memory` then counts

* parameters: each embedding table (``rows x dim x 4`` bytes) and each block's weights;
* activations of one batch: a forward pass on meta inputs of the planned batch size,
  summing every tensor autograd saves for the backward pass (x2 when training, for the
  gradients the backward pass builds next to them);
* whatever the caller adds (the training layer adds gradients and optimizer state).

:func:`check_memory` refuses a plan above a :class:`~recblocks.core.limits.MemoryLimit` with
a ConfigError naming the largest contributors; the real model is built only after that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import nn

from recblocks.core.errors import ConfigError, RecBlocksError
from recblocks.core.limits import MemoryLimit, format_bytes
from recblocks.core.shapes import TensorSpec
from recblocks.features.batch import Batch

__all__ = ["MemoryItem", "MemoryPlan", "build_on_meta", "parameter_items", "activation_bytes", "plan_memory",
           "check_memory"]

M = TypeVar("M", bound=nn.Module)
_FLOAT_BYTES = 4
_FALLBACK_FACTOR = 3  # planned block outputs -> activations when the meta forward cannot run


@dataclass(frozen=True)
class MemoryItem:
    """One contributor to a plan: a label (``embedding table 'C3' 1,000 x 16``) and its bytes."""

    label: str
    bytes: int

    def __str__(self) -> str:
        return f"{self.label} = {format_bytes(self.bytes)}"


@dataclass
class MemoryPlan:
    """The planned memory of a model: its contributors and their total."""

    items: list[MemoryItem] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(item.bytes for item in self.items)

    def largest(self, count: int = 3) -> list[MemoryItem]:
        """The ``count`` largest contributors, largest first."""
        return sorted(self.items, key=lambda item: item.bytes, reverse=True)[:count]

    def describe(self, count: int = 3) -> str:
        """``about 112.0 GB: <largest>; <next>; ...``."""
        return f"about {format_bytes(self.total)}: " + "; ".join(map(str, self.largest(count)))


def build_on_meta(factory: Callable[[], M]) -> M:
    """``factory()`` with every tensor it creates on the meta device (shapes only, no storage)."""
    with torch.device("meta"):
        return factory()


def _bytes(params: Iterable[torch.Tensor]) -> int:
    return sum(p.numel() * p.element_size() for p in params)


def parameter_items(model: nn.Module) -> list[MemoryItem]:
    """Parameters of a RankModel-like model: one item per embedding table, then per block and head.

    Tables are read from ``model.embeddings.slots`` (rows x width of each distinct table);
    other parameters are grouped by their top-level module and backbone block.
    """
    items: list[MemoryItem] = []
    embeddings = getattr(model, "embeddings", None)
    tables: dict[tuple[str, str | None], Any] = {}
    for slot in getattr(embeddings, "slots", {}).values():
        if slot.kind != "dense" and not slot.numeric:
            tables.setdefault((slot.namespace, slot.table), slot)
    for (namespace, table), slot in tables.items():
        label = f"embedding table '{table}'{' (wide)' if namespace == 'wide' else ''}"
        items.append(MemoryItem(f"{label} {slot.num_embeddings:,} x {slot.dim}",
                                slot.num_embeddings * slot.dim * _FLOAT_BYTES))
    table_ids = {id(t.table.weight) for t in getattr(embeddings, "fused", {}).values()}
    groups: dict[str, int] = {}
    for name, param in model.named_parameters():
        if id(param) in table_ids:
            continue
        parts = name.split(".")
        if parts[0] == "backbone" and len(parts) > 2 and parts[1] in ("blocks", "packages"):
            key = f"block '{parts[2]}'" if parts[1] == "blocks" else f"package '{parts[2]}'"
        elif parts[0] == "backbone" and len(parts) > 1:
            key = parts[1]
        elif parts[0] == "heads" and len(parts) > 1:
            key = f"head '{parts[1]}'"
        else:
            key = parts[0]
        groups[key] = groups.get(key, 0) + param.numel() * param.element_size()
    items += [MemoryItem(f"weights of {key}", size) for key, size in groups.items()]
    return items


def _meta_features(model: nn.Module, batch: int) -> dict[str, torch.Tensor]:
    """Meta inputs of a RankModel: ids ``(B,)``/``(B, L)`` for id features, ``(B,)`` floats for dense."""
    features: dict[str, torch.Tensor] = {}
    for slot in model.embeddings.slots.values():  # type: ignore[union-attr]
        if slot.feature in features:
            continue
        if slot.kind == "dense" or slot.numeric:
            shape = ((batch, slot.max_len) if slot.numeric else (batch,)) + ((slot.width,) if slot.width > 1 else ())
            features[slot.feature] = torch.empty(shape, device="meta")
        else:
            shape = (batch, slot.max_len) if slot.is_list else (batch,)
            features[slot.feature] = torch.empty(shape, dtype=torch.int64, device="meta")
    return features


def _meta_batch(model: nn.Module, batch: int) -> Batch:
    """A meta batch of a RankModel: its features and one label column per task (blocks may read labels)."""
    labels = {task.label: torch.empty(batch, dtype=torch.int64 if task.label_dtype == "long" else torch.float32,
                                      device="meta") for task in getattr(model, "tasks", [])}
    return Batch(_meta_features(model, batch), labels)


def _spec_elements(spec: Any) -> int:
    if isinstance(spec, TensorSpec):
        count = 1
        for size in spec.shape:
            count *= size
        return count
    if isinstance(spec, (list, tuple)):
        return sum(_spec_elements(s) for s in spec)
    return 0


def _planned_outputs(model: nn.Module) -> int:
    """Elements per sample of every planned block output (the fallback estimate)."""
    backbone = getattr(model, "backbone", None)
    plans = [getattr(backbone, "plan", None), *getattr(backbone, "package_plans", {}).values()]
    return sum(_spec_elements(step.output_spec) for plan in plans if plan is not None for step in plan.steps)


def activation_bytes(model: nn.Module, batch_size: int) -> int:
    """Bytes autograd keeps for the backward pass of one batch, from a forward pass on meta inputs.

    ``model`` must live on the meta device. When its forward pass cannot run on meta tensors,
    the planned block outputs times a small factor are used instead. Errors of the config
    itself (an expression over its budget at this batch size) are raised.
    """
    saved: dict[int, torch.Tensor] = {}
    params = {id(p) for p in model.parameters()}

    def keep(tensor: torch.Tensor) -> torch.Tensor:
        base = tensor._base if tensor._base is not None else tensor
        if id(base) not in params:
            saved[id(tensor)] = tensor  # keeps it alive, so ids stay unique
        return tensor

    try:
        with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
            model(_meta_batch(model, batch_size))
    except RecBlocksError:
        raise
    except Exception:  # noqa: BLE001 - an op without a meta kernel: estimate from the plan instead
        return _planned_outputs(model) * batch_size * _FLOAT_BYTES * _FALLBACK_FACTOR
    return sum(t.numel() * t.element_size() for t in saved.values())


def plan_memory(model: nn.Module, batch_size: int, training: bool, extra: Sequence[MemoryItem] = (),
                eval_batch_size: int | None = None) -> MemoryPlan:
    """Parameters, activations of one batch of ``batch_size`` rows, and ``extra`` items.

    ``model`` must live on the meta device (see :func:`build_on_meta`). With
    ``eval_batch_size``, the activations are the larger of the training batch's and those of
    one evaluation batch of that size (evaluation runs during training).
    """
    items = parameter_items(model)
    what = "training" if training else "evaluation"
    activations = activation_bytes(model, batch_size) * (2 if training else 1)
    label = f"activations of one {what} batch of {batch_size:,} rows"
    if eval_batch_size is not None:
        evaluation = activation_bytes(model, eval_batch_size)
        if evaluation > activations:
            activations, label = evaluation, f"activations of one evaluation batch of {eval_batch_size:,} rows"
    items.append(MemoryItem(label, activations))
    items += list(extra)
    return MemoryPlan(items)


def check_memory(plan: MemoryPlan, limit: MemoryLimit, where: str = "model",
                 setting: str = "train.memory_limit_gb") -> None:
    """ConfigError naming the largest contributors when ``plan`` needs more than ``limit``."""
    if limit.bytes is None or plan.total <= limit.bytes:
        return
    raise ConfigError(where, f"the planned model needs more memory than the limit allows; raise {setting} to "
                      "allow it (0 turns the check off)", f"at most {format_bytes(limit.bytes)} ({limit.description})",
                      plan.describe())
