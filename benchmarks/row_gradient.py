"""The table gradient of one training batch: torch's ``coalesce()`` against recblocks' coalesced lookup.

Run from the repository root::

    PYTHONPATH=src .venv/bin/python benchmarks/row_gradient.py                 # both workloads
    PYTHONPATH=src .venv/bin/python benchmarks/row_gradient.py --only ml100k

For the first training batch of each ``benchmarks/throughput.py`` workload it takes every fused
table's row ids (as the lookup sees them) and a random upstream gradient of the same shape, then
times (median of ``--repeats`` calls, both in this process, alternating) building the table's
gradient the way a row-wise optimizer gets it:

* ``coalesce``: ``torch.sparse_coo_tensor(rows, values).coalesce()`` (what SparseAdam and sparse
  Adagrad do with ``nn.functional.embedding(sparse=True)``'s gradient);
* ``coalesced lookup``: :func:`recblocks.layers.row_sparse_lookup.coalesced_row_gradient` (what the
  plain lookup's backward now returns; the optimizer's own coalesce is then free).

The two results are checked to hold the same rows and, to float rounding, the same sums.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import profile_step as ps  # noqa: E402
import throughput as tp  # noqa: E402

from recblocks.layers.row_sparse_lookup import coalesced_row_gradient  # noqa: E402


def _median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def measure(workload: str, repeats: int, threads: int) -> None:
    train = tp.synthetic_data(1_000_000)[0] if workload == "synthetic" else tp.ml100k_data()[0]
    _, loader, model = ps.build_recblocks(workload, train, threads, False)
    batch = next(iter(loader))
    print(f"== {workload}: batch {len(batch)}, {threads} threads, median of {repeats}")
    for name, table in model.embeddings.fused.items():
        columns = [batch.features[s.feature].reshape(len(batch), -1) for s in table.slots]
        local = torch.cat(columns, dim=1)
        rows = (local + table.slot_offsets(tuple(c.shape[1] for c in columns))).reshape(-1)
        num_rows, dim = table.table.weight.shape
        values = torch.randn(rows.numel(), dim, generator=torch.Generator().manual_seed(0))
        ours = coalesced_row_gradient(rows, values, num_rows)
        theirs = torch.sparse_coo_tensor(rows[None], values, (num_rows, dim), check_invariants=True).coalesce()
        assert torch.equal(ours.indices(), theirs.indices())
        torch.testing.assert_close(ours.values(), theirs.values(), rtol=1e-4, atol=1e-3)
        coalesce = _median_ms(lambda: torch.sparse_coo_tensor(rows[None], values, (num_rows, dim),
                                                              check_invariants=False).coalesce(), repeats)
        lookup = _median_ms(lambda: coalesced_row_gradient(rows, values, num_rows), repeats)
        print(f"  table {name}: {rows.numel():,} ids, {ours.indices().shape[1]:,} distinct rows of {num_rows:,}: "
              f"coalesce {coalesce:.2f} ms, coalesced lookup {lookup:.2f} ms ({coalesce / lookup:.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["synthetic", "ml100k"])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for workload in [args.only] if args.only else ["ml100k", "synthetic"]:
        measure(workload, args.repeats, args.threads)


if __name__ == "__main__":
    main()
