"""An advisory lock on a run directory (``fcntl.flock`` on the folder itself, never blocking).

A training holds the exclusive lock while it writes the run, so a second training into the
same folder (or ``--overwrite`` of it) refuses at once; ``evaluate``/``predict`` take the
shared lock while they read the run files, so they refuse a run that is being written and
a training cannot replace files under them. The kernel drops the lock when the process
ends, however it ends: a killed run leaves no stale lock (its manifest, still ``running``,
tells that it stopped). No lock file is created, so nothing is left behind.

Without ``fcntl`` (Windows), or on a file system that cannot lock, locking is a no-op.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

from recblocks.core.files import file_access_error

__all__ = ["DirectoryLock"]


class DirectoryLock:
    """Non-blocking shared/exclusive lock on a folder (see module docstring).

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> writer, reader = DirectoryLock(folder), DirectoryLock(folder)
        >>> writer.acquire(exclusive=True), reader.acquire(exclusive=False)
        (True, False)
        >>> writer.release(); reader.acquire(exclusive=False)
        True
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self, exclusive: bool) -> bool:
        """Take the lock without waiting; False when another holder prevents it."""
        if self._fd is not None:
            return True
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError as exc:
            raise file_access_error(exc, self.path, "open the run directory") from None
        if fcntl is None:  # pragma: no cover
            self._fd = fd
            return True
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                return False
            # the file system cannot lock (ENOLCK on some network mounts): go on unlocked
        self._fd = fd
        return True

    def release(self) -> None:
        """Drop the lock (closing the descriptor releases it)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __del__(self) -> None:
        self.release()
