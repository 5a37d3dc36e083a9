"""Training on data larger than memory: streaming against in-memory on the same synthetic rows.

Run from the repository root (opt-in; never part of the test suite)::

    nice .venv/bin/python benchmarks/streaming.py                     # 20,000,000 training rows
    nice .venv/bin/python benchmarks/streaming.py --rows 2000000      # quicker, smaller

What it does:

1. Writes ``--rows`` (default 20,000,000) training rows and ``--valid-rows`` (default 200,000)
   validation rows of one planted model (:func:`recblocks.datasets.synthetic.iter_synthetic`:
   4 dense ``I*``, 8 categorical ``C*`` with vocabularies 10 ... 50,000) to
   ``<work>/train.parquet`` and ``valid.parquet``, one chunk of ``--chunk-rows`` at a time
   (``pyarrow.parquet.ParquetWriter``, row groups of ``--row-group-rows``): the data is never
   whole in memory. Files already there with the right row counts are reused.
2. Trains the same model (MLP [64, 32] over every feature, embeddings of 8, Adam, batch 4096,
   one epoch, seed 0) twice, each in its own subprocess so that its peak RSS is its own:
   ``streaming`` (``data.streaming: true``, ``fit_preprocessing: streaming``, chunks and shuffle
   buffer of 262,144 rows) and ``in-memory`` (the default loader and fit: the whole training set
   read, transformed and held). Both evaluate the whole validation set (held in memory, 200,000
   rows) with the trained model.
3. Prints each run's peak resident memory (the child's ``ru_maxrss`` from ``os.wait4``), its
   validation AUC and wall time, the validation set's Bayes AUC (the planted probabilities),
   and checks the streaming peak against ``--limit-gib`` (default 2 GiB; exit status 1 above it).

``--only streaming`` skips the in-memory run (e.g. where the machine cannot hold the data).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import pyarrow.parquet as pq  # noqa: E402

from recblocks.datasets.synthetic import SyntheticConfig, bayes_auc, iter_synthetic, synthetic_schema  # noqa: E402

SYNTHETIC = SyntheticConfig(num_dense=4, vocab_sizes=[10, 50, 200, 1000, 2000, 5000, 20000, 50000], seed=0)
CHUNK = 262_144


def generate(path: Path, rows: int, stream: int, chunk_rows: int, row_group_rows: int) -> None:
    """Write ``rows`` rows to ``path`` chunk by chunk (a file with that many rows is reused)."""
    if not (path.exists() and pq.ParquetFile(path).metadata.num_rows == rows):
        tmp = path.with_suffix(".tmp")
        writer = None
        for table in iter_synthetic(SYNTHETIC, rows, chunk_rows, stream=stream):
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table, row_group_size=row_group_rows)
        writer.close()
        tmp.replace(path)


def config(work: Path, mode: str) -> dict:
    features = [{**f, "embedding_dim": 8} if f["kind"] == "sparse" else f
                for f in synthetic_schema(SYNTHETIC, embedding_dim=8)]
    streaming = mode == "streaming"
    return {
        "data": {"train": str(work / "train.parquet"), "valid": str(work / "valid.parquet"), "streaming": streaming,
                 "fit_preprocessing": "streaming" if streaming else "memory", "rows_per_chunk": CHUNK,
                 "shuffle_buffer_rows": CHUNK},
        "features": features,
        "model": {
            "feature_groups": [{"group_name": "all", "feature_names": [f["name"] for f in features]}],
            "backbone": {"blocks": [{"name": "deep", "inputs": [{"feature_group_name": "all"}],
                                     "component": {"class_name": "MLP", "params": {"hidden_units": [64, 32]}}}]},
            "task": {"type": "binary", "label": "label"},
        },
        "train": {"epochs": 1, "batch_size": 4096, "seed": 0, "progress": False,
                  "tensorboard": False, "memory_limit_gb": 0},
    }


def child(work: Path, mode: str) -> None:
    """One training run; prints one JSON line."""
    import torch

    from recblocks.runs.experiment import train_run

    torch.set_num_threads(2)
    start = time.perf_counter()
    result = train_run(config(work, mode), work / f"run-{mode}", overwrite=True)
    auc = {k: v for k, v in result.valid_metrics.items() if k.endswith("auc") and "gauc" not in k}
    status = Path("/proc/self/status").read_text()
    hwm = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
    print(json.dumps({"mode": mode, "valid_auc": auc, "seconds": time.perf_counter() - start, "vmhwm_kib": hwm}))


def run_child(work: Path, mode: str) -> dict:
    process = subprocess.Popen([sys.executable, __file__, "--child", mode, "--work", str(work)],
                               stdout=subprocess.PIPE, text=True)
    out = process.stdout.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"the {mode} run failed (status {status})")
    record = json.loads(out.strip().splitlines()[-1])
    record["peak_rss_kib"] = usage.ru_maxrss  # Linux: KiB
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--valid-rows", type=int, default=200_000)
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "_work" / "streaming")
    parser.add_argument("--chunk-rows", type=int, default=1_000_000)
    parser.add_argument("--row-group-rows", type=int, default=CHUNK)
    parser.add_argument("--limit-gib", type=float, default=2.0)
    parser.add_argument("--only", choices=["streaming", "in-memory"])
    parser.add_argument("--child", choices=["streaming", "in-memory"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.work, args.child)
        return
    work = args.work / f"rows_{args.rows}"
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    generate(work / "train.parquet", args.rows, 0, args.chunk_rows, args.row_group_rows)
    generate(work / "valid.parquet", args.valid_rows, 1, args.chunk_rows, args.row_group_rows)
    print(f"data: {args.rows:,} training rows, {args.valid_rows:,} validation rows in {work} "
          f"({time.perf_counter() - start:.0f} s)")
    print(f"bayes auc valid: {bayes_auc(pq.read_table(work / 'valid.parquet', columns=['label', 'true_prob'])):.4f}")
    modes = [args.only] if args.only else ["streaming", "in-memory"]
    results = {}
    for mode in modes:
        record = run_child(work, mode)
        results[mode] = record
        auc = ", ".join(f"{k}={v:.4f}" for k, v in record["valid_auc"].items())
        print(f"{mode}: peak rss {record['peak_rss_kib'] / 2**20:.2f} GiB, valid {auc}, "
              f"{record['seconds']:.0f} s", flush=True)
    if "streaming" in results:
        peak = results["streaming"]["peak_rss_kib"] / 2**20
        verdict = "ok" if peak <= args.limit_gib else "OVER THE LIMIT"
        print(f"streaming peak rss {peak:.2f} GiB, limit {args.limit_gib:.2f} GiB: {verdict}")
        if peak > args.limit_gib:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
