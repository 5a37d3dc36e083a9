"""``recblocks export``: a trained run written as a self-describing serving package.

An export folder holds (docs/export.md):

* the graph (``model.onnx``, ``model.torchscript.pt`` or ``model.pt2``; :mod:`.formats`),
  taking one named input per feature (:mod:`.graph`) and returning one output per task;
* ``preprocess.json``: the preprocessing as language-neutral data (:mod:`.preprocessing`);
* ``manifest.json``: format, inputs, outputs (dtype, shape), versions, source run and the
  parity check run at export time (the reloaded graph against the eager model).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from recblocks.core.errors import ConfigError, DataError
from recblocks.export.components import TOLERANCE, difference, refuse_unexportable
from recblocks.export.errors import ExportError, first_line_of
from recblocks.export.formats import FILE_NAMES, ONNX_OPSET, Runner, check_format, load_graph, write_graph
from recblocks.export.graph import GraphInput, activated, ServingGraph, example_inputs, plan_inputs, serving_inputs
from recblocks.export.preprocessing import preprocessing_spec
from recblocks.features.preprocess import Preprocessor
from recblocks.runs.provenance import library_versions
from recblocks.runs.scoring import open_run

__all__ = ["MANIFEST_FORMAT", "ExportedModel", "export_run", "export_model", "load_export"]

MANIFEST_FORMAT = "recblocks-export"
MANIFEST_VERSION = 1
MANIFEST = "manifest.json"
PREPROCESS = "preprocess.json"
#: rows of the random batch the graph is traced with, and of the batch it is checked on
TRACE_ROWS, CHECK_ROWS = 7, 3


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _versions(fmt: str) -> dict[str, Any]:
    versions: dict[str, Any] = library_versions()
    if fmt == "onnx":
        versions.update({"onnx": _version("onnx"), "onnxscript": _version("onnxscript"), "onnx_opset": ONNX_OPSET,
                         "onnxruntime": _version("onnxruntime")})
    return versions


def _module_names(model: torch.nn.Module) -> dict[int, str]:
    """``id(module) -> "model.backbone... (component X)"`` for every registered component."""
    names = {}
    for name, module in model.named_modules():
        registered = getattr(type(module), "registry_name", None)
        if registered is not None:
            names[id(module)] = f"model.{name} (component {registered})"
    return names


def _max_difference(expected: list[np.ndarray], got: list[np.ndarray], names: list[str], where: str) -> float:
    worst = 0.0
    for name, a, b in zip(names, expected, got):
        if a.shape != b.shape:
            raise ExportError(where, f"output '{name}' has shape {b.shape} in the export, {a.shape} in eager")
        diff, ok = difference(a, b)
        if not ok:
            raise ExportError(where, f"output '{name}' differs from the eager model by {diff:.3g}",
                              f"at most {TOLERANCE:g}", diff)
        worst = max(worst, diff)
    return worst


def _prepare_output(output: str | Path, overwrite: bool) -> Path:
    path = Path(output)
    if path.exists() and not path.is_dir():
        raise ConfigError("--output", "is a file", "a new or empty folder (or an earlier export with --overwrite)",
                          str(path))
    if path.is_dir() and any(path.iterdir()):
        if not (overwrite and (path / MANIFEST).is_file()):
            raise ConfigError("--output", "the folder is not empty", "a new or empty folder (--overwrite replaces "
                              "an earlier export)", str(path))
    return path


def export_model(model: torch.nn.Module, preprocessor: Preprocessor, fmt: str, output: str | Path,
                 source: dict[str, Any] | None = None, overwrite: bool = False) -> Path:
    """Write ``model`` (trained, with its fitted ``preprocessor``) as a package in ``output``."""
    check_format(fmt)
    path = _prepare_output(output, overwrite)
    model.eval()
    refuse_unexportable(model, "model", fmt)
    for feature in preprocessor.schema:
        if getattr(feature, "vocabulary", None) is not None:  # recblocks.features.dynamic_vocab
            raise ExportError(f"feature '{feature.name}'", f"cannot be exported to {fmt}: its dynamic vocabulary maps "
                              "raw ids to rows in Python at batch time; score the run with recblocks predict")
    inputs = plan_inputs(model, preprocessor)
    names = [spec.name for spec in inputs]
    example = example_inputs(inputs, preprocessor, TRACE_ROWS)
    with torch.no_grad():
        scores = activated(model, dict(zip(names, example_inputs([_encoded(s) for s in inputs], preprocessor, 2))))
    outputs = list(scores)
    graph = ServingGraph(model, inputs, preprocessor, outputs)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=path.parent if path.parent.exists() else None) as tmp:
        folder = Path(tmp)
        model_file = write_graph(graph, example, names, outputs, fmt, folder / FILE_NAMES[fmt], "model",
                                 _module_names(model))
        check = example_inputs(inputs, preprocessor, CHECK_ROWS, seed=1)
        with torch.no_grad():
            expected = [t.numpy() for t in graph(*check)]
        try:
            got = load_graph(fmt, model_file, names)({n: t.numpy() for n, t in zip(names, check)})
        except Exception as exc:  # noqa: BLE001 - a graph that does not run is refused in one line
            raise ExportError(f"export check ({fmt})", f"the written graph does not run on {CHECK_ROWS} rows "
                              f"({type(exc).__name__}: {first_line_of(exc)})") from None
        worst = _max_difference(expected, got, outputs, f"export check ({fmt})")
        (folder / PREPROCESS).write_text(json.dumps(preprocessing_spec(preprocessor, inputs), ensure_ascii=False,
                                                    indent=1), encoding="utf-8")
        manifest = {
            "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "export_format": fmt,
            "model_file": FILE_NAMES[fmt], "preprocessing_file": PREPROCESS,
            "inputs": [spec.to_dict() for spec in inputs],
            "outputs": [{"name": name, "dtype": str(e.dtype), "shape": ["batch", *e.shape[1:]]}
                        for name, e in zip(outputs, expected)],
            "tasks": [t.name for t in getattr(model, "tasks", [])] or [outputs[0]],
            "versions": _versions(fmt), "source_run": source or {},
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "parity_check": {"rows": CHECK_ROWS, "max_abs_diff": worst, "tolerance": TOLERANCE,
                             "against": "the eager model on random valid inputs"},
        }
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        path.mkdir(parents=True, exist_ok=True)
        for old in path.iterdir():
            if old.is_file():
                old.unlink()
        for item in folder.iterdir():
            shutil.move(str(item), path / item.name)
    return path


def _encoded(spec: GraphInput) -> GraphInput:
    """The input as the eager model takes it (raw numbers become their encoded dtype)."""
    if spec.encoding == "raw_number":
        return GraphInput(spec.name, "float32", spec.shape, "numbers")
    if spec.encoding == "raw_bucket":
        return GraphInput(spec.name, "int64", spec.shape, "ids")
    return spec


def export_run(run_dir: str | Path, fmt: str, output: str | Path, overwrite: bool = False,
               allow_unfinished: bool = False) -> Path:
    """Export a finished run directory (``recblocks export``)."""
    check_format(fmt)
    _prepare_output(output, overwrite)
    run, _, _, preprocessor, model = open_run(run_dir, allow_unfinished)
    manifest = run.manifest
    source = {"path": str(Path(run_dir).resolve()), "status": manifest.status if manifest else None,
              "finished": manifest.finished if manifest else None,
              "recblocks_version": manifest.recblocks_version if manifest else None,
              "weights_sha256": _weights_sha256(manifest, run.weights_path.name)}
    return export_model(model, preprocessor, fmt, output, source, overwrite)


def _weights_sha256(manifest: Any, name: str) -> str | None:
    entry = manifest.files.get(name) if manifest is not None else None
    return entry.sha256 if entry is not None else None


@dataclass
class ExportedModel:
    """An export folder read back: its manifest, its preprocessing and a runner for its graph."""

    folder: Path
    manifest: dict[str, Any]
    preprocessor: Preprocessor
    runner: Runner

    @property
    def inputs(self) -> list[GraphInput]:
        return [GraphInput(i["name"], i["dtype"], tuple(i["shape"]), i["encoding"]) for i in self.manifest["inputs"]]

    @property
    def output_names(self) -> list[str]:
        return [o["name"] for o in self.manifest["outputs"]]

    def predict_inputs(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Outputs by name for the graph's inputs by name."""
        return dict(zip(self.output_names, self.runner(inputs)))

    def predict(self, table: pa.Table) -> dict[str, np.ndarray]:
        """Outputs by name for raw rows (the package's preprocessing, then the graph)."""
        return self.predict_inputs(serving_inputs(self.inputs, self.preprocessor, table))


def load_export(folder: str | Path) -> ExportedModel:
    """Read an export folder written by :func:`export_model`; DataError naming a damaged file."""
    folder = Path(folder)
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(str(path), f"not a readable export manifest ({type(exc).__name__})",
                        f"the {MANIFEST} recblocks export wrote") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise DataError(str(path), "not a recblocks export manifest", f"format '{MANIFEST_FORMAT}'",
                        manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__)
    spec = json.loads((folder / manifest["preprocessing_file"]).read_text(encoding="utf-8"))
    preprocessor = Preprocessor(spec["schema"])
    state = {"format": "recblocks.Preprocessor", "version": 1, "schema": spec["schema"],
             "vocabularies": spec["vocabularies"], "boundaries": {f["name"]: f["boundaries"] for f in spec["features"]
                                                                  if "boundaries" in f},
             "dense_stats": {f["name"]: {k: v for k, v in f["normalization"].items() if k != "kind"}
                             for f in spec["features"] if len(f.get("normalization", {})) > 1}}
    preprocessor = Preprocessor.from_state_dict(state)
    names = [i["name"] for i in manifest["inputs"]]
    runner = load_graph(manifest["export_format"], folder / manifest["model_file"], names)
    return ExportedModel(folder, manifest, preprocessor, runner)
