"""benchmarks/row_gradient.py runs on the ml100k workload and checks its two gradients agree."""

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_row_gradient_benchmark_prints_both_tables(capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import row_gradient

    row_gradient.measure("ml100k", repeats=2, threads=1)
    out = capsys.readouterr().out
    assert out.startswith("== ml100k: batch 1024")
    lines = [line for line in out.splitlines() if line.startswith("  table ")]
    assert [line.split(":")[0] for line in lines] == ["  table dim1", "  table dim16"]
    assert all("coalesce " in line and "coalesced lookup " in line for line in lines)
    sys.modules.pop("row_gradient", None)
