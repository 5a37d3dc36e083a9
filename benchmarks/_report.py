"""Helpers the benchmark scripts share: comma-separated options, mean ± std cells, JSON-lines logs."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

__all__ = ["append_jsonl", "csv_list", "mean_std", "read_jsonl"]


def csv_list(value: str) -> list[str]:
    """``"a, b,"`` -> ``["a", "b"]`` (an argparse ``type``)."""
    return [v.strip() for v in value.split(",") if v.strip()]


def mean_std(values: list[float]) -> str:
    """``"0.7850 ± 0.0034"``: mean and sample standard deviation (ddof 1; 0 for one value)."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4f} ± {std:.4f}"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every record of a JSON-lines file (a run log, a run's ``epochs.jsonl``); blank lines skipped."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one record to a JSON-lines log."""
    with Path(path).open("a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")
