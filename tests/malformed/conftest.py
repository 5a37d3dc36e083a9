"""Shared harness of the hostile-input suite (``tests/malformed/``).

Every case builds real files under ``tmp_path`` and asserts, as it applies: the error class,
the place the message names, the exit status (2 for user errors, never a traceback), and for
file cases that no user file changed (SHA-256 of every file before and after). Every
``recblocks validate`` a case runs through :meth:`Hostile.cli` is also run as ``recblocks
train`` and the two must agree (:meth:`Hostile.train_agrees`): validate = train's checks.

Fixtures:
    hostile: a :class:`Hostile` bound to ``tmp_path`` (data, configs, CLI calls, checks).
"""

from __future__ import annotations

import copy
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner, Result

ROWS = 64

BASE: dict[str, Any] = {
    "features": [
        {"name": "user", "kind": "sparse", "embedding_dim": 4},
        {"name": "item", "kind": "sparse", "embedding_dim": 4},
        {"name": "tags", "kind": "multi", "separator": "|", "max_len": 3, "embedding_dim": 4},
        {"name": "price", "kind": "dense"},
    ],
    "model": {
        "feature_groups": [
            {"group_name": "all", "feature_names": ["user", "item", "tags"]},
            {"group_name": "num", "feature_names": ["price"]},
        ],
        "backbone": {
            "blocks": [
                {"name": "fields", "inputs": [{"feature_group_name": "all"}],
                 "input_layer": {"output_2d_tensor_and_feature_list": True}},
                {"name": "fm", "inputs": [{"block_name": "fields", "input_slice": "[1]"}],
                 "component": {"class_name": "FM"}},
                {"name": "deep", "inputs": [{"block_name": "fields", "input_slice": "[0]"}, {"feature_group_name": "num"}],
                 "component": {"class_name": "MLP", "params": {"hidden_units": [8, 1], "use_final_bn": False,
                                                               "final_activation": "linear"}}},
                {"name": "out", "inputs": [{"block_name": "fm"}, {"block_name": "deep"}],
                 "merge_inputs_into_list": True, "component": {"class_name": "Add"}},
            ],
            "concat_blocks": ["out"],
        },
        "task": {"type": "binary", "label": "label"},
    },
    "train": {"epochs": 1, "batch_size": 16, "progress": False},
}


def small_table(rows: int = ROWS, seed: int = 0) -> pa.Table:
    """label, user, item, tags (``|``-separated), price: every column BASE needs."""
    rng = np.random.default_rng(seed)
    return pa.table({
        "label": rng.integers(0, 2, rows),
        "user": [f"u{i % 7}" for i in range(rows)],
        "item": [f"i{i % 11}" for i in range(rows)],
        "tags": (["a|b", "b", "c|a|d", ""] * (rows // 4 + 1))[:rows],
        "price": rng.normal(size=rows),
    })


def blocks(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The backbone blocks of a BASE-like config."""
    return config["model"]["backbone"]["blocks"]


def checksums(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``root`` (symlinks by target text)."""
    out: dict[str, str] = {}
    if root.is_file():
        return {root.name: hashlib.sha256(root.read_bytes()).hexdigest()}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = "link:" + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


class Hostile:
    """Files, configs and CLI calls under one temporary folder (see module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # -- files ------------------------------------------------------------------------------
    def data(self, name: str = "train.parquet", table: pa.Table | None = None) -> Path:
        """Write ``table`` (default :func:`small_table`) as Parquet, or CSV for a ``.csv`` name."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        table = small_table() if table is None else table
        if path.suffix == ".csv":
            import pyarrow.csv as pacsv

            pacsv.write_csv(table, path)
        else:
            pq.write_table(table, path)
        return path

    def config(self, edit: Callable[[dict[str, Any]], Any] | None = None, *, data: Path | None = None,
               valid: bool = True) -> dict[str, Any]:
        """BASE with ``data.train`` (and ``data.valid``) pointing at ``data`` (written if not given)."""
        config = copy.deepcopy(BASE)
        path = data if data is not None else self.data()
        config["data"] = {"train": str(path), **({"valid": str(path)} if valid else {})}
        if edit is not None:
            edit(config)
        return config

    def write_config(self, config: dict[str, Any] | str, name: str = "config.yaml") -> Path:
        """A config file: a mapping is dumped as YAML, a string is written as it is."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    def trained_run(self, name: str = "run", edit: Callable[[dict[str, Any]], Any] | None = None) -> Path:
        """A finished run directory trained with the CLI from BASE (1 epoch, 64 rows)."""
        run = self.root / name
        config = self.write_config(self.config(edit), f"{name}.yaml")
        result = self.cli(["train", str(config), "--output", str(run)])
        assert result.exit_code == 0, result.output
        return run

    # -- CLI --------------------------------------------------------------------------------
    def cli(self, args: Sequence[str], cwd: Path | None = None, twin: bool = True) -> Result:
        """``recblocks ARGS`` in-process (click's runner), from ``cwd`` (default the temp folder).

        Every ``validate`` (without ``--plot``/``--output``) is checked against ``train`` on the
        same config (:meth:`train_agrees`), unless ``twin`` is False."""
        result = self._invoke(args, cwd)
        args = list(args)
        if twin and args[:1] == ["validate"] and not {"--plot", "--output", "-o"} & set(args):
            self.train_agrees(args, result, cwd)
        return result

    def _invoke(self, args: Sequence[str], cwd: Path | None = None) -> Result:
        from recblocks.cli.main import cli

        old = Path.cwd()
        os.chdir(cwd or self.root)
        try:
            return CliRunner().invoke(cli, list(args), catch_exceptions=True)
        finally:
            os.chdir(old)

    def train_agrees(self, validate_args: Sequence[str], validated: Result, cwd: Path | None = None) -> Result:
        """Run ``train`` with the arguments of a ``validate`` call (into a folder outside the
        temp folder, so its checksums stay) and assert they agree: a refusal of ``validate`` is
        ``train``'s refusal (same status and error line, before anything is trained), and a
        config ``validate`` accepts with its data read (no ``--no-data``) trains. Returns the
        train result."""
        import shutil
        import tempfile

        rest = [a for a in validate_args[1:] if a not in ("--no-data", "--overwrite")]
        folder = Path(tempfile.mkdtemp(prefix="recblocks-twin-"))
        try:
            trained = self._invoke(["train", *rest, "--output", str(folder / "run")], cwd)
            v_lines = [line for line in validated.output.splitlines() if line.startswith(("error (", "internal error"))]
            t_lines = [line for line in trained.output.splitlines() if line.startswith(("error (", "internal error"))]
            if validated.exit_code != 0:
                assert (trained.exit_code, t_lines) == (validated.exit_code, v_lines), \
                    f"validate refused but train did not refuse alike:\nvalidate: {validated.output}\ntrain: {trained.output}"
                assert not (folder / "run" / "model.safetensors").exists(), "train refused after training"
            elif "--no-data" not in validate_args:
                assert trained.exit_code == 0, f"validate accepted what train refuses:\n{trained.output}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return trained

    def subprocess(self, args: Sequence[str], timeout: float = 120, cwd: Path | None = None,
                   **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """``python -m recblocks.cli.main ARGS`` as a real process (for kill, lock, memory cases)."""
        command = [sys.executable, "-m", "recblocks.cli.main", *args]
        return subprocess.run(command, cwd=cwd or self.root, capture_output=True, text=True, timeout=timeout,
                              **kwargs)

    # -- checks -----------------------------------------------------------------------------
    @staticmethod
    def expect_error(result: Result | subprocess.CompletedProcess[str], error: str, *parts: str,
                     status: int = 2) -> str:
        """The call failed with ``status`` and one line ``error (<error>): ...`` holding ``parts``;
        no traceback. Returns the line."""
        if isinstance(result, subprocess.CompletedProcess):
            code, text = result.returncode, result.stdout + result.stderr
        else:
            code, text = result.exit_code, result.output
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                raise AssertionError(f"uncaught {type(result.exception).__name__}: {result.exception}\n{text}")
        assert "Traceback" not in text, text
        assert code == status, f"exit {code}, expected {status}: {text}"
        lines = [line for line in text.splitlines() if line.startswith("error (")]
        assert len(lines) == 1, f"expected one error line: {text}"
        line = lines[0]
        assert line.startswith(f"error ({error}):"), line
        assert len(line) < 2000, f"error line of {len(line)} characters"
        for part in parts:
            assert part in line, f"{part!r} not in {line!r}"
        return line


@pytest.fixture()
def hostile(tmp_path: Path) -> Hostile:
    return Hostile(tmp_path)


# -- run directories and output paths (test_run_dirs.py, test_output_paths.py) ---------------------
@pytest.fixture(scope="session")
def run_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run directory, trained once per session from BASE (its config reads the
    ``train.parquet`` next to it). Copy it before changing anything in it."""
    return Hostile(tmp_path_factory.mktemp("run-template")).trained_run("run")


@pytest.fixture()
def runs(run_template: Path) -> Any:
    """Helpers of the run-directory cases: ``template`` (the finished run), ``copy(dest)`` (a
    byte-identical copy: its manifest stays valid), ``checksums``, ``small_table``, ``BASE``."""
    import shutil
    from types import SimpleNamespace

    def copy(destination: Path) -> Path:
        shutil.copytree(run_template, destination)
        return destination

    return SimpleNamespace(template=run_template, copy=copy, checksums=checksums, small_table=small_table, BASE=BASE)


# -- generated files (test_generated_files.py) -------------------------------------------------
@pytest.fixture()
def file_checksums() -> Callable[[Path], dict[str, str]]:
    """:func:`checksums` (relative path -> SHA-256 of every file under a folder)."""
    return checksums
