"""``recblocks.load(run)`` scores exactly as ``recblocks predict`` / ``evaluate`` for every zoo config,
and so does the scorer of ``recblocks serve`` given the rows as JSON.

The default run checks one config per zoo folder; ``RECBLOCKS_SLOW=1`` checks them all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import recblocks
from recblocks.cli.main import cli
from recblocks.core.errors import ConfigError, DataError
from recblocks.runs import Model, UnfinishedRunError, evaluate_run
from recblocks.runs.scoring import score_columns
from recblocks.serve.scorer import RunScorer
from tests.runs.small_zoo import CONFIGS, small_data, train_small

REPRESENTATIVE = {"movielens/deepfm.yaml", "ml100k_ctr/dcn_v2.yaml", "ml100k_seq/din.yaml",
                  "ml100k_multitask/mmoe_senet.yaml", "ml100k_retrieval/dssm.yaml", "multitask/esmm.yaml"}
SLOW = os.environ.get("RECBLOCKS_SLOW") == "1"


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("small-zoo")


@pytest.mark.parametrize("name", [n for n in CONFIGS if SLOW or n in REPRESENTATIVE])
def test_loaded_model_predicts_what_recblocks_predict_writes(name: str, data_root: Path, tmp_path: Path) -> None:
    data = small_data(name.split("/")[0], data_root, name)
    if isinstance(data, str):
        assert "no data rule" not in data, data
        pytest.skip(data)
    run = train_small(name, data, tmp_path / "run")
    test = data / "test.parquet"
    result = CliRunner().invoke(cli, ["predict", str(run), "--data", str(test), "-o", str(tmp_path / "p.parquet")])
    assert result.exit_code == 0, result.output
    written = pq.read_table(tmp_path / "p.parquet")
    model = recblocks.load(run)
    scores = score_columns(model.predict(pq.read_table(test).to_pandas()))  # a pandas frame
    assert list(scores) == written.column_names
    for column in written.column_names:
        assert np.array_equal(scores[column].to_numpy(), written.column(column).to_numpy()), column
    from_path = model.predict(str(test))  # a path, read as the training data was
    assert all(np.array_equal(from_path[k], v) for k, v in model.predict(pq.read_table(test)).items())
    assert model.evaluate(str(test)) == evaluate_run(run, test)[0]
    scorer = RunScorer(run)  # what `recblocks serve` scores JSON rows with
    rows = json.loads(json.dumps(pq.read_table(test).to_pylist()))
    scorer.check(rows)
    served = scorer.score(rows)
    assert list(served) == scorer.outputs == written.column_names
    for column in written.column_names:
        assert np.array_equal(np.asarray(served[column], np.float32), written.column(column).to_numpy()), column


def test_load_refuses_runs_that_predict_refuses(data_root: Path, tmp_path: Path) -> None:
    data = small_data("movielens", data_root)
    if isinstance(data, str):
        pytest.skip(data)
    run = train_small("movielens/deepfm.yaml", data, tmp_path / "run", steps=1)
    loaded = Model.load(run)
    assert loaded.run_dir == run.resolve() and loaded.module is not None and not loaded.module.training
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["environment"]["torch"] and manifest["argv"] and manifest["cwd"]
    failed = {**manifest, "status": "failed", "error": "killed"}
    (run / "run.json").write_text(json.dumps(failed))
    with pytest.raises(UnfinishedRunError, match="failed"):
        recblocks.load(run)
    rows = pq.read_metadata(data / "test.parquet").num_rows
    assert Model.load(run, allow_unfinished=True).predict(str(data / "test.parquet"))["ctr"].shape == (rows,)
    (run / "run.json").write_text(json.dumps(manifest))
    with (run / "model.safetensors").open("r+b") as f:  # same size, other bytes
        f.seek(100)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(DataError, match="model.safetensors"):
        recblocks.load(run)
    with pytest.raises(ConfigError, match="not trained"):
        Model.from_config(run / "config.yaml").predict(str(data / "test.parquet"))
