"""What a task model's forward returns, and the per-task loss, checks and predictions over it.

:class:`ModelOutput` is RankModel's output (the trainer treats it as opaque). :class:`TaskHeads`
holds what a model with task heads (:mod:`recblocks.tasks`) does with such outputs: the
per-task loss terms (after each task's ``pre``), the first-batch checks of labels and logits,
and the activated predictions. RankModel uses it; so can any other model with task heads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from recblocks.core.errors import ConfigError, DataError, ShapeError

__all__ = ["ModelOutput", "TaskHeads", "check_extras"]


@dataclass(slots=True)
class ModelOutput:
    """The outputs of one forward pass of a task model.

    Attributes:
        logits: per task name, before activation and before the task's ``pre``.
        extra: extra outputs added by blocks through the forward context, by name.
        auxiliary: losses added by blocks, ``{name: (value, weight)}``.
        lookups: the embedding vectors looked up in this pass (for embedding regularization).

    Shape:
        - logits: ``(B,)`` (binary, regression) or ``(B, C)`` (multi-class).
        - extra: ``(B, ...)``.
        - auxiliary: scalar values ``()``.
        - lookups: ``(B, D)`` or ``(B, L, D)`` per looked-up table slot.
    """

    logits: dict[str, torch.Tensor]
    extra: dict[str, torch.Tensor] = field(default_factory=dict)
    auxiliary: dict[str, tuple[torch.Tensor, float]] = field(default_factory=dict)
    lookups: list[torch.Tensor] = field(default_factory=list)


def check_extras(batch: Any, names: Sequence[str], where: str) -> None:
    """Every column in ``names`` is in ``batch.extras`` (DataError with did-you-mean otherwise)."""
    for name in names:
        if name not in batch.extras:
            raise DataError(where, f"extras column '{name}' missing from the batch",
                            f"one of {sorted(batch.extras)}", repr(name), choices=list(batch.extras))


class TaskHeads:
    """The per-task part of a model's contract, precomputed from its task objects.

    Args:
        tasks: task objects (:class:`recblocks.tasks.Task`): ``name``, ``label``, ``weight``,
            ``loss``, ``activate``, optional ``pre``, ``check_labels``, ``check_logits``.

    Shape:
        - logits: ``{task: (B,) | (B, C)}``; labels ``{label column: (B,)}``.
        - :meth:`terms`: per-task scalar losses and their weighted sum ``()``.
    """

    def __init__(self, tasks: Sequence[Any]) -> None:
        self.tasks = list(tasks)
        self.names = [task.name for task in self.tasks]
        # (name, label, weight, pre, loss): read once here, not per step
        self._plan = [(t.name, t.label, float(t.weight), getattr(t, "pre", None),
                       getattr(t, "objective", t.loss)) for t in self.tasks]

    def terms(self, logits: Mapping[str, torch.Tensor], labels: Mapping[str, torch.Tensor],
              start: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """``({task: loss}, start + sum of weight * loss)``; ``pre`` applies before the loss."""
        terms: dict[str, torch.Tensor] = {}
        total = start
        for name, label, weight, pre, loss_fn in self._plan:
            out = logits[name]
            term = loss_fn(out if pre is None else pre(out), labels[label])
            terms[name] = term
            total = total + term if weight == 1.0 else total + weight * term
        return terms, total

    def activate(self, logits: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Activated predictions per task (probabilities / values; no ``pre``)."""
        return {task.name: task.activate(logits[task.name]) for task in self.tasks}

    def check_batch(self, batch: Any, where: str = "train batch") -> None:
        """Every task's label column is in ``batch.labels`` and fits the task (dtype, range)."""
        if not getattr(batch, "features", None):
            raise DataError(where, "the batch has no features", "a Batch with feature tensors",
                            type(batch).__name__)
        labels = batch.labels
        for task in self.tasks:
            if task.label not in labels:
                raise DataError(f"task '{task.name}'.label", f"label column missing from the {where}",
                                f"one of {sorted(labels)}", repr(task.label), choices=list(labels))
            check = getattr(task, "check_labels", None)
            if check is not None:
                check(labels[task.label], f"label '{task.label}'")

    def check_logits(self, logits: Any, batch_size: int) -> None:
        """``logits`` is ``{task name: logits}`` with the shapes the tasks expect."""
        if not isinstance(logits, Mapping):
            raise ShapeError("model output", "the logits must be a dict of task name -> logits", "a dict",
                             type(logits).__name__)
        for task in self.tasks:
            if task.name not in logits:
                raise ShapeError("model output", f"no logits for task '{task.name}'", f"keys including '{task.name}'",
                                 repr(task.name), choices=list(logits))
            check = getattr(task, "check_logits", None)
            if check is not None:
                check(logits[task.name], batch_size, f"model output '{task.name}'")

    def check_extra(self, extra: Mapping[str, torch.Tensor], batch_size: int) -> None:
        """Extra outputs have one row per batch row and names distinct from the tasks'."""
        for name, value in extra.items():
            if name in self.names:
                raise ConfigError(f"output '{name}'", "an extra output has the name of a task", "names distinct "
                                  f"from the task names {self.names}", repr(name))
            if not isinstance(value, torch.Tensor) or value.dim() == 0 or value.shape[0] != batch_size:
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise ShapeError(f"output '{name}'", "an extra output needs one row per batch row",
                                 f"shape ({batch_size}, ...)", shape)
