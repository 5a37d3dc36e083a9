"""``MODEL_CLASSES``: the model classes a config's ``model_class`` may name.

A model class registers itself with ``@MODEL_CLASSES.register("RankModel")``; a config naming
it is then accepted (an unknown name is a ConfigError with a did-you-mean). ``MultiTaskModel``,
``MatchModel`` or a test-only model register the same way: no table to edit.
"""

from __future__ import annotations

from dataclasses import dataclass

from recblocks.core.registry import ClassEntry, Registry

__all__ = ["MODEL_CLASSES", "ModelClassSpec"]


@dataclass(frozen=True, kw_only=True)
class ModelClassSpec(ClassEntry):
    """One model class: the ``nn.Module`` built from the schema, the model section and the vocab sizes.

    ``params``: the class's ``model_params`` model (a ``ModelParams`` subclass such as
    ``MatchModelParams`` or ``MultiTaskModelParams``); None means the plain ``ModelParams``.
    ``scores_tasks``: False for a class that defines no per-row task (``MatchModel``: its loss is
    a softmax over items, its targets are the item ids); such a model has no ``tasks`` entry.
    """

    params: type | None = None
    scores_tasks: bool = True


MODEL_CLASSES: Registry[ModelClassSpec] = Registry("model class", ModelClassSpec)
"""Model classes; importing :mod:`recblocks.models` registers ``RankModel``."""
