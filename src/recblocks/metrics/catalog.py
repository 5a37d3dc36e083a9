"""``METRICS``: the metrics recblocks knows, which task kinds they fit, and which direction is better.

Names are canonical short names (``auc``, ``logloss``...); EasyRec's ``eval_config`` spellings
(``root_mean_squared_error``, ``mean_absolute_error``...) are accepted as aliases and resolve to
the canonical name, which is also the key under which the value is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from recblocks.core.errors import ConfigError
from recblocks.core.registry import Registry, RegistryEntry
from recblocks.metrics import functional as F

__all__ = ["MetricSpec", "METRICS", "METRIC_ALIASES", "get_metric", "metric_mode", "resolve_metrics",
           "scores_positive_class", "reads_value_view", "TWO_VIEW_KINDS",
           "metric_task_kinds"]


def _logloss_any(labels: Any, preds: Any) -> float:
    return F.multiclass_logloss(labels, preds) if np.ndim(preds) == 2 else F.logloss(labels, preds)


@dataclass(frozen=True, kw_only=True)
class MetricSpec(RegistryEntry):
    """One metric: its function ``fn(labels, preds[, groups])`` and how to read it.

    ``preds`` are *activated* outputs: probabilities (binary ``(N,)``, multi-class ``(N, C)``)
    or predicted values (regression). The ``two_class`` kind is a multi-class task of 2 classes
    (EasyRec's ``num_class: 2``): metrics that fit it and not ``multiclass`` (``auc``, ``gauc``,
    ``max_f1``) read the probability of class 1, ``preds[:, 1]``, as EasyRec scores them; the
    others see the ``(N, 2)`` probabilities.

    Args:
        fn: the functional metric (see :mod:`recblocks.metrics.functional`).
        task_kinds: the task kinds (task types' ``metric_kind``) it applies to.
        higher_is_better: the direction of improvement (early stopping, best epoch).
        needs_groups: it needs a group column (``gauc``).
        aliases: other spellings (EasyRec ``eval_config``, Keras); values are reported under ``name``.
    """

    target: ClassVar[str] = "fn"

    fn: Callable[..., float]
    task_kinds: tuple[str, ...]
    higher_is_better: bool
    needs_groups: bool = False

    @property
    def mode(self) -> str:
        """``"max"`` when larger is better, else ``"min"``."""
        return "max" if self.higher_is_better else "min"

    def facts(self) -> dict[str, Any]:
        return {"task_kinds": list(self.task_kinds), "mode": self.mode, "needs_groups": self.needs_groups}


METRICS: Registry[MetricSpec] = Registry("metric", MetricSpec)
"""Every metric recblocks reports, with its aliases (EasyRec ``eval_config`` and Keras spellings)."""

for _spec in (
    MetricSpec(name="auc", fn=F.auc, task_kinds=("binary", "two_class"), higher_is_better=True,
               summary="ROC AUC (ties count one half)"),
    MetricSpec(name="gauc", fn=F.gauc, task_kinds=("binary", "two_class"), higher_is_better=True, needs_groups=True,
               aliases=("group_auc",), summary="AUC per group weighted by group size; single-class groups skipped"),
    MetricSpec(name="logloss", fn=_logloss_any, task_kinds=("binary", "multiclass", "two_class"), higher_is_better=False,
               aliases=("log_loss", "cross_entropy", "binary_crossentropy"),
               summary="binary or categorical cross-entropy of the probabilities"),
    MetricSpec(name="accuracy", fn=F.accuracy, task_kinds=("binary", "multiclass", "two_class"), higher_is_better=True,
               aliases=("binary_accuracy",), summary="binary: prob > 0.5 vs label; multi-class: arg-max vs label"),
    MetricSpec(name="max_f1", fn=F.max_f1, task_kinds=("binary", "two_class"), higher_is_better=True,
               summary="best F1 over score thresholds"),
    MetricSpec(name="mse", fn=F.mse, task_kinds=("regression", "binary"), higher_is_better=False,
               aliases=("mean_squared_error",), summary="mean squared error"),
    MetricSpec(name="rmse", fn=F.rmse, task_kinds=("regression", "binary"), higher_is_better=False,
               aliases=("root_mean_squared_error",), summary="root mean squared error"),
    MetricSpec(name="mae", fn=F.mae, task_kinds=("regression", "binary"), higher_is_better=False,
               aliases=("mean_absolute_error",), summary="mean absolute error"),
):
    METRICS.add(_spec)


class _AliasView(Mapping[str, str]):
    """Alias -> canonical metric name, read live from :data:`METRICS` (no table of its own)."""

    def __getitem__(self, alias: str) -> str:
        return METRICS.aliases()[alias]

    def __iter__(self) -> Iterator[str]:
        return iter(METRICS.aliases())

    def __len__(self) -> int:
        return len(METRICS.aliases())

    def __repr__(self) -> str:
        return f"METRIC_ALIASES({METRICS.aliases()!r})"


#: Alias -> canonical name, a read-only view of the registry (prefer ``METRICS.canonical(name)``).
METRIC_ALIASES: Mapping[str, str] = _AliasView()


#: Task kinds whose predictions hold two views, ``(B, 2)``: a probability (column 0, read by the
#: classification metrics against ``label > 0``) and a value (column 1, read by the regression
#: metrics): the zero-inflated lognormal task (``recblocks.tasks.ziln``).
TWO_VIEW_KINDS = ("ziln",)


def metric_task_kinds() -> list[str]:
    """Task kinds at least one registered metric applies to (sorted), and the two-view kinds."""
    return sorted({kind for spec in METRICS.entries() for kind in spec.task_kinds} | set(TWO_VIEW_KINDS))


def reads_value_view(spec: MetricSpec) -> bool:
    """Whether a metric reads the value column of a two-view task (a regression metric), not the probability."""
    return "regression" in spec.task_kinds


def get_metric(name: str, where: str = "metrics") -> MetricSpec:
    """The spec for ``name`` or an alias; ConfigError with a did-you-mean when unknown.

    Example:
        >>> get_metric("root_mean_squared_error").name
        'rmse'
    """
    return METRICS.get(name, where)


def scores_positive_class(spec: MetricSpec, task_kind: str, num_classes: int | None) -> bool:
    """Whether ``spec`` is a binary metric read on ``P(class 1)`` of a two-class multiclass task
    (EasyRec's ``num_class: 2`` towers report AUC of the second class's probability)."""
    return task_kind == "multiclass" and num_classes == 2 and "multiclass" not in spec.task_kinds \
        and "binary" in spec.task_kinds


def resolve_metrics(names: Iterable[str], task_kind: str, where: str = "metrics",
                    num_classes: int | None = None) -> list[MetricSpec]:
    """Specs for ``names`` (duplicates dropped, order kept), each checked against ``task_kind``;
    a two-class multiclass task (``num_classes`` 2) also takes the binary metrics, read on
    ``P(class 1)`` (:func:`scores_positive_class`)."""
    kinds = metric_task_kinds()
    if task_kind not in kinds:
        raise ConfigError(where, "unknown task kind", f"one of {kinds}", repr(task_kind), choices=kinds)
    specs: list[MetricSpec] = []
    for index, name in enumerate(names):
        spec = get_metric(name, f"{where}[{index}]")
        two_view = task_kind in TWO_VIEW_KINDS and bool({"binary", "regression"} & set(spec.task_kinds))
        if task_kind not in spec.task_kinds and not two_view and not scores_positive_class(spec, task_kind,
                                                                                            num_classes):
            fitting = [s.name for s in METRICS.entries() if task_kind in s.task_kinds]
            raise ConfigError(f"{where}[{index}]", f"metric '{spec.name}' does not apply to a {task_kind} task",
                              f"one of {fitting}", repr(name))
        if spec not in specs:
            specs.append(spec)
    return specs


def metric_mode(name: str, where: str = "metric") -> str:
    """``"max"`` or ``"min"`` for a reported key: ``auc``, ``ctr/auc``, ``loss``, ``ctr/loss``.

    Example:
        >>> metric_mode("ctr/auc"), metric_mode("loss"), metric_mode("rmse")
        ('max', 'min', 'min')
    """
    base = name.rsplit("/", 1)[-1]
    if base == "loss":
        return "min"
    return get_metric(base, where).mode
