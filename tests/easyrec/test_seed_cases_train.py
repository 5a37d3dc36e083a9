"""Acceptance 1: each of the ten seed cases, its ``model_config`` verbatim, trains and its loss falls.

The fixture pipeline and the verbatim block are written as one ``.config`` beside small header-less
data files (tests/easyrec/_seed_runs.py); ``recblocks.runs.load_config_file`` reads it as
``recblocks train`` does, and two short epochs are trained.
"""

from __future__ import annotations

import math

import pytest

from recblocks.runs import load_config_file, train_run

from ._seed_runs import DATA_OF_CASE, short_training, write_seed_case


@pytest.mark.parametrize("number", sorted(DATA_OF_CASE))
def test_seed_case_trains_and_its_loss_falls(number, tmp_path):
    config = write_seed_case(number, tmp_path)
    result = train_run(short_training(load_config_file(config)), tmp_path / "run")
    first, last = result.history.train_loss
    assert math.isfinite(first) and math.isfinite(last)
    assert last < first, f"seed case {number}: training loss {first:.4f} -> {last:.4f}"
    assert all(math.isfinite(value) for value in result.valid_metrics.values()), result.valid_metrics
