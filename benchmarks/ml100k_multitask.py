"""Benchmark the multi-task zoo on ML-100K with two labels, through recblocks' own code path.

The data is the fixed ml-100k-ctr construction (random 80/10/10 split, seed 2024) with a second
label ``like`` (rating 5) beside ``label`` (rating >= 4): the files of ``recblocks datasets
prepare movielens --format ctr --split random --like``, built once from ``../shared/data/ml-100k``
into ``benchmarks/_work/ml100k_multitask/`` (git-ignored). Each config of
``configs/ml100k_multitask/`` is trained with its data paths pointed there, for every seed, by
:func:`recblocks.runs.train_run` in a temporary run directory. The towers are the configs' own
(``ctr`` on ``label``, ``like`` on ``like``).

Usage (from the repository root)::

    nice .venv/bin/python benchmarks/ml100k_multitask.py                      # test figures, seeds 0,1,2
    nice .venv/bin/python benchmarks/ml100k_multitask.py --select --seeds 0,1 # validation only

Full mode prints one Markdown row per config and tower: test AUC and logloss as mean +- sample
std (ddof 1) over the seeds, the parameter count, the best epochs / epochs run, train samples/s
(best of the seeds). ``--select`` trains without a test set and without early stopping (every
epoch of the config runs, ``train.early_stopping=null``) and prints, for each candidate
early-stopping metric (``--monitors``, default ``ctr/auc, like/auc, loss``) with ``--patience``,
the epoch it would pick and stop at on each seed's validation curve and both towers' valid AUC
at that epoch: the seeds fix the training path, so this is what a run with that early stopping
gives. ``--from-epochs MODEL=PATH`` prints that table from a run's ``epochs.jsonl`` (a
validation-only run of ``recblocks train --set data.test=null --set train.early_stopping=null``,
or one stopped part-way) without training. Every run is appended as one JSON line to ``--log``
(``--from-log`` prints the table of a log without training). Seeds are the outer loop: every
config runs seed 0 before any runs seed 1.
Exits 0 with a message when the MovieLens source is absent.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import append_jsonl, csv_list, mean_std, read_jsonl  # noqa: E402  (benchmarks/ is not a package)

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "ml-100k"
CONFIGS = ROOT / "configs" / "ml100k_multitask"
WORK = ROOT / "benchmarks" / "_work" / "ml100k_multitask"
MODELS = ("sharebottom", "mmoe_senet", "dbmtl_masknet", "masknet_ppnet_mmoe")
MONITORS = ("ctr/auc", "like/auc", "loss")
SPLIT_SEED = 2024


def build_data(source: Path = SOURCE, work: Path = WORK) -> Path:
    """``work/{train,valid,test}.parquet`` with the two labels, written unless already there."""
    from recblocks.datasets import prepare_movielens

    if not all((work / f"{p}.parquet").is_file() for p in ("train", "valid", "test")):
        prepare_movielens(source, work, split="random", seed=SPLIT_SEED, format="ctr", like=True, overwrite=True)
    return work


def run_one(model: str, folder: Path, seed: int, overrides: list[str], select: bool) -> dict[str, Any]:
    """Train one config for one seed; its record (valid curves; test metrics unless ``select``)."""
    from recblocks.runs import train_run
    from recblocks.runs.config_file import apply_overrides, load_config_file

    raw = load_config_file(CONFIGS / f"{model}.yaml")
    data = [f"data.train={folder / 'train.parquet'}", f"data.valid={folder / 'valid.parquet'}",
            "data.test=null" if select else f"data.test={folder / 'test.parquet'}"]
    mode = ["train.early_stopping=null"] if select else []
    raw = apply_overrides(raw, [f"train.seed={seed}", "train.progress=false", "train.tensorboard=false", *data,
                                *mode, *overrides])
    towers = [t["tower_name"] for t in raw["model"]["model_params"]["task_towers"]]
    with tempfile.TemporaryDirectory(prefix="recblocks-mtl-") as tmp:
        start = time.perf_counter()
        result = train_run(raw, Path(tmp) / "run", overwrite=True)
        wall = time.perf_counter() - start
        epochs = read_jsonl(result.run_dir / "epochs.jsonl")
    record: dict[str, Any] = {
        "model": model, "seed": seed, "overrides": overrides, "select": select, "towers": towers,
        "monitor": (raw["train"].get("early_stopping") or {}).get("metric"),
        "valid": result.valid_metrics, "valid_by_epoch": [e.get("valid") or {} for e in epochs],
        "best_epoch": result.best_epoch, "epochs_run": len(epochs),
        "params": sum(p.numel() for p in result.model.parameters()),
        "samples_per_s": float(result.samples_per_second), "wall_s": wall}
    if not select:
        record["test"] = result.test_metrics
    return record


def early_stop(curve: list[dict[str, float]], monitor: str, patience: int) -> tuple[int, int]:
    """``(best, stopped)`` 1-based epochs the trainer's early stopping gives on ``curve``: the best
    epoch by ``monitor`` (max for AUC, min for a loss; ties keep the earlier) and the epoch after
    which ``patience`` epochs without improvement stop the run (the last epoch if never)."""
    higher = monitor.rpartition("/")[2] not in ("loss", "logloss")
    best, best_value, bad = 0, None, 0
    for i, valid in enumerate(curve):
        value = valid.get(monitor, float("nan"))
        better = math.isfinite(value) and (best_value is None or (value > best_value if higher else value < best_value))
        if better:
            best, best_value, bad = i, value, 0
        else:
            bad += 1
            if bad >= patience:
                return best + 1, i + 1
    return best + 1, len(curve)


def select_table(records: list[dict[str, Any]], monitors: list[str], patience: int) -> str:
    """Per config and candidate monitor: picked / stopped epochs per seed and both towers' valid AUC there."""
    lines = ["| model | early stopping on | picked / stopped epoch per seed | valid ctr/auc | valid like/auc | "
             "mean of the two |", "|---|---|---|---|---|---|"]
    by_model: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_model.setdefault(r["model"], []).append(r)
    for model, runs in by_model.items():
        for monitor in monitors:
            picks = [early_stop(r["valid_by_epoch"], monitor, patience) for r in runs]
            aucs = {t: [r["valid_by_epoch"][best - 1][f"{t}/auc"] for r, (best, _) in zip(runs, picks)]
                    for t in ("ctr", "like")}
            both = [(a + b) / 2 for a, b in zip(aucs["ctr"], aucs["like"])]
            lines.append(f"| {model} | {monitor} (patience {patience}) | "
                         f"{', '.join(f'{b}/{s}' for b, s in picks)} | {mean_std(aucs['ctr'])} | "
                         f"{mean_std(aucs['like'])} | {mean_std(both)} |")
    return "\n".join(lines)


def test_table(records: list[dict[str, Any]]) -> str:
    """One row per config and tower: test AUC and logloss mean ± std over the seeds."""
    lines = ["| model | tower | test AUC (mean ± std) | test logloss (mean ± std) | params | best / run epochs | "
             "samples/s |", "|---|---|---|---|---|---|---|"]
    by_model: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_model.setdefault(r["model"], []).append(r)
    for model, runs in by_model.items():
        for tower in runs[0]["towers"]:
            lines.append(
                f"| {model} | {tower} | {mean_std([r['test'][f'{tower}/auc'] for r in runs])} | "
                f"{mean_std([r['test'][f'{tower}/logloss'] for r in runs])} | {runs[0]['params']:,} | "
                f"{', '.join(str(r['best_epoch']) + '/' + str(r['epochs_run']) for r in runs)} | "
                f"{max(r['samples_per_s'] for r in runs):,.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=csv_list, default=list(MODELS),
                        help=f"comma-separated config names in configs/ml100k_multitask (default: {','.join(MODELS)})")
    parser.add_argument("--seeds", type=lambda v: [int(s) for s in csv_list(v)], default=[0, 1, 2],
                        help="comma-separated seeds (default: 0,1,2)")
    parser.add_argument("--select", action="store_true",
                        help="validation only, every epoch, and the epochs each early-stopping metric picks")
    parser.add_argument("--monitors", type=csv_list, default=list(MONITORS),
                        help=f"candidate early-stopping metrics with --select (default: {','.join(MONITORS)})")
    parser.add_argument("--patience", type=int, default=2, help="early-stopping patience with --select (default 2)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="extra override applied to every run (as `recblocks train --set`)")
    parser.add_argument("--from-epochs", action="append", default=[], metavar="MODEL=PATH",
                        help="print the --select table from validation curves in epochs.jsonl files; no training")
    parser.add_argument("--from-log", type=Path, default=None, metavar="PATH",
                        help="print the table of the runs logged in PATH (those of --models and --seeds); no training")
    parser.add_argument("--log", type=Path, default=WORK / "runs.jsonl", help="JSON lines, one per run (appended)")
    args = parser.parse_args(argv)

    if args.from_log:
        records = read_jsonl(args.from_log)
        records = [r for r in records if r["model"] in args.models and r["seed"] in args.seeds]
        selected = [r for r in records if r["select"]]
        print(select_table(selected, args.monitors, args.patience) if selected else
              test_table(sorted(records, key=lambda r: args.models.index(r["model"]))))
        return 0
    if args.from_epochs:
        records = []
        for entry in args.from_epochs:
            model, _, path = entry.partition("=")
            lines = Path(path).read_text(encoding="utf-8").splitlines()
            records.append({"model": model, "valid_by_epoch": [json.loads(x).get("valid") or {} for x in lines if x]})
        print(select_table(records, args.monitors, args.patience))
        return 0
    if not (SOURCE / "u.data").is_file():
        print(f"skipped: MovieLens 100K is absent ({SOURCE}/u.data); see ../shared/data/README.md", file=sys.stderr)
        return 0
    missing = [m for m in args.models if not (CONFIGS / f"{m}.yaml").is_file()]
    if missing:
        parser.error(f"no config for {missing} in {CONFIGS}")
    folder = build_data()
    args.log.parent.mkdir(parents=True, exist_ok=True)
    records = []
    for seed in args.seeds:  # every config once before any second seed: a cut-short run still covers the zoo
        for model in args.models:
            record = run_one(model, folder, seed, args.overrides, args.select)
            records.append(record)
            append_jsonl(args.log, record)
            shown = record["test"] if not args.select else record["valid"]
            print(f"{model} seed={seed}: {'test' if not args.select else 'valid'} "
                  + " ".join(f"{k}={v:.4f}" for k, v in shown.items())
                  + f" best epoch={record['best_epoch']}/{record['epochs_run']} ({record['wall_s']:.1f}s)",
                  file=sys.stderr, flush=True)
    print(select_table(records, args.monitors, args.patience) if args.select else test_table(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
