"""ESMM: entire-space multi-task model (Ma et al., SIGIR 2018; EasyRec's ``ESMM``).

``model_class: ESMM`` with ``model_params.ctr_tower`` and ``model_params.cvr_tower`` (EasyRec's
field names; each a task tower as in :mod:`recblocks.models.towers`). The backbone output is
shared, or a list of two (CTR first). Three tasks come out:

* ``<ctr tower>``: pCTR, trained with its loss on the click label over every row;
* ``<cvr tower>``: pCVR = P(conversion | click), never trained on its own (ESMM's point: the
  conditional rate is learnt over the entire space through pCTCVR), scored over the clicked
  rows only (rows whose CTR label is > 0);
* ``ctcvr``: pCTCVR = pCTR × pCVR, trained with binary cross-entropy on the conversion label
  over every row (the conversion only happens after a click), scored over every row.

The total is ``ctr weight * ctr loss + cvr weight * ctcvr loss`` (+ auxiliary and
regularization); terms ``task/<ctr>`` and ``task/ctcvr``. ``predict`` writes the three columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.features.batch import Batch
from recblocks.models.config import ModelConfig, ModelParams
from recblocks.models.multi_task import MultiTaskModel, TowerEvaluator, _TowerLoss
from recblocks.models.outputs import ModelOutput
from recblocks.models.registry import MODEL_CLASSES
from recblocks.models.towers import TaskTowerConfig
from recblocks.tasks.config import TaskConfig, parse_task_config

__all__ = ["ESMM", "ESMMParams", "product_logit"]

CTCVR = "ctcvr"


class ESMMParams(ModelParams):
    """``model_params`` of ESMM: ``ctr_tower``, ``cvr_tower`` (binary towers) and ``l2_regularization``."""

    ctr_tower: TaskTowerConfig
    cvr_tower: TaskTowerConfig

    def towers(self) -> list[TaskTowerConfig]:
        return [self.ctr_tower, self.cvr_tower]

    def check(self, where: str) -> None:
        """Two distinct binary towers, neither named ``ctcvr``, no relations."""
        for key, tower in (("ctr_tower", self.ctr_tower), ("cvr_tower", self.cvr_tower)):
            path = join_path(where, key)
            tower.check(path)
            if tower.task_config(path).type != "binary":
                raise ConfigError(join_path(path, "loss_type"), "an ESMM tower is a binary classifier",
                                  "CLASSIFICATION with num_class 1", f"{tower.loss_type}, num_class {tower.num_class}")
            if tower.tower_name == CTCVR or tower.relation_tower_names:
                raise ConfigError(path, "an ESMM tower cannot be named 'ctcvr' nor read relation towers",
                                  "another name, no relation_tower_names", tower.tower_name)
        if self.ctr_tower.tower_name == self.cvr_tower.tower_name:
            raise ConfigError(join_path(where, "cvr_tower", "tower_name"), "the two towers need distinct names",
                              f"a name other than {self.ctr_tower.tower_name!r}", repr(self.cvr_tower.tower_name))

    def task_configs(self) -> list[TaskConfig]:
        ctr, cvr = self.ctr_tower, self.cvr_tower
        return [ctr.task_config("model.model_params.ctr_tower"), cvr.task_config("model.model_params.cvr_tower"),
                parse_task_config({"name": CTCVR, "type": "binary", "label": cvr.label_name, "weight": cvr.weight,
                                   **({"metrics": cvr.metric_names("model.model_params.cvr_tower")}
                                      if cvr.metrics_set is not None else {})}, "model.model_params.cvr_tower")]

    def extra_columns(self) -> list[str]:
        return list(dict.fromkeys(loss.session_name for t in self.towers() for loss in t.losses if loss.session_name))

    def weight_columns(self) -> list[str]:
        return list(dict.fromkeys(c for t in self.towers() for c in (t.weight_column, t.task_space_indicator_label)
                                  if c))


def product_logit(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The logit of ``sigmoid(a) * sigmoid(b)``, computed in log space.

    Example:
        >>> round(float(torch.sigmoid(product_logit(torch.tensor(0.0), torch.tensor(0.0)))), 6)  # 0.5 * 0.5
        0.25
    """
    log_p = (F.logsigmoid(a) + F.logsigmoid(b)).clamp(max=-1e-7)
    log_q = torch.where(log_p > -0.6931, torch.log(-torch.expm1(log_p)), torch.log1p(-torch.exp(log_p)))
    return log_p - log_q


@MODEL_CLASSES.register("ESMM", params=ESMMParams)
class ESMM(MultiTaskModel):
    """Entire-space multi-task model: pCTCVR = pCTR x pCVR trained over every row (Ma et al., 2018).

    Shape:
        - Output: logits ``{ctr: (B,), cvr: (B,), ctcvr: (B,)}`` (cvr conditional on a click).
    """

    towers_key = "ctr_tower"

    def task_configs(self, config: ModelConfig, where: str) -> list[tuple[Any, str]]:
        if config.tasks:
            raise ConfigError(join_path(where, "tasks"), "ESMM's tasks are its two towers", "no tasks section",
                              [t.name for t in config.tasks])
        params = config.model_params
        if not isinstance(params, ESMMParams):
            raise ConfigError(join_path(where, "model_params"), "ESMM needs ctr_tower and cvr_tower",
                              "ESMM model_params", type(params).__name__)
        path = join_path(where, "model_params")
        paths = [join_path(path, "ctr_tower"), join_path(path, "cvr_tower"), join_path(path, "cvr_tower")]
        return list(zip(params.task_configs(), paths))

    def _plan_heads(self, where: str) -> list[int | None]:
        index = super()._plan_heads(where)
        params: ESMMParams = self.config.model_params  # type: ignore[assignment]
        self._names = (params.ctr_tower.tower_name, params.cvr_tower.tower_name)
        self._losses = [_TowerLoss(params.ctr_tower),
                        _TowerLoss(params.cvr_tower.model_copy(update={"tower_name": CTCVR}))]
        return index

    def forward(self, batch: Batch | Mapping[str, torch.Tensor]) -> ModelOutput:
        out = super().forward(batch)
        ctr, cvr = self._names
        out.logits[CTCVR] = product_logit(out.logits[ctr], out.logits[cvr])
        return out

    def evaluator(self, gauc_group: str | None = None) -> TowerEvaluator:
        """ctr and ctcvr over every row; cvr over the clicked rows."""
        params: ESMMParams = self.config.model_params  # type: ignore[assignment]
        return TowerEvaluator(self.tasks, [None, params.ctr_tower.label_name, None], gauc_group,
                              trained=[True, False, True])
