"""``recblocks export``: the in-graph number preprocessing by hand, the manifest and files,
one-line errors (bad format, occupied folder, refused or failing components)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

import recblocks.layers  # noqa: F401  (registers the component library)
from recblocks.cli.main import cli
from recblocks.core.errors import DataError
from recblocks.core.params import Params
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec
from recblocks.export import ExportError, export_component, load_export
from recblocks.export.components import refuse_unexportable
from recblocks.export.graph import NumberInput
from recblocks.features.preprocess import Preprocessor
from recblocks.layers.base import Component

CONFIG = """
data:
  synthetic: {num_rows: 400, num_dense: 1, vocab_sizes: [20, 30], seed: 1}
features:
  - {name: I1, kind: dense, normalization: log1p}
  - {name: C1, kind: sparse, embedding_dim: 4}
  - {name: C2, kind: hashed, hash_bucket_size: 16, embedding_dim: 4}
model:
  feature_groups:
    - {group_name: ids, feature_names: [I1, C1, C2]}
  backbone:
    blocks:
      - {name: deep, inputs: [{feature_group_name: ids}], component: {class_name: MLP, params: {hidden_units: [8]}}}
    concat_blocks: [deep]
  task: {type: binary, label: label}
train: {epochs: 1, batch_size: 64, progress: false, max_steps: 2}
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export")
    (root / "config.yaml").write_text(CONFIG, encoding="utf-8")
    result = CliRunner().invoke(cli, ["train", str(root / "config.yaml"), "-o", str(root / "run")])
    assert result.exit_code == 0, result.output
    return root / "run"


def _fitted(features: list[dict[str, Any]], state: dict[str, Any]) -> Preprocessor:
    return Preprocessor.from_state_dict({"format": "recblocks.Preprocessor", "version": 1, "schema": features,
                                         "vocabularies": {}, "dense_stats": state.get("dense_stats", {}),
                                         "boundaries": state.get("boundaries", {})})


def test_number_input_fills_and_normalises_by_hand() -> None:
    pre = _fitted([{"name": "x", "kind": "dense", "normalization": "standard", "fill_value": 6.0}],
                  {"dense_stats": {"x": {"mean": 2.0, "std": 4.0}}})
    layer = NumberInput(pre.schema["x"], pre)
    out = layer(torch.tensor([6.0, float("nan"), float("inf"), 1e39, -2.0], dtype=torch.float64))
    assert out.dtype == torch.float32
    assert out.tolist() == [1.0, 1.0, 1.0, 1.0, -1.0]  # (6 - 2) / 4; missing -> fill 6 -> 1; (-2 - 2) / 4


def test_number_input_bucketizes_by_hand() -> None:
    pre = _fitted([{"name": "b", "kind": "bucketized", "boundaries": [0.0, 1.0], "fill_value": 0.5}],
                  {"boundaries": {"b": [0.0, 1.0]}})
    out = NumberInput(pre.schema["b"], pre)(torch.tensor([-1.0, 0.0, 0.5, 1.0, 7.0, float("nan")],
                                                         dtype=torch.float64))
    assert out.dtype == torch.int64
    assert out.tolist() == [2, 3, 3, 4, 4, 3]  # count(boundaries <= x) + 2; NaN -> 0.5 -> 3


def test_export_writes_graph_preprocessing_and_manifest(run_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["export", str(run_dir), "--format", "torchscript", "-o", str(tmp_path / "ts")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "ts").iterdir()) == ["manifest.json", "model.torchscript.pt",
                                                                    "preprocess.json"]
    manifest = json.loads((tmp_path / "ts" / "manifest.json").read_text())
    assert manifest["inputs"] == [
        {"name": "I1", "dtype": "float64", "shape": ["batch"], "encoding": "raw_number"},
        {"name": "C1", "dtype": "int64", "shape": ["batch"], "encoding": "ids"},
        {"name": "C2", "dtype": "int64", "shape": ["batch"], "encoding": "ids"}]
    assert [o["shape"] for o in manifest["outputs"]] == [["batch"]] and manifest["outputs"][0]["dtype"] == "float32"
    assert manifest["versions"]["torch"] == torch.__version__ and manifest["source_run"]["status"] == "complete"
    assert len(manifest["source_run"]["weights_sha256"]) == 64
    spec = json.loads((tmp_path / "ts" / "preprocess.json").read_text())
    by_name = {f["name"]: f for f in spec["features"]}
    assert by_name["C2"]["encoding"] == "hash" and by_name["C2"]["hash_bucket_size"] == 16
    assert by_name["I1"]["normalization"] == {"kind": "log1p"} and by_name["I1"]["encoding"] == "number_in_graph"
    assert spec["vocabularies"]["C1"] == Preprocessor.load(run_dir / "preprocess.json").vocabulary("C1")
    loaded = load_export(tmp_path / "ts")
    scores = loaded.predict_inputs({"I1": np.array([0.5, np.nan]), "C1": np.array([2, 1]), "C2": np.array([3, 0])})
    assert scores[manifest["outputs"][0]["name"]].shape == (2,)


def test_export_errors_are_one_line(run_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["export", str(run_dir), "--format", "onx", "-o", str(tmp_path / "a")])
    assert result.exit_code != 0 and len(result.output.strip().splitlines()) == 1
    assert "--format: unknown export format" in result.output and "did you mean 'onnx'?" in result.output
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep")
    result = runner.invoke(cli, ["export", str(run_dir), "--format", "torchscript", "-o", str(tmp_path / "full")])
    assert result.exit_code != 0 and "--output: the folder is not empty" in result.output
    assert (tmp_path / "full" / "mine.txt").read_text() == "keep"
    with pytest.raises(DataError, match="not a readable export manifest"):
        load_export(tmp_path / "full")


def test_a_model_holding_a_refused_component_is_refused_naming_the_block() -> None:
    entry = COMPONENTS.get("EditDistance")
    from recblocks.core.params import parse_params

    block = entry.cls.from_spec(parse_params(entry.params, {}, "x"), [TensorSpec((4,), "long")] * 2, "x")
    model = nn.ModuleDict({"backbone": nn.ModuleDict({"distance": block})})
    with pytest.raises(ExportError) as caught:
        refuse_unexportable(model, "model", "onnx")
    assert str(caught.value).startswith("model.backbone.distance (component EditDistance): cannot be exported to "
                                        "onnx: its Levenshtein recursion uses torch.cummin")
    refuse_unexportable(model, "model", "torchscript")  # the other formats are not refused


class _BranchParams(Params):
    """No parameters."""


class _Branch(Component):
    """Branches on a value (data-dependent control flow, which torch.export cannot record)."""

    @classmethod
    def from_spec(cls, params: Params, input_spec: Any, where: str = "") -> "_Branch":
        return cls(params)

    def output_spec(self, input_spec: Any) -> Any:
        return input_spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if bool(x.sum() > 0) else x


def test_an_exporter_failure_is_one_line_naming_the_component(tmp_path: Path) -> None:
    with COMPONENTS.scoped():
        COMPONENTS.register("BranchOnValue", params=_BranchParams, examples=[({}, TensorSpec((3,)))])(_Branch)
        with pytest.raises(ExportError) as caught:
            export_component("BranchOnValue", {}, TensorSpec((3,)), "torch-export", tmp_path)
    text = str(caught.value)
    assert text.startswith("component BranchOnValue: cannot be exported to torch-export (") and "\n" not in text
