"""``LOSSES``: the loss types a task tower's ``loss_type`` or ``losses[i].loss_type`` may name.

Each loss is ``fn(logits, labels, weights, groups, params) -> scalar`` on one batch:

* ``weights`` ``(B,)`` are per-row sample weights (None: all 1). Pointwise losses reduce as
  EasyRec / TensorFlow's ``SUM_BY_NONZERO_WEIGHTS``: ``sum(w * l) / count(w != 0)``, so that
  all-ones weights give the plain mean.
* ``groups`` ``(B,)`` int64 ids (None: the whole batch is one group) bound the pairs of a
  pairwise loss and the lists of a listwise loss (EasyRec's ``session_name``, e.g. the user).

Pairwise and listwise losses compare rows of one batch: a group only counts where its rows
share a batch (shuffled batches of a few thousand rows hold many pairs per active user; for
whole lists per user, sort the data by user and read it without shuffling). Both are
vectorized over a ``(B, B)`` same-group mask: no Python loop over rows or groups.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator

from recblocks.core.errors import ConfigError
from recblocks.core.params import Params, join_path
from recblocks.core.registry import Registry, RegistryEntry, first_line

__all__ = ["LOSSES", "LossSpec", "LossTermConfig", "f1_reweighted_loss", "jrc_loss", "loss_fits",
           "pairwise_logistic_loss", "listwise_softmax_loss", "weighted_mean"]

LossFn = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None", "torch.Tensor | None", dict[str, Any]],
                  torch.Tensor]


@dataclass(frozen=True, kw_only=True)
class LossSpec(RegistryEntry):
    """One loss type.

    Args:
        fn: ``fn(logits, labels, weights, groups, params) -> ()``.
        kind: ``pointwise`` (one term per row), ``pairwise`` or ``listwise`` (rows of a group).
        task_type: the task type whose logits/labels it fits (``regression``; ``""``: the
            tower's own: a pointwise loss of binary or multi-class towers, a pairwise / listwise
            loss of any tower with one logit, binary or graded labels).
    """

    target: ClassVar[str] = "fn"
    fn: Any
    kind: str = "pointwise"
    task_type: str = ""

    def __post_init__(self) -> None:
        if not self.summary:
            object.__setattr__(self, "summary", first_line(self.fn.__doc__))

    def facts(self) -> dict[str, Any]:
        fits = self.task_type or ("binary or multiclass" if self.kind == "pointwise" else "binary or regression")
        return {"kind": self.kind, "task_type": fits}


LOSSES: Registry[LossSpec] = Registry("loss type", LossSpec, case_sensitive=False)
"""Loss types of task towers (EasyRec ``LossType`` names are the aliases)."""


class LossTermConfig(Params):
    """One entry of a ``losses`` list (EasyRec ``Loss``): a registered loss and its weight.

    Args:
        loss_type: a registered loss type (``LOSSES``; EasyRec's ``LossType`` names are aliases).
        weight: its weight in the sum of the list.
        loss_name: a label for the loss (informational).
        temperature: divides the logits of a listwise loss.
        f1_beta_square: ``beta^2`` of ``f1_reweighted_loss`` (EasyRec ``F1ReweighedLoss``).
        label_smoothing: label smoothing of ``f1_reweighted_loss``.
        alpha: ``jrc_loss``'s weight of its calibration (cross-entropy) term; ``1 - alpha``
            weighs its ranking term.
        same_label_loss: ``jrc_loss``'s ranking term over every row of the session (True) or
            each row against the rows of the other label only (False).
    """

    loss_type: str
    weight: float = Field(default=1.0, ge=0.0)
    loss_name: str | None = None
    temperature: float = Field(default=1.0, gt=0.0)
    f1_beta_square: float = Field(default=1.0, gt=0.0)
    label_smoothing: float = Field(default=0.0, ge=0.0, le=1.0)
    alpha: float = Field(default=0.5, ge=0.0, le=1.0)
    same_label_loss: bool = True

    @field_validator("loss_type")
    @classmethod
    def _registered(cls, value: str) -> str:
        return LOSSES.canonical(value) or value

    def fn_params(self) -> dict[str, Any]:
        """The ``params`` the loss function reads."""
        return {"temperature": self.temperature, "f1_beta_square": self.f1_beta_square,
                "label_smoothing": self.label_smoothing, "alpha": self.alpha, "same_label_loss": self.same_label_loss}

    def check(self, task_type: str, where: str) -> LossSpec:
        """The registered loss, checked to fit a ``task_type`` task (ConfigError naming ``where``)."""
        entry = LOSSES.get(self.loss_type, join_path(where, "loss_type"))
        if not loss_fits(entry, task_type):
            raise ConfigError(join_path(where, "loss_type"), f"the loss does not fit a {task_type} task",
                              f"a loss of the task's kind ({entry.facts()['task_type']} fits)", self.loss_type)
        return entry


def loss_fits(entry: LossSpec, task_type: str) -> bool:
    """Whether the loss ``entry`` fits a task of type ``task_type`` (binary, multiclass, regression)."""
    if entry.task_type:
        return entry.task_type == task_type
    if entry.kind != "pointwise":
        return task_type != "multiclass"
    return task_type != "regression"


def weighted_mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """``sum(w * v) / count(w != 0)`` (plain mean without weights).

    Example:
        >>> float(weighted_mean(torch.tensor([1.0, 3.0, 5.0]), torch.tensor([2.0, 0.0, 1.0])))
        3.5
    """
    if weights is None:
        return values.mean()
    weights = weights.to(values.dtype)
    return (values * weights).sum() / (weights != 0).sum().clamp(min=1)


@LOSSES.register("classification", aliases=("CLASSIFICATION", "binary_cross_entropy_loss", "cross_entropy_loss"))
def classification_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None,
                        groups: torch.Tensor | None, params: dict[str, Any]) -> torch.Tensor:
    """Sigmoid cross-entropy for ``(B,)`` logits, softmax cross-entropy for ``(B, C)`` logits."""
    if logits.dim() == 2:
        values = F.cross_entropy(logits, labels.long(), reduction="none")
    else:
        values = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), reduction="none")
    return weighted_mean(values, weights)


@LOSSES.register("l2_loss", aliases=("L2_LOSS", "mse"), task_type="regression")
def l2_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None, groups: torch.Tensor | None,
            params: dict[str, Any]) -> torch.Tensor:
    """Squared error ``(z - y)^2``, weighted mean."""
    return weighted_mean((logits - labels.to(logits.dtype)) ** 2, weights)


def _same_group(groups: torch.Tensor | None, size: int, device: torch.device) -> torch.Tensor:
    if groups is None:
        return torch.ones(size, size, dtype=torch.bool, device=device)
    return groups.unsqueeze(0) == groups.unsqueeze(1)


@LOSSES.register("pairwise_logistic_loss", aliases=("PAIRWISE_LOGISTIC_LOSS", "pairwise_loss", "PAIR_WISE_LOSS"),
                 kind="pairwise")
def pairwise_logistic_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None,
                           groups: torch.Tensor | None, params: dict[str, Any]) -> torch.Tensor:
    """RankNet's pairwise logistic loss within a group.

    Over the pairs ``(i, j)`` of one group with ``y_i > y_j``: ``log(1 + exp(-(z_i - z_j)))``,
    averaged over the pairs (each weighted by ``w_i``, the better row's weight); 0 when the
    batch holds no such pair.

    Shape:
        logits, labels, weights, groups ``(B,)`` -> ``()``.

    Example:
        >>> z, y = torch.tensor([2.0, 0.0, 1.0]), torch.tensor([1.0, 0.0, 0.0])
        >>> g = torch.tensor([7, 7, 8])  # row 2 is alone in its group: one pair (0, 1)
        >>> round(float(pairwise_logistic_loss(z, y, None, g, {})), 4)  # log(1 + e^-2)
        0.1269
    """
    y = labels.to(logits.dtype)
    pairs = _same_group(groups, len(y), y.device) & (y.unsqueeze(1) > y.unsqueeze(0))  # (B, B): i better than j
    diff = logits.unsqueeze(1) - logits.unsqueeze(0)
    pair_weight = pairs.to(logits.dtype)
    if weights is not None:
        pair_weight = pair_weight * weights.to(logits.dtype).unsqueeze(1)
    return (F.softplus(-diff) * pair_weight).sum() / pairs.sum().clamp(min=1)


@LOSSES.register("listwise_rank_loss", aliases=("LISTWISE_RANK_LOSS", "softmax_cross_entropy_list", "listwise"),
                 kind="listwise")
def listwise_softmax_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None,
                          groups: torch.Tensor | None, params: dict[str, Any]) -> torch.Tensor:
    """Softmax cross-entropy over each group's list (ListNet with the labels as the target).

    For a group ``g`` with ``sum_g y > 0``: ``-sum_{i in g} (y_i / sum_g y) log softmax_g(z / T)_i``;
    the loss is the mean over such groups (rows weighted by ``w_i``). ``params.temperature``
    is ``T`` (default 1).

    Shape:
        logits, labels, weights, groups ``(B,)`` -> ``()``.

    Example:
        >>> z, y = torch.tensor([0.0, 0.0, 5.0]), torch.tensor([1.0, 0.0, 1.0])
        >>> g = torch.tensor([1, 1, 2])  # lists {0, 1} and {2}
        >>> round(float(listwise_softmax_loss(z, y, None, g, {})), 4)  # (ln 2 + 0) / 2
        0.3466
    """
    z = logits / float(params.get("temperature", 1.0))
    y = labels.to(z.dtype)
    if weights is not None:
        y = y * weights.to(z.dtype)
    same = _same_group(groups, len(y), y.device)
    lse = torch.logsumexp(z.unsqueeze(0).expand(len(z), -1).masked_fill(~same, float("-inf")), dim=1)  # (B,)
    total = (same.to(z.dtype) * y.unsqueeze(0)).sum(dim=1)  # sum of y over row i's group
    share = torch.where(total > 0, y / total.clamp(min=1e-12), torch.zeros_like(y))
    return -(share * (z - lse)).sum() / share.sum().clamp(min=1e-12)


@LOSSES.register("f1_reweighted_loss", aliases=("F1_REWEIGHTED_LOSS",), task_type="binary")
def f1_reweighted_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None,
                       groups: torch.Tensor | None, params: dict[str, Any]) -> torch.Tensor:
    """Sigmoid cross-entropy with the negatives re-weighted towards the F-beta optimum (EasyRec).

    Adaptive scaling (Lu et al., "Adaptive Scaling for Sparse Detection in Information
    Extraction", ACL 2018) as EasyRec's ``f1_reweight_sigmoid_cross_entropy`` computes it over a
    batch of ``B`` rows with ``P = sum y`` positives and ``S = sum sigmoid(z)``: positives weigh
    1, negatives ``S / (beta^2 P + (B - P) - (B - S) + 1e-8)`` (the weight is not detached);
    the sigmoid cross-entropy against ``y (1 - s) + s / 2`` (label smoothing ``s``) is averaged
    over the rows with a non-zero weight (times the sample weights). ``params``:
    ``f1_beta_square`` (default 1), ``label_smoothing`` (default 0).

    Shape:
        logits, labels, weights ``(B,)`` -> ``()``.

    Example:
        >>> z, y = torch.tensor([0.0, 0.0]), torch.tensor([1.0, 0.0])
        >>> # S = 1, P = 1: negative weight 1 / (1 + 1 - 1) = 1, so the plain mean: ln 2
        >>> round(float(f1_reweighted_loss(z, y, None, None, {})), 4)
        0.6931
    """
    y = labels.to(logits.dtype)
    beta_square = float(params.get("f1_beta_square", 1.0))
    smoothing = float(params.get("label_smoothing", 0.0))
    rows = float(len(y))
    positives, score = y.sum(), torch.sigmoid(logits).sum()
    negative_weight = score / (beta_square * positives + (rows - positives) - (rows - score) + 1e-8)
    row_weight = torch.where(y == 1.0, torch.ones_like(y), negative_weight)
    if weights is not None:
        row_weight = row_weight * weights.to(logits.dtype)
    target = y * (1.0 - smoothing) + 0.5 * smoothing if smoothing else y
    values = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (values * row_weight).sum() / (row_weight != 0).sum().clamp(min=1)


@LOSSES.register("jrc_loss", aliases=("JRC_LOSS",), kind="listwise", task_type="multiclass")
def jrc_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None, groups: torch.Tensor | None,
             params: dict[str, Any]) -> torch.Tensor:
    """JRC: calibration and in-session ranking from two logits (Sheng et al., "Joint Optimization of
    Ranking and Calibration with Contextualized Hybrid Model", KDD 2023), as EasyRec's ``JRC_LOSS``.

    ``alpha * CE + (1 - alpha) * GE``: ``CE`` is the softmax cross-entropy of the ``(B, 2)``
    logits against the 0/1 labels (weighted mean); ``GE`` ranks within each session ``s``
    (``groups``): a positive row ``i`` gets ``-log softmax_s(z[:, 1])_i``, a negative row
    ``-log softmax_s(z[:, 0])_i``, the softmax over the session's rows (``same_label_loss``) or
    over the row and the session's rows of the other label only (not ``same_label_loss``).
    With ``same_label_loss`` a column ``j`` of EasyRec's ``(B, B)`` form holds its session's
    whole sum, divided by the session size and weighted by ``w_j``, averaged over ``j``;
    without it, each row's own term weighted by ``w_j``, averaged. ``params``: ``alpha``
    (default 0.5), ``same_label_loss`` (default True).

    Shape:
        logits ``(B, 2)``, labels, weights, groups ``(B,)`` -> ``()``.

    Example:
        >>> z = torch.tensor([[0.0, 1.0], [0.0, 0.0]]); y = torch.tensor([1, 0])
        >>> # CE = (log(1 + e^-1) + log 2) / 2; one session: GE = (log(1 + e^-1) + log 2) / 2
        >>> round(float(jrc_loss(z, y, None, None, {"alpha": 0.5})), 4)
        0.5032
    """
    y = labels.long()
    alpha = float(params.get("alpha", 0.5))
    ce = weighted_mean(F.cross_entropy(logits, y, reduction="none"), weights)
    same = _same_group(groups, len(y), y.device)  # (B, B)
    positive = y == 1
    w = torch.ones_like(logits[:, 0]) if weights is None else weights.to(logits.dtype)
    if params.get("same_label_loss", True):
        # each session's softmax over its rows, of the positive logit for positives, the negative one for negatives
        row_terms = []
        for column, is_label in ((1, positive), (0, ~positive)):
            z = logits[:, column].unsqueeze(0).expand(len(y), -1).masked_fill(~same, float("-inf"))  # (B_j, B_i)
            log_p = z - torch.logsumexp(z, dim=1, keepdim=True)
            row_terms.append(-(log_p.masked_fill(~same, 0.0) * (same & is_label.unsqueeze(0)).to(z.dtype)).sum(1))
        session_size = same.sum(dim=1).to(logits.dtype)
        ge = (w * (row_terms[0] + row_terms[1]) / session_size).mean()
    else:
        # row j against the rows of its session with the other label: softmax over {j} and those rows
        other = same & (positive.unsqueeze(0) != positive.unsqueeze(1))
        candidates = other | torch.eye(len(y), dtype=torch.bool, device=y.device)
        z = torch.where(positive, logits[:, 1], logits[:, 0])  # a row's logit of its own label's column
        column = torch.where(positive.unsqueeze(1), logits[:, 1].unsqueeze(0), logits[:, 0].unsqueeze(0))
        scores = column.masked_fill(~candidates, float("-inf"))  # (B_j, B_i)
        ge = (w * -(z - torch.logsumexp(scores, dim=1))).mean()
    return alpha * ce + (1.0 - alpha) * ge
