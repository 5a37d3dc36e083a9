"""``recblocks predict`` / ``evaluate`` on EasyRec's header-less CSV/TSV: a bare path is read as the
run's training text was (``input_fields`` order gives the column names, the ``separator`` splits)."""

from __future__ import annotations

import json
import re
import shutil

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from recblocks.cli.main import cli

from ._seed_runs import write_seed_case

SHORT = ["--set", "train.batch_size=128", "--set", "train.epochs=1", "--set", "train.progress=false",
         "--set", "train.tensorboard=false"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("case6")
    config = write_seed_case(6, folder)
    result = CliRunner().invoke(cli, ["train", str(config), "-o", str(folder / "run"), *SHORT])
    assert result.exit_code == 0, result.output
    return folder


def test_predict_reads_a_header_less_tsv_by_the_configs_input_fields(trained, tmp_path):
    valid = trained / "data" / "movielens_valid.tsv"
    lines = valid.read_text(encoding="utf-8").splitlines()
    assert not lines[0].startswith("label")  # no header line: the first line is a data row
    no_suffix = tmp_path / "movies_test_data"  # EasyRec's own data files have no suffix
    shutil.copy(valid, no_suffix)
    for data in (valid, no_suffix):
        out = tmp_path / f"scores_{data.name}.parquet"
        result = CliRunner().invoke(cli, ["predict", str(trained / "run"), "--data", str(data), "-o", str(out),
                                          "--passthrough", "user_id"])
        assert result.exit_code == 0, result.output
        scores = pq.read_table(out)
        assert scores.num_rows == len(lines)
        assert scores.column("user_id").to_pylist()[:3] == [int(line.split("\t")[1]) for line in lines[:3]]
        probabilities = scores.column(scores.column_names[-1]).to_pylist()
        assert all(0.0 < p < 1.0 for p in probabilities)


def test_evaluate_on_the_header_less_eval_file_gives_the_runs_valid_metrics(trained):
    result = CliRunner().invoke(cli, ["evaluate", str(trained / "run"), "--data",
                                      str(trained / "data" / "movielens_valid.tsv")])
    assert result.exit_code == 0, result.output
    auc = float(re.search(r"\bauc=([0-9.]+)", result.output).group(1))
    recorded = json.loads((trained / "run" / "metrics.json").read_text(encoding="utf-8"))["valid"]["auc"]
    assert auc == pytest.approx(recorded, abs=1e-4)
