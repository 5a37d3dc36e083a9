"""Every ``configs/multitask/*.yaml`` trains briefly on a small synthetic multi-task set; ESMM by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from recblocks.models.esmm import product_logit
from recblocks.runs import train_run
from recblocks.runs.config_file import load_config_file

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs" / "multitask").glob("*.yaml"))


def test_the_multitask_zoo() -> None:
    names = {p.stem for p in CONFIGS}
    assert {"mmoe_senet", "dbmtl_masknet", "masknet_ppnet_mmoe", "esmm", "sharebottom"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_multitask_config_trains_briefly(path: Path, tmp_path: Path) -> None:
    raw = load_config_file(path)
    raw["data"]["synthetic"]["num_rows"] = 1500
    raw["train"].update({"epochs": 1, "batch_size": 256, "progress": False})
    result = train_run(raw, tmp_path / "run")
    tasks = ["ctr", "cvr", "ctcvr"] if path.stem == "esmm" else ["ctr", "cvr"]
    for task in tasks:
        assert 0.0 <= result.valid_metrics[f"{task}/auc"] <= 1.0
    assert {"valid/click", "valid/conversion", "valid/conversion_clicked"} <= set(result.bayes_auc)
    if path.stem == "esmm":  # the cvr tower is trained through ctcvr: the total counts ctr and ctcvr
        expected = result.valid_metrics["ctr/loss"] + result.valid_metrics["ctcvr/loss"]
        assert result.valid_metrics["loss"] == pytest.approx(expected)
    terms = result.history.epochs[0].train_terms
    assert list(terms)[:2] == (["task/ctr", "task/ctcvr"] if path.stem == "esmm" else ["task/ctr", "task/cvr"])


def test_product_logit_is_the_logit_of_the_product() -> None:
    a, b = torch.tensor([-3.0, 0.0, 2.0, 30.0]), torch.tensor([1.0, 0.0, -5.0, 30.0])
    expected = torch.sigmoid(a) * torch.sigmoid(b)
    torch.testing.assert_close(torch.sigmoid(product_logit(a, b)), expected, rtol=1e-5, atol=1e-6)
