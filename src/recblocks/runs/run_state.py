"""Whether a run directory may be written or read: clearing it for a new run, its lock, its state.

The rules are the ones :mod:`recblocks.runs.run_dir` states: ``--overwrite`` deletes only the
files a recognised run's manifest lists (and the temporary files of their writes); a run is
usable when its manifest says ``complete``, no process holds its lock and every listed file is
as recorded. Errors a user may override carry a ``reason`` and end with the
``--allow-unfinished`` hint.
"""

from __future__ import annotations

import os
from pathlib import Path

from recblocks.core.errors import DataError, RecBlocksError
from recblocks.core.files import TEMP_PATTERN, file_access_error
from recblocks.runs.checkpoints import CHECKPOINTS, foreign_checkpoint_files, remove_checkpoints
from recblocks.runs.errors import RunDirExistsError, RunLockedError, UnfinishedRunError
from recblocks.runs.manifest import MANIFEST, FileEntry, read_manifest

__all__ = ["clear_for_run", "lock_error", "run_problem", "FORCE_HINT"]

FORCE_HINT = "pass --allow-unfinished (allow_unfinished=True) to use it anyway"


def _preview(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _forceable(kind: type[RecBlocksError], where: str, reason: str, expected: str, got: str) -> RecBlocksError:
    """An error whose message ends with the --allow-unfinished hint; ``reason`` is kept for the warning."""
    error = kind(where, f"{reason}; {FORCE_HINT}", expected, got)
    error.reason = reason  # type: ignore[attr-defined]
    return error



def clear_for_run(path: Path, where: str, overwrite: bool, dry_run: bool = False) -> None:
    """Empty ``path`` for a new run as :mod:`recblocks.runs.run_dir` allows, or refuse (deleting nothing).

    ``dry_run`` makes every check and deletes nothing (``recblocks validate --output``)."""
    try:
        entries = sorted(os.listdir(path))
    except OSError as exc:
        raise file_access_error(exc, path, "list the run directory") from None
    if not entries:
        return
    try:
        manifest, broken = read_manifest(path / MANIFEST), None
    except DataError as exc:
        manifest, broken = None, exc
    if not overwrite:
        problem = (f"the folder holds a recblocks run (status {manifest.status}); pass --overwrite "
                   "(overwrite=True) to replace it" if manifest is not None else
                   "the folder is not empty and holds no recblocks run; recblocks writes only into a new or "
                   "empty folder (--overwrite replaces only a recblocks run)")
        raise RunDirExistsError(where, problem, "a new or empty folder", _preview(entries))
    if manifest is None:
        why = f"its run.json is unreadable ({broken.problem})" if broken else "it has no run.json"
        raise RunDirExistsError(where, f"--overwrite replaces only a recblocks run and {why}, so "
                                "recblocks did not write these files; it deletes nothing: move them away or "
                                "choose another folder", "a folder written by recblocks train", _preview(entries))
    listed = set(manifest.files)
    temps = [e for e in entries if (m := TEMP_PATTERN.match(e)) and m["target"] in listed | {MANIFEST}]
    foreign = [e for e in entries if e not in listed and e not in (MANIFEST, CHECKPOINTS) and e not in temps]
    foreign += foreign_checkpoint_files(path, manifest)
    foreign += [f"{e}/{name}" for e in entries if e in listed for name in manifest.files[e].foreign(path / e)]
    if foreign:
        raise RunDirExistsError(where, "the run directory also holds files recblocks did not write; "
                                "--overwrite deletes nothing it did not write: move them away or choose "
                                "another folder", "only the files its run.json lists", _preview(foreign))
    ours = [e for e in entries if e in listed]
    changed = [f"{name} ({problem})" for name in ours
               if (problem := manifest.files[name].mismatch(path / name))
               and problem != "was being written when the run stopped"]
    if changed:
        raise RunDirExistsError(where, "files of the run changed since recblocks wrote them, so they "
                                "may be yours now; --overwrite deletes nothing: move them away or choose "
                                "another folder", "the files as the run wrote them", _preview(changed))
    if dry_run:
        return
    remove_checkpoints(path, manifest)
    for name in [*ours, *temps]:
        entry = manifest.files.get(name)
        if entry is not None and entry.kind == "folder":
            _delete_folder(path / name, entry)
        else:
            _delete(path / name)


def _delete(path: Path, folder: bool = False) -> None:
    """Remove an old run file (or an emptied folder); gone already is fine."""
    try:
        path.rmdir() if folder else path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise file_access_error(exc, path, f"delete the old run {'folder' if folder else 'file'}") from None


def _delete_folder(path: Path, entry: FileEntry) -> None:
    """Delete the files a folder entry lists, then the folder (checked to hold nothing else)."""
    if path.is_symlink() or not path.is_dir():
        return
    for name in entry.files or {}:
        if "/" not in name and name not in (".", ".."):
            _delete(path / name)
    _delete(path, folder=True)


def lock_error(manifest_path: Path, where: str, writing: bool) -> RunLockedError:
    """The error for a lock held by someone else, naming the writer when the manifest does."""
    try:
        manifest = read_manifest(manifest_path)
    except DataError:
        manifest = None
    if manifest is not None and manifest.status == "running":
        holder = manifest.writer_text() + (" - this process" if manifest.pid == os.getpid() else "")
        reason = f"the run directory is being written by {holder}"
    else:
        reason = "the run directory is locked by another recblocks process (reading or writing it)"
    if writing:
        return RunLockedError(where, f"{reason}; wait for it to finish or choose another folder",
                              "a run directory no other process holds", "a held lock")
    return _forceable(RunLockedError, where, reason, "a finished run", "a run still being written")


def run_problem(path: Path, where: str, free: bool) -> RecBlocksError | None:
    """Why the run cannot be used as it is (an error with a ``reason``), or None for a complete,
    intact run."""
    try:
        manifest = read_manifest(path / MANIFEST)
    except DataError as exc:
        return _forceable(DataError, exc.where, exc.problem, exc.expected, exc.got)
    if not free:
        return lock_error(path / MANIFEST, where, writing=False)
    expected = "a run whose run.json says complete"
    if manifest is None:
        return _forceable(UnfinishedRunError, where, "not a finished recblocks run: it has no run manifest "
                          "(run.json), so its training never finished or another program wrote it",
                          expected, "no run.json")
    if manifest.status == "running":
        return _forceable(UnfinishedRunError, where, "the run is unfinished: its manifest still says running but "
                          "no process holds its lock, so the training was killed, crashed or never marked finished; "
                          f"it was written by {manifest.writer_text()}", expected, "status running")
    if manifest.status == "failed":
        return _forceable(UnfinishedRunError, where, f"the run is unfinished: its training failed "
                          f"({manifest.error})", expected, "status failed")
    for name, entry in manifest.files.items():
        problem = entry.mismatch(path / name) if "/" not in name and name not in (".", "..") else "bad name"
        if problem is not None:
            what = "is missing" if problem == "missing" else "changed after the run finished"
            return _forceable(DataError, str(path / name), f"the run file {what}",
                              "the file as the run's manifest records it", problem)
    return None
