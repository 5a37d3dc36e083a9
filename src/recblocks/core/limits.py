"""Size limits checked before any work, and the machine's memory they are measured against.

The bounds are generous: no real recommendation model comes near them, but a typo (``1e12``
for ``1e2``) or a hostile config is refused when the config is read, naming the config
path, instead of allocating for minutes. Each bound is documented on the params field that
uses it. Larger models than the memory check allows are possible by raising
``train.memory_limit_gb`` (see :func:`memory_limit`).

Example:
    >>> MAX_EMBEDDING_DIM
    65536
    >>> format_bytes(112_000_000_000)
    '112.0 GB'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from recblocks.core.errors import ConfigError, shorten

__all__ = [
    "MAX_TABLE_ROWS",
    "MAX_EMBEDDING_DIM",
    "MAX_SEQUENCE_LENGTH",
    "MAX_BUCKETS",
    "MAX_LAYER_WIDTH",
    "MAX_LAYERS",
    "MAX_BODY_REPEATS",
    "MAX_PLANNED_STEPS",
    "MAX_THREADS",
    "MAX_EPOCHS",
    "MAX_STEPS",
    "MAX_BATCH_SIZE",
    "MAX_SEED",
    "MAX_LOG_EVERY",
    "MAX_ROWS_PER_CHUNK",
    "MAX_CSV_BLOCK_BYTES",
    "MAX_SYNTHETIC_ROWS",
    "MAX_SYNTHETIC_FIELDS",
    "MAX_SYNTHETIC_VOCAB",
    "GB",
    "DEFAULT_MEMORY_FRACTION",
    "MemoryLimit",
    "machine_memory",
    "memory_limit",
    "format_bytes",
]

#: Rows of one embedding table (``hash_bucket_size``, ``max_vocab_size``): 2**40, about 1.1e12.
MAX_TABLE_ROWS = 2**40
#: Width of an embedding (feature- and model-level ``embedding_dim``, ``wide_output_dim``).
MAX_EMBEDDING_DIM = 2**16
#: Padded length ``max_len`` of a multi-valued or sequence feature.
MAX_SEQUENCE_LENGTH = 2**16
#: Buckets of a bucketized feature (``num_buckets``, number of ``boundaries``).
MAX_BUCKETS = 1_000_000
#: Width of one layer (MLP ``hidden_units`` entries, Dense ``units``, Cross ``projection_dim``).
MAX_LAYER_WIDTH = 2**20
#: Layers of one component (MLP ``hidden_units`` entries, CrossNet ``num_layers``).
MAX_LAYERS = 1_000
#: ``num_repeat`` of a repeat body and ``num_steps`` of a recurrent body.
MAX_BODY_REPEATS = 1_000
#: Components a whole backbone may plan (blocks, layers, repeats and recurrent steps together).
MAX_PLANNED_STEPS = 5_000
#: ``train.num_threads``: torch starts that many threads per parallel region.
MAX_THREADS = 1_024
#: ``train.epochs``.
MAX_EPOCHS = 1_000_000
#: ``train.max_steps``.
MAX_STEPS = 10**12
#: ``train.batch_size`` and ``train.eval_batch_size``: 2**24 rows.
MAX_BATCH_SIZE = 2**24
#: ``train.seed`` and the synthetic generator's ``seed``: what torch's ``manual_seed`` accepts.
MAX_SEED = 2**64 - 1
#: ``train.log_every`` (steps between loss syncs).
MAX_LOG_EVERY = 10**9
#: ``data.rows_per_chunk`` of streaming reads: 2**26 rows.
MAX_ROWS_PER_CHUNK = 2**26
#: ``block_size`` of CSV reads, in bytes (pyarrow's reader takes a 32-bit size): 1 GiB.
MAX_CSV_BLOCK_BYTES = 2**30
#: Rows of a generated synthetic dataset (it is generated in memory).
MAX_SYNTHETIC_ROWS = 100_000_000
#: Dense or categorical columns of a generated synthetic dataset.
MAX_SYNTHETIC_FIELDS = 10_000
#: Vocabulary of one generated categorical column.
MAX_SYNTHETIC_VOCAB = 100_000_000

#: One gigabyte as used in messages and ``memory_limit_gb``: 10**9 bytes.
GB = 10**9
#: Share of the machine's memory a planned model may use unless ``memory_limit_gb`` is set.
DEFAULT_MEMORY_FRACTION = 0.5
_FALLBACK_MEMORY = 8 * GB


def format_bytes(count: float) -> str:
    """``count`` bytes in GB (10**9 bytes) with one decimal; MB below 0.1 GB, KB below 0.1 MB."""
    if count < 1e5:
        return f"{count / 1e3:,.1f} KB"
    if count < 0.1 * GB:
        return f"{count / 1e6:,.1f} MB"
    return f"{count / GB:,.1f} GB"


def _cgroup_limit() -> int | None:
    """The container's memory limit (cgroup v2 or v1), when one is set."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text(encoding="ascii").strip()
        except (OSError, ValueError):
            continue
        if text.isdigit() and 0 < int(text) < 2**60:  # "max" or a huge number means no limit
            return int(text)
    return None


def _windows_memory() -> int | None:
    import ctypes

    class _Status(ctypes.Structure):
        _fields_ = [("length", ctypes.c_ulong), ("load", ctypes.c_ulong), ("total", ctypes.c_ulonglong),
                    ("available", ctypes.c_ulonglong), ("page_total", ctypes.c_ulonglong),
                    ("page_available", ctypes.c_ulonglong), ("virtual_total", ctypes.c_ulonglong),
                    ("virtual_available", ctypes.c_ulonglong), ("extended", ctypes.c_ulonglong)]

    status = _Status()
    status.length = ctypes.sizeof(_Status)
    if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
        return int(status.total)
    return None


def machine_memory() -> tuple[int, str]:
    """``(bytes, description)`` of the memory this process may use.

    Physical memory (``os.sysconf``; ``GlobalMemoryStatusEx`` on Windows), lowered to the
    container's cgroup limit when one is set; 8 GB when neither can be read.
    """
    physical = None
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        try:
            physical = _windows_memory()
        except (AttributeError, OSError, ImportError):
            physical = None
    container = _cgroup_limit()
    if container is not None and (physical is None or container < physical):
        return container, "this container's memory limit"
    if physical is None or physical <= 0:
        return _FALLBACK_MEMORY, "an assumed 8 GB: this machine's memory could not be read"
    return physical, "this machine's memory"


@dataclass(frozen=True)
class MemoryLimit:
    """The most memory a planned model may need: ``bytes`` (None: no limit) and where it comes from."""

    bytes: int | None
    description: str


def memory_limit(limit_gb: float | None, setting: str = "train.memory_limit_gb") -> MemoryLimit:
    """The limit for ``limit_gb``: None means half of :func:`machine_memory`, 0 means no limit.

    Example:
        >>> memory_limit(0).bytes is None
        True
        >>> memory_limit(2.5).bytes
        2500000000
    """
    if limit_gb is not None and (isinstance(limit_gb, bool) or not isinstance(limit_gb, (int, float))
                                 or not 0 <= limit_gb <= 1e9):
        raise ConfigError(setting, "invalid memory limit", "a number of GB from 0 (no limit) to 1e9, or None",
                          shorten(repr(limit_gb)))
    if limit_gb is None:
        total, what = machine_memory()
        return MemoryLimit(int(total * DEFAULT_MEMORY_FRACTION), f"half of {what}, {format_bytes(total)}")
    if limit_gb == 0:
        return MemoryLimit(None, f"no limit ({setting} is 0)")
    return MemoryLimit(int(limit_gb * GB), f"{setting} = {limit_gb:g}")
