"""The protocol a model follows to be trained: the trainer never imports ``recblocks.models``."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from recblocks.core.errors import ConfigError

__all__ = ["TrainableModel", "check_trainable"]


@runtime_checkable
class TrainableModel(Protocol):
    """What :class:`~recblocks.training.Trainer` needs from a model (an ``nn.Module``).

    Attributes:
        tasks: the task objects (:class:`recblocks.tasks.Task`): name, label, weight, loss,
            activate, prepare, metrics.

    Methods:
        forward(features): ``{task name: logits}``, logits ``(B,)`` or ``(B, C)``.
        regularization_loss(): scalar: l2 on dense weights plus embedding regularization on
            the embeddings looked up in the *last* forward (0 when there is none).
        embedding_parameters(): embedding tables (may produce sparse gradients).
        dense_parameters(): every other trainable parameter.
    """

    tasks: list[Any]

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]: ...

    def regularization_loss(self) -> torch.Tensor: ...

    def embedding_parameters(self) -> list[nn.Parameter]: ...

    def dense_parameters(self) -> list[nn.Parameter]: ...


_MEMBERS = ("tasks", "forward", "regularization_loss", "embedding_parameters", "dense_parameters")


def check_trainable(model: Any, where: str = "model") -> None:
    """Raise ConfigError unless ``model`` is an ``nn.Module`` with the protocol's members and tasks."""
    if not isinstance(model, nn.Module):
        raise ConfigError(where, "the model must be a torch.nn.Module", "an nn.Module", type(model).__name__)
    missing = [name for name in _MEMBERS if not hasattr(model, name)]
    if missing:
        raise ConfigError(where, "the model does not follow the TrainableModel protocol",
                          f"members {list(_MEMBERS)}", f"missing {missing}")
    tasks = list(model.tasks)
    if not tasks:
        raise ConfigError(f"{where}.tasks", "the model has no task", "at least one task", "[]")
    names = [getattr(t, "name", None) for t in tasks]
    for index, task in enumerate(tasks):
        for attr in ("name", "label", "weight", "loss", "activate", "metrics"):
            if not hasattr(task, attr):
                raise ConfigError(f"{where}.tasks[{index}]", "not a task object", f"an object with '{attr}'",
                                  type(task).__name__)
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{where}.tasks", "task names must be unique", "distinct names", duplicates)
