"""The retrieval zoo (``configs/ml100k_retrieval``): every config plans without data into a MatchModel
whose two towers end in vectors of one width, and a forward pass on random ids gives them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from recblocks.models import MatchModel
from recblocks.runs import plan_rows
from recblocks.runs.config_file import load_config_file

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs" / "ml100k_retrieval").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_retrieval_config_plans_and_runs(path: Path) -> None:
    model, rows, _ = plan_rows(load_config_file(path), fit_data=False)
    assert isinstance(model, MatchModel) and rows[-1]["block"] == "similarity"
    g = torch.Generator().manual_seed(0)
    features = {}
    for slot in model.embeddings.slots.values():
        shape = (4, slot.max_len) if slot.is_list else (4,)
        features[slot.feature] = torch.randint(1, max(slot.num_embeddings, 2), shape, generator=g)
    model.eval()
    with torch.no_grad():
        out = model(features)
    assert out.user.shape == out.item.shape == (4, model.dim)
    assert torch.allclose(out.user.norm(dim=-1), torch.ones(4), atol=1e-5)  # cosine: unit vectors
