"""Tower losses by hand: weighted pointwise, pairwise logistic within groups, listwise softmax."""

from __future__ import annotations

import math

import pytest
import torch

from recblocks.core.errors import ConfigError
from recblocks.models import parse_model_config
from recblocks.tasks import parse_task_config
from recblocks.tasks.heads import BinaryClassificationTask
from recblocks.tasks.losses import (LOSSES, f1_reweighted_loss, jrc_loss, listwise_softmax_loss,
                                    pairwise_logistic_loss, weighted_mean)


def test_registry_names_and_easyrec_aliases() -> None:
    assert LOSSES.canonical("PAIRWISE_LOGISTIC_LOSS") == "pairwise_logistic_loss"
    assert LOSSES.canonical("LISTWISE_RANK_LOSS") == "listwise_rank_loss"
    assert LOSSES.canonical("CLASSIFICATION") == "classification"
    assert LOSSES.canonical("L2_LOSS") == "l2_loss"


def test_weighted_pointwise_losses_by_hand() -> None:
    z, y = torch.tensor([0.0, 0.0, 0.0]), torch.tensor([1.0, 0.0, 1.0])
    w = torch.tensor([2.0, 0.0, 1.0])
    # every row's BCE is ln 2; sum(w l) / count(w != 0) = 3 ln 2 / 2
    assert float(LOSSES.get("classification").fn(z, y, w, None, {})) == pytest.approx(1.5 * math.log(2))
    assert float(LOSSES.get("classification").fn(z, y, None, None, {})) == pytest.approx(math.log(2))
    assert float(LOSSES.get("l2_loss").fn(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.0]),
                                          torch.tensor([1.0, 0.5]), None, {})) == pytest.approx((1 + 4.5) / 2)
    assert float(weighted_mean(torch.tensor([4.0]), torch.tensor([0.0]))) == 0.0


def test_pairwise_logistic_counts_only_pairs_inside_a_group() -> None:
    z = torch.tensor([1.0, 0.0, 3.0, 0.0])
    y = torch.tensor([1.0, 0.0, 0.0, 1.0])
    g = torch.tensor([5, 5, 6, 6])
    # pairs: (0 over 1) diff 1; (3 over 2) diff -3  -> mean of softplus(-1), softplus(3)
    expected = (math.log1p(math.exp(-1.0)) + math.log1p(math.exp(3.0))) / 2
    assert float(pairwise_logistic_loss(z, y, None, g, {})) == pytest.approx(expected)
    # without groups every positive/negative pair counts: (0,1) 1, (0,2) -2, (3,1) 0, (3,2) -3
    pairs = [1.0, -2.0, 0.0, -3.0]
    expected = sum(math.log1p(math.exp(-d)) for d in pairs) / 4
    assert float(pairwise_logistic_loss(z, y, None, None, {})) == pytest.approx(expected)
    assert float(pairwise_logistic_loss(z, torch.zeros(4), None, g, {})) == 0.0  # no pair: 0


def test_listwise_softmax_by_hand() -> None:
    z = torch.tensor([1.0, 0.0, 2.0, 2.0, 0.0])
    y = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0])
    g = torch.tensor([1, 1, 2, 2, 3])  # group 3 has no positive: it does not count
    first = -(1.0 - math.log(math.exp(1.0) + 1.0))
    second = -(2.0 - math.log(2 * math.exp(2.0)))  # two positives, half each, same score
    assert float(listwise_softmax_loss(z, y, None, g, {})) == pytest.approx((first + second) / 2)
    half = float(listwise_softmax_loss(z, y, None, g, {"temperature": 2.0}))
    assert half == pytest.approx(float(listwise_softmax_loss(z / 2, y, None, g, {})))


def test_losses_list_must_fit_the_tower() -> None:
    raw = {"model_class": "MultiTaskModel",
           "feature_groups": [{"group_name": "g", "feature_names": ["a"]}],
           "backbone": {"blocks": [{"name": "x", "inputs": [{"feature_group_name": "g"}], "input_layer": {}}]},
           "model_params": {"task_towers": [{"tower_name": "rating", "label_name": "r", "loss_type": "L2_LOSS",
                                             "losses": [{"loss_type": "CLASSIFICATION"}]}]}}
    with pytest.raises(ConfigError, match=r"task_towers\[0\]\.losses\[0\]\.loss_type: the loss does not fit a "
                                          "regression task"):
        parse_model_config(raw)
    raw["model_params"]["task_towers"][0]["losses"] = [{"loss_type": "PAIRWISE_LOGISTC_LOSS"}]
    with pytest.raises(ConfigError, match="did you mean 'pairwise_logistic_loss'"):
        parse_model_config(raw)
    raw["model_params"]["task_towers"][0]["losses"] = [{"loss_type": "L2_LOSS", "session_name": "user"}]
    with pytest.raises(ConfigError, match="l2_loss is pointwise"):
        parse_model_config(raw)


def test_f1_reweighted_loss_by_hand() -> None:
    z, y = torch.zeros(3), torch.tensor([1.0, 0.0, 0.0])
    # S = sum sigmoid(z) = 1.5, P = 1, B = 3, beta^2 = 4: negatives weigh 1.5 / (4 + 2 - 1.5) = 1/3
    params = {"f1_beta_square": 4.0}
    expected = math.log(2) * (1 + 2 / 3) / 3
    assert float(f1_reweighted_loss(z, y, None, None, params)) == pytest.approx(expected)
    # sample weights multiply the row weights; the mean runs over the non-zero ones: (1 + 1/3) ln 2 / 2
    w = torch.tensor([1.0, 0.0, 1.0])
    assert float(f1_reweighted_loss(z, y, w, None, params)) == pytest.approx(math.log(2) * (4 / 3) / 2)
    # full label smoothing makes every target 1/2
    z2 = torch.tensor([2.0, -2.0])
    smooth = float(f1_reweighted_loss(z2, torch.tensor([1.0, 0.0]), None, None, {"label_smoothing": 1.0}))
    negative_weight = 1.0 / (1 + 1 - 1)  # S = sigmoid(2) + sigmoid(-2) = 1
    bce = float(torch.nn.functional.binary_cross_entropy_with_logits(z2, torch.full((2,), 0.5), reduction="none")
                .mul(torch.tensor([1.0, negative_weight])).mean())
    assert smooth == pytest.approx(bce)
    assert LOSSES.canonical("F1_REWEIGHTED_LOSS") == "f1_reweighted_loss"


def test_a_task_trains_its_losses_list_instead_of_its_own_loss() -> None:
    task = BinaryClassificationTask.from_config({"label": "y", "losses": [
        {"loss_type": "F1_REWEIGHTED_LOSS", "f1_beta_square": 4.0}, {"loss_type": "PAIR_WISE_LOSS", "weight": 0.5}]})
    z, y = torch.zeros(3), torch.tensor([1.0, 0.0, 0.0])
    expected = math.log(2) * (1 + 2 / 3) / 3 + 0.5 * math.log(2)  # pairs (0, 1), (0, 2): softplus(0) each
    assert float(task.objective(z, y)) == pytest.approx(expected)
    assert float(task.objective(z, y)) != pytest.approx(float(task.loss(z, y)))
    plain = BinaryClassificationTask.from_config({"label": "y"})
    assert float(plain.objective(z, y)) == float(plain.loss(z, y))


def test_a_task_losses_list_must_fit_the_task() -> None:
    with pytest.raises(ConfigError, match=r"model\.task\.losses\[0\]\.loss_type: the loss does not fit a multiclass "
                                          "task"):
        parse_task_config({"type": "multiclass", "num_classes": 3, "label": "y",
                           "losses": [{"loss_type": "F1_REWEIGHTED_LOSS"}]}, "model.task")
    with pytest.raises(ConfigError, match=r"model\.task\.losses\[1\]\.loss_type: unknown loss type.*did you mean "
                                          "'f1_reweighted_loss'"):
        parse_task_config({"label": "y", "losses": [{"loss_type": "classification"},
                                                    {"loss_type": "f1_reweigted_loss"}]}, "model.task")


def _jrc_by_loops(z: list[list[float]], y: list[int], s: list[int], w: list[float], alpha: float,
                  same_label: bool) -> float:
    """JRC from its definition, one row and one session at a time (EasyRec's JRC_LOSS)."""
    n = len(y)
    ce = sum(w[j] * -(z[j][y[j]] - math.log(math.exp(z[j][0]) + math.exp(z[j][1]))) for j in range(n))
    ce /= sum(1 for j in range(n) if w[j] != 0)
    ge = 0.0
    for j in range(n):
        session = [i for i in range(n) if s[i] == s[j]]
        if same_label:  # column j: its session's whole sum over both labels, / session size
            total = 0.0
            for label in (1, 0):
                norm = math.log(sum(math.exp(z[i][label]) for i in session))
                total += sum(-(z[i][label] - norm) for i in session if y[i] == label)
            ge += w[j] * total / len(session)
        else:  # row j against the session's rows of the other label
            label = y[j]
            candidates = [j] + [i for i in session if y[i] != label]
            norm = math.log(sum(math.exp(z[i][label]) for i in candidates))
            ge += w[j] * -(z[j][label] - norm)
    return alpha * ce + (1 - alpha) * ge / n


@pytest.mark.parametrize("same_label", [True, False])
def test_jrc_loss_matches_its_definition_row_by_row(same_label: bool) -> None:
    torch.manual_seed(0)
    z = torch.randn(7, 2)
    y = torch.tensor([1, 0, 0, 1, 1, 0, 0])
    s = torch.tensor([3, 3, 3, 5, 5, 5, 9])  # three sessions; the last holds a single negative
    w = torch.tensor([1.0, 2.0, 0.5, 1.0, 0.0, 1.0, 1.5])
    params = {"alpha": 0.3, "same_label_loss": same_label}
    got = float(LOSSES.get("JRC_LOSS").fn(z, y, w, s, params))
    want = _jrc_by_loops(z.tolist(), y.tolist(), s.tolist(), w.tolist(), 0.3, same_label)
    assert got == pytest.approx(want, rel=1e-5)
    unweighted = float(jrc_loss(z, y, None, s, params))
    assert unweighted == pytest.approx(_jrc_by_loops(z.tolist(), y.tolist(), s.tolist(), [1.0] * 7, 0.3, same_label),
                                       rel=1e-5)
    z.requires_grad_(True)
    jrc_loss(z, y, w, s, params).backward()
    assert torch.isfinite(z.grad).all()


def test_jrc_loss_fits_two_class_towers_only() -> None:
    entry = LOSSES.get("JRC_LOSS")
    assert (entry.kind, entry.facts()["task_type"]) == ("listwise", "multiclass")
    tower = {"tower_name": "cvr", "label_name": "buy", "num_class": 2,
             "losses": [{"loss_type": "JRC_LOSS", "session_name": "user_id", "alpha": 0.5}]}
    model = {"model_class": "MultiTaskModel", "feature_groups": [{"group_name": "all", "feature_names": ["a"]}],
             "backbone": {"blocks": [{"name": "all", "inputs": [{"feature_group_name": "all"}], "input_layer": {}}]},
             "model_params": {"task_towers": [tower]}}
    parse_model_config(model)
    with pytest.raises(ConfigError, match=r"task_towers\[0\]\.losses\[0\]\.loss_type: the loss does not fit a binary"):
        parse_model_config({**model, "model_params": {"task_towers": [{**tower, "num_class": 1}]}})
