"""What ``Trainer.fit`` returns: one record per epoch plus the best epoch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["EpochRecord", "History"]


@dataclass
class EpochRecord:
    """One epoch: 0-based ``epoch``, mean training loss (the model's total: weighted task
    losses, auxiliary losses and regularization), throughput, the learning rate at the end,
    the mean of every loss term (``train_terms``: ``task/<name>``, ``aux/<name>``,
    ``regularization``, unweighted; see :class:`~recblocks.core.context.LossTerms`), the
    validation metrics (empty without a loader), and the training warnings raised during the
    epoch (``{"kind", "epoch", "step", "message"}``, e.g. a diverging loss; see
    :mod:`recblocks.training.divergence`)."""

    epoch: int
    steps: int
    samples: int
    train_loss: float
    seconds: float
    samples_per_s: float
    lr: float
    train_terms: dict[str, float] = field(default_factory=dict)
    valid: dict[str, float] = field(default_factory=dict)
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain form for files; epochs are numbered from 1 there, as on screen."""
        return {**asdict(self), "epoch": self.epoch + 1}

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> "EpochRecord":
        """The record of :func:`dataclasses.asdict` form (0-based epoch; a checkpoint's)."""
        return cls(**data)

    def describe(self, epochs: int) -> str:
        """One log line: ``epoch 2/5: train loss 0.41 (task/ctr 0.40, regularization 0.01), 812,000
        samples/s, lr 0.001, valid auc ...``."""
        terms = f" ({', '.join(f'{k} {v:.5f}' for k, v in self.train_terms.items())})" if self.train_terms else ""
        text = (f"epoch {self.epoch + 1}/{epochs}: train loss {self.train_loss:.5f}{terms}, "
                f"{self.samples_per_s:,.0f} samples/s, lr {self.lr:.3g}")
        if self.valid:
            text += ", valid " + " ".join(f"{k} {v:.5f}" for k, v in self.valid.items())
        return text


@dataclass
class History:
    """Records of a ``fit`` call.

    ``monitor`` is the validation key used to pick the best epoch (``mode`` max or min);
    ``best_epoch`` is None when there was no validation or no finite value. With
    ``train.eval_steps`` the model is also validated every N steps: each of those evaluations
    is in ``evaluations`` (``{"step", "epoch" (1-based), "valid"}``) and competes for the best
    like the end-of-epoch ones; ``best_step`` is the global step of the best evaluation.
    """

    monitor: str | None = None
    mode: str = "max"
    epochs: list[EpochRecord] = field(default_factory=list)
    best_epoch: int | None = None
    best_value: float | None = None
    stopped_early: bool = False
    global_step: int = 0
    best_step: int | None = None
    evaluations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def train_loss(self) -> list[float]:
        return [r.train_loss for r in self.epochs]

    @property
    def train_terms(self) -> list[dict[str, float]]:
        """Per epoch, the mean of every training loss term (see :class:`EpochRecord`)."""
        return [r.train_terms for r in self.epochs]

    @property
    def valid_metrics(self) -> list[dict[str, float]]:
        return [r.valid for r in self.epochs]

    @property
    def samples_per_second(self) -> float:
        """Training throughput over all epochs (evaluation time excluded)."""
        seconds = sum(r.seconds for r in self.epochs)
        return sum(r.samples for r in self.epochs) / seconds if seconds > 0 else 0.0

    @property
    def warnings(self) -> list[dict[str, Any]]:
        """Every epoch's training warnings, in order."""
        return [w for r in self.epochs for w in r.warnings]

    @property
    def best(self) -> EpochRecord | None:
        """The best epoch's record (None without one)."""
        for record in self.epochs:
            if record.epoch == self.best_epoch:
                return record
        return None

    def to_dict(self) -> dict[str, Any]:
        best = None if self.best_epoch is None else self.best_epoch + 1  # 1-based, as on screen
        return {"monitor": self.monitor, "mode": self.mode, "best_epoch": best,
                "best_value": self.best_value, "best_step": self.best_step, "stopped_early": self.stopped_early,
                "global_step": self.global_step, "evaluations": self.evaluations,
                "samples_per_second": self.samples_per_second, "warnings": self.warnings,
                "epochs": [r.to_dict() for r in self.epochs]}

    def state(self) -> dict[str, Any]:
        """Plain data to rebuild this history exactly (:meth:`from_state`; checkpoints)."""
        return {"monitor": self.monitor, "mode": self.mode, "epochs": [asdict(r) for r in self.epochs],
                "best_epoch": self.best_epoch, "best_value": self.best_value, "stopped_early": self.stopped_early,
                "global_step": self.global_step, "best_step": self.best_step,
                "evaluations": [dict(e) for e in self.evaluations]}

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> "History":
        """The history :meth:`state` describes."""
        return cls(**{**data, "epochs": [EpochRecord.from_state(r) for r in data["epochs"]]})
