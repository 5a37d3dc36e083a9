"""What one forward pass and one loss computation carry besides tensors in and out.

* :class:`ForwardContext` — the explicit side channels of one forward pass. A model makes a
  fresh one per call and hands it to the components that declare ``uses_context = True``;
  they may add named losses (with a weight) and named extra outputs, and may read the batch
  labels and the training flag. Nothing is kept on a module between calls.
* :class:`LossTerms` — what a model's ``loss(outputs, batch)`` returns to the trainer: the
  total to minimise and the unweighted terms it was summed from, so that every term can be
  logged on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from recblocks.core.errors import ConfigError, ShapeError

__all__ = ["ForwardContext", "LossTerms"]


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not name or "/" in name:
        raise ConfigError(f"{what} name", f"a {what} needs a non-empty name without '/'", "a name such as 'infonce'",
                          repr(name))
    return name


class ForwardContext:
    """The side channels of one forward pass (made fresh per call; never stored on a module).

    Args:
        training: whether the model runs in training mode (``module.training``).
        labels: the batch's label columns by name (empty when predicting).

    Attributes:
        losses: ``{name: (value, weight)}`` added by :meth:`add_loss`, in the order added.
        outputs: ``{name: tensor}`` added by :meth:`add_output`, in the order added.

    Shape:
        - labels: ``(B,)`` per label column.
        - add_loss value: a scalar ``()``.
        - add_output value: ``(B, ...)``: one row per batch row (written by ``predict``).

    Example:
        >>> context = ForwardContext(training=True, labels={"click": torch.tensor([1.0, 0.0])})
        >>> context.add_loss("infonce", torch.tensor(0.5), weight=0.1)
        >>> context.add_output("user_vector", torch.zeros(2, 4))
        >>> context.label("click").shape, context.losses["infonce"][1], list(context.outputs)
        (torch.Size([2]), 0.1, ['user_vector'])
    """

    __slots__ = ("training", "labels", "losses", "outputs")

    def __init__(self, training: bool, labels: Mapping[str, torch.Tensor] | None = None) -> None:
        self.training = training
        self.labels: Mapping[str, torch.Tensor] = labels if labels is not None else {}
        self.losses: dict[str, tuple[torch.Tensor, float]] = {}
        self.outputs: dict[str, torch.Tensor] = {}

    def add_loss(self, name: str, value: torch.Tensor, weight: float = 1.0) -> None:
        """Add the auxiliary loss ``name`` (a scalar); the model adds ``weight * value`` to its total.

        Raises:
            ConfigError: the name was added before in this forward pass (two blocks, or one
                block used twice, give the same loss name), or the name is empty.
            ShapeError: ``value`` is not a scalar tensor.
        """
        if name in self.losses:
            raise ConfigError(f"loss '{name}'", "the auxiliary loss is added twice in one forward pass (two blocks "
                              "give it the same name)", "a distinct name per added loss", repr(name))
        _check_name(name, "loss")
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ShapeError(f"loss '{name}'", "an auxiliary loss must be a scalar tensor", "shape ()", shape)
        self.losses[name] = (value, float(weight))

    def add_output(self, name: str, value: torch.Tensor) -> None:
        """Add the extra output ``name`` (``(B, ...)``); ``predict`` writes it as a column.

        Raises:
            ConfigError: the name was added before in this forward pass, or is empty.
        """
        if name in self.outputs:
            raise ConfigError(f"output '{name}'", "the extra output is added twice in one forward pass (two blocks "
                              "give it the same name)", "a distinct name per extra output", repr(name))
        self.outputs[_check_name(name, "output")] = value

    def label(self, name: str) -> torch.Tensor:
        """The label column ``name`` of the batch.

        Raises:
            ConfigError: the batch has no such label (e.g. while predicting, or a misspelt
                name), naming the label and the labels there are.
        """
        try:
            return self.labels[name]
        except KeyError:
            raise ConfigError(f"label '{name}'", "a block reads a label the batch does not hold",
                              f"one of {sorted(self.labels)}" if self.labels else "a batch with labels (training or "
                              "evaluation; prediction batches have none)", repr(name),
                              choices=list(self.labels)) from None


@dataclass(slots=True)
class LossTerms:
    """The loss of one batch: the total to minimise and its unweighted terms.

    Attributes:
        total: the scalar the trainer back-propagates: the weighted sum of the terms.
        tasks: per-task losses by task name (unweighted).
        auxiliary: losses added by blocks (through :class:`ForwardContext`) or by the model,
            by name (unweighted).
        regularization: l2 / embedding regularization (None when the model has none).

    A model returns the same term names at every training step (the trainer logs them by
    name; a term that is sometimes absent should be reported as 0).

    Shape:
        every tensor is a scalar ``()``.

    Example:
        >>> terms = LossTerms(torch.tensor(0.9), {"ctr": torch.tensor(0.7)}, {"infonce": torch.tensor(2.0)},
        ...                   torch.tensor(0.0))
        >>> terms.names()
        ['task/ctr', 'aux/infonce', 'regularization']
    """

    total: torch.Tensor
    tasks: dict[str, torch.Tensor] = field(default_factory=dict)
    auxiliary: dict[str, torch.Tensor] = field(default_factory=dict)
    regularization: torch.Tensor | None = None

    def names(self) -> list[str]:
        """Term names as logged: ``task/<name>``, ``aux/<name>``, ``regularization``."""
        names = [f"task/{name}" for name in self.tasks] + [f"aux/{name}" for name in self.auxiliary]
        return names + ["regularization"] if self.regularization is not None else names

    def values(self) -> list[torch.Tensor]:
        """Term values in the order of :meth:`names`."""
        values = [*self.tasks.values(), *self.auxiliary.values()]
        return values + [self.regularization] if self.regularization is not None else values

    def named(self) -> dict[str, torch.Tensor]:
        """``{name: value}`` of every term (see :meth:`names`)."""
        return dict(zip(self.names(), self.values()))
