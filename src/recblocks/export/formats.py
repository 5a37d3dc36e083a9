"""Write a module taking positional tensors in one of the serving formats, and read it back.

The module's ``forward(*tensors)`` takes the inputs in a fixed order and returns a tuple of
tensors; axis 0 of every input and output is the batch axis, dynamic in every format; all
other axes are fixed (sequences are padded to ``max_len``).

* ``onnx``: the ``torch.export`` program translated by ``torch.onnx.export(..., dynamo=True)``
  (onnxscript), opset :data:`ONNX_OPSET`; run with ONNX Runtime.
* ``torchscript``: ``torch.jit.trace`` (``torch.jit.script`` cannot compile the models' Python
  plumbing - dicts keyed by tuples, dataclasses, per-layout caches; tracing records the tensor
  operations, and every export is checked against eager on a second batch size).
* ``torch-export``: ``torch.export.export`` with a dynamic batch dimension, saved as ``.pt2``.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import sys
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from recblocks.core.errors import ConfigError, RecBlocksError
from recblocks.export.errors import ExportError, failing_module, first_line_of

__all__ = ["FORMATS", "FILE_NAMES", "ONNX_OPSET", "write_graph", "load_graph", "Runner"]

FORMATS = ("onnx", "torchscript", "torch-export")
#: the model file of each format inside an export folder
FILE_NAMES = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt", "torch-export": "model.pt2"}
ONNX_OPSET = 18

#: ``runner(inputs by name) -> outputs in order`` (numpy arrays in, numpy arrays out)
Runner = Callable[[dict[str, np.ndarray]], list[np.ndarray]]


def check_format(fmt: str, where: str = "--format") -> str:
    """``fmt`` when it is a known format whose packages are installed, else a one-line error."""
    if fmt not in FORMATS:
        raise ConfigError(where, "unknown export format", f"one of {list(FORMATS)}", repr(fmt), choices=FORMATS)
    if fmt == "onnx":
        missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(name) is None]
        if missing:
            raise ExportError(where, f"onnx export needs {missing}", "the 'export' extra installed "
                              "(pip install 'recblocks[export]')", "not installed")
    return fmt


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporters' progress lines, warnings and logging (errors still raise)."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "torch.fx",
                                              "torch._export", "onnxscript", "torch.utils._sympy")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _batch_shapes(example: Sequence[torch.Tensor]) -> tuple[tuple[dict[int, Any], ...]]:
    batch = torch.export.Dim("batch", min=1, max=sys.maxsize - 1)
    return (tuple({0: batch} for _ in example),)


def write_graph(module: nn.Module, example: Sequence[torch.Tensor], input_names: list[str], output_names: list[str],
                fmt: str, path: Path, where: str, names: dict[int, str] | None = None) -> Path:
    """Write ``module`` (eval mode, ``forward(*example)`` -> tuple) to ``path`` in ``fmt``.

    Any failure inside torch becomes one :class:`ExportError` line naming the innermost module
    of ``names`` (``id(module) -> "block 'x' (component Y)"``) that was running, else ``where``.
    """
    check_format(fmt)
    module.eval()
    example = tuple(example)
    try:
        with _quiet(), torch.no_grad():
            if fmt == "torchscript":
                traced = torch.jit.trace(module, example, check_trace=False, strict=False)
                torch.jit.save(traced, str(path))
            else:  # ONNX from the same program: its errors name the module, with no silent fallback
                program = torch.export.export(module, example, dynamic_shapes=_batch_shapes(example), strict=False)
                if fmt == "torch-export":
                    torch.export.save(program, str(path))
                else:
                    torch.onnx.export(program, example, str(path), input_names=input_names,
                                      output_names=output_names, opset_version=ONNX_OPSET, dynamo=True,
                                      external_data=False, verbose=False, report=False)
    except RecBlocksError:
        raise
    except Exception as exc:  # noqa: BLE001 - any torch failure becomes one line naming the module
        culprit = failing_module(exc.__traceback__, names or {}) or where
        raise ExportError(culprit, f"cannot be exported to {fmt} ({first_line_of(exc)})") from None
    return path


def load_graph(fmt: str, path: Path, input_names: list[str]) -> Runner:
    """A runner for a graph written by :func:`write_graph`: ONNX Runtime for ``onnx``, the
    TorchScript or ``torch.export`` program (eval, no gradients) otherwise."""
    check_format(fmt)
    if fmt == "onnx":
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        wanted = [i.name for i in session.get_inputs()]

        def run_onnx(inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
            return [np.asarray(v) for v in session.run(None, {k: inputs[k] for k in wanted})]

        return run_onnx
    with _quiet():
        graph = torch.jit.load(str(path)) if fmt == "torchscript" else torch.export.load(str(path)).module()

    def run_torch(inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        with torch.no_grad():
            out = graph(*(torch.from_numpy(np.ascontiguousarray(inputs[k])) for k in input_names))
        out = out if isinstance(out, (tuple, list)) else (out,)
        return [t.detach().numpy() for t in out]

    return run_torch
