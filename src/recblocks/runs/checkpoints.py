"""Checkpoints inside a run directory: ``checkpoints/step-000120/``, atomic, listed, pruned.

Each checkpoint is a folder of the files :mod:`recblocks.training.train_state` describes. It is
written into ``checkpoints/.tmp-<name>-<pid>/`` (every file flushed to disk), renamed into place
and only then recorded as ``written`` in the manifest with each file's size and checksum, so a
run killed at any moment leaves either a complete checkpoint the manifest vouches for or a
temporary folder / an entry still ``writing`` that is ignored and cleaned up on resume.
``keep_checkpoint_max`` keeps the newest K: older checkpoints are first marked ``writing``
(being removed), then their listed files deleted, then their entry dropped, so only recblocks'
own files are ever deleted and a kill in between leaves nothing unlisted.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from recblocks.core.errors import DataError
from recblocks.core.files import file_access_error, make_dirs
from recblocks.runs.manifest import CheckpointEntry, FileEntry, RunManifest, now
from recblocks.runs.run_files import torch_save
from recblocks.training.train_state import STATE_FILES, TrainingState, read_training_state, write_training_state

__all__ = ["CHECKPOINTS", "checkpoint_name", "write_checkpoint", "latest_checkpoint", "remove_partial",
           "foreign_checkpoint_files", "remove_checkpoints"]

#: The folder of a run directory holding its checkpoints.
CHECKPOINTS = "checkpoints"
_TEMP = re.compile(r"^\.tmp-step-\d+-\d+$")
_WRITER = "RunDir.save_checkpoint"


def checkpoint_name(step: int) -> str:
    """``step-000120`` for global step 120."""
    return f"step-{step:06d}"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_folder(folder: Path, names: list[str]) -> None:
    """Delete ``names`` (and atomic-write temporaries) in ``folder``, then the folder when empty."""
    if not folder.is_dir() or folder.is_symlink():
        return
    for entry in os.listdir(folder):
        if entry in names or entry in STATE_FILES or entry.endswith(".tmp"):
            try:
                (folder / entry).unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise file_access_error(exc, folder / entry, "delete the old checkpoint file") from None
    try:
        folder.rmdir()
    except OSError:
        pass  # something else is in there: left alone


def write_checkpoint(root: Path, manifest: RunManifest, state: TrainingState, keep: int | None,
                     save_manifest: Callable[[], None]) -> str:
    """Write ``state`` as ``checkpoints/step-N`` of the run at ``root`` (see module docstring),
    then keep only the ``keep`` newest checkpoints (None: all). Returns the checkpoint's name."""
    folder = root / CHECKPOINTS
    make_dirs(folder)
    name = checkpoint_name(state.global_step)
    epoch = int(state.trainer["progress"]["epoch"]) + 1
    manifest.checkpoints[name] = CheckpointEntry(step=state.global_step, epoch=epoch)
    save_manifest()
    temp = folder / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(temp, ignore_errors=True)
    final = folder / name
    try:
        temp.mkdir()
        names = write_training_state(temp, state, torch_save)
        for file in names:
            _fsync(temp / file)
        _remove_folder(final, names)  # a stale one of the same step (a run restarted from scratch)
        os.rename(temp, final)
        _fsync(folder)
    except OSError as exc:
        shutil.rmtree(temp, ignore_errors=True)
        raise file_access_error(exc, final, "write the checkpoint") from None
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    manifest.checkpoints[name] = CheckpointEntry(
        step=state.global_step, epoch=epoch, state="written", written=now(),
        files={file: FileEntry.of(final / file, _WRITER) for file in names})
    save_manifest()
    if keep is not None:
        written = sorted((e.step, n) for n, e in manifest.checkpoints.items() if e.state == "written")
        for _, old in written[:-keep] if len(written) > keep else []:
            entry = manifest.checkpoints[old]
            entry.state = "writing"  # being removed
            save_manifest()
            _remove_folder(folder / old, list(entry.files))
            del manifest.checkpoints[old]
            save_manifest()
    return name


def latest_checkpoint(root: Path, manifest: RunManifest) -> tuple[str, TrainingState] | None:
    """The newest checkpoint the manifest records as written, read and checked (None without one).

    Raises:
        DataError: a file of that checkpoint is missing or changed since it was written (named).
    """
    written = sorted((e.step, n) for n, e in manifest.checkpoints.items() if e.state == "written")
    if not written:
        return None
    name = written[-1][1]
    folder = root / CHECKPOINTS / name
    for file, entry in manifest.checkpoints[name].files.items():
        problem = entry.mismatch(folder / file)
        if problem is not None:
            raise DataError(str(folder / file), "the checkpoint file is missing or changed since it was written",
                            "the file as the run's manifest records it", problem)
    return name, read_training_state(folder)


def remove_partial(root: Path, manifest: RunManifest) -> None:
    """Delete the checkpoints a killed run left half-written or half-removed (entries still
    ``writing``) and this run's temporary checkpoint folders; the manifest is updated by the caller."""
    folder = root / CHECKPOINTS
    for name in [n for n, e in manifest.checkpoints.items() if e.state != "written"]:
        _remove_folder(folder / name, list(manifest.checkpoints[name].files))
        del manifest.checkpoints[name]
    if folder.is_dir():
        for entry in os.listdir(folder):
            if _TEMP.match(entry):
                shutil.rmtree(folder / entry, ignore_errors=True)


def foreign_checkpoint_files(root: Path, manifest: RunManifest) -> list[str]:
    """Paths under ``checkpoints/`` that recblocks did not write (``--overwrite`` refuses them)."""
    folder = root / CHECKPOINTS
    if not folder.exists() and not folder.is_symlink():
        return []
    if folder.is_symlink() or not folder.is_dir():
        return [CHECKPOINTS]
    foreign = []
    for entry in sorted(os.listdir(folder)):
        if _TEMP.match(entry):
            continue
        listed = manifest.checkpoints.get(entry)
        inside = folder / entry
        if listed is None or inside.is_symlink() or not inside.is_dir():
            foreign.append(f"{CHECKPOINTS}/{entry}")
            continue
        foreign += [f"{CHECKPOINTS}/{entry}/{f}" for f in sorted(os.listdir(inside))
                    if f not in listed.files and f not in STATE_FILES and not f.endswith(".tmp")]
    return foreign


def remove_checkpoints(root: Path, manifest: RunManifest) -> None:
    """Delete every checkpoint of the run (after :func:`foreign_checkpoint_files` found none)."""
    folder = root / CHECKPOINTS
    if not folder.is_dir() or folder.is_symlink():
        return
    remove_partial(root, manifest)
    for name, entry in list(manifest.checkpoints.items()):
        _remove_folder(folder / name, list(entry.files))
    manifest.checkpoints.clear()
    try:
        folder.rmdir()
    except OSError:
        pass
