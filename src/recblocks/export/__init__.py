"""recblocks.export: a trained model as a serving package (docs/export.md).

``recblocks export RUN_DIR --format onnx|torchscript|torch-export --output DIR`` writes the
graph (one named input per feature, one output per task), ``preprocess.json`` (the
preprocessing as language-neutral data) and ``manifest.json``.
"""

from recblocks.export.components import check_component_export, export_component
from recblocks.export.errors import ExportError
from recblocks.export.formats import FORMATS
from recblocks.export.package import ExportedModel, export_model, export_run, load_export

__all__ = ["FORMATS", "ExportError", "ExportedModel", "check_component_export", "export_component", "export_model",
           "export_run", "load_export"]
