"""What a run records about the software and the command that wrote it (``run.json``).

Versions of recblocks, Python, torch, numpy and pyarrow, the platform, the command line and
the working directory, and the git commit of the recblocks source tree when it is a git
checkout (best effort: no git, no checkout or a slow git give ``None``, never an error).
"""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["library_versions", "provenance", "source_commit"]

#: Seconds a ``git`` call may take before the commit is recorded as unknown.
GIT_TIMEOUT = 2.0


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def source_commit() -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the git checkout holding recblocks' source, or None."""
    folder = Path(__file__).resolve().parent
    commit = _git(folder, "rev-parse", "HEAD")
    if not commit:
        return None
    status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def library_versions() -> dict[str, str]:
    """The versions a run's or an export's scores depend on: recblocks, Python, torch, numpy, pyarrow."""
    import numpy
    import pyarrow
    import torch

    import recblocks

    return {"recblocks": recblocks.__version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": numpy.__version__, "pyarrow": pyarrow.__version__}


def provenance() -> dict[str, Any]:
    """The ``environment``, ``argv``, ``cwd`` and ``git`` fields of a new run manifest."""
    environment = {**library_versions(), "platform": platform.platform(), "executable": sys.executable}
    return {"environment": environment, "argv": [str(a) for a in sys.argv], "cwd": os.getcwd(),
            "git": source_commit()}
