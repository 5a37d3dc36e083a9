"""Relative data paths of a config file resolve against the file's folder.

A config file names its data (``data.train``/``valid``/``test`` and ``data.hard_negatives.source``,
as a path, a glob or a ``{path: ...}`` mapping) relative to the folder the file is in, so a config trains the same
from any working directory. :func:`resolve_data_paths` rewrites those paths to absolute ones
when the file is loaded (:func:`~recblocks.runs.config_file.load_config_file`), so everything
downstream, and the ``config.yaml`` a run directory keeps, holds absolute paths. Paths typed
on the command line (``--train``, ``--set data.train=...``) are not part of the file and stay
relative to the current directory, as a shell user expects.

Earlier versions resolved a config's paths against the current directory. A path that exists
only that way (``data.train: configs/data/x.parquet`` written relative to the repository root)
is refused with an error that says so and gives the spelling that works, rather than read
from a place that depends on where the command was started.
"""

from __future__ import annotations

import copy
import glob as globlib
import os
from pathlib import Path
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.files import resolve_path

__all__ = ["resolve_data_paths", "absolute_data_path", "absolute_data_paths", "DATA_SPLITS"]

#: The ``data`` keys that name files.
DATA_SPLITS = ("train", "valid", "test")


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _exists(path: str) -> bool:
    return bool(globlib.glob(path)) if _is_glob(path) else os.path.exists(path)


def _resolve_one(text: str, base: Path, where: str, cwd: Path) -> str:
    """``text`` resolved against ``base``; ConfigError when only the current directory has it."""
    if not text or os.path.isabs(os.path.expanduser(text)):
        return text  # absolute or ``~``: the same from anywhere (empty: the data config refuses it)
    resolved = str(resolve_path(base / text))
    if _exists(resolved) or cwd == base:
        return resolved
    old = str(resolve_path(cwd / text))
    if _exists(old):
        spelling = os.path.relpath(old, base)
        raise ConfigError(where, f"relative paths in a config resolve against the config's folder {base}; {text} "
                          f"is not there (it exists relative to the current directory: write {spelling} or an "
                          "absolute path)", f"a path relative to {base} or an absolute path", repr(text))
    return resolved  # missing both ways: the data reader names the resolved path


def resolve_data_paths(raw: dict[str, Any], config_file: str | Path, cwd: str | Path | None = None) -> dict[str, Any]:
    """A copy of ``raw`` whose relative ``data.train``/``valid``/``test`` paths (plain, glob or
    ``{path: ...}``) are absolute, resolved against the folder of ``config_file``.

    Args:
        raw: the config mapping as loaded from ``config_file``.
        config_file: the file it was read from.
        cwd: the current directory (default :func:`os.getcwd`), only to recognise a path
            written the old way (relative to it) and say so.

    Raises:
        ConfigError: ``data.<split>: relative paths in a config resolve against the config's
            folder ...``, when a path exists relative to ``cwd`` but not to the config's folder.

    Example:
        >>> resolve_data_paths({"data": {"train": "x.parquet"}}, "/cfg/run.yaml")["data"]["train"]
        '/cfg/x.parquet'
    """
    data = raw.get("data")
    if not isinstance(data, dict):
        return raw
    base = resolve_path(config_file).parent
    here = resolve_path(cwd if cwd is not None else os.getcwd())
    out = copy.copy(raw)
    out["data"] = section = dict(data)
    for split in DATA_SPLITS:
        if split in section:
            section[split] = _resolve_value(section[split], base, f"data.{split}", config_file, here)
    edges = section.get("hard_negatives")
    if isinstance(edges, dict) and "source" in edges:
        section["hard_negatives"] = {**edges, "source": _resolve_value(edges["source"], base,
                                                                       "data.hard_negatives.source", config_file, here)}
    return out


def _resolve_value(value: Any, base: Path, key: str, config_file: str | Path, here: Path) -> Any:
    """A source (a path, or a mapping whose ``path`` is a path or a list of them) resolved against ``base``."""
    if isinstance(value, str):
        return _resolve_one(value, base, f"{key} in {config_file}", here)
    if isinstance(value, dict) and isinstance(value.get("path"), str):
        return {**value, "path": _resolve_one(value["path"], base, f"{key}.path in {config_file}", here)}
    if isinstance(value, dict) and _is_path_list(value.get("path")):
        return {**value, "path": [_resolve_one(p, base, f"{key}.path[{i}] in {config_file}", here)
                                  for i, p in enumerate(value["path"])]}
    return value


def absolute_data_path(value: Any) -> Any:
    """A data split given in Python or on the command line (a path, or a mapping with ``path``),
    made absolute against the current directory so a saved config reads it from anywhere;
    anything else is returned as it is (the data config refuses it)."""
    if isinstance(value, Path):
        value = str(value)
    here = Path(os.getcwd())
    if isinstance(value, str):
        return _resolve_one(value, here, "", here)
    if isinstance(value, dict) and isinstance(value.get("path"), str):
        return {**value, "path": _resolve_one(value["path"], here, "", here)}
    if isinstance(value, dict) and _is_path_list(value.get("path")):
        return {**value, "path": [_resolve_one(p, here, "", here) for p in value["path"]]}
    return value


def _is_path_list(value: Any) -> bool:
    """Whether ``value`` is a non-empty list of path strings (a source read from several paths)."""
    return isinstance(value, list) and bool(value) and all(isinstance(p, str) for p in value)


def absolute_data_paths(raw: dict[str, Any]) -> dict[str, Any]:
    """A copy of a config mapping whose relative data paths are made absolute against the current
    directory (:func:`absolute_data_path`): what a run directory's ``config.yaml`` records."""
    data = raw.get("data")
    if not isinstance(data, dict):
        return raw
    section = {k: absolute_data_path(v) if k in DATA_SPLITS else v for k, v in data.items()}
    edges = section.get("hard_negatives")
    if isinstance(edges, dict) and "source" in edges:
        section["hard_negatives"] = {**edges, "source": absolute_data_path(edges["source"])}
    return {**raw, "data": section}
