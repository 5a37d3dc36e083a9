"""Opt-in timing of fit/transform on 1M rows x (13 dense + 26 string ids); RECBLOCKS_SLOW=1 to run."""

import os
import time

import pytest

from recblocks.datasets import make_synthetic
from recblocks.features import Preprocessor

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("RECBLOCKS_SLOW") != "1", reason="timing run; set RECBLOCKS_SLOW=1"),
]


def test_million_rows_fit_and_transform_take_seconds():
    table = make_synthetic(num_rows=1_000_000, seed=0)
    schema = [{"name": f"I{i}", "kind": "dense", "normalization": "standard"} for i in range(1, 14)]
    schema += [{"name": f"C{j}", "kind": "sparse"} for j in range(1, 27)]
    start = time.perf_counter()
    p = Preprocessor(schema).fit(table)
    fitted = time.perf_counter()
    batch, _ = p.transform(table, labels={"label": "float"})
    done = time.perf_counter()
    print(f"\nfit {fitted - start:.2f}s, transform {done - fitted:.2f}s for {len(batch)} rows")
    assert len(batch) == 1_000_000
    assert fitted - start < 10 and done - fitted < 10
