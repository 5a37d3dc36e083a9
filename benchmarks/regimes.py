"""Benchmark the model zoo on four split regimes of ML-100K, through recblocks' own code path.

The regimes (``recblocks.datasets.movielens_ctr``): ``random`` (the fixed ml-100k-ctr split,
seed 2024), ``temporal`` (oldest 80% train, newest 10% test), ``leave_last_out`` (each user's
last rating test, second-last valid) and ``unseen_users`` (users split 80/10/10). They are
built once from ``../shared/data/ml-100k`` into ``benchmarks/_work/regimes/<regime>/``
(git-ignored; the same files as ``recblocks datasets prepare movielens --format ctr --split
<regime>``). Each config of ``configs/ml100k_ctr/`` is trained with its data paths overridden,
for every regime and seed, by :func:`recblocks.runs.train_run` in a temporary run directory.

Usage (from the repository root)::

    .venv/bin/python benchmarks/regimes.py --models deepfm --seeds 0,1,2
    .venv/bin/python benchmarks/regimes.py --select --models deepfm --seeds 0,1 --set train.epochs=10
    .venv/bin/python benchmarks/regimes.py --from-log benchmarks/_work/regimes/final.jsonl

Prints one Markdown table per regime. Full mode: valid AUC, test AUC and logloss as mean +-
sample std (ddof 1) over the seeds, the test set's AUC standard error (Hanley & McNeil 1982, at
the mean AUC; it is the sampling error of one test set, which the seeds do not show), params,
train samples/s (best of the seeds), best epochs. ``--select`` trains without a test set and
prints validation metrics only: what defaults are chosen on. Every run is appended as one JSON
line to ``--log`` (default ``benchmarks/_work/regimes/runs.jsonl``); ``--from-log`` prints the
tables of a log without training. Exits 0 with a message when the data is absent.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import append_jsonl, csv_list, mean_std, read_jsonl  # noqa: E402  (benchmarks/ is not a package)

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "ml-100k"
CONFIGS = ROOT / "configs" / "ml100k_ctr"
WORK = ROOT / "benchmarks" / "_work" / "regimes"
REGIMES = ("random", "temporal", "leave_last_out", "unseen_users")
MODELS = ("deepfm", "widedeep", "dcn_v2", "dlrm", "mlp", "xdeepfm", "autoint", "fibinet", "dcn_mix", "pnn", "afm",
          "masknet", "ppnet", "poso")
PLAIN = "plain_deepfm"  # benchmarks/plain_deepfm.py: a hand-written PyTorch DeepFM, the reference
SPLIT_SEED = 2024  # the split's seed (random, unseen_users); the training seeds vary the model only


def build_regime(regime: str, source: Path = SOURCE, work: Path = WORK) -> Path:
    """``work/<regime>/{train,valid,test}.parquet``, written unless already there."""
    from recblocks.datasets import prepare_movielens

    folder = work / regime
    if not all((folder / f"{p}.parquet").is_file() for p in ("train", "valid", "test")):
        prepare_movielens(source, folder, split=regime, seed=SPLIT_SEED, format="ctr", overwrite=True)
    return folder


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Hanley & McNeil (1982) standard error of an AUC measured on ``positives`` + ``negatives`` rows."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)) \
        / (positives * negatives)
    return math.sqrt(max(var, 0.0))


def run_one(model: str, regime: str, folder: Path, seed: int, overrides: list[str], select: bool) -> dict[str, Any]:
    """Train one config on one regime for one seed; return its metrics (no test metrics with ``select``)."""
    import pyarrow.parquet as pq

    from recblocks.runs import train_run
    from recblocks.runs.config_file import apply_overrides, load_config_file

    if model == PLAIN:
        from plain_deepfm import run_plain

        return {"model": model, "regime": regime, "seed": seed, "overrides": overrides, "select": select,
                **run_plain(folder, seed, select)}
    raw = load_config_file(CONFIGS / f"{model}.yaml")
    data = [f"data.train={folder / 'train.parquet'}", f"data.valid={folder / 'valid.parquet'}",
            "data.test=null" if select else f"data.test={folder / 'test.parquet'}"]
    raw = apply_overrides(raw, [f"train.seed={seed}", "train.progress=false", "train.tensorboard=false", *data,
                                *overrides])
    with tempfile.TemporaryDirectory(prefix="recblocks-regimes-") as tmp:
        start = time.perf_counter()
        result = train_run(raw, Path(tmp) / "run", overwrite=True)
        wall = time.perf_counter() - start
        epochs = read_jsonl(result.run_dir / "epochs.jsonl")
    record: dict[str, Any] = {
        "model": model, "regime": regime, "seed": seed, "overrides": overrides, "select": select,
        "valid_auc": result.valid_metrics.get("auc"), "valid_logloss": result.valid_metrics.get("logloss"),
        "best_epoch": result.best_epoch, "epochs_run": len(epochs),
        "valid_auc_by_epoch": [(e.get("valid") or {}).get("auc") for e in epochs],
        "params": sum(p.numel() for p in result.model.parameters()),
        "samples_per_s": float(result.samples_per_second), "wall_s": wall}
    if not select:
        labels = pq.read_table(folder / "test.parquet", columns=["label"])["label"].to_numpy()
        record |= {"test_auc": result.test_metrics["auc"], "test_logloss": result.test_metrics["logloss"],
                   "test_positives": int(labels.sum()), "test_negatives": int(len(labels) - labels.sum())}
    return record


def tables(records: list[dict[str, Any]]) -> str:
    """One Markdown table per regime (in :data:`REGIMES` order), one row per model and overrides."""
    out = []
    for regime in REGIMES:
        rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in records:
            if r["regime"] == regime:
                rows.setdefault((r["model"], " ".join(r["overrides"])), []).append(r)
        if not rows:
            continue
        select = all(r["select"] for runs in rows.values() for r in runs)
        out.append(f"**{regime}**\n")
        if select:
            out += ["| model | settings | valid AUC (mean ± std) | valid logloss (mean ± std) | best epochs / run |",
                    "|---|---|---|---|---|"]
        else:
            out += ["| model | settings | valid AUC | test AUC (mean ± std) | test AUC SE (test set) | "
                    "test logloss (mean ± std) | params | samples/s | best epochs / run |",
                    "|---|---|---|---|---|---|---|---|---|"]
        for (model, settings), runs in rows.items():
            epochs = ", ".join(f"{r['best_epoch']}/{r['epochs_run']}" for r in runs)
            valid = mean_std([r["valid_auc"] for r in runs])
            if select:
                out.append(f"| {model} | {settings or '-'} | {valid} | "
                           f"{mean_std([r['valid_logloss'] for r in runs])} | {epochs} |")
                continue
            auc = statistics.fmean(r["test_auc"] for r in runs)
            se = auc_standard_error(auc, runs[0]["test_positives"], runs[0]["test_negatives"])
            out.append(f"| {model} | {settings or '-'} | {valid} | {mean_std([r['test_auc'] for r in runs])} | "
                       f"{se:.4f} | {mean_std([r['test_logloss'] for r in runs])} | {runs[0]['params']:,} | "
                       f"{max(r['samples_per_s'] for r in runs):,.0f} | {epochs} |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=csv_list, default=list(MODELS), help=f"config names in configs/ml100k_ctr, or {PLAIN}")
    parser.add_argument("--regimes", type=csv_list, default=list(REGIMES), help=f"any of {','.join(REGIMES)}")
    parser.add_argument("--seeds", type=lambda v: [int(s) for s in csv_list(v)], default=[0, 1, 2],
                        help="training seeds (default: 0,1,2)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override applied to every run (as `recblocks train --set`)")
    parser.add_argument("--select", action="store_true", help="train without the test set; print validation only")
    parser.add_argument("--log", type=Path, default=WORK / "runs.jsonl", help="JSON lines, one per run (appended)")
    parser.add_argument("--from-log", type=Path, default=None, help="print the tables of this log; train nothing")
    args = parser.parse_args(argv)

    if args.from_log is not None:
        records = read_jsonl(args.from_log)
        print(tables(records))
        return 0
    if not (SOURCE / "u.data").is_file():
        print(f"skipped: ML-100K is absent ({SOURCE}); see ../shared/data/README.md", file=sys.stderr)
        return 0
    unknown = sorted(set(args.regimes) - set(REGIMES))
    missing = [m for m in args.models if m != PLAIN and not (CONFIGS / f"{m}.yaml").is_file()]
    if unknown or missing:
        parser.error(f"unknown regimes {unknown} or no config for {missing} in {CONFIGS}")

    args.log.parent.mkdir(parents=True, exist_ok=True)
    records = []
    for regime in args.regimes:
        folder = build_regime(regime)
        for model in args.models:
            for seed in args.seeds:
                record = run_one(model, regime, folder, seed, args.overrides, args.select)
                records.append(record)
                append_jsonl(args.log, record)
                test = "" if args.select else f" test auc={record['test_auc']:.4f}"
                print(f"{regime} {model} seed={seed}: valid auc={record['valid_auc']:.4f}{test} best epoch="
                      f"{record['best_epoch']}/{record['epochs_run']} ({record['wall_s']:.1f}s)",
                      file=sys.stderr, flush=True)
    print(tables(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
