"""The run manifest ``run.json``: which files recblocks wrote into a run directory, and whether
the run finished.

A run directory is recognised as recblocks' own only by this file. ``--overwrite`` deletes
only the files it lists (and the temporary files of their atomic writes), ``evaluate`` and
``predict`` use a run only when it says ``complete`` and every listed file still has the
recorded size (and checksum), and a second training refuses a folder whose run is still
being written. The manifest is written atomically (temporary file + rename) after every
file the run writes, and last of all with its final status, so a half-written run can never
look complete.

Format (``format_version`` 1), one JSON object::

    {
      "format": "recblocks-run",          # identifies the file as a recblocks run manifest
      "format_version": 1,                # readers refuse a newer version
      "recblocks_version": "0.1.0",       # the recblocks that wrote the run
      "status": "running",                # "running" -> "complete" | "failed"
      "command": "train",                 # what wrote the run ("train", "python" for RunDir(...))
      "pid": 4242,                        # the writing process and its host
      "host": "node-1",
      "environment": {"recblocks": "0.1.0", "python": "3.12.3", "torch": "2.13.0", "numpy": "...",
                      "pyarrow": "...", "platform": "Linux-...", "executable": "/.../python"},
      "argv": ["/.../recblocks", "train", "deepfm.yaml"],   # the command line of the writing process
      "cwd": "/home/me/project",          # its working directory
      "git": {"commit": "a7dff42...", "dirty": false},   # recblocks' source checkout; null if not one
      "created": "2026-05-09T07:35:25+00:00",   # UTC timestamps (ISO 8601, seconds)
      "updated": "2026-05-09T07:36:02+00:00",
      "finished": null,                   # set with "complete" or "failed"
      "error": null,                      # "failed": the error, one line (at most 500 characters)
      "checkpoints": {                    # checkpoints/<name>/ folders (train.save_checkpoints_steps)
        "step-000120": {"step": 120, "epoch": 2, "state": "written", "written": "...",
                        "files": {"model.safetensors": {...FileEntry...}, ...}}
      },
      "resumes": [                        # one entry per `recblocks train --resume`
        {"time": "...", "pid": 4243, "host": "node-1", "previous_status": "running",
         "previous_pid": 4242, "checkpoint": "step-000120"}   # null: restarted from step 0
      ],
      "init_from": null,                  # warm start: {"run": path, "loaded": n, "skipped": [...],
                                          #   "reshaped": [...], "rows_copied": {...}} (see warm_start)
      "files": {                          # every file recblocks wrote, by name in the folder
        "config.yaml": {
          "writer": "RunDir.write_config",  # what wrote it
          "state": "written",             # "writing" while it is being replaced
          "bytes": 812,                   # size after the write
          "sha256": "9f2c...",            # hex SHA-256 for files up to 64 MiB, else null
          "written": "2026-05-09T07:35:25+00:00"
        }
      }
    }

A checkpoint is written into a temporary folder ``checkpoints/.tmp-<name>-<pid>`` and renamed
into place; it is listed (``"state": "writing"``) before and recorded (``"written"``, every file
with its size and checksum) after, so only a checkpoint whose entry says ``written`` and whose
files match is ever loaded. ``checkpoints``, ``resumes``, ``init_from``, ``environment``, ``argv``,
``cwd`` and ``git`` are optional keys of
format version 1 (absent in runs written before them).

A file is listed (``"state": "writing"``) before its first byte is written, so a run killed
mid-write leaves no file that ``--overwrite`` would mistake for the user's.

A folder whose files grow while the run trains (the TensorBoard event log ``tensorboard/``)
is one entry with ``"kind": "folder"`` and its files by name, each an entry as above::

        "tensorboard": {"writer": "TensorBoardCallback", "kind": "folder", "state": "written",
                        "files": {"events.out.tfevents.1778312125.node-1.4242.0": {"bytes": 1430, ...}}}

While training it says ``"writing"`` and lists its files by name only (the event file is
listed as soon as it is created); their sizes and checksums are recorded when the writer is
closed at the end of the fit. A file in the folder that the entry does not list makes the run
fail its check (and ``--overwrite`` refuses it); ``--overwrite`` deletes the listed files, then
the folder when it is empty. Readers of format version 1 without folder support see the
folder as "not a regular file" and refuse the run, so a run is never misread. Unknown keys are
ignored when reading, so later versions may add fields without breaking older readers of
version 1 data.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

import recblocks
from recblocks.core.errors import DataError
from recblocks.core.files import (
    FileAccessError,
    atomic_write_text,
    file_access_error,
    sha256_of,
)

__all__ = ["MANIFEST", "FORMAT", "FORMAT_VERSION", "CHECKSUM_LIMIT", "FileEntry", "CheckpointEntry", "RunManifest",
           "read_manifest", "write_manifest", "is_run_manifest", "now"]

#: The manifest's file name in a run directory.
MANIFEST = "run.json"
FORMAT = "recblocks-run"
FORMAT_VERSION = 1
#: Files up to this size get a SHA-256 in the manifest; larger ones only their size.
CHECKSUM_LIMIT = 64 << 20
#: A manifest larger than this is not read (a real one is a few KB).
_MAX_BYTES = 4 << 20


def now() -> str:
    """The current UTC time as ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class FileEntry(BaseModel):
    """One file the run wrote (see module docstring)."""

    model_config = ConfigDict(extra="ignore")

    writer: str
    state: Literal["writing", "written"] = "writing"
    bytes: int | None = None
    sha256: str | None = None
    written: str | None = None
    kind: Literal["file", "folder"] = "file"
    files: dict[str, "FileEntry"] | None = None

    @classmethod
    def of(cls, path: Path, writer: str) -> "FileEntry":
        """The entry of a file just written: its size, and its checksum when cheap."""
        size = path.stat().st_size
        digest = sha256_of(path) if size <= CHECKSUM_LIMIT else None
        return cls(writer=writer, state="written", bytes=size, sha256=digest, written=now())

    @classmethod
    def of_folder(cls, path: Path, writer: str, done: bool) -> "FileEntry":
        """The entry of a folder the run writes: every file in it by name, with its size and
        checksum once ``done`` (the writer closed), names only while still ``writing``."""
        names = sorted(p.name for p in path.iterdir()) if path.is_dir() else []
        if done:
            files = {name: cls.of(path / name, writer) for name in names}
            return cls(writer=writer, state="written", kind="folder", files=files, written=now())
        return cls(writer=writer, kind="folder", files={name: cls(writer=writer) for name in names})

    def mismatch(self, path: Path) -> str | None:
        """What differs between ``path`` and this entry ("missing", a size, a checksum, a file
        in a folder the run did not write), or None."""
        if self.kind == "folder":
            return self._folder_mismatch(path)
        if path.is_symlink() or (path.exists() and not path.is_file()):
            return "not a regular file any more"
        if not path.exists():
            return "missing"
        if self.state != "written":
            return "was being written when the run stopped"
        size = path.stat().st_size
        if self.bytes is not None and size != self.bytes:
            return f"{size} bytes, the manifest records {self.bytes}"
        if self.sha256 is not None and size <= CHECKSUM_LIMIT and sha256_of(path) != self.sha256:
            return "its SHA-256 differs from the one the manifest records"
        return None

    def foreign(self, path: Path) -> list[str]:
        """Names in the folder ``path`` that this folder entry does not list (the user's files)."""
        if self.kind != "folder" or path.is_symlink() or not path.is_dir():
            return []
        listed = set(self.files or {})
        return sorted(p.name for p in path.iterdir() if p.name not in listed)

    def _folder_mismatch(self, path: Path) -> str | None:
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            return "not a folder any more"
        if not path.exists():
            return "missing"
        foreign = self.foreign(path)
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            return f"it holds files the run did not write ({shown})"
        if self.state != "written":
            return "was being written when the run stopped"
        for name, entry in (self.files or {}).items():
            problem = entry.mismatch(path / name) if "/" not in name and name not in (".", "..") else "bad name"
            if problem is not None:
                return f"{name}: {problem}"
        return None


FileEntry.model_rebuild()


class CheckpointEntry(BaseModel):
    """One checkpoint folder of ``checkpoints/`` (see module docstring)."""

    model_config = ConfigDict(extra="ignore")

    step: int
    epoch: int
    state: Literal["writing", "written"] = "writing"
    written: str | None = None
    files: dict[str, FileEntry] = Field(default_factory=dict)


class RunManifest(BaseModel):
    """The content of ``run.json`` (see module docstring)."""

    model_config = ConfigDict(extra="ignore")

    format: Literal["recblocks-run"] = FORMAT
    format_version: int = FORMAT_VERSION
    recblocks_version: str = Field(default_factory=lambda: recblocks.__version__)
    status: Literal["running", "complete", "failed"] = "running"
    command: str = "python"
    pid: int = Field(default_factory=os.getpid)
    host: str = Field(default_factory=socket.gethostname)
    environment: dict[str, Any] | None = None
    argv: list[str] | None = None
    cwd: str | None = None
    git: dict[str, Any] | None = None
    created: str = Field(default_factory=now)
    updated: str = Field(default_factory=now)
    finished: str | None = None
    error: str | None = None
    files: dict[str, FileEntry] = Field(default_factory=dict)
    checkpoints: dict[str, CheckpointEntry] = Field(default_factory=dict)
    resumes: list[dict[str, Any]] = Field(default_factory=list)
    init_from: dict[str, Any] | None = None

    def writer_text(self) -> str:
        """``process 4242 on node-1 (recblocks train, started 2026-...)``."""
        return f"process {self.pid} on {self.host} (recblocks {self.command}, started {self.created})"


def read_manifest(path: Path) -> RunManifest | None:
    """The manifest at ``path``; None when there is none. DataError naming the file when it
    cannot be read, is not JSON, is not a recblocks run manifest, or is of a newer format."""
    if not path.exists() and not path.is_symlink():
        return None
    try:
        if not path.is_file():
            raise DataError(str(path), "the run manifest is not a regular file", "a JSON file written by recblocks",
                            "a folder or a dangling link")
        size = path.stat().st_size
        if size > _MAX_BYTES:
            raise DataError(str(path), "the run manifest is too large", f"at most {_MAX_BYTES} bytes", f"{size} bytes")
        data = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise file_access_error(exc, path, "read") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(str(path), f"the run manifest is corrupt ({_first_line(exc)})",
                        "a JSON file written by recblocks", "unreadable content") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        got = f"format {data.get('format')!r}" if isinstance(data, dict) else type(data).__name__
        raise DataError(str(path), "not a recblocks run manifest", f"a JSON object with format '{FORMAT}'",
                        got[:100])
    version = data.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise DataError(str(path), "the run was written by a newer recblocks", f"format_version <= {FORMAT_VERSION}",
                        f"{version} (recblocks {str(data.get('recblocks_version'))[:20]})")
    try:
        return RunManifest.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"])
        raise DataError(f"{path}: {field}", f"the run manifest is corrupt ({error['msg']})",
                        "a manifest written by recblocks", repr(error.get("input"))[:100]) from None


def write_manifest(path: Path, manifest: RunManifest, *, durable: bool = True) -> None:
    """Write ``manifest`` atomically (``updated`` set to now)."""
    manifest.updated = now()
    atomic_write_text(path, manifest.model_dump_json(indent=2) + "\n", durable=durable)


def is_run_manifest(path: Path) -> bool:
    """Whether ``path`` is a readable recblocks run manifest (False for anything else)."""
    try:
        return path.is_file() and read_manifest(path) is not None
    except (DataError, FileAccessError, OSError):
        return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
