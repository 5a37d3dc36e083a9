"""``MultiTask(body, towers)``: a MultiTaskModel composed in Python, held as its typed config.

The Python spelling of ``model_class: MultiTaskModel``: the body is any composed block (or
:class:`~recblocks.blocks.compose.BackboneBlock`), the towers are
:class:`~recblocks.models.towers.TaskTowerConfig` objects or their mappings (EasyRec's field
names). It is a :class:`~recblocks.runs.Model` whose tasks come from the towers, so ``fit``,
``evaluate``, ``predict``, ``to_config`` and ``save_config`` work as for a RankModel;
``Model.from_config`` of the saved config rebuilds the same network (a ``Model`` holding the
same typed config), and ``MultiTask.from_config`` does too.

Example:
    >>> from recblocks.blocks.compose import EmbeddingFeatures, MLPBlock
    >>> from recblocks.features.schema import Schema
    >>> schema = Schema([{"name": "user", "kind": "sparse", "embedding_dim": 4}])
    >>> body = EmbeddingFeatures.from_schema(schema).connect(MLPBlock([8]))
    >>> model = MultiTask(body, [{"tower_name": "ctr", "label_name": "click"},
    ...                          {"tower_name": "cvr", "label_name": "buy", "dnn": {"hidden_units": [4]}}])
    >>> [t["tower_name"] for t in model.to_config()["model"]["model_params"]["task_towers"]]
    ['ctr', 'cvr']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from recblocks.blocks.compose import Block
from recblocks.core.errors import ConfigError
from recblocks.features.schema import Schema
from recblocks.models.towers import TaskTowerConfig
from recblocks.runs.model import Model

__all__ = ["MultiTask"]


class MultiTask(Model):
    """A MultiTaskModel from a composed body and task towers (see the module docstring).

    Args:
        body: the composed body; its output is shared by the towers, or a list with one entry
            per tower (e.g. an MMoE block).
        towers: the task towers (``TaskTowerConfig`` or mappings), at least one.
        schema: the feature schema (default: the one of the body's input block).
        **options: other ``model`` keys (``embedding_dim``, ``l2_regularization``,
            ``model_params`` without ``task_towers``, ...).
    """

    def __init__(self, body: Block, towers: Sequence[TaskTowerConfig | Mapping[str, Any]],
                 schema: Schema | Sequence[Mapping[str, Any]] | None = None, **options: Any) -> None:
        items = list(towers) if not isinstance(towers, (Mapping, TaskTowerConfig)) else [towers]
        if not items:
            raise ConfigError("MultiTask.towers", "a MultiTaskModel needs task towers", "at least one tower", "none")
        params = dict(options.pop("model_params", None) or {})
        if "task_towers" in params:
            raise ConfigError("MultiTask.model_params.task_towers", "the towers are an argument",
                              "MultiTask(body, towers)", "task_towers in model_params")
        if "l2_regularization" in options:
            params["l2_regularization"] = options.pop("l2_regularization")
        params["task_towers"] = [t.to_dict() if isinstance(t, TaskTowerConfig) else dict(t) for t in items]
        model_class = options.pop("model_class", "MultiTaskModel")
        super().__init__(body, [], schema, model_class=model_class, model_params=params, **options)
