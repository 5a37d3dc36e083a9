"""docs/export.md's examples run: the plain-Python hash gives recblocks' hashed ids, and an ONNX
export scored with only onnxruntime, numpy and the two JSON files gives ``recblocks predict``'s
scores."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from recblocks.cli.main import cli
from recblocks.features.columns import hash_ids

DOC = Path(__file__).resolve().parents[2] / "docs" / "export.md"

CONFIG = """
data:
  synthetic: {num_rows: 600, num_dense: 2, vocab_sizes: [20, 30, 40], seed: 3}
features:
  - {name: I1, kind: dense, normalization: standard}
  - {name: I2, kind: bucketized, num_buckets: 4}
  - {name: C1, kind: sparse, embedding_dim: 4}
  - {name: C2, kind: hashed, hash_bucket_size: 50, embedding_dim: 4}
  - {name: C3, kind: sparse, embedding_dim: 4}
model:
  feature_groups:
    - {group_name: all, feature_names: [I1, I2, C1, C2, C3]}
  backbone:
    blocks:
      - {name: deep, inputs: [{feature_group_name: all}], component: {class_name: MLP, params: {hidden_units: [8]}}}
    concat_blocks: [deep]
  task: {type: binary, label: label}
train: {epochs: 1, batch_size: 64, progress: false, max_steps: 3}
"""


def _example(kind: str) -> str:
    match = re.search(rf"<!-- export-example: {kind} -->\s*```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert match, f"docs/export.md has no '{kind}' example"
    return match.group(1)


def test_the_documented_hash_gives_recblocks_hashed_ids() -> None:
    scope: dict = {}
    exec(compile(_example("hash"), "docs/export.md", "exec"), scope)  # noqa: S102 - the doc's own example
    values = ["", "a", "user_42", "éè 中文", "x" * 7, "y" * 8, "z" * 9, "0123456789abcdefXYZ", None]
    expected, _ = hash_ids(pa.array(values, type=pa.string()), 1000)
    spec = {"key": "0123456789123456"}
    assert [scope["hashed_id"](v, spec, 1000) for v in values] == expected.tolist()


def test_the_documented_onnxruntime_scoring_gives_recblocks_predict_scores(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli, ["train", str(config), "-o", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    from recblocks.datasets.synthetic import SyntheticConfig, make_synthetic

    table = make_synthetic(SyntheticConfig(**{**yaml.safe_load(CONFIG)["data"]["synthetic"], "seed": 11,
                                              "num_rows": 200}))
    columns = {"I1": table.column("I1").to_pylist()}
    columns["I1"][:3] = [None, float("nan"), 1e39]  # missing and out of float32's range: filled in the graph
    table = table.set_column(table.column_names.index("I1"), "I1", pa.array(columns["I1"], pa.float64()))
    pq.write_table(table, tmp_path / "rows.parquet")
    result = runner.invoke(cli, ["predict", str(tmp_path / "run"), "--data", str(tmp_path / "rows.parquet"),
                                 "-o", str(tmp_path / "scores.parquet")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["export", str(tmp_path / "run"), "--format", "onnx", "-o", str(tmp_path / "onnx")])
    assert result.exit_code == 0, result.output
    scope: dict = {"DIR": str(tmp_path / "onnx"), "rows": table.to_pylist()}
    exec(compile(_example("hash"), "docs/export.md", "exec"), scope)  # noqa: S102
    exec(compile(_example("onnxruntime"), "docs/export.md", "exec"), scope)  # noqa: S102
    (task,) = scope["scores"]
    expected = pq.read_table(tmp_path / "scores.parquet").column(task).to_numpy()
    assert scope["scores"][task].shape == (200,) and scope["manifest"]["tasks"] == [task]
    assert np.max(np.abs(scope["scores"][task] - expected)) <= 1e-6
