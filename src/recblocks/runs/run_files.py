"""Reading and serialising the files of a run directory, with one-line errors.

Each reader takes the file's path and returns its content, or raises a :class:`DataError`
naming the file and what is wrong with it (not UTF-8, invalid YAML with its line, not JSON,
not a mapping, not a preprocessing state, not an optimizer state) - never a yaml, json,
pickle or torch traceback. OS errors become :class:`FileAccessError`.
"""

from __future__ import annotations

import io
import json
import math
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from recblocks.core.errors import ConfigError, DataError, RecBlocksError
from recblocks.core.files import file_access_error
from recblocks.features.preprocess import Preprocessor
from recblocks.runs.config_file import load_config_file

__all__ = ["jsonable", "first_line", "torch_save", "read_text", "read_config_file", "read_preprocessor_file",
           "load_optimizer_file", "read_json_lines", "read_json_object"]


def jsonable(value: Any) -> Any:
    """Plain JSON data: NaN/inf -> None, numpy/torch values -> Python, tuples -> lists."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, int):
        return int(value)
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return jsonable(value.tolist())
    if isinstance(value, Path):
        return str(value)
    return value


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (its type name when empty), at most ``limit`` characters."""
    text = str(exc).strip().splitlines()
    return text[0][:limit] if text else type(exc).__name__


class _RecordingFile:
    """A binary file for ``torch.save`` that keeps the OSError its C++ writer turns into a RuntimeError."""

    def __init__(self, handle: io.BufferedWriter) -> None:
        self.handle = handle
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self.handle.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.handle.flush()


def torch_save(obj: Any, path: Path) -> None:
    """``torch.save(obj, path)``; a failed write raises its OSError (disk full...), not a RuntimeError."""
    with open(path, "wb") as handle:
        recorder = _RecordingFile(handle)
        try:
            torch.save(obj, recorder)
        except RuntimeError:
            if recorder.error is not None:
                raise recorder.error from None
            raise


def read_text(path: Path) -> str:
    """A UTF-8 file's text."""
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise file_access_error(exc, path, "read") from None
    except UnicodeDecodeError as exc:
        raise DataError(str(path), f"the file is not UTF-8 text (byte {exc.start})", "a UTF-8 file written by "
                        "recblocks", "binary or damaged content") from None


def read_config_file(path: Path) -> dict[str, Any]:
    """A run's ``config.yaml`` as a mapping (read like a user's config file)."""
    read_text(path)  # not UTF-8 -> DataError naming the file
    try:
        return load_config_file(path, resolve_data=False)  # written with absolute data paths
    except ConfigError as exc:
        raise DataError(exc.where, f"the run's config.yaml is not valid: {exc.problem}", exc.expected,
                        exc.got) from None
    except OSError as exc:
        raise file_access_error(exc, path, "read") from None
    except ValueError as exc:
        raise DataError(str(path), f"the run's config.yaml is not valid ({first_line(exc)})",
                        "the YAML mapping written by training", "unreadable content") from None


def read_preprocessor_file(path: Path) -> Preprocessor:
    """A fitted :class:`Preprocessor` from ``preprocess.json``."""
    where, expected = str(path), "the preprocessing state written by training"
    try:
        state = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(where, f"not valid JSON ({exc.msg} at line {exc.lineno})", expected,
                        "damaged content") from None
    try:
        return Preprocessor.from_state_dict(state)
    except RecBlocksError as exc:
        raise DataError(where, f"not a valid preprocessing state ({exc})", expected, "other content") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DataError(where, f"not a valid preprocessing state ({type(exc).__name__}: {first_line(exc)})",
                        expected, "other content") from None


def load_optimizer_file(path: Path, optimizer: Any) -> Any:
    """Load ``optimizer.pt`` (``torch.load``, weights only) into ``optimizer``."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # device-free
    except OSError as exc:
        raise file_access_error(exc, path, "read") from None
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError, TypeError, KeyError,
            AttributeError, ImportError) as exc:
        raise DataError(str(path), f"not a valid optimizer state ({type(exc).__name__}: {first_line(exc, 120)})",
                        "the optimizer.pt written by training", f"{path.stat().st_size} bytes") from None
    try:
        optimizer.load_state_dict(state)
    except RecBlocksError as exc:
        raise DataError(str(path), f"the optimizer state does not fit this optimizer ({exc.problem})",
                        exc.expected, exc.got) from None
    except (ValueError, KeyError, TypeError, RuntimeError, AttributeError, IndexError) as exc:
        raise DataError(str(path), "the optimizer state does not fit this optimizer",
                        "the state of the same model and optimizer config", first_line(exc, 120)) from None
    return optimizer


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    """One JSON value per non-blank line; the error names ``file:line``."""
    records = []
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}", f"not valid JSON ({exc.msg})", "one JSON object per line",
                                "damaged content") from None
    return records


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file holding one object."""
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(str(path), f"not valid JSON ({exc.msg} at line {exc.lineno})",
                        "the JSON object written by training", "damaged content") from None
    if not isinstance(data, dict):
        raise DataError(str(path), "not a JSON object", "a mapping", type(data).__name__)
    return data
