"""Benchmark the model zoo on the fixed ML-100K CTR split, through recblocks' own code path.

Every config in ``configs/ml100k_ctr/`` is trained for each seed with
:func:`recblocks.runs.experiment.train_run` (the function behind ``recblocks train``) into a
temporary run directory, with the progress bar off. The protocol is the one in the configs:
embedding dim 16, Adam 1e-3, batch 1024, up to 5 epochs, best epoch by valid AUC restored,
metrics on the test split (since issue 10: up to 15 epochs with early stopping, patience 2, chosen
on validation across four split regimes; see docs/benchmarks.md).

Usage (from the repository root)::

    .venv/bin/python benchmarks/ml100k_ctr.py
    .venv/bin/python benchmarks/ml100k_ctr.py --models deepfm,dcn_v2 --seeds 0,1,2

Prints a Markdown table: test AUC and logloss as mean +- sample std (ddof 1) over the seeds,
the best epoch of each seed (1-based), and the training throughput: the run's
``train_samples_per_second`` (training samples over training seconds, all epochs), best of the
seeds, since other processes on the machine can only slow a run down. Exits 0 with a message
when the data is absent. Per-run figures (valid AUC included) go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import csv_list, mean_std, read_jsonl  # noqa: E402  (benchmarks/ is not a package)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ml-100k-ctr"
CONFIGS = ROOT / "configs" / "ml100k_ctr"
MODELS = ("deepfm", "dcn_v2", "widedeep", "dlrm", "mlp")


def run_one(config_path: Path, seed: int, overrides: list[str]) -> dict[str, Any]:
    """Train one config for one seed; return the test metrics, best epoch and throughput."""
    from recblocks.runs.config_file import apply_overrides, load_config_file
    from recblocks.runs import train_run

    raw = load_config_file(config_path)
    raw = apply_overrides(raw, [f"train.seed={seed}", "train.progress=false", *overrides])
    with tempfile.TemporaryDirectory(prefix="recblocks-bench-") as tmp:
        start = time.perf_counter()
        result = train_run(raw, Path(tmp) / "run", overwrite=True)
        wall = time.perf_counter() - start
        metrics = json.loads((result.run_dir / "metrics.json").read_text(encoding="utf-8"))
        epochs = read_jsonl(result.run_dir / "epochs.jsonl")
    speed = metrics.get("train_samples_per_second") or 0.0
    if not speed and epochs:  # fall back on the per-epoch log
        speed = sum(e["samples"] for e in epochs) / max(sum(e["seconds"] for e in epochs), 1e-9)
    best = metrics.get("best_epoch")
    return {"auc": result.test_metrics["auc"], "logloss": result.test_metrics["logloss"],
            "valid_auc": result.valid_metrics.get("auc", float("nan")),
            "best_epoch": None if best is None else int(best), "epochs_run": len(epochs),
            "samples_per_s": float(speed), "wall_s": wall}


def table(results: dict[str, list[dict[str, Any]]]) -> str:
    lines = ["| model | test AUC (mean ± std) | test logloss (mean ± std) | best epochs | train samples/s (best run) |",
             "|---|---|---|---|---|"]
    for model, runs in results.items():
        lines.append(
            f"| {model} | {mean_std([r['auc'] for r in runs])} | {mean_std([r['logloss'] for r in runs])} | "
            f"{', '.join(str(r['best_epoch']) for r in runs)} | "
            f"{max(r['samples_per_s'] for r in runs):,.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=csv_list, default=list(MODELS),
                        help=f"comma-separated config names in configs/ml100k_ctr (default: {','.join(MODELS)})")
    parser.add_argument("--seeds", type=lambda v: [int(s) for s in csv_list(v)], default=[0, 1, 2],
                        help="comma-separated seeds (default: 0,1,2)")
    parser.add_argument("--configs", type=Path, default=CONFIGS, help="folder holding <model>.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="extra override applied to every run (as `recblocks train --set`)")
    args = parser.parse_args(argv)

    if not DATA.is_dir() or not all((DATA / f"{s}.parquet").is_file() for s in ("train", "valid", "test")):
        print(f"skipped: the ML-100K CTR split is absent ({DATA} with train/valid/test.parquet); "
              "see ../shared/data/README.md", file=sys.stderr)
        return 0
    missing = [m for m in args.models if not (args.configs / f"{m}.yaml").is_file()]
    if missing:
        parser.error(f"no config for {missing} in {args.configs}")

    results: dict[str, list[dict[str, Any]]] = {}
    for model in args.models:
        for seed in args.seeds:
            run = run_one(args.configs / f"{model}.yaml", seed, args.overrides)
            results.setdefault(model, []).append(run)
            print(f"{model} seed={seed}: valid auc={run['valid_auc']:.4f} test auc={run['auc']:.4f} logloss={run['logloss']:.4f} "
                  f"best epoch={run['best_epoch']}/{run['epochs_run']} {run['samples_per_s']:,.0f} samples/s "
                  f"({run['wall_s']:.1f}s)", file=sys.stderr, flush=True)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
