"""Task towers of a MultiTaskModel: EasyRec's ``TaskTower`` / ``BayesTaskTower`` fields, typed.

``model_params.task_towers`` lists the towers. A tower reads its backbone input (the shared
output, or its own entry when the backbone emits one tensor per tower), runs its ``dnn``, then,
for DBMTL, its ``relation_dnn`` over ``concat([own features, relation features of the towers
named in relation_tower_names])``, and ends in a Linear layer of ``num_class`` logits. The
relations form a DAG over the towers (any order in the config; a cycle or an unknown name is a
ConfigError naming the tower).

The tower's task (activation, evaluator metrics, label kind) follows ``loss_type`` and
``num_class``: ``CLASSIFICATION`` with ``num_class: 1`` is binary, with ``num_class: C > 1``
multi-class; ``L2_LOSS`` is regression. ``losses`` (EasyRec's list) replaces the single
``loss_type`` loss by a weighted sum of several (``LOSSES``: pointwise, pairwise, listwise).

Row weights: ``weight_column`` names a numeric column read with the labels (each row's loss
is multiplied by it; a row whose weight is missing is dropped like a bad label). EasyRec's
``data_config.sample_weight`` is spelt as ``weight_column`` on each tower that uses it (its
``use_sample_weight: true``). ``task_space_indicator_label`` with ``in_task_space_weight`` /
``out_task_space_weight`` (EasyRec) scales the loss of rows inside / outside the task's space
(rows whose indicator label is > 0); with ``out_task_space_weight: 0`` the tower is trained
and evaluated on its space only (e.g. a conversion tower over clicked rows).
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field, field_validator
from torch import nn

from recblocks.core.errors import ConfigError
from recblocks.core.params import Params, join_path
from recblocks.layers.mlp import MLP, MLPParams
from recblocks.models.config import ModelParams
from recblocks.tasks.config import TaskConfig, parse_task_config
from recblocks.tasks.losses import LOSSES, LossTermConfig

__all__ = ["TowerLossConfig", "TaskTowerConfig", "MultiTaskModelParams", "TaskTower", "tower_order"]

#: Accepted parameters of a ``metrics_set`` entry (EasyRec's ``auc {num_thresholds: N}``): the AUC
#: here is exact, so the number of thresholds changes nothing.
_METRIC_PARAMS = {"num_thresholds"}


class TowerLossConfig(LossTermConfig):
    """One entry of a tower's ``losses`` (EasyRec ``Loss``): :class:`~recblocks.tasks.losses.LossTermConfig`
    and the group column of pairwise / listwise losses.

    Args:
        session_name: the column whose value groups rows into pairs/lists (pairwise and
            listwise losses; None: the whole batch is one group).
        Other fields: see :class:`~recblocks.tasks.losses.LossTermConfig` (``weight`` is the
        loss's weight inside the tower; the tower's ``weight`` multiplies the sum).
    """

    session_name: str | None = None


class TaskTowerConfig(Params):
    """One task tower (EasyRec ``BayesTaskTower`` names; see the module docstring).

    Args:
        tower_name: the task's name (output column, metric prefix ``<tower>/auc``, loss term).
        label_name: its label column.
        loss_type: ``CLASSIFICATION`` (default) or ``L2_LOSS``; sets the task type.
        num_class: 1, or C > 1 for multi-class classification.
        weight: the tower's loss weight.
        dnn: the tower's MLP (EasyRec ``DNN``: ``hidden_units``...); None: no MLP.
        metrics_set: metric names (``auc``, ``gauc``, ``logloss``, ``mse``...) or one-key
            mappings ``{auc: {num_thresholds: N}}``; None: the task type's defaults.
        relation_tower_names: towers whose relation features this one reads (DBMTL).
        relation_dnn: the MLP over own + relation features (DBMTL).
        losses: several weighted losses instead of the ``loss_type`` one.
        weight_column: per-row sample weights.
        task_space_indicator_label, in_task_space_weight, out_task_space_weight: loss scale
            of rows inside / outside the task's space.
    """

    tower_name: str = Field(min_length=1)
    label_name: str = Field(min_length=1)
    loss_type: str = "CLASSIFICATION"
    num_class: int = Field(default=1, ge=1)
    weight: float = Field(default=1.0, ge=0.0)
    dnn: MLPParams | None = None
    metrics_set: list[str | dict[str, Any]] | None = None
    relation_tower_names: list[str] = Field(default_factory=list)
    relation_dnn: MLPParams | None = None
    losses: list[TowerLossConfig] = Field(default_factory=list)
    weight_column: str | None = None
    task_space_indicator_label: str | None = None
    in_task_space_weight: float = Field(default=1.0, ge=0.0)
    out_task_space_weight: float = Field(default=1.0, ge=0.0)

    @field_validator("loss_type")
    @classmethod
    def _registered(cls, value: str) -> str:
        return LOSSES.canonical(value) or value

    def metric_names(self, where: str) -> list[str] | None:
        """The ``metrics_set`` as metric names (a mapping entry's params are checked)."""
        if self.metrics_set is None:
            return None
        names = []
        for i, entry in enumerate(self.metrics_set):
            if isinstance(entry, str):
                names.append(entry)
                continue
            if len(entry) != 1:
                raise ConfigError(join_path(where, "metrics_set", i), "a metric entry is one name or a one-key "
                                  "mapping", "e.g. auc or {auc: {}}", sorted(entry))
            name, params = next(iter(entry.items()))
            unknown = sorted(set(params or {}) - _METRIC_PARAMS)
            if unknown:
                raise ConfigError(join_path(where, "metrics_set", i, name), "unsupported metric parameter",
                                  f"some of {sorted(_METRIC_PARAMS)} (the GAUC group is train.gauc_group)", unknown)
            names.append(name)
        return names

    def task_config(self, where: str) -> TaskConfig:
        """The tower's task (type from ``loss_type`` and ``num_class``)."""
        entry = LOSSES.get(self.loss_type, join_path(where, "loss_type"))
        if entry.task_type == "regression":
            kind: dict[str, Any] = {"type": "regression"}
        elif self.num_class > 1:
            kind = {"type": "multiclass", "num_classes": self.num_class}
        else:
            kind = {"type": "binary"}
        if kind["type"] == "regression" and self.num_class != 1:
            raise ConfigError(join_path(where, "num_class"), f"a {self.loss_type} tower has one output", "1",
                              self.num_class)
        raw = {**kind, "name": self.tower_name, "label": self.label_name, "weight": self.weight}
        metrics = self.metric_names(where)
        if metrics is not None:
            raw["metrics"] = metrics
        return parse_task_config(raw, where)

    def check(self, where: str) -> None:
        """Each ``losses`` entry fits the tower's task type."""
        task_type = self.task_config(where).type
        for i, loss in enumerate(self.losses):
            path = join_path(where, "losses", i)
            entry = loss.check(task_type, path)
            if entry.kind == "pointwise" and loss.session_name is not None:
                raise ConfigError(join_path(path, "session_name"), f"{entry.name} is pointwise: it has no groups",
                                  "no session_name", repr(loss.session_name))


class MultiTaskModelParams(ModelParams):
    """``model_params`` of a MultiTaskModel: ``l2_regularization`` and ``task_towers``."""

    task_towers: list[TaskTowerConfig] = Field(min_length=1)

    def towers(self) -> list[TaskTowerConfig]:
        """The task towers, in config order."""
        return list(self.task_towers)

    def check(self, where: str) -> None:
        """Unique tower names, towers that fit their losses, and relations that form a DAG."""
        path = join_path(where, "task_towers")
        names = [t.tower_name for t in self.task_towers]
        for i, tower in enumerate(self.task_towers):
            if tower.tower_name in names[:i]:
                raise ConfigError(join_path(path, i, "tower_name"), "tower names must be unique",
                                  "a name no other tower has", repr(tower.tower_name))
            tower.check(join_path(path, i))
        tower_order(self.task_towers, path)

    def task_configs(self) -> list[TaskConfig]:
        """One task per tower."""
        return [t.task_config(join_path("model.model_params.task_towers", i)) for i, t in enumerate(self.task_towers)]

    def extra_columns(self) -> list[str]:
        """The group columns of pairwise / listwise losses."""
        return list(dict.fromkeys(loss.session_name for t in self.towers() for loss in t.losses
                                  if loss.session_name))

    def weight_columns(self) -> list[str]:
        """Numeric columns read with the labels: sample weights and task-space indicators."""
        return list(dict.fromkeys(c for t in self.towers()
                                  for c in (t.weight_column, t.task_space_indicator_label) if c))


def tower_order(towers: list[TaskTowerConfig], where: str) -> list[int]:
    """Indices of ``towers`` such that every tower comes after the towers it names in
    ``relation_tower_names`` (Kahn's algorithm); ConfigError for an unknown name, a tower
    naming itself, a relation without ``relation_dnn`` on either side, or a cycle.

    Example:
        >>> a = TaskTowerConfig(tower_name="ctr", label_name="click", relation_dnn={"hidden_units": [4]},
        ...                     relation_tower_names=["cvr"])
        >>> b = TaskTowerConfig(tower_name="cvr", label_name="buy", relation_dnn={"hidden_units": [4]})
        >>> tower_order([a, b], "towers")
        [1, 0]
    """
    index = {t.tower_name: i for i, t in enumerate(towers)}
    for i, tower in enumerate(towers):
        path = join_path(where, i, "relation_tower_names")
        for name in tower.relation_tower_names:
            if name not in index:
                raise ConfigError(path, f"tower '{tower.tower_name}' names an unknown relation tower",
                                  f"one of {list(index)}", repr(name), choices=list(index))
            if name == tower.tower_name:
                raise ConfigError(path, f"tower '{tower.tower_name}' names itself as its relation tower",
                                  "other towers", repr(name))
            if tower.relation_dnn is None or towers[index[name]].relation_dnn is None:
                who = tower.tower_name if tower.relation_dnn is None else name
                raise ConfigError(path, f"tower '{tower.tower_name}' reads the relation features of '{name}', but "
                                  f"tower '{who}' has no relation_dnn", "relation_dnn on both towers",
                                  "relation_dnn missing")
    waiting = {i: set(index[n] for n in t.relation_tower_names) for i, t in enumerate(towers)}
    order: list[int] = []
    while len(order) < len(towers):
        ready = [i for i, deps in waiting.items() if i not in order and not deps - set(order)]
        if not ready:
            cycle = _find_cycle(waiting, set(order))
            path = " -> ".join(towers[i].tower_name for i in [*cycle, cycle[0]])
            raise ConfigError(join_path(where, cycle[0], "relation_tower_names"),
                              f"the relation towers form a cycle ({path}, each reading the next one's "
                              f"relation features; tower '{towers[cycle[0]].tower_name}')",
                              "relations that form a DAG", {towers[i].tower_name: towers[i].relation_tower_names
                                                            for i in cycle})
        order.extend(ready)
    return order


def _find_cycle(waiting: dict[int, set[int]], done: set[int]) -> list[int]:
    """One cycle among the towers not in ``done`` (each waits on at least one other such tower),
    as tower indices in relation order, starting from its lowest index."""
    start = min(i for i in waiting if i not in done)
    seen: list[int] = []
    node = start
    while node not in seen:  # every tower left waits on another tower left: the walk must repeat
        seen.append(node)
        node = min(d for d in waiting[node] if d not in done)
    cycle = seen[seen.index(node):]
    first = cycle.index(min(cycle))
    return cycle[first:] + cycle[:first]


class TaskTower(nn.Module):
    """``dnn`` -> (``relation_dnn`` over own + relation features) -> Linear(``num_class``).

    Args:
        config: the tower's config.
        input_dim: width D of its backbone input.
        relation_dims: widths of the relation features of the towers it names, in order.
        where: config path, for errors.

    Shape:
        - Input: ``(B, D)`` and a list of ``(B, R_k)`` relation features.
        - Output: ``(logits (B, C), relation features (B, R) or None)``.
    """

    #: ``model_params.l2_regularization`` with ``l2_scope: easyrec`` reaches this module's kernels (as in EasyRec)
    easyrec_l2 = True

    def __init__(self, config: TaskTowerConfig, input_dim: int, relation_dims: list[int], where: str) -> None:
        super().__init__()
        self.name = config.tower_name
        self.dnn = MLP(config.dnn, input_dim, join_path(where, "dnn")) if config.dnn is not None else None
        width = self.dnn.output_dim if self.dnn is not None else input_dim
        self.relation_dnn = None
        if config.relation_dnn is not None:
            self.relation_dnn = MLP(config.relation_dnn, width + sum(relation_dims), join_path(where, "relation_dnn"))
            width = self.relation_dnn.output_dim
        self.relation_dim = width if self.relation_dnn is not None else 0
        self.output = nn.Linear(width, config.num_class)

    def forward(self, x: torch.Tensor, relations: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.dnn(x) if self.dnn is not None else x
        features = None
        if self.relation_dnn is not None:
            features = self.relation_dnn(torch.cat([h, *relations], dim=-1) if relations else h)
            h = features
        return self.output(h), features
