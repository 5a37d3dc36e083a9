"""The run directory: everything one training run leaves behind, and nothing else.

::

    run/
      run.json            the manifest: every file recblocks wrote, by what, and the run's
                          status (running -> complete | failed); see recblocks.runs.manifest
      config.yaml         the resolved config
      preprocess.json     fitted preprocessing state
      model.safetensors   best weights
      optimizer.pt        optimizer state at the best epoch (torch.save)
      epochs.jsonl        one JSON object of metrics per epoch
      evaluations.jsonl   train.eval_steps: one JSON object per step evaluation
                          ({"step", "epoch", "valid"}; epochs.jsonl stays one line per epoch)
      metrics.json        final summary: best epoch, valid/test metrics, data report
      checkpoints/        train.save_checkpoints_steps: step-000120/ ... (see runs.checkpoints)
      tensorboard/        the TensorBoard event log (one folder entry in the manifest; see
                          recblocks.runs.manifest and recblocks.training.tensorboard)

Rules (the user's files are never at risk):

- ``RunDir(path)`` writes only into a new or empty folder. ``overwrite=True`` (``--overwrite``)
  replaces only a recognised recblocks run: it deletes the files its ``run.json`` lists (and
  the temporary files of their writes), and refuses, deleting nothing, a folder without a
  manifest, or a run folder that also holds files recblocks did not write or whose listed
  files were changed since. Paths are resolved (``~``, ``..``, symlinks) before any check.
- The writer holds an exclusive lock on the folder (:class:`DirectoryLock`) until
  :meth:`RunDir.finish` / :meth:`RunDir.fail` (or the end of a ``with`` block, or the end of
  the process); a second writer refuses at once, naming the process.
- Every file is written atomically (temporary file in the folder, ``fsync``, rename) and is
  listed in the manifest before its first byte is written; the status ``complete`` is
  written last.
- ``RunDir.open(path)`` (evaluate, predict, ``Model.fit`` reading back) refuses a run that is
  locked, unfinished (killed, crashed, failed, no manifest) or whose files changed since it
  finished, unless ``allow_unfinished=True`` (``--allow-unfinished``), which only warns.
- ``RunDir.resume(path)`` (``recblocks train --resume``) reopens an interrupted run (manifest
  ``running`` with no lock holder, or ``failed``) for writing: status back to ``running``, one
  entry added to the manifest's ``resumes``; a complete run, a folder that is not a run, or a
  run whose files were changed since are refused.
- Reading a damaged file (truncated weights, invalid YAML, corrupt JSON, garbage optimizer
  state) raises a one-line :class:`DataError` naming the file.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from recblocks.core.errors import DataError, RecBlocksError
from recblocks.core.files import (
    atomic_write,
    atomic_write_text,
    make_dirs,
    path_kind,
    resolve_path,
)
from recblocks.features.preprocess import Preprocessor
from recblocks.runs.checkpoints import latest_checkpoint, remove_partial, write_checkpoint
from recblocks.runs.errors import ResumeError, RunDirExistsError
from recblocks.runs.manifest import (
    MANIFEST,
    FileEntry,
    RunManifest,
    now,
    read_manifest,
    write_manifest,
)
from recblocks.runs.provenance import provenance
from recblocks.runs.run_files import (
    first_line,
    jsonable,
    load_optimizer_file,
    read_config_file,
    read_json_lines,
    read_json_object,
    read_preprocessor_file,
    read_text,
    torch_save,
)
from recblocks.runs.run_lock import DirectoryLock
from recblocks.runs.run_state import clear_for_run, lock_error, run_problem
from recblocks.training.checkpoint import load_state_dict, save_state_dict
from recblocks.training.train_state import TrainingState

__all__ = ["RunDir", "RUN_FILES", "MANIFEST", "jsonable"]

log = logging.getLogger("recblocks")

CONFIG = "config.yaml"
PREPROCESS = "preprocess.json"
WEIGHTS = "model.safetensors"
OPTIMIZER = "optimizer.pt"
EPOCHS = "epochs.jsonl"
EVALUATIONS = "evaluations.jsonl"
METRICS = "metrics.json"
#: The files a training run writes (besides its manifest ``run.json`` and ``checkpoints/``).
RUN_FILES = (CONFIG, PREPROCESS, WEIGHTS, OPTIMIZER, EPOCHS, EVALUATIONS, METRICS)
class RunDir:
    """A run directory (see module docstring).

    ``RunDir(path)`` creates it for writing (lock + manifest ``running``); use it as a context
    manager, or call :meth:`finish` / :meth:`fail`, to record the outcome. ``RunDir.open(path)``
    opens a finished run for reading.

    Args:
        path: the folder (created with its parents when missing).
        overwrite: replace a recognised recblocks run there (see module docstring).
        config: written to ``config.yaml`` at once when given.
        command: recorded in the manifest as what wrote the run.

    Example:
        >>> import tempfile
        >>> with RunDir(tempfile.mkdtemp() + "/run", config={"train": {"epochs": 1}}) as run:
        ...     run.write_metrics({"best_epoch": 1})
        >>> RunDir.open(run.path).read_config()
        {'train': {'epochs': 1}}
    """

    def __init__(self, path: str | os.PathLike[str], *, overwrite: bool = False,
                 config: Mapping[str, Any] | Any | None = None, command: str = "python") -> None:
        self._given = str(path)
        self.path = resolve_path(path)
        self.unfinished: str | None = None
        self._manifest: RunManifest | None = None
        if path_kind(self.path) == "file":
            raise RunDirExistsError(self._where(), "the run directory path is a file", "a folder or nothing there",
                                    f"the file {self.path}")
        make_dirs(self.path)
        self._lock = DirectoryLock(self.path)
        if not self._lock.acquire(exclusive=True):
            raise lock_error(self.manifest_path, self._where(), writing=True)
        try:
            clear_for_run(self.path, self._where(), overwrite)
            self._manifest = RunManifest(command=command, **provenance())
            write_manifest(self.manifest_path, self._manifest)
        except BaseException:
            self._lock.release()
            raise
        if config is not None:
            self.write_config(config)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, allow_unfinished: bool = False,
             warn: Callable[[str], None] | None = None) -> "RunDir":
        """An existing run for reading (shared lock held until :meth:`close` / the ``with`` block ends).

        Raises:
            DataError: no folder there, a file instead, a corrupt manifest, a run file changed
                since the run finished (unless ``allow_unfinished``).
            RunLockedError: a training is writing it (unless ``allow_unfinished``).
            UnfinishedRunError: killed, crashed, failed or without manifest (unless ``allow_unfinished``;
                then ``warn`` - default: a log warning - is told why and :attr:`unfinished` says it).
        """
        run = cls.__new__(cls)
        run._given, run.path, run._manifest, run.unfinished = str(path), resolve_path(path), None, None
        kind = path_kind(run.path)
        if kind == "missing":
            raise DataError(run._where(), "run directory not found", "a folder written by recblocks train", "nothing")
        if kind == "file":
            raise DataError(run._where(), "the run directory path is a file, not a folder",
                            "a folder written by recblocks train", f"the file {run.path}")
        run._lock = DirectoryLock(run.path)
        free = run._lock.acquire(exclusive=False)
        problem = run_problem(run.path, run._where(), free)
        if problem is not None:
            if not allow_unfinished:
                run._lock.release()
                raise problem
            run.unfinished = getattr(problem, "reason", str(problem))
            (warn or log.warning)(f"{problem.where}: using the run anyway (--allow-unfinished): {run.unfinished}")
        return run

    @classmethod
    def resume(cls, path: str | os.PathLike[str], *, command: str = "train",
               check: Callable[["RunDir"], None] | None = None) -> "RunDir":
        """Reopen an interrupted run for writing (see module docstring); ``check(run)`` runs with
        the lock held before anything is written (an error there leaves the run unchanged).

        Raises:
            DataError: no folder there, a file, a corrupt manifest.
            RunLockedError: a process still writes it.
            ResumeError: not a recblocks run, already complete, or a run file changed since
                it was written.
        """
        run = cls.__new__(cls)
        run._given, run.path, run._manifest, run.unfinished = str(path), resolve_path(path), None, None
        kind = path_kind(run.path)
        if kind != "folder":
            raise DataError(run._where(), "run directory not found" if kind == "missing" else
                            "the run directory path is a file, not a folder",
                            "the run directory of an interrupted recblocks train", "nothing" if kind == "missing"
                            else f"the file {run.path}")
        run._lock = DirectoryLock(run.path)
        if not run._lock.acquire(exclusive=True):
            raise lock_error(run.manifest_path, run._where(), writing=True)
        try:
            manifest = read_manifest(run.manifest_path)
            expected = "the run directory of an interrupted recblocks train (status running or failed)"
            if manifest is None:
                raise ResumeError(run._where(), "not a recblocks run: the folder has no run manifest (run.json)",
                                  expected, "no run.json")
            if manifest.status == "complete":
                raise ResumeError(run._where(), "the run is complete, there is nothing to resume (train a new run, "
                                  "or start one from its weights with --init-from)", expected, "status complete")
            changed = [f"{name} ({problem})" for name, entry in manifest.files.items()
                       if (problem := entry.mismatch(run.path / name)) is not None
                       and problem not in ("was being written when the run stopped", "missing")]
            if changed:
                raise ResumeError(run._where(), "files of the run changed since recblocks wrote them",
                                  "the files as the run wrote them", ", ".join(changed[:3]))
            if check is not None:
                check(run)
            remove_partial(run.path, manifest)
            manifest.resumes.append({"time": now(), "pid": os.getpid(), "host": socket.gethostname(),
                                     "previous_status": manifest.status, "previous_pid": manifest.pid,
                                     "checkpoint": None, **provenance()})
            manifest.status, manifest.finished, manifest.error = "running", None, None
            manifest.pid, manifest.host, manifest.command = os.getpid(), socket.gethostname(), command
            write_manifest(run.manifest_path, manifest)
            run._manifest = manifest
        except BaseException:
            run._lock.release()
            raise
        return run

    # -- life cycle -------------------------------------------------------------------------
    def __enter__(self) -> "RunDir":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if self._manifest is None:
            self.close()
        elif exc is None:
            self.finish()
        else:
            self.fail(exc)

    def finish(self) -> None:
        """Mark the run ``complete`` (written last, durably) and release the lock."""
        if self._manifest is not None and self._lock.held:
            self._manifest.status, self._manifest.error, self._manifest.finished = "complete", None, now()
            write_manifest(self.manifest_path, self._manifest)
        self.close()

    def fail(self, exc: BaseException | str) -> None:
        """Mark the run ``failed`` with the error's first line and release the lock (never raises:
        the caller is already handling an error)."""
        if self._manifest is not None and self._lock.held:
            line = exc if isinstance(exc, str) else f"{type(exc).__name__}: {first_line(exc)}"
            self._manifest.status, self._manifest.error, self._manifest.finished = "failed", line[:500], now()
            try:
                write_manifest(self.manifest_path, self._manifest)
            except (RecBlocksError, OSError) as error:
                log.warning("%s: could not mark the run failed (%s)", self.path, error)
        self.close()

    def close(self) -> None:
        """Release the lock without changing the manifest."""
        self._lock.release()

    def __repr__(self) -> str:
        return f"RunDir('{self.path}')"

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def manifest(self) -> RunManifest | None:
        """The manifest as written by this object, or as read from ``run.json`` (None without one)."""
        if self._manifest is not None:
            return self._manifest
        try:
            return read_manifest(self.manifest_path)
        except DataError:
            return None

    # -- checks -----------------------------------------------------------------------------
    def _where(self) -> str:
        return self._given if Path(self._given) == self.path else f"{self._given} (= {self.path})"

    # -- paths ------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def preprocess_path(self) -> Path:
        return self.path / PREPROCESS

    @property
    def weights_path(self) -> Path:
        return self.path / WEIGHTS

    @property
    def optimizer_path(self) -> Path:
        return self.path / OPTIMIZER

    @property
    def epochs_path(self) -> Path:
        return self.path / EPOCHS

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    def _need(self, path: Path, what: str) -> Path:
        if not path.is_file():
            raise DataError(str(path), f"{what} not found in the run directory", f"{path.name}", "nothing")
        return path

    # -- writing ----------------------------------------------------------------------------
    @contextmanager
    def _writing(self, name: str, writer: str) -> Iterator[Path]:
        """List ``name`` as being written, let the caller write it atomically, then record it."""
        if self._manifest is None or not self._lock.held:
            raise RuntimeError(f"{self!r} is not open for writing (created by RunDir.open, or finished)")
        self._manifest.files[name] = FileEntry(writer=writer)
        write_manifest(self.manifest_path, self._manifest, durable=False)
        yield self.path / name
        self._manifest.files[name] = FileEntry.of(self.path / name, writer)
        write_manifest(self.manifest_path, self._manifest, durable=False)

    def _write_text(self, name: str, text: str, writer: str) -> Path:
        with self._writing(name, writer) as path:
            atomic_write_text(path, text)
        return path

    def write_config(self, config: Mapping[str, Any] | Any) -> None:
        """Write the resolved config (a mapping or a pydantic model) as YAML."""
        text = yaml.safe_dump(jsonable(config), sort_keys=False, allow_unicode=True)
        self._write_text(CONFIG, text, "RunDir.write_config")

    def write_preprocessor(self, preprocessor: Preprocessor) -> Path:
        """Write a fitted preprocessor's state to ``preprocess.json``."""
        text = json.dumps(preprocessor.state_dict(), ensure_ascii=False)
        return self._write_text(PREPROCESS, text, "RunDir.write_preprocessor")

    def save_weights(self, state: nn.Module | Mapping[str, torch.Tensor]) -> Path:
        """Write a module's (or a state dict's) weights to ``model.safetensors``."""
        with self._writing(WEIGHTS, "RunDir.save_weights") as path:
            save_state_dict(path, state)
        return path

    def save_optimizer(self, optimizer: Any) -> Path:
        """``torch.save`` of ``optimizer.state_dict()`` to ``optimizer.pt``."""
        state = optimizer.state_dict()
        with self._writing(OPTIMIZER, "RunDir.save_optimizer") as path:
            atomic_write(path, lambda tmp: torch_save(state, tmp))
        return path

    def append_epoch(self, record: Mapping[str, Any]) -> None:
        """Add one JSON line to ``epochs.jsonl`` (the file is rewritten atomically)."""
        old = read_text(self.epochs_path) if EPOCHS in self._own_files() else ""
        self._write_text(EPOCHS, old + json.dumps(jsonable(record)) + "\n", "RunDir.append_epoch")

    def append_evaluation(self, record: Mapping[str, Any]) -> None:
        """Add one JSON line to ``evaluations.jsonl`` (a step evaluation; rewritten atomically)."""
        old = read_text(self.path / EVALUATIONS) if EVALUATIONS in self._own_files() else ""
        self._write_text(EVALUATIONS, old + json.dumps(jsonable(record)) + "\n", "RunDir.append_evaluation")

    def rewrite_logs(self, epochs: list[Mapping[str, Any]], evaluations: list[Mapping[str, Any]]) -> None:
        """Replace ``epochs.jsonl`` / ``evaluations.jsonl`` (those this run wrote) with these
        records: a resumed run drops the lines its killed process wrote after the checkpoint."""
        for name, records, writer in ((EPOCHS, epochs, "RunDir.append_epoch"),
                                      (EVALUATIONS, evaluations, "RunDir.append_evaluation")):
            if name in self._own_files():
                self._write_text(name, "".join(json.dumps(jsonable(r)) + "\n" for r in records), writer)

    def save_checkpoint(self, state: TrainingState, keep: int | None) -> str:
        """Write a training checkpoint under ``checkpoints/`` and prune to the ``keep`` newest
        (see :mod:`recblocks.runs.checkpoints`); returns its name (``step-000120``)."""
        if self._manifest is None or not self._lock.held:
            raise RuntimeError(f"{self!r} is not open for writing (created by RunDir.open, or finished)")
        manifest = self._manifest
        return write_checkpoint(self.path, manifest, state, keep,
                                lambda: write_manifest(self.manifest_path, manifest, durable=False))

    def latest_checkpoint(self) -> tuple[str, TrainingState] | None:
        """The newest complete checkpoint (name and state), or None when the run has none."""
        manifest = self.manifest
        return latest_checkpoint(self.path, manifest) if manifest is not None else None

    def record(self, **fields: Any) -> None:
        """Set manifest fields (``init_from``; ``checkpoint`` of the last ``resumes`` entry)."""
        if self._manifest is None:
            raise RuntimeError(f"{self!r} is not open for writing")
        if "checkpoint" in fields and self._manifest.resumes:
            self._manifest.resumes[-1]["checkpoint"] = fields.pop("checkpoint")
        for key, value in fields.items():
            setattr(self._manifest, key, jsonable(value))
        write_manifest(self.manifest_path, self._manifest, durable=False)

    def write_metrics(self, metrics: Mapping[str, Any], merge: bool = True) -> None:
        """Write ``metrics.json``; with ``merge`` the top-level keys update what this run wrote
        there before (training writes ``best_epoch``/``valid``, the caller adds ``test``/``data``)."""
        data = self.read_metrics() if merge and METRICS in self._own_files() else {}
        data.update(jsonable(metrics))
        self._write_text(METRICS, json.dumps(data, indent=2) + "\n", "RunDir.write_metrics")

    def open_folder(self, name: str, writer: str) -> Path:
        """Create the sub-folder ``name`` for files that grow while training (an event log),
        listed in the manifest as being written; call :meth:`record_folder` once its files
        exist and again with ``done=True`` when they are closed. A folder this run already
        lists (a continued run) is kept with its files."""
        if self._manifest is None or not self._lock.held:
            raise RuntimeError(f"{self!r} is not open for writing (created by RunDir.open, or finished)")
        if "/" in name or name in ("", ".", "..", MANIFEST):
            raise ValueError(f"not a folder name: {name!r}")
        folder = self.path / name
        entry = self._manifest.files.get(name)
        if entry is None or entry.kind != "folder":
            if os.path.lexists(folder):
                raise RunDirExistsError(str(folder), "the run directory already holds this name",
                                        "nothing there (recblocks writes its own folder)", "something there")
            entry = FileEntry(writer=writer, kind="folder", files={})
        self._manifest.files[name] = entry.model_copy(update={"state": "writing", "writer": writer})
        write_manifest(self.manifest_path, self._manifest, durable=False)
        make_dirs(folder)
        return folder

    def record_folder(self, name: str, done: bool = False) -> None:
        """List the files now in the sub-folder ``name``: by name while writing, with their sizes
        and checksums once ``done`` (so the integrity check never sees a file still growing)."""
        if self._manifest is None or not self._lock.held:
            raise RuntimeError(f"{self!r} is not open for writing (created by RunDir.open, or finished)")
        writer = self._manifest.files[name].writer
        self._manifest.files[name] = FileEntry.of_folder(self.path / name, writer, done)
        write_manifest(self.manifest_path, self._manifest, durable=done)

    def _own_files(self) -> set[str]:
        return set(self._manifest.files) if self._manifest is not None else set()

    # -- reading ----------------------------------------------------------------------------
    def read_config(self) -> dict[str, Any]:
        """The run's config (a mapping); DataError naming ``config.yaml`` when it is not one."""
        return read_config_file(self._need(self.config_path, "config.yaml"))

    def read_preprocessor(self) -> Preprocessor:
        """The fitted preprocessor of ``preprocess.json``; DataError naming the file when it is
        missing, not JSON, or not a preprocessing state."""
        return read_preprocessor_file(self._need(self.preprocess_path, "preprocess.json (the fitted preprocessing)"))

    def load_state_dict(self) -> dict[str, torch.Tensor]:
        """The saved weights as a state dict (CPU tensors)."""
        return load_state_dict(self._need(self.weights_path, "model weights"))

    def load_weights(self, model: nn.Module, strict: bool = True) -> nn.Module:
        """Load ``model.safetensors`` into ``model`` (DataError naming missing/unexpected keys)."""
        state = self.load_state_dict()
        try:
            model.load_state_dict(state, strict=strict)
        except RuntimeError as exc:
            own = set(model.state_dict())
            missing, unexpected = sorted(own - set(state)), sorted(set(state) - own)
            detail = f"missing {missing[:5]}, unexpected {unexpected[:5]}" if (missing or unexpected) else first_line(exc)
            raise DataError(str(self.weights_path), "the saved weights do not fit this model",
                            "the state dict of the same model config", detail) from None
        return model

    def load_optimizer(self, optimizer: Any) -> Any:
        """Load ``optimizer.pt`` into ``optimizer`` (anything with ``load_state_dict``)."""
        return load_optimizer_file(self._need(self.optimizer_path, "optimizer state"), optimizer)

    def read_epochs(self) -> list[dict[str, Any]]:
        """The per-epoch records of ``epochs.jsonl`` ([] without the file)."""
        return read_json_lines(self.epochs_path) if self.epochs_path.is_file() else []

    def read_metrics(self) -> dict[str, Any]:
        """The summary of ``metrics.json`` ({} without the file)."""
        return read_json_object(self.metrics_path) if self.metrics_path.is_file() else {}
