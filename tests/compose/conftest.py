"""Shared schemas, the seed-004 DLRM body and random batches for the composition tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from recblocks.blocks.compose import (
    ContinuousFeatures,
    DotInteractionBlock,
    EmbeddingFeatures,
    Filter,
    MLPBlock,
    ParallelBlock,
    Tags,
)
from recblocks.features.schema import Schema

REPO = Path(__file__).resolve().parents[2]
ML100K = REPO.parent / "shared" / "data" / "ml-100k-ctr"

#: The fixed ML-100K CTR split as features: every string column sparse, genres multi-valued,
#: release_year parsed as a number ("unknown" -> missing -> filled) and tagged continuous.
ML100K_FEATURES = [
    *({"name": n, "kind": "sparse"} for n in ("user_id", "movie_id", "gender", "age", "occupation", "zip3",
                                              "genre_first")),
    {"name": "genres", "kind": "multi", "separator": "^", "max_len": 6},
    {"name": "release_year", "kind": "dense", "tags": ["continuous"], "fill_value": 1995.0,
     "normalization": "standard"},
]

#: The seed notebook's sub-schema: four categorical and two continuous features.
SEED_FEATURES = [
    {"name": "userId", "kind": "sparse"},
    {"name": "movieId", "kind": "sparse"},
    {"name": "title", "kind": "sparse"},
    {"name": "gender", "kind": "sparse"},
    {"name": "TE_zipcode_rating", "kind": "dense", "tags": ["continuous"]},
    {"name": "TE_movieId_rating", "kind": "dense", "tags": ["continuous"]},
]


def dlrm(embedding_dim: int = 64, continuous_width: int = 64):
    """Seed 004's DLRM, written with the composition API."""
    deep_continuous = ContinuousFeatures(tags=Tags.CONTINUOUS).connect(MLPBlock([continuous_width]))
    inputs = ParallelBlock({"embeddings": EmbeddingFeatures(embedding_dim=embedding_dim),
                            "deep_continuous": deep_continuous})
    interaction = inputs.connect_with_shortcut(DotInteractionBlock(), shortcut_filter=Filter("deep_continuous"),
                                               aggregation="concat")
    return interaction.connect(MLPBlock([64, 128, 512]))


def random_features(schema: Schema | list, vocab: dict[str, int], batch: int = 5,
                    seed: int = 0) -> dict[str, torch.Tensor]:
    """A random batch of preprocessed features (ids within the table sizes, 0 = padding)."""
    schema = schema if isinstance(schema, Schema) else Schema(schema)
    g = torch.Generator().manual_seed(seed)
    out = {}
    for f in schema:
        if f.kind == "dense":
            out[f.name] = torch.randn(batch, generator=g)
        elif f.kind in ("multi", "sequence"):
            out[f.name] = torch.randint(0, vocab[f.name], (batch, f.max_len), generator=g)
        else:
            out[f.name] = torch.randint(1, vocab[f.name], (batch,), generator=g)
    return out


@pytest.fixture
def make_dlrm() -> Callable:
    return dlrm


@pytest.fixture
def features_of() -> Callable:
    return random_features


@pytest.fixture
def ml100k_features() -> list[dict]:
    return [dict(f) for f in ML100K_FEATURES]


@pytest.fixture
def seed_features() -> list[dict]:
    return [dict(f) for f in SEED_FEATURES]


@pytest.fixture
def ml100k_dir() -> Path:
    """The fixed split; the test is skipped (with the path) when it is absent."""
    if not all((ML100K / f"{s}.parquet").is_file() for s in ("train", "valid", "test")):
        pytest.skip(f"the ML-100K CTR split is absent ({ML100K}); it lives in ../shared/data beside the repo")
    return ML100K
