"""Helpers the benchmark scripts share: comma-separated options and mean ± std cells."""

from __future__ import annotations

import statistics

__all__ = ["csv_list", "mean_std"]


def csv_list(value: str) -> list[str]:
    """``"a, b,"`` -> ``["a", "b"]`` (an argparse ``type``)."""
    return [v.strip() for v in value.split(",") if v.strip()]


def mean_std(values: list[float]) -> str:
    """``"0.7850 ± 0.0034"``: mean and sample standard deviation (ddof 1; 0 for one value)."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4f} ± {std:.4f}"
