"""Circle loss and multi-similarity loss over same-session pairs, computed by hand."""

from __future__ import annotations

import doctest
import math

import pytest
import torch

from recblocks.core.errors import ConfigError
from recblocks.tasks import LOSSES, metric_losses
from recblocks.tasks.losses import LossTermConfig
from recblocks.tasks.metric_losses import circle_loss, multi_similarity_loss

#: unit rows with cosines s01 = 0.6, s02 = 0, s12 = 0.8
ROWS = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
SESSIONS = torch.tensor([1, 1, 2])
LABELS = torch.tensor([1, 1, 1])


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_the_docstring_examples_run() -> None:
    assert doctest.testmod(metric_losses).failed == 0


def test_circle_loss_by_hand() -> None:
    # row 0: positive 1 (s = 0.6): a_p = 1.25 - 0.6 = 0.65, logit -0.65 * (0.6 - 0.75) * 32 = 3.12;
    #        negative 2 (s = 0): a_n = 0.25, logit 0.25 * (0 - 0.25) * 32 = -2
    # row 1: positive 0: logit 3.12; negative 2 (s = 0.8): a_n = 1.05, logit 1.05 * 0.55 * 32 = 18.48
    # row 2: no positive pair: 0
    expected = (softplus(3.12 - 2.0) + softplus(3.12 + 18.48) + 0.0) / 3
    value = circle_loss(ROWS, LABELS, None, SESSIONS, {"margin": 0.25, "gamma": 32})
    assert float(value) == pytest.approx(expected, rel=1e-5)


def test_circle_loss_pairs_by_label_too_and_normalises_the_rows() -> None:
    # a different label makes (0, 1) a negative pair: no row has a positive, the loss is 0
    assert float(circle_loss(ROWS * 3.0, torch.tensor([1, 0, 1]), None, SESSIONS, {})) == 0.0
    # without sessions the label alone pairs: every pair positive, no negatives: 0 as well
    assert float(circle_loss(ROWS, LABELS, None, None, {})) == 0.0


def test_circle_loss_weights_carry_no_gradient() -> None:
    """The pair weights a_p, a_n are constants for the gradient (EasyRec's stop_gradient)."""
    rows = ROWS.clone().requires_grad_(True)
    circle_loss(rows, LABELS, None, SESSIONS, {"margin": 0.25, "gamma": 2.0}).backward()

    def by_hand(detach: bool) -> torch.Tensor:
        x = ROWS.clone().requires_grad_(True)
        s = x @ x.T  # unit rows: cosines
        held = s.detach() if detach else s
        # row 0: pair (0, 1) positive, (0, 2) negative; row 1: (1, 0) positive, (1, 2) negative; row 2: 0
        terms = []
        for i, p, n in ((0, 1, 2), (1, 0, 2)):
            logit_p = -torch.relu(1.25 - held[i, p]) * (s[i, p] - 0.75) * 2.0
            logit_n = torch.relu(held[i, n] + 0.25) * (s[i, n] - 0.25) * 2.0
            terms.append(torch.nn.functional.softplus(logit_p + logit_n))
        (sum(terms) / 3).backward()
        return x.grad

    assert rows.grad is not None
    # normalisation of already-unit rows changes the gradient only along each row: compare the tangent part
    def tangent(grad: torch.Tensor) -> torch.Tensor:
        return grad - (grad * ROWS).sum(dim=1, keepdim=True) * ROWS

    torch.testing.assert_close(tangent(rows.grad), tangent(by_hand(detach=True)))
    assert not torch.allclose(tangent(rows.grad), tangent(by_hand(detach=False)))


def test_multi_similarity_loss_by_hand() -> None:
    # row 0: pos s = 0.6: log(1 + e^{-2 (0.6 - 1)}) / 2; neg s = 0: log(1 + e^{50 (0 - 1)}) / 50
    # row 1: pos s = 0.6 (same); neg s = 0.8: log(1 + e^{-10}) / 50
    # row 2: no positive; negatives s = 0 and 0.8: log(1 + e^-50 + e^-10) / 50
    pos = math.log1p(math.exp(0.8)) / 2
    expected = (pos + math.log1p(math.exp(-50)) / 50 + pos + math.log1p(math.exp(-10)) / 50
                + math.log1p(math.exp(-50) + math.exp(-10)) / 50) / 3
    value = multi_similarity_loss(ROWS, LABELS, None, SESSIONS, {"alpha": 2, "beta": 50, "lamb": 1})
    assert float(value) == pytest.approx(expected, rel=1e-5)


def test_multi_similarity_loss_clips_negative_cosines_at_zero() -> None:
    rows = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])  # one positive pair with cosine -1, read as 0
    value = multi_similarity_loss(rows, None, None, None, {"alpha": 2.0, "lamb": 1.0})
    assert float(value) == pytest.approx(math.log1p(math.exp(2.0)) / 2, rel=1e-6)


def test_registrations_and_refusals() -> None:
    assert LOSSES.get("CIRCLE_LOSS").fn is circle_loss
    assert LOSSES.get("MULTI_SIMILARITY_LOSS").fn is multi_similarity_loss
    assert LOSSES.get("circle_loss").facts() == {"kind": "pairwise", "task_type": "embedding"}
    with pytest.raises(ConfigError, match=r"^tower\.loss_type: the loss does not fit a binary task"):
        LossTermConfig(loss_type="circle_loss").check("binary", "tower")
    with pytest.raises(ConfigError, match=r"^circle_loss: sample weights are not read"):
        circle_loss(ROWS, LABELS, torch.ones(3), SESSIONS, {})
    with pytest.raises(ConfigError, match=r"^multi_similarity_loss: the loss reads one embedding per row"):
        multi_similarity_loss(torch.ones(3), LABELS, None, SESSIONS, {})


def test_tensorflow_gives_the_same_losses_on_a_fixed_batch() -> None:
    """``benchmarks/easyrec_cml_tf_reference.py`` printed these with TensorFlow 2.21 (EasyRec's formulas);
    EasyRec's own multi-similarity function broadcasts its pair mask to B x B x B and gives 0.8606 there."""
    from tests.metrics.test_in_batch import TF_BATCH

    embeddings, labels, sessions = (torch.tensor(x) for x in TF_BATCH)
    circle = circle_loss(embeddings, labels, None, sessions, {"margin": 0.25, "gamma": 64.0})
    assert float(circle) == pytest.approx(87.39315032958984, rel=1e-6)
    assert float(multi_similarity_loss(embeddings, labels, None, sessions, {})) == pytest.approx(1.0324763059616089,
                                                                                                 rel=1e-6)
