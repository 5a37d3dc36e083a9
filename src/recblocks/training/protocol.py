"""The contract a model follows to be trained: the trainer never imports ``recblocks.models``.

The model says what to compute, including its loss and its evaluation; the trainer only
steps, logs and evaluates. A ranking model, a multi-task model, a two-tower retrieval model
with in-batch negatives or a model with contrastive auxiliary losses all follow the same
contract, so none of them needs a trainer change.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from recblocks.core.context import LossTerms
from recblocks.core.errors import ConfigError
from recblocks.features.batch import Batch

__all__ = ["TrainableModel", "Evaluator", "check_trainable", "check_evaluator"]


@runtime_checkable
class Evaluator(Protocol):
    """Metrics over a whole data set, fed batch by batch (a fresh one per evaluation).

    Attributes:
        keys: the metric keys :meth:`compute` returns, in order (``["auc", "logloss", "loss"]``,
            ``["ctr/auc", ..., "loss"]``, ``["recall@10"]``...).
        default_monitor: ``(key, "max" | "min")``: what picks the best epoch when no early
            stopping metric is configured.

    Methods:
        update(outputs, batch): add one batch (``outputs`` as the model's forward returned them).
        compute(): ``{key: value}`` over every batch added.

    Optional:
        resolve(name): the key a user's metric spelling refers to (aliases, task prefixes);
            without it early stopping needs the exact key.
        check_batch(batch, where): checks of the first validation batch (e.g. a group column),
            run before the first training step.
    """

    keys: list[str]
    default_monitor: tuple[str, str]

    def update(self, outputs: Any, batch: Batch) -> None: ...

    def compute(self) -> dict[str, float]: ...


@runtime_checkable
class TrainableModel(Protocol):
    """What :class:`~recblocks.training.Trainer` needs from a model (an ``nn.Module``).

    Methods:
        forward(batch): the outputs of a :class:`~recblocks.features.batch.Batch`; opaque to
            the trainer, which passes them to ``loss``, the evaluator and ``predictions``.
        loss(outputs, batch): a :class:`~recblocks.core.context.LossTerms`: the scalar total
            to minimise and its named, unweighted terms (logged separately).
        evaluator(gauc_group): a fresh :class:`Evaluator` (``gauc_group``: ``train.gauc_group``).
        predictions(outputs): ``{name: tensor}`` with one row per batch row: the activated
            outputs and any extra outputs (``predict`` writes one column each).
        embedding_parameters(): embedding tables (may produce sparse gradients).
        dense_parameters(): every other trainable parameter.
        check_batch(batch, where): first-batch checks (labels present, dtypes, ranges); raise
            a ``RecBlocksError`` naming the place.

    Optional:
        check_outputs(outputs, batch, where): first-batch checks of the outputs (shapes).
    """

    def forward(self, batch: Batch) -> Any: ...

    def loss(self, outputs: Any, batch: Batch) -> LossTerms: ...

    def evaluator(self, gauc_group: str | None) -> Evaluator: ...

    def predictions(self, outputs: Any) -> dict[str, torch.Tensor]: ...

    def embedding_parameters(self) -> list[nn.Parameter]: ...

    def dense_parameters(self) -> list[nn.Parameter]: ...

    def check_batch(self, batch: Batch, where: str) -> None: ...


_MEMBERS = ("forward", "loss", "evaluator", "predictions", "embedding_parameters", "dense_parameters", "check_batch")
_EVALUATOR_MEMBERS = ("keys", "default_monitor", "update", "compute")


def check_trainable(model: Any, where: str = "model") -> None:
    """Raise ConfigError unless ``model`` is an ``nn.Module`` with the protocol's members."""
    if not isinstance(model, nn.Module):
        raise ConfigError(where, "the model must be a torch.nn.Module", "an nn.Module", type(model).__name__)
    missing = [name for name in _MEMBERS if not callable(getattr(model, name, None))]
    if missing:
        raise ConfigError(where, "the model does not follow the TrainableModel protocol",
                          f"members {list(_MEMBERS)}", f"missing {missing}")


def check_evaluator(evaluator: Any, where: str = "model.evaluator()") -> None:
    """Raise ConfigError unless ``evaluator`` has the :class:`Evaluator` members and a
    ``default_monitor`` that is one of its keys with mode max or min."""
    missing = [name for name in _EVALUATOR_MEMBERS if not hasattr(evaluator, name)]
    if missing:
        raise ConfigError(where, "the evaluator does not follow the Evaluator protocol",
                          f"members {list(_EVALUATOR_MEMBERS)}", f"missing {missing}")
    keys = list(evaluator.keys)
    monitor = evaluator.default_monitor
    if not (isinstance(monitor, tuple) and len(monitor) == 2 and monitor[0] in keys and monitor[1] in ("max", "min")):
        raise ConfigError(f"{where}.default_monitor", "the default monitor must be one of the evaluator's keys and "
                          "a direction", f"(one of {keys}, 'max' or 'min')", repr(monitor))
