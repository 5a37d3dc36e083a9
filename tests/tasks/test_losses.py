"""Tower losses by hand: weighted pointwise, pairwise logistic within groups, listwise softmax."""

from __future__ import annotations

import math

import pytest
import torch

from recblocks.core.errors import ConfigError
from recblocks.models import parse_model_config
from recblocks.tasks.losses import LOSSES, listwise_softmax_loss, pairwise_logistic_loss, weighted_mean


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
                                          "regression tower"):
        parse_model_config(raw)
    raw["model_params"]["task_towers"][0]["losses"] = [{"loss_type": "PAIRWISE_LOGISTC_LOSS"}]
    with pytest.raises(ConfigError, match="did you mean 'pairwise_logistic_loss'"):
        parse_model_config(raw)
    raw["model_params"]["task_towers"][0]["losses"] = [{"loss_type": "L2_LOSS", "session_name": "user"}]
    with pytest.raises(ConfigError, match="l2_loss is pointwise"):
        parse_model_config(raw)
