"""Two-tower retrieval on MovieLens-100K, leave-last-out per user by time (opt-in, ~1 min a run).

Protocol (docs/benchmarks.md, "Retrieval"): every rating is an interaction; per user the last
rating (by time) is test, the one before valid, the rest train; each row carries the user's
previous ``--history`` movies (strictly earlier ratings). Valid and test rows are ranked the
same way: against the whole catalogue (every movie of the training split), with the items the
user already had removed (training items for valid; training items and the valid item for
test), the row's own target always kept. The popularity baseline (training counts) is ranked by
the same rule and scored by the same function.

Writes the splits into ``benchmarks/_work/ml100k_retrieval/data_h<N>`` (git-ignored), trains
``configs/ml100k_retrieval/dssm.yaml`` (with ``--set`` overrides) for each seed, and prints
Recall@10 / NDCG@10 / HitRate@10 of the model and of popularity, and the mean overlap of HNSW
(faiss) top-10 lists with exact top-10 lists (already-seen items excluded in both).

    nice python benchmarks/ml100k_retrieval.py --select --seeds 0,1 --name t0.05 \\
        --set model.model_params.temperature=0.05        # choose on valid: no test metrics
    nice python benchmarks/ml100k_retrieval.py --seeds 0,1,2 # the chosen config, test once
    python benchmarks/ml100k_retrieval.py --from-log benchmarks/_work/ml100k_retrieval/runs.jsonl

``--select`` trains without the test split and prints validation metrics only (the ANN overlap
then on valid users). Every run is appended as one JSON line to ``--log``; ``--from-log``
prints the tables of a log without training. Exits 0 with a message when ML-100K is absent.
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
CONFIG = ROOT / "configs" / "ml100k_retrieval" / "dssm.yaml"
WORK = ROOT / "benchmarks" / "_work" / "ml100k_retrieval"
HISTORY = 20  # the history length dssm.yaml's hist_movie_id reads (its max_len)
METRICS = ("recall@10", "ndcg@10", "hitrate@10")


def build_splits(history: int, source: Path = SOURCE, work: Path = WORK) -> dict[str, Path]:
    """``work/data_h<history>/{train,valid,test}.parquet``, written unless already there."""
    from recblocks.datasets.retrieval import write_retrieval_splits

    folder = work / f"data_h{history}"
    paths = {name: folder / f"{name}.parquet" for name in ("train", "valid", "test")}
    if not all(p.is_file() for p in paths.values()):
        paths = write_retrieval_splits(source, folder, history=history)
    return paths


def popularity(paths: dict[str, Path], select: bool) -> dict[str, dict[str, float]]:
    """The popularity baseline's metrics on valid (and test unless ``select``), ranked as the model's."""
    import pyarrow.parquet as pq

    from recblocks.datasets.retrieval import popularity_ranks
    from recblocks.metrics import retrieval_metrics

    train, valid = pq.read_table(paths["train"]), pq.read_table(paths["valid"])
    out = {"valid": retrieval_metrics(*popularity_ranks(train, valid, extra_seen=valid), [10])}
    if not select:
        test = pq.read_table(paths["test"])
        out["test"] = retrieval_metrics(*popularity_ranks(train, test, extra_seen=valid), [10])
    return out


def run_one(name: str, paths: dict[str, Path], seed: int, overrides: list[str], select: bool) -> dict[str, Any]:
    """Train the config once; valid (and test) metrics and the ANN/exact top-10 overlap."""
    from recblocks.runs import train_run
    from recblocks.runs.candidates import candidates_run

    raw = run_config([
        f"data.train={paths['train']}", f"data.valid={paths['valid']}",
        "data.test=null" if select else f"data.test={paths['test']}",
        f"train.seed={seed}", "train.progress=false", *overrides])
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = train_run(raw, Path(tmp) / "run")
        users = paths["valid"] if select else paths["test"]
        exact = candidates_run(result.run_dir, users, k=10, ann=False).column("candidates").to_pylist()
        approx = candidates_run(result.run_dir, users, k=10).column("candidates").to_pylist()
        epochs_run = len((result.run_dir / "epochs.jsonl").read_text().splitlines())
    share = sum(len(set(a) & set(b)) / 10 for a, b in zip(exact, approx)) / len(exact)
    record = {"name": name, "seed": seed, "overrides": overrides, "select": select,
              "valid": {k: result.valid_metrics[k] for k in METRICS}, "ann_overlap@10": share,
              "best_epoch": result.best_epoch, "epochs_run": epochs_run, "wall_s": time.perf_counter() - start}
    if not select:
        record["test"] = {k: result.test_metrics[k] for k in METRICS}
    return record


def tables(records: list[dict[str, Any]], baseline: dict[str, dict[str, float]]) -> str:
    """The validation table (every variant) and, when test runs are present, the test table."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(r["name"], []).append(r)
    out = ["**validation** (mean ± std over seeds)", "",
           "| variant | settings | seeds | recall@10 | ndcg@10 | hitrate@10 | best epoch / run |",
           "|---|---|---|---|---|---|---|"]
    pop = baseline.get("valid")
    if pop:
        out.append(f"| popularity | training counts | - | {pop['recall@10']:.4f} | {pop['ndcg@10']:.4f} | "
                   f"{pop['hitrate@10']:.4f} | - |")
    for name, runs in groups.items():
        cells = " | ".join(mean_std([r["valid"][k] for r in runs]) for k in METRICS)
        epochs = ", ".join(f"{r['best_epoch']}/{r['epochs_run']}" for r in runs)
        out.append(f"| {name} | {' '.join(runs[0]['overrides']) or '-'} | {','.join(str(r['seed']) for r in runs)} "
                   f"| {cells} | {epochs} |")
    tested = {name: [r for r in runs if "test" in r] for name, runs in groups.items()}
    tested = {name: runs for name, runs in tested.items() if runs}
    if tested:
        out += ["", "**test** (mean ± std over seeds)", "",
                "| model | seeds | recall@10 | ndcg@10 | hitrate@10 | ANN overlap@10 |", "|---|---|---|---|---|---|"]
        pop = baseline.get("test")
        if pop:
            out.append(f"| popularity | - | {pop['recall@10']:.4f} | {pop['ndcg@10']:.4f} | "
                       f"{pop['hitrate@10']:.4f} | - |")
        for name, runs in tested.items():
            cells = " | ".join(mean_std([r["test"][k] for r in runs]) for k in METRICS)
            out.append(f"| {name} | {','.join(str(r['seed']) for r in runs)} | {cells} | "
                       f"{mean_std([r['ann_overlap@10'] for r in runs])} |")
    return "\n".join(out)


def build_parser() -> argparse.ArgumentParser:
    """The command line (docs/benchmarks.md, "Retrieval"'s commands are checked against it)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=lambda v: [int(s) for s in csv_list(v)], default=[0, 1, 2],
                        help="training seeds (default: 0,1,2)")
    parser.add_argument("--history", type=int, default=HISTORY, help="previous movies written per row")
    parser.add_argument("--name", default="dssm", help="the variant's name in the tables")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override applied to every run (as `recblocks train --set`)")
    parser.add_argument("--select", action="store_true", help="train without the test set; print validation only")
    parser.add_argument("--log", type=Path, default=WORK / "runs.jsonl", help="JSON lines, one per run (appended)")
    parser.add_argument("--from-log", type=Path, default=None, help="print the tables of this log; train nothing")
    return parser


def run_config(overrides: list[str]) -> dict[str, Any]:
    """The config a run trains (data paths aside): dssm.yaml with ``overrides`` applied."""
    from recblocks.runs.config_file import apply_overrides, load_config_file

    return apply_overrides(load_config_file(CONFIG), overrides)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not (SOURCE / "u.data").is_file():
        print(f"skipped: ML-100K is absent ({SOURCE}); see ../shared/data/README.md", file=sys.stderr)
        return 0
    paths = build_splits(args.history)
    if args.from_log is not None:
        records = read_jsonl(args.from_log)
        print(tables(records, popularity(paths, all(r["select"] for r in records))))
        return 0
    baseline = popularity(paths, args.select)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    records = []
    for seed in args.seeds:
        record = run_one(args.name, paths, seed, args.overrides, args.select)
        records.append(record)
        append_jsonl(args.log, record)
        test = "" if args.select else f" test recall@10={record['test']['recall@10']:.4f}"
        print(f"{args.name} seed={seed}: valid recall@10={record['valid']['recall@10']:.4f}{test} ann overlap="
              f"{record['ann_overlap@10']:.3f} best epoch={record['best_epoch']}/{record['epochs_run']} "
              f"({record['wall_s']:.0f}s)", file=sys.stderr, flush=True)
    print(tables(records, baseline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
