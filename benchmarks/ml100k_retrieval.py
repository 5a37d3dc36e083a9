"""Two-tower retrieval on MovieLens-100K, leave-last-out per user by time (opt-in, a few minutes).

Writes the splits (every rating is an interaction) into ``benchmarks/_work/ml100k_retrieval``,
trains ``configs/ml100k_retrieval/dssm.yaml`` for each seed, and prints, on the test split:
Recall@10 / NDCG@10 / HitRate@10 of the model and of the popularity baseline computed the same
way (whole catalogue, each user's training movies excluded), and the mean overlap of HNSW (faiss)
top-10 lists with exact top-10 lists.

    nice python benchmarks/ml100k_retrieval.py --seeds 0 1 2 [--epochs 10]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pyarrow.parquet as pq

from recblocks.datasets.retrieval import popularity_ranks, write_retrieval_splits
from recblocks.metrics import retrieval_metrics
from recblocks.runs import train_run
from recblocks.runs.candidates import candidates_run
from recblocks.runs.config_file import apply_overrides, load_config_file

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(REPO.parent / "shared" / "data" / "ml-100k"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--set", dest="overrides", nargs="*", default=[])
    args = parser.parse_args()
    work = REPO / "benchmarks" / "_work" / "ml100k_retrieval"
    paths = write_retrieval_splits(args.source, work / "data")
    train, test = pq.read_table(paths["train"]), pq.read_table(paths["test"])
    ranks, users = popularity_ranks(train, test)
    rows = {"popularity": retrieval_metrics(ranks, users, [10])}
    raw = load_config_file(REPO / "configs" / "ml100k_retrieval" / "dssm.yaml")
    for seed in args.seeds:
        run = apply_overrides(raw, [f"data.{s}={paths[s]}" for s in paths] + [
            f"train.seed={seed}", f"train.epochs={args.epochs}", "train.progress=false", *args.overrides])
        result = train_run(run, work / f"run_seed{seed}", overwrite=True)
        exact = candidates_run(result.run_dir, paths["test"], k=10, ann=False).column("candidates").to_pylist()
        approx = candidates_run(result.run_dir, paths["test"], k=10).column("candidates").to_pylist()
        share = sum(len(set(a) & set(b)) / 10 for a, b in zip(exact, approx)) / len(exact)
        rows[f"dssm seed {seed}"] = {**{k: v for k, v in result.test_metrics.items() if k.endswith("@10")},
                                     "ann_overlap@10": share, "best_epoch": result.best_epoch}
    print(json.dumps(rows, indent=2))
    print(f"{'model':<16} {'recall@10':>10} {'ndcg@10':>10} {'hitrate@10':>11} {'ann overlap':>12}")
    for name, m in rows.items():
        print(f"{name:<16} {m['recall@10']:>10.4f} {m['ndcg@10']:>10.4f} {m['hitrate@10']:>11.4f} "
              f"{m.get('ann_overlap@10', float('nan')):>12.3f}")


if __name__ == "__main__":
    main()
