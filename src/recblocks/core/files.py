"""Files on disk: resolved paths, atomic writes, and OS errors as one-line recblocks errors.

Every file of a run directory and every prediction output goes through :func:`atomic_write`:
the content is written to a
temporary file in the same folder (``.<name>.<8 hex>.tmp``), flushed to disk with ``fsync``
when ``durable``, and renamed over the target with :func:`os.replace`, so a reader (or a
crash) sees either the old file or the whole new one, never a truncated one. On any error
the temporary file is removed and an :class:`OSError` becomes a :class:`FileAccessError`
naming the path and the problem in words ("no space left on the device", "permission
denied", "a file is in the way: ..."), never an OS traceback.

Paths are compared only after :func:`resolve_path` (``~`` expanded, ``..`` and symlinks
resolved, names over 255 bytes or paths over 4095 refused), so ``x/missing/..``, a symlink
to another folder, or ``runs/..`` are checked as the folder they really name.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

from recblocks.core.errors import ConfigError, DataError, RecBlocksError

__all__ = [
    "FileAccessError",
    "OutputPathError",
    "TEMP_PATTERN",
    "atomic_write",
    "atomic_write_text",
    "check_output_file",
    "describe_os_error",
    "file_access_error",
    "file_in_the_way",
    "make_dirs",
    "os_error_from",
    "path_kind",
    "resolve_path",
    "sha256_of",
    "temp_path",
]

#: Names of the temporary files :func:`atomic_write` creates: ``.<target name>.<8 hex>.tmp``.
TEMP_PATTERN = re.compile(r"^\.(?P<target>.+)\.[0-9a-f]{8}\.tmp$")

#: Longest file name and path most file systems accept (Linux: NAME_MAX, PATH_MAX).
NAME_MAX, PATH_MAX = 255, 4095

_WORDS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large (a file size limit was reached)",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENAMETOOLONG: "path too long",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "is a directory, not a file",
    errno.EEXIST: "already exists",
    errno.ENOENT: "no such file or directory",
    errno.ELOOP: "too many levels of symbolic links",
    errno.EMFILE: "too many open files",
    errno.EIO: "input/output error",
    errno.ENODEV: "not a regular file",
}
_ERRNO_IN_TEXT = re.compile(r"(?:\[errno |errno |os error )(\d+)", re.IGNORECASE)


class FileAccessError(DataError):
    """An OS error reading or writing a named path: permission, space, a file in the way..."""


class OutputPathError(ConfigError):
    """An output path is refused: it is an input, a run file, a folder, a file recblocks did not
    write, or has an unknown extension."""


def os_error_from(exc: BaseException) -> OSError | None:
    """``exc`` as an :class:`OSError` with ``errno`` set where it can be told (pyarrow, torch and
    safetensors put ``[Errno 28]`` / ``os error 28`` in their messages), else None."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc
    match = _ERRNO_IN_TEXT.search(str(exc))
    if match:
        code = int(match.group(1))
        return OSError(code, os.strerror(code), getattr(exc, "filename", None))
    return exc if isinstance(exc, OSError) else None


def describe_os_error(exc: BaseException) -> str:
    """A few words for an OS error ("no space left on the device"), without the path."""
    error = os_error_from(exc)
    if error is not None and error.errno in _WORDS:
        return _WORDS[error.errno]
    if error is not None and error.strerror:
        return error.strerror[:1].lower() + error.strerror[1:]
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def file_in_the_way(path: Path) -> Path | None:
    """The first existing ancestor of ``path`` (or ``path`` itself) that is not a folder."""
    for part in [*reversed(path.parents), path]:
        if part.is_symlink() and not part.exists():
            return part  # a dangling link is in the way too
        if part.exists() and not part.is_dir():
            return part
        if not part.exists():
            return None
    return None


def file_access_error(exc: BaseException, path: str | os.PathLike[str], action: str) -> FileAccessError:
    """A :class:`FileAccessError` for an OS error while doing ``action`` ("write", "create the
    folder", "read") at ``path``; a file in the way of a folder is named."""
    where = Path(path)
    error = os_error_from(exc)
    code = error.errno if error is not None else None
    if code in (errno.ENOTDIR, errno.EEXIST) and action.startswith("create"):
        blocker = file_in_the_way(where)
        if blocker is not None:
            return FileAccessError(_short(where), f"cannot {action}: a file is in the way",
                                   "a folder or nothing at that path", f"the file {blocker}")
    if action == "read":
        expected = "a readable file"
    elif code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        expected = "room for the file on the device (and under the file size limit)"
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS):
        expected = "a folder recblocks may write to"
    elif code == errno.ENAMETOOLONG:
        expected = "a shorter path (each name under 256 bytes)"
    else:
        expected = "a path recblocks can use"
    if code is not None:
        got = f"{errno.errorcode.get(code, code)} ({os.strerror(code)})"
    else:
        got = _short(" ".join(str(exc).split()) or type(exc).__name__)
    return FileAccessError(_short(where), f"cannot {action}: {describe_os_error(exc)}", expected, got)


def _short(value: object, limit: int = 200) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """``path`` absolute, with ``~`` expanded and ``..`` and symlinks resolved (as far as they exist)."""
    raw = Path(os.path.expanduser(os.fspath(path)))
    try:
        resolved = raw.resolve()
    except RuntimeError:  # a symlink loop (Python < 3.13)
        raise FileAccessError(_short(path), "cannot resolve the path: a symlink loop", "a path without link cycles",
                              _short(path)) from None
    except OSError as exc:
        raise file_access_error(exc, path, "resolve the path") from None
    longest = max((len(os.fsencode(part)) for part in resolved.parts), default=0)
    total = len(os.fsencode(str(resolved)))
    if longest > NAME_MAX or total > PATH_MAX:
        got = f"a name of {longest} bytes" if longest > NAME_MAX else f"a path of {total} bytes"
        raise FileAccessError(_short(path), "path too long", f"names of at most {NAME_MAX} bytes in a path of at most "
                              f"{PATH_MAX}", got)
    return resolved


def path_kind(path: Path) -> str:
    """``"missing"``, ``"folder"`` or ``"file"`` (anything else that exists) for ``path``;
    an OS error (permission on a parent, too long a name) becomes :class:`FileAccessError`."""
    try:
        if not os.path.lexists(path):
            return "missing"
        return "folder" if path.is_dir() else ("missing" if path.is_symlink() and not path.exists() else "file")
    except OSError as exc:
        raise file_access_error(exc, path, "look at the path") from None


def make_dirs(path: Path) -> list[Path]:
    """Create ``path`` and missing parents; return the folders created (outermost first).
    OS errors become :class:`FileAccessError` naming the folder (and a file in the way)."""
    missing = [p for p in [*reversed(path.parents), path] if not p.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (OSError, RuntimeError) as exc:
        raise file_access_error(exc, path, "create the folder") from None
    if not path.is_dir():  # exist_ok hides a file at the path itself
        raise FileAccessError(str(path), "cannot create the folder: a file is in the way",
                              "a folder or nothing at that path", f"the file {path}")
    return missing


def temp_path(path: Path) -> Path:
    """A fresh temporary name next to ``path`` (see :data:`TEMP_PATTERN`)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the rename itself is still atomic
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None], *, durable: bool = True) -> Path:
    """Write ``path`` through a temporary file in its folder, renamed into place (module docstring).

    Args:
        path: the target; its folder must exist.
        write: called with the temporary path; writes the whole content there.
        durable: ``fsync`` the file before the rename and the folder after it.

    Raises:
        FileAccessError: for any OS error (disk full, permission, read-only, too long a name);
            the temporary file is gone and ``path`` is unchanged.
    """
    target = Path(path)
    tmp = temp_path(target)
    try:
        write(tmp)
        if durable:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        if os_error_from(exc) is not None and not isinstance(exc, RecBlocksError):
            raise file_access_error(exc, target, "write") from None
        raise
    if durable:
        _fsync_dir(target.parent)
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, *, durable: bool = True) -> Path:
    """:func:`atomic_write` of UTF-8 text."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), durable=durable)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def check_output_file(output: str | os.PathLike[str], *, is_own: Callable[[Path], bool], overwrite: bool,
                      what: str, where: str = "--output") -> Path:
    """The resolved path of a file recblocks is about to write (a plot, a prepared dataset...).

    Refused with :class:`OutputPathError`: an existing folder; an existing file unless
    ``overwrite`` is given *and* ``is_own(path)`` says recblocks wrote it (each writer marks its
    files: Parquet metadata, a PNG/SVG creator field, a comment line). ``what`` names the output
    in messages ("the model graph", "the dataset").
    """
    path = resolve_path(output)
    label = f"{where} {output}" if Path(os.fspath(output)) == path else f"{where} {output} (= {path})"
    kind = path_kind(path)
    if kind == "folder":
        raise OutputPathError(_short(label), f"{what} would replace an existing folder", "a file path", "a folder")
    if kind == "file":
        if not is_own(path):
            raise OutputPathError(_short(label), f"refusing to overwrite a file recblocks did not write with {what}",
                                  "a new path", "an existing file")
        if not overwrite:
            raise OutputPathError(_short(label), f"the file exists (recblocks' own earlier {what}); pass "
                                  "--overwrite (overwrite=True) to replace it", "a new path", "an existing file")
    return path
