"""docs/distributed/streaming.md: its data section trains as written (paths pointed at small files)."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from recblocks.datasets import make_synthetic
from recblocks.runs import train_run

DOC = Path(__file__).resolve().parents[1] / "docs" / "distributed" / "streaming.md"


def test_the_data_section_streams_a_folder_of_parquet_files(tmp_path: Path) -> None:
    match = re.search(r"<!-- streaming-doc: data -->\s*```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert match, "the page has no data example"
    data = yaml.safe_load(match.group(1))["data"]
    assert data["streaming"] and data["fit_preprocessing"] == "streaming"
    table = make_synthetic(num_rows=1200, num_dense=1, vocab_sizes=[10, 30], seed=2).drop(["true_prob"])
    (tmp_path / "train").mkdir()
    for i in range(2):
        pq.write_table(table.slice(i * 500, 500), tmp_path / "train" / f"part-{i}.parquet", row_group_size=100)
    pq.write_table(table.slice(1000), tmp_path / "valid.parquet")
    data.update(train=str(tmp_path / "train"), valid=str(tmp_path / "valid.parquet"))
    config = {
        "data": data,
        "features": [{"name": "I1", "kind": "dense", "normalization": "standard"},
                     {"name": "C1", "kind": "sparse", "embedding_dim": 4},
                     {"name": "C2", "kind": "sparse", "embedding_dim": 4}],
        "model": {"feature_groups": [{"group_name": "all", "feature_names": ["I1", "C1", "C2"]}],
                  "backbone": {"blocks": [{"name": "deep", "inputs": [{"feature_group_name": "all"}],
                                           "component": {"class_name": "MLP", "params": {"hidden_units": [8]}}}]},
                  "task": {"type": "binary", "label": "label"}},
        "train": {"epochs": 1, "batch_size": 64, "progress": False, "tensorboard": False},
    }
    result = train_run(config, tmp_path / "run")
    assert result.valid_metrics["auc"] > 0.5 and result.preprocessor.vocabulary("C1")
