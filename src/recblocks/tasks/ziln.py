"""The zero-inflated lognormal task: customer lifetime value with many zeros (EasyRec's ``ZILN_LOSS``).

Wang, Liu, Miao, "A Deep Probabilistic Model for Customer Lifetime Value Prediction" (2019). Three
logits per row: ``z0`` gives ``p = sigmoid(z0)``, the probability that the value is positive;
``mu = z1`` and ``sigma = clip(softplus(z2), sqrt(1e-7), max_sigma)`` give the lognormal of a
positive value. The loss (as EasyRec computes it)::

    classification_weight * mean BCE(y > 0, z0)
    + regression_weight * -(sum over y > 0 of log LogNormal(y; mu, sigma)) / (#(y > 0) + 1e-8)
    + mu_regularization * mean(mu^2) + sigma_regularization * mean(z2^2)

The prediction is the expected value ``p * exp(mu + sigma^2 / 2)`` (computed in log space,
clipped to ``[-100, max_log_clip_value]``). Metrics see both (metric kind ``ziln``): classification
metrics (``auc``, ``logloss``...) read ``p`` against ``y > 0``, regression metrics (``rmse``,
``mae``...) the expected value against ``y``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from recblocks.core.errors import DataError, ShapeError
from recblocks.tasks.config import TaskConfig
from recblocks.tasks.heads import Task
from recblocks.tasks.registry import TASKS

__all__ = ["ZilnTaskConfig", "ZilnTask"]

_MIN_SIGMA = math.sqrt(1e-7)  # Keras' epsilon, as EasyRec clips it


class ZilnTaskConfig(TaskConfig):
    """A zero-inflated lognormal task (see the module docstring for the terms).

    Args:
        classification_weight, regression_weight: weights of the two loss terms.
        mu_regularization, sigma_regularization: L2 penalties on ``mu`` and on the scale logit.
        max_sigma: the largest ``sigma``.
        max_log_clip_value: the largest log of a prediction.
        Other fields: see :class:`TaskConfig`.
    """

    type: Literal["ziln"] = "ziln"
    classification_weight: float = Field(default=1.0, ge=0.0)
    regression_weight: float = Field(default=1.0, ge=0.0)
    mu_regularization: float = Field(default=0.01, ge=0.0)
    sigma_regularization: float = Field(default=0.01, ge=0.0)
    max_sigma: float = Field(default=5.0, gt=_MIN_SIGMA)
    max_log_clip_value: float = Field(default=20.0, gt=-100.0)

    @property
    def output_dim(self) -> int:
        return 3


@TASKS.register("ziln", config=ZilnTaskConfig, aliases=("ziln_loss", "zero_inflated_lognormal"),
                default_metrics=("auc", "rmse", "mae"), metric_kind="ziln")
class ZilnTask(Task):
    """Zero-inflated lognormal value prediction from three logits (EasyRec's ``ZILN_LOSS``).

    Shape:
        logits (B, 3), labels (B,) float >= 0 -> loss scalar; activate (B, 3) -> (B,) expected
        values; :meth:`metric_predictions` (B, 3) -> (B, 2): ``[p, expected value]``.

    Example:
        >>> task = ZilnTask(ZilnTaskConfig(label="ltv", mu_regularization=0, sigma_regularization=0))
        >>> z = torch.tensor([[0.0, 0.0, math.log(math.e - 1)]])  # p = 1/2, mu = 0, sigma = 1
        >>> round(float(task.activate(z)), 4)  # 0.5 * exp(0.5)
        0.8244
        >>> round(float(task.loss(z, torch.tensor([1.0]))), 4)  # ln 2 + 0.5 ln(2 pi)
        1.6121
    """

    label_dtype = "float"

    def _parts(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        sigma = F.softplus(logits[:, 2]).clamp(_MIN_SIGMA, self.config.max_sigma)  # type: ignore[attr-defined]
        return logits[:, 0], logits[:, 1], sigma

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cfg: Any = self.config
        y = labels.to(logits.dtype)
        positive = (y > 0).to(logits.dtype)
        z0, mu, sigma = self._parts(logits)
        classification = F.binary_cross_entropy_with_logits(z0, positive)
        safe = torch.where(y > 0, y, torch.ones_like(y))
        log_y = safe.log()
        log_prob = -log_y - sigma.log() - 0.5 * math.log(2 * math.pi) - (log_y - mu) ** 2 / (2 * sigma**2)
        regression = -(positive * log_prob).sum() / (positive.sum() + 1e-8)
        penalty = cfg.mu_regularization * (mu**2).mean() + cfg.sigma_regularization * (logits[:, 2] ** 2).mean()
        return cfg.classification_weight * classification + cfg.regression_weight * regression + penalty

    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        z0, mu, sigma = self._parts(logits)
        log_value = F.logsigmoid(z0) + mu + 0.5 * sigma**2
        return log_value.clamp(-100.0, self.config.max_log_clip_value).exp()  # type: ignore[attr-defined]

    def metric_predictions(self, logits: torch.Tensor) -> torch.Tensor:
        """``(B, 2)``: the probability of a positive value, then the expected value."""
        return torch.stack([torch.sigmoid(logits[:, 0]), self.activate(logits)], dim=1)

    def check_logits(self, logits: Any, batch_size: int, where: str = "") -> None:
        where = where or f"output '{self.name}'"
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (batch_size, 3):
            got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise ShapeError(where, "a ziln task reads three logits per row", str((batch_size, 3)), str(got))

    def check_labels(self, labels: torch.Tensor, where: str = "") -> None:
        super().check_labels(labels, where)
        if labels.numel() and float(labels.min()) < 0:
            raise DataError(where or f"label '{self.label}'", "zero-inflated lognormal labels are values >= 0",
                            "values >= 0", f"a minimum of {float(labels.min()):g}")
