"""Benchmark DIN, DIEN and BST against the same model without histories on ML-100K (temporal split).

The data is prepared once from the GroupLens folder ``../shared/data/ml-100k`` into
``benchmarks/_work/ml100k_seq`` (ignored by git) exactly as the configs' comment says:
temporal 80/10/10 split, label = rating >= 4 (every rating kept), each row's previous 20
movies and their first genres (strictly earlier ratings only,
:func:`recblocks.datasets.histories.add_histories`). Every config in ``configs/ml100k_seq/``
named by ``--models`` is trained for each seed with :func:`recblocks.runs.train_run` (the
function behind ``recblocks train``), best epoch by valid AUC restored, then scored on test.

Usage (from the repository root; opt-in, minutes on a CPU)::

    nice .venv/bin/python benchmarks/ml100k_seq.py
    nice .venv/bin/python benchmarks/ml100k_seq.py --models base,din --seeds 0

Prints a Markdown table: test AUC and GAUC (by user) as mean ± sample std (ddof 1) over the
seeds, and the best epochs. Per-run figures go to stderr. Exits 0 with a message when the
source data is absent.
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
from _report import csv_list, mean_std  # noqa: E402  (benchmarks/ is not a package)

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "ml-100k"
WORK = ROOT / "benchmarks" / "_work" / "ml100k_seq"
CONFIGS = ROOT / "configs" / "ml100k_seq"
MODELS = ("base", "din", "dien", "bst")
HISTORY = 20


def prepare(work: Path = WORK) -> Path:
    """The split with histories under ``work`` (written on the first call, reused after)."""
    from recblocks.datasets import prepare_movielens

    if not all((work / f"{s}.parquet").is_file() for s in ("train", "valid", "test")):
        prepare_movielens(SOURCE, work, label={"threshold": 4}, split="temporal", history=HISTORY, overwrite=True)
    return work


def run_one(config_path: Path, data: Path, seed: int, overrides: list[str]) -> dict[str, Any]:
    """Train one config for one seed on ``data``; return the test and valid metrics."""
    from recblocks.runs import train_run
    from recblocks.runs.config_file import apply_overrides, load_config_file

    raw = load_config_file(config_path)
    raw = apply_overrides(raw, [f"train.seed={seed}", "train.progress=false", *overrides])
    for split in ("train", "valid", "test"):
        raw["data"][split] = str(data / f"{split}.parquet")
    with tempfile.TemporaryDirectory(prefix="recblocks-bench-") as tmp:
        start = time.perf_counter()
        result = train_run(raw, Path(tmp) / "run", overwrite=True)
        wall = time.perf_counter() - start
        metrics = json.loads((result.run_dir / "metrics.json").read_text(encoding="utf-8"))
    return {"auc": metrics["test"]["auc"], "gauc": metrics["test"]["gauc"], "valid_auc": metrics["valid"]["auc"],
            "valid_gauc": metrics["valid"]["gauc"], "best_epoch": metrics.get("best_epoch"), "wall_s": wall}


def table(results: dict[str, list[dict[str, Any]]]) -> str:
    lines = ["| model | test AUC (mean ± std) | test GAUC by user (mean ± std) | best epochs |", "|---|---|---|---|"]
    for model, runs in results.items():
        lines.append(f"| {model} | {mean_std([r['auc'] for r in runs])} | {mean_std([r['gauc'] for r in runs])} | "
                     f"{', '.join(str(r['best_epoch']) for r in runs)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=csv_list, default=list(MODELS),
                        help=f"comma-separated config names in configs/ml100k_seq (default: {','.join(MODELS)})")
    parser.add_argument("--seeds", type=lambda v: [int(s) for s in csv_list(v)], default=[0, 1, 2],
                        help="comma-separated seeds (default: 0,1,2)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="extra override applied to every run (as `recblocks train --set`)")
    args = parser.parse_args(argv)
    if not (SOURCE / "u.data").is_file():
        print(f"skipped: MovieLens-100K is absent ({SOURCE}/u.data); see ../shared/data/README.md", file=sys.stderr)
        return 0
    missing = [m for m in args.models if not (CONFIGS / f"{m}.yaml").is_file()]
    if missing:
        parser.error(f"no config for {missing} in {CONFIGS}")
    data = prepare()
    results: dict[str, list[dict[str, Any]]] = {}
    for model in args.models:
        for seed in args.seeds:
            run = run_one(CONFIGS / f"{model}.yaml", data, seed, args.overrides)
            results.setdefault(model, []).append(run)
            print(f"{model} seed={seed}: valid auc={run['valid_auc']:.4f} gauc={run['valid_gauc']:.4f} "
                  f"test auc={run['auc']:.4f} gauc={run['gauc']:.4f} best epoch={run['best_epoch']} "
                  f"({run['wall_s']:.1f}s)", file=sys.stderr, flush=True)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
