"""Where a GAUC gap between two ML-100K sequence configs comes from: per-user AUC by user bucket (validation only).

Trains each of ``--models`` (configs as in ``benchmarks/ml100k_seq.py``: ``--configs``, ``--set``,
``--regime``) for every seed without the test file, scores the regime's validation file with the
restored best epoch, and splits the size-weighted GAUC (the library's ``gauc``: one AUC per user,
weighted by the user's rows, one-class users skipped) over buckets of users: by rows in the
validation file, by whether the user has rows in the training file, and by the mean history length
of their rows. For each bucket it prints the users, their share of the GAUC weight, each model's
weighted mean user AUC (mean over seeds) and the bucket's contribution to the GAUC difference
(second model minus first; the contributions sum to the GAUC difference).

Usage (from the repository root; opt-in, about a minute per model and seed on a CPU)::

    nice .venv/bin/python benchmarks/ml100k_seq_users.py --models base,din --seeds 0,1,2 --set train.num_threads=1
    nice .venv/bin/python benchmarks/ml100k_seq_users.py --regime early --models base,din --seeds 0,1,2
    nice .venv/bin/python benchmarks/ml100k_seq_users.py --describe

``--describe`` trains nothing: it prints, for the valid and test files and the early regime's
validation file, the rows, users, share of rows from heavy users, from rows with a short history and
from users seen in training (user ids and history lengths only: no label is read).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ml100k_seq as bench  # noqa: E402  (benchmarks/ is not a package)
from _report import csv_list  # noqa: E402

#: bucket edges (inclusive lower bounds) of a user's rows in the validation file
ROW_BUCKETS = (1, 20, 60, 120)


def user_aucs(labels: np.ndarray, scores: np.ndarray, users: np.ndarray) -> dict[Any, tuple[float, int]]:
    """``user -> (AUC, rows)`` for every user with both classes (the groups ``gauc`` keeps)."""
    from recblocks.metrics import auc

    out = {}
    for user in np.unique(users):
        rows = users == user
        if 0 < labels[rows].sum() < rows.sum():
            out[user] = (auc(labels[rows], scores[rows]), int(rows.sum()))
    return out


def valid_scores(model: str, data: Path, seed: int, overrides: list[str], configs: Path) -> np.ndarray:
    """The validation scores (row order) of ``model`` trained for ``seed`` without the test file."""
    import pyarrow.parquet as pq

    from recblocks.runs import train_run
    from recblocks.runs.config_file import apply_overrides, load_config_file
    from recblocks.runs.scoring import predict_run

    raw = load_config_file(configs / f"{model}.yaml")
    raw = apply_overrides(raw, [f"train.seed={seed}", "train.progress=false", "train.tensorboard=false",
                                f"data.train={data / 'train.parquet'}", f"data.valid={data / 'valid.parquet'}",
                                "data.test=null", *overrides])
    with tempfile.TemporaryDirectory(prefix="recblocks-users-") as tmp:
        result = train_run(raw, Path(tmp) / "run", overwrite=True)
        predict_run(result.run_dir, str(data / "valid.parquet"), Path(tmp) / "scores.parquet")
        scores = pq.read_table(Path(tmp) / "scores.parquet")
        return np.asarray(scores.column(scores.column_names[-1]).to_numpy(), dtype=np.float64)


def buckets(valid: Any, train_users: set) -> dict[str, dict[Any, str]]:
    """``kind -> user -> bucket name`` for the three user splits."""
    rows = valid.groupby("user_id").size()
    length = valid.assign(n=valid["hist_movie_id"].map(len)).groupby("user_id")["n"].mean()
    edges = list(ROW_BUCKETS) + [10**9]
    by_rows = {u: next(f"{lo}-{hi - 1}" if hi < 10**9 else f">={lo}" for lo, hi in zip(edges, edges[1:]) if n < hi)
               for u, n in rows.items()}
    return {"rows in valid": by_rows,
            "user in train": {u: "yes" if u in train_users else "no" for u in rows.index},
            "mean history length": {u: "20 (full)" if n >= 20 else ("10-19.9" if n >= 10 else "<10")
                                    for u, n in length.items()}}


def _bucket_order(name: str) -> tuple[float, str]:
    """Buckets in numeric order of their first number (``'<10'`` first), others by name."""
    digits = "".join(c if c.isdigit() else " " for c in name).split()
    return (float(digits[0]) - (0.5 if name.startswith("<") else 0) if digits else -1.0, name)


def report(per_model: dict[str, list[dict[Any, tuple[float, int]]]], groups: dict[str, dict[Any, str]]) -> str:
    """Markdown tables: per bucket users, weight share, mean user AUC per model, contribution to the gap."""
    first, second = list(per_model)[:2]
    users = sorted(set.intersection(*(set(run) for runs in per_model.values() for run in runs)))
    weight = {u: per_model[first][0][u][1] for u in users}
    total = sum(weight.values())
    mean_auc = {m: {u: float(np.mean([run[u][0] for run in runs])) for u in users} for m, runs in per_model.items()}
    lines = [f"GAUC over {len(users)} two-class users: {first} {sum(mean_auc[first][u] * weight[u] for u in users) / total:.4f}, "
             f"{second} {sum(mean_auc[second][u] * weight[u] for u in users) / total:.4f} (mean over seeds)"]
    for kind, of in groups.items():
        lines += ["", f"| {kind} | users | GAUC weight | {first} user AUC | {second} user AUC | "
                      f"contribution to {second} - {first} |", "|---|---|---|---|---|---|"]
        for name in sorted({of[u] for u in users}, key=_bucket_order):
            members = [u for u in users if of[u] == name]
            w = sum(weight[u] for u in members)
            means = [sum(mean_auc[m][u] * weight[u] for u in members) / w for m in (first, second)]
            contribution = sum((mean_auc[second][u] - mean_auc[first][u]) * weight[u] for u in members) / total
            lines.append(f"| {name} | {len(members)} | {w / total:.3f} | {means[0]:.4f} | {means[1]:.4f} | "
                         f"{contribution:+.4f} |")
    return "\n".join(lines)


def describe(splits: dict[str, tuple[Path, Path]]) -> str:
    """Markdown table of ``name -> (evaluated file, its training file)``: users and history lengths, no labels."""
    import pandas as pd

    lines = [f"| split | rows | users | rows of users with >= {ROW_BUCKETS[-1]} rows | rows with a history shorter "
             f"than {bench.HISTORY} | rows of users seen in training |", "|---|---|---|---|---|---|"]
    for name, (path, train) in splits.items():
        rows = pd.read_parquet(path, columns=["user_id", "hist_movie_id"])
        seen = set(pd.read_parquet(train, columns=["user_id"])["user_id"])
        per_user = rows.groupby("user_id").size()
        heavy = per_user[per_user >= ROW_BUCKETS[-1]]
        short = (rows["hist_movie_id"].map(len) < bench.HISTORY).mean()
        lines.append(f"| {name} | {len(rows):,} | {len(per_user)} | {heavy.sum() / len(rows):.3f} ({len(heavy)} users) | "
                     f"{short:.3f} | {rows['user_id'].isin(seen).mean():.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=csv_list, default=["base", "din"], help="two config names (default base,din)")
    parser.add_argument("--seeds", type=lambda v: [int(s) for s in csv_list(v)], default=[0, 1, 2])
    parser.add_argument("--configs", type=Path, default=bench.CONFIGS)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--regime", choices=("temporal", "early"), default="temporal")
    parser.add_argument("--describe", action="store_true", help="print the users and history lengths of the splits")
    args = parser.parse_args(argv)
    if len(args.models) != 2:
        parser.error("--models names two configs")
    if not (bench.SOURCE / "u.data").is_file():
        print(f"skipped: MovieLens-100K is absent ({bench.SOURCE}/u.data)", file=sys.stderr)
        return 0
    import pandas as pd

    data = bench.prepare()
    if args.describe:
        early = bench.early_regime(data)
        print(describe({"valid": (data / "valid.parquet", data / "train.parquet"),
                        "test": (data / "test.parquet", data / "train.parquet"),
                        "early valid": (early / "valid.parquet", early / "train.parquet")}))
        return 0
    if args.regime == "early":
        data = bench.early_regime(data)
    valid = pd.read_parquet(data / "valid.parquet", columns=["user_id", "label", "hist_movie_id"])
    train_users = set(pd.read_parquet(data / "train.parquet", columns=["user_id"])["user_id"])
    labels, users = valid["label"].to_numpy(), valid["user_id"].to_numpy()
    per_model: dict[str, list[dict[Any, tuple[float, int]]]] = {}
    for model in args.models:
        for seed in args.seeds:
            scores = valid_scores(model, data, seed, args.overrides, args.configs)
            per_model.setdefault(model, []).append(user_aucs(labels, scores, users))
            print(f"{model} seed={seed} done", file=sys.stderr, flush=True)
    print(report(per_model, buckets(valid, train_users)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
