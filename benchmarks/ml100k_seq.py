"""Benchmark DIN, DIEN and BST against the same model without histories on ML-100K (temporal split).

The data is prepared once from the GroupLens folder ``../shared/data/ml-100k`` into
``benchmarks/_work/ml100k_seq`` (ignored by git) exactly as the configs' comment says:
temporal 80/10/10 split, label = rating >= 4 (every rating kept), each row's previous 20
movies, their first genres, their ratings and those ratings against the history's mean
(strictly earlier ratings only, :func:`recblocks.datasets.histories.add_histories`; a folder
written before ``hist_rating_rel`` existed is rewritten). Every config in ``configs/ml100k_seq/``
named by ``--models`` is trained for each seed with :func:`recblocks.runs.train_run` (the
function behind ``recblocks train``), best epoch by the config's early-stopping metric on valid
restored, then scored on test. ``--select`` trains without the test set (``data.test=null``) and
prints validation AUC and GAUC only: settings are chosen on it, and test is run once at the end.
``--regime early`` is a second validation regime that never reads valid or test: the train file
cut in time, its rows before the 70th percentile of all rows' time (:data:`EARLY_CUT`) to train on
and the rest (about 10,000 rows, another period with other users) to validate on (implies
``--select``); a default has to win in both regimes.

Usage (from the repository root; opt-in, minutes on a CPU)::

    nice .venv/bin/python benchmarks/ml100k_seq.py
    nice .venv/bin/python benchmarks/ml100k_seq.py --models base,din --seeds 0
    nice .venv/bin/python benchmarks/ml100k_seq.py --select --models din --seeds 0,1 --set train.epochs=5
    nice .venv/bin/python benchmarks/ml100k_seq.py --regime early --models base,din --seeds 0,1,2

Prints a Markdown table, one row per model and overrides: valid AUC and GAUC (by user), and
without ``--select`` test AUC and GAUC, as mean ± sample std (ddof 1) over the seeds, the
parameter count and the best epoch / epochs run of each seed. Per-run figures go to stderr and
one JSON line per run is appended to ``--log`` (default ``benchmarks/_work/ml100k_seq/runs.jsonl``);
``--from-log`` prints the table of a log without training. Exits 0 with a message when the
source data is absent. On a small machine shared with other jobs, ``--set train.num_threads=1``
avoids thread oversubscription (3-8 times faster on a loaded 2-core machine; see
docs/benchmarks.md (section "Sequence models")).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import append_jsonl, csv_list, mean_std, read_jsonl  # noqa: E402  (benchmarks/ is not a package)

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "ml-100k"
WORK = ROOT / "benchmarks" / "_work" / "ml100k_seq"
CONFIGS = ROOT / "configs" / "ml100k_seq"
MODELS = ("base", "din", "dien", "bst")
HISTORY = 20
#: ``--regime early``: the share of all rows (train is the first 0.8) before the cut in time
EARLY_CUT = 0.7


def prepare(work: Path = WORK, history: int = HISTORY) -> Path:
    """The split with ``history``-long histories under ``work`` (written on the first call, reused after).

    A history length other than :data:`HISTORY` goes to ``work/history<N>`` (same rows and split;
    the configs' ``max_len`` must be raised with ``--set features[i].max_len=N`` to use it)."""
    if history != HISTORY:
        work = work / f"history{history}"
    import pyarrow.parquet as pq

    from recblocks.datasets import prepare_movielens

    files = [work / f"{s}.parquet" for s in ("train", "valid", "test")]
    if not all(f.is_file() and "hist_rating_rel" in pq.read_schema(f).names for f in files):
        prepare_movielens(SOURCE, work, label={"threshold": 4}, split="temporal", history=history,
                          history_ratings=True, overwrite=True)
    return work


def early_regime(data: Path, work: Path | None = None) -> Path:
    """The second validation regime under ``work`` (default ``data/early``), cut from ``train.parquet`` only.

    Rows of the train file with a timestamp before the one at row ``EARLY_CUT * N`` (``N`` all rows,
    the train file being the first 80% in time order) train; the later
    rows of the train file validate (ties stay together, on the validation side). The histories are
    the prepared ones (strictly earlier ratings), so no column looks past its row.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    work = work or data / "early"
    files = [work / f"{s}.parquet" for s in ("train", "valid")]
    if all(f.is_file() for f in files):
        return work
    table = pq.read_table(data / "train.parquet")
    total = table.num_rows / 0.8  # train.parquet is the first 80% of the rows in time
    cut = table["timestamp"][int(EARLY_CUT * total)].as_py()
    early = pc.less(table["timestamp"], cut)
    work.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.filter(early), files[0])
    pq.write_table(table.filter(pc.invert(early)), files[1])
    return work


def run_one(model: str, data: Path, seed: int, overrides: list[str], select: bool = False,
            configs: Path = CONFIGS) -> dict[str, Any]:
    """Train ``<configs>/<model>.yaml`` for one seed on ``data``; no test metrics with ``select``."""
    from recblocks.runs import train_run
    from recblocks.runs.config_file import apply_overrides, load_config_file

    raw = load_config_file(configs / f"{model}.yaml")
    paths = [f"data.train={data / 'train.parquet'}", f"data.valid={data / 'valid.parquet'}",
             "data.test=null" if select else f"data.test={data / 'test.parquet'}"]
    raw = apply_overrides(raw, [f"train.seed={seed}", "train.progress=false", "train.tensorboard=false", *paths,
                                *overrides])
    with tempfile.TemporaryDirectory(prefix="recblocks-bench-") as tmp:
        start = time.perf_counter()
        result = train_run(raw, Path(tmp) / "run", overwrite=True)
        wall = time.perf_counter() - start
        epochs = read_jsonl(result.run_dir / "epochs.jsonl")
    record: dict[str, Any] = {
        "model": model, "seed": seed, "overrides": overrides, "select": select,
        "valid_auc": result.valid_metrics["auc"], "valid_gauc": result.valid_metrics["gauc"],
        "best_epoch": result.best_epoch, "epochs_run": len(epochs),
        "valid_auc_by_epoch": [(e.get("valid") or {}).get("auc") for e in epochs],
        "valid_gauc_by_epoch": [(e.get("valid") or {}).get("gauc") for e in epochs],
        "params": sum(p.numel() for p in result.model.parameters()), "wall_s": wall}
    if not select:
        record |= {"test_auc": result.test_metrics["auc"], "test_gauc": result.test_metrics["gauc"]}
    return record


def table(records: list[dict[str, Any]]) -> str:
    """One Markdown row per (model, overrides); test columns only when no record is a ``--select`` one."""
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        regime = [f"regime={r['regime']}"] if r.get("regime", "temporal") != "temporal" else []
        rows.setdefault((r["model"], " ".join(regime + r["overrides"])), []).append(r)
    select = any(r["select"] for r in records)
    head = ["model", "settings", "valid AUC", "valid GAUC"] + ([] if select else ["test AUC", "test GAUC"])
    lines = ["| " + " | ".join(head + ["params", "best epoch / run"]) + " |", "|---" * (len(head) + 2) + "|"]
    for (model, settings), runs in rows.items():
        cells = [model, settings or "-", mean_std([r["valid_auc"] for r in runs]),
                 mean_std([r["valid_gauc"] for r in runs])]
        if not select:
            cells += [mean_std([r["test_auc"] for r in runs]), mean_std([r["test_gauc"] for r in runs])]
        cells += [f"{runs[0]['params']:,}", ", ".join(f"{r['best_epoch']}/{r['epochs_run']}" for r in runs)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=csv_list, default=list(MODELS),
                        help=f"comma-separated config names in --configs (default: {','.join(MODELS)})")
    parser.add_argument("--seeds", type=lambda v: [int(s) for s in csv_list(v)], default=[0, 1, 2],
                        help="comma-separated seeds (default: 0,1,2)")
    parser.add_argument("--configs", type=Path, default=CONFIGS,
                        help="folder of the configs named by --models (default: configs/ml100k_seq; the variants "
                             "studied in docs/benchmarks.md, section Sequence models, are in benchmarks/ml100k_seq_variants)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="extra override applied to every run (as `recblocks train --set`)")
    parser.add_argument("--select", action="store_true", help="train without the test set; print validation only")
    parser.add_argument("--regime", choices=("temporal", "early"), default="temporal",
                        help="temporal: the prepared 80/10/10 split; early: train cut at 70%% of the time, "
                             "validated on the rest of the train file (valid and test unread; implies --select)")
    parser.add_argument("--history", type=int, default=HISTORY,
                        help=f"history length of the prepared data (default {HISTORY}; others in _work/ml100k_seq/history<N>)")
    parser.add_argument("--log", type=Path, default=WORK / "runs.jsonl", help="JSON lines, one per run (appended)")
    parser.add_argument("--from-log", type=Path, default=None, help="print the table of this log; train nothing")
    args = parser.parse_args(argv)
    if args.from_log is not None:
        print(table(read_jsonl(args.from_log)))
        return 0
    if not (SOURCE / "u.data").is_file():
        print(f"skipped: MovieLens-100K is absent ({SOURCE}/u.data); see ../shared/data/README.md", file=sys.stderr)
        return 0
    missing = [m for m in args.models if not (args.configs / f"{m}.yaml").is_file()]
    if missing:
        parser.error(f"no config for {missing} in {args.configs}")
    data = prepare(history=args.history)
    if args.regime == "early":
        data, args.select = early_regime(data), True
    args.log.parent.mkdir(parents=True, exist_ok=True)
    records = []
    for model in args.models:
        for seed in args.seeds:
            record = run_one(model, data, seed, args.overrides, args.select, args.configs)
            record |= {"regime": args.regime, "history": args.history}
            records.append(record)
            append_jsonl(args.log, record)
            test = "" if args.select else f" test auc={record['test_auc']:.4f} gauc={record['test_gauc']:.4f}"
            print(f"{model} seed={seed}: valid auc={record['valid_auc']:.4f} gauc={record['valid_gauc']:.4f}{test} "
                  f"best epoch={record['best_epoch']}/{record['epochs_run']} ({record['wall_s']:.1f}s)",
                  file=sys.stderr, flush=True)
    print(table(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
