"""MultiTaskModel: a backbone shared by task towers (EasyRec's ``MultiTaskModel``, DBMTL included).

``model_class: MultiTaskModel`` with ``model_params.task_towers`` (see :mod:`recblocks.models.towers`).
The backbone output is one tensor shared by every tower, or a list with one tensor per tower
(an MMoE / PLE / SNR block emitting a list; its length must equal the number of towers). The
towers run in an order where every tower follows the towers it reads relation features from.

Loss: ``sum over towers of weight * tower loss`` plus the blocks' weighted auxiliary losses and
the regularization; the tower loss is its ``loss_type`` loss, or the weighted sum of its
``losses``, with per-row weights from ``weight_column`` and the task-space scales. Terms are
logged as ``task/<tower>``. Metrics are ``<tower>/<metric>`` (on screen, ``epochs.jsonl``,
``metrics.json``); ``predict`` writes one column per tower (probability, value or class
probabilities).

EasyRec's ``RankModel`` ignores ``task_towers`` (its ``build_predict_graph`` reads only the
backbone and ``num_class``, its loss only ``label_name``): a config with ``model_class:
RankModel`` and ``task_towers`` (the Alibaba Cloud page's "MaskNet + PPNet + MMoE" case) would
train one head on the first label there, or fail on the MMoE list output. recblocks refuses it
(``model.model_params.task_towers: a RankModel has no task towers ...; did you mean
MultiTaskModel?``), which is the spelling EasyRec's own documentation uses for that case.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from recblocks.core.context import LossTerms
from recblocks.core.errors import ConfigError, ShapeError
from recblocks.core.params import join_path
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.features.batch import Batch
from recblocks.models.config import ModelConfig
from recblocks.models.evaluation import TaskEvaluator
from recblocks.models.outputs import ModelOutput, check_extras
from recblocks.models.rank_model import RankModel
from recblocks.models.registry import MODEL_CLASSES
from recblocks.models.towers import MultiTaskModelParams, TaskTower, TaskTowerConfig, TowerLossConfig, tower_order
from recblocks.tasks.losses import LOSSES

__all__ = ["MultiTaskModel", "TowerEvaluator"]


class _TowerLoss:
    """A tower's loss plan, read once from its config."""

    def __init__(self, config: TaskTowerConfig) -> None:
        self.name, self.label, self.weight = config.tower_name, config.label_name, float(config.weight)
        losses = config.losses or [TowerLossConfig(loss_type=config.loss_type)]
        self.terms = [(LOSSES.get(loss.loss_type).fn, float(loss.weight), loss.session_name,
                       loss.fn_params()) for loss in losses]
        self.weight_column = config.weight_column
        self.space = config.task_space_indicator_label
        self.in_space, self.out_space = float(config.in_task_space_weight), float(config.out_task_space_weight)

    def row_weights(self, labels: Mapping[str, torch.Tensor]) -> torch.Tensor | None:
        weights = labels[self.weight_column] if self.weight_column else None
        if self.space is not None:
            inside = labels[self.space] > 0
            scale = torch.where(inside, self.in_space, self.out_space).to(torch.float32)
            weights = scale if weights is None else weights * scale
        return weights

    def __call__(self, logits: torch.Tensor, labels: Mapping[str, torch.Tensor],
                 extras: Mapping[str, torch.Tensor]) -> torch.Tensor:
        weights = self.row_weights(labels)
        total: torch.Tensor | None = None
        for fn, weight, session, params in self.terms:
            value = fn(logits, labels[self.label], weights, extras[session] if session else None, params)
            value = value if weight == 1.0 else weight * value
            total = value if total is None else total + value
        return total  # type: ignore[return-value]


@MODEL_CLASSES.register("MultiTaskModel", params=MultiTaskModelParams)
class MultiTaskModel(RankModel):
    """A backbone shared by task towers (EasyRec MultiTaskModel, DBMTL relations, MMoE/PLE lists).

    Args:
        schema, config, vocab_sizes, where: as :class:`RankModel`; ``config.model_params`` is a
            :class:`~recblocks.models.towers.MultiTaskModelParams` and ``config.tasks`` is empty.

    Shape:
        - Input: a :class:`Batch` (or its features).
        - Output: :class:`ModelOutput` with logits ``{tower: (B,) | (B, C)}``.
    """

    #: The config key of the towers (for error paths).
    towers_key = "task_towers"

    def task_configs(self, config: ModelConfig, where: str) -> list[tuple[Any, str]]:
        if config.tasks:
            raise ConfigError(join_path(where, "tasks"), "a MultiTaskModel's tasks are its task towers",
                              "model_params.task_towers only", [t.name for t in config.tasks])
        params = config.model_params
        if not isinstance(params, MultiTaskModelParams):
            raise ConfigError(join_path(where, "model_params"), "a MultiTaskModel needs its model_params",
                              "model_params with task_towers", type(params).__name__)
        path = join_path(where, "model_params", "task_towers")
        return [(t.task_config(join_path(path, i)), join_path(path, i)) for i, t in enumerate(params.task_towers)]

    def _plan_heads(self, where: str) -> list[int | None]:
        towers: list[TaskTowerConfig] = self.config.model_params.towers()  # type: ignore[attr-defined]
        path = join_path(where, "model_params", self.towers_key)
        spec = self.backbone.output_spec
        if isinstance(spec, list):
            if len(spec) != len(towers):
                raise ShapeError(join_path(where, "backbone"), "a backbone emitting a list needs one output per task "
                                 "tower", f"{len(towers)} outputs", len(spec))
            per_tower, index = spec, list(range(len(spec)))
        else:
            per_tower, index = [spec] * len(towers), [None] * len(towers)
        self._order = tower_order(towers, path)
        self.towers = nn.ModuleDict()
        relation_dims: dict[str, int] = {}
        for i in self._order:
            tower, out = towers[i], per_tower[i]
            if not isinstance(out, TensorSpec) or out.rank != 2:
                raise ShapeError(join_path(where, "backbone"), f"tower '{tower.tower_name}' needs a (B, D) input",
                                 "(B, D)", describe_spec(out))
            built = TaskTower(tower, out.last_dim, [relation_dims[n] for n in tower.relation_tower_names],
                              join_path(path, i))
            relation_dims[tower.tower_name] = built.relation_dim
            self.towers[tower.tower_name] = built
        self._relations = [list(towers[i].relation_tower_names) for i in range(len(towers))]
        self._losses = [_TowerLoss(t) for t in towers]
        self._squeeze = [t.num_class == 1 for t in towers]
        return index

    def forward(self, batch: Batch | Mapping[str, torch.Tensor]) -> ModelOutput:
        """Logits per tower, extra outputs and auxiliary losses of the blocks, embedding lookups."""
        out, context, emb = self._run_backbone(batch)
        logits: dict[str, torch.Tensor] = {}
        relations: dict[str, torch.Tensor] = {}
        for i in self._order:
            task = self.tasks[i]
            idx = self._task_inputs[i]
            x = out[idx] if idx is not None else out
            tower_logits, features_out = self.towers[task.name](x, [relations[n] for n in self._relations[i]])
            if features_out is not None:
                relations[task.name] = features_out
            logits[task.name] = tower_logits.squeeze(-1) if self._squeeze[i] else tower_logits
        ordered = {task.name: logits[task.name] for task in self.tasks if task.name in logits}
        return ModelOutput(ordered, context.outputs, context.losses, emb.looked_up)

    def loss(self, outputs: ModelOutput, batch: Batch) -> LossTerms:
        """``regularization + sum(tower weight * tower loss) + sum(loss weight * block loss)``."""
        total = regularization = self.regularization_loss(outputs)
        tasks: dict[str, torch.Tensor] = {}
        for plan in self._losses:
            term = plan(outputs.logits[plan.name], batch.labels, batch.extras)
            tasks[plan.name] = term
            total = total + term if plan.weight == 1.0 else total + plan.weight * term
        return self._with_auxiliary(total, tasks, regularization, outputs)

    def evaluator(self, gauc_group: str | None = None) -> "TowerEvaluator":
        """Every tower's metrics and loss; a tower with ``out_task_space_weight: 0`` over its space only."""
        spaces = [p.space if p.space is not None and p.out_space == 0.0 else None for p in self._losses]
        return TowerEvaluator(self.tasks, spaces, gauc_group)

    def check_batch(self, batch: Batch, where: str = "train batch") -> None:
        """RankModel's checks, plus the group columns of pairwise / listwise losses."""
        super().check_batch(batch, where)
        check_extras(batch, self.config.extra_columns(), "model.model_params.task_towers.losses.session_name")

    def summary_rows(self) -> list[dict[str, Any]]:
        rows = super().summary_rows()
        for name, tower in self.towers.items():
            rows.append({"scope": "model", "block": f"tower:{name}", "body": "TaskTower", "inputs": ["backbone"],
                         "output": f"(B, {tower.output.out_features})",
                         "params": sum(p.numel() for p in tower.parameters())})
        return rows


class TowerEvaluator(TaskEvaluator):
    """:class:`TaskEvaluator` where a tower may be scored over the rows of its task space only
    (``spaces[j]``: the label column whose value > 0 marks them; None: every row); ``trained[j]``
    False leaves task j out of the weighted total ``loss`` (ESMM's cvr, trained through ctcvr)."""

    def __init__(self, tasks: Any, spaces: list[str | None], gauc_group: str | None = None,
                 trained: list[bool] | None = None) -> None:
        super().__init__(tasks, gauc_group, where="model.model_params.task_towers")
        self.spaces = spaces
        self.trained = trained or [True] * len(spaces)
        self._space_rows = [0 for _ in spaces]

    def update(self, outputs: Any, batch: Any) -> None:
        groups = batch.extras[self._group_key] if self._group_key else None
        for j, task in enumerate(self.tasks):
            logits, labels, group = outputs.logits[task.name], batch.labels[task.label], groups
            space = self.spaces[j]
            if space is not None:
                keep = batch.labels[space] > 0
                logits, labels = logits[keep], labels[keep]
                group = group[keep] if group is not None else None
            count = len(labels)
            if count:
                self._loss_sums[j] += task.loss(logits, labels).double().cpu() * count
                self.collections[j].update(task.metric_predictions(logits), labels, group)
            self._space_rows[j] += count
        self._rows += len(batch)

    def _extra_counts(self) -> list[float]:
        return [float(count) for count in self._space_rows]

    def _set_extra_counts(self, values: list[int]) -> None:
        self._space_rows = list(values)

    def compute(self) -> dict[str, float]:
        results: dict[str, float] = {}
        total = 0.0
        for j, (task, collection, loss_sum) in enumerate(zip(self.tasks, self.collections, self._loss_sums)):
            task_loss = float(loss_sum) / max(self._space_rows[j], 1)
            total += float(task.weight) * task_loss if self.trained[j] else 0.0
            prefix = "" if self._single else f"{task.name}/"
            results.update({f"{prefix}{k}": v for k, v in collection.compute().items()})
            results[f"{prefix}loss"] = task_loss
        if not self._single:
            results["loss"] = total
        return results
