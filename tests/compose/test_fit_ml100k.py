"""Seed 004's DLRM in Python on the fixed ML-100K CTR split: ``model.fit`` and
``recblocks train`` on its saved config reach the same test AUC.

Skipped (with the path) when ../shared/data/ml-100k-ctr is absent. Few steps, so it takes seconds.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from recblocks.blocks.compose import (
    ContinuousFeatures,
    DotInteractionBlock,
    EmbeddingFeatures,
    Filter,
    MLPBlock,
    ParallelBlock,
    Tags,
)
from recblocks.cli.main import cli
from recblocks.core.errors import DataError
from recblocks.runs import Model
from recblocks.tasks import BinaryClassificationTask, LogitsTemperatureScaler
from recblocks.training.trainer import seed_everything

TRAIN = {"epochs": 1, "max_steps": 30, "batch_size": 1024, "seed": 0, "progress": False}


def seed_dlrm(features: list[dict]) -> Model:
    """The notebook's DLRM, as written in Python."""
    deep_continuous = ContinuousFeatures(tags=Tags.CONTINUOUS).connect(MLPBlock([64]))
    inputs = ParallelBlock({"embeddings": EmbeddingFeatures(embedding_dim=64), "deep_continuous": deep_continuous})
    interaction = inputs.connect_with_shortcut(DotInteractionBlock(), shortcut_filter=Filter("deep_continuous"),
                                               aggregation="concat")
    body = interaction.connect(MLPBlock([64, 128, 512]))
    return Model(body, BinaryClassificationTask("label", pre=LogitsTemperatureScaler(temperature=2)), features)


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
def test_fit_and_config_reach_the_same_auc(ml100k_dir, ml100k_features, tmp_path):
    splits = {s: str(ml100k_dir / f"{s}.parquet") for s in ("train", "valid", "test")}
    model = seed_dlrm(ml100k_features)
    result = model.fit(splits["train"], splits["valid"], splits["test"], **TRAIN)
    fit_auc = result.test_metrics["auc"]
    assert 0.6 < fit_auc < 1.0
    assert model.evaluate(splits["test"])["auc"] == pytest.approx(fit_auc, abs=1e-9)

    path = model.save_config(tmp_path / "dlrm.yaml", data=splits, train=TRAIN)  # to_run_config as YAML
    seed_everything(TRAIN["seed"])  # as Model.fit does, so the initial weights depend only on the seed
    run = CliRunner().invoke(cli, ["train", str(path), "--output", str(tmp_path / "run")])
    assert run.exit_code == 0, run.output
    config_auc = json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]["auc"]
    assert abs(fit_auc - config_auc) < 0.002
    print(f"DLRM test AUC: fit {fit_auc:.6f}, config {config_auc:.6f}")

    test = pq.read_table(splits["test"]).slice(0, 100)
    assert model.predict(test)["ctr"].shape == (100,)
    assert model.predict(test.drop(["label"]))["ctr"].shape == (100,)  # no label needed to predict
    with pytest.raises(DataError, match="label 'label': column 'label' is missing"):
        model.evaluate(test.drop(["label"]))


def test_a_label_missing_from_the_data_is_named(ml100k_dir, ml100k_features):
    model = seed_dlrm(ml100k_features)
    model = Model(model.body, BinaryClassificationTask("labels"), ml100k_features)
    with pytest.raises(DataError) as err:
        model.fit(str(ml100k_dir / "train.parquet"), **TRAIN)
    assert "label 'labels'" in str(err.value) and "did you mean 'label'?" in str(err.value)
