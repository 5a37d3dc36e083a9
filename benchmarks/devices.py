"""Mixed precision and dynamic vocabularies on this machine: speed as ratios from one run, and AUC.

Opt-in (never part of the test suite)::

    PYTHONPATH=src python benchmarks/devices.py [--rows 30000] [--seeds 0 1 2]

Trains one small synthetic ranking model several ways, each seed in turn, and prints:

* ``ratio bf16/fp32 samples/s``: ``train.mixed_precision: bf16`` against float32 on this device;
* ``ratio dynamic/fitted samples/s``: the largest id feature with a dynamic vocabulary large
  enough to hold every id (no eviction) against the vocabulary fitted up front;
* the same with a bounded table (a quarter of the ids' rows, evicting) and its AUC cost;
* ``dynamic vocabulary mapping``: raw ids mapped per second by the mapping alone, on a stream of
  fresh ids (a new id in every other position).

Validation AUC is reported as mean ± std over seeds; there is no setting to choose here.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch

from recblocks.features.dynamic_vocab import DynamicVocabulary
from recblocks.features.dynamic_vocab_config import DynamicVocabularyConfig
from recblocks.runs import train_run

VOCAB = [100, 1000, 20000]


def config(rows: int, seed: int, device: str) -> dict:
    features = [{"name": "I1", "kind": "dense"}, {"name": "I2", "kind": "dense"}]
    features += [{"name": f"C{i + 1}", "kind": "sparse", "embedding_dim": 16} for i in range(len(VOCAB))]
    return {
        "data": {"synthetic": {"num_rows": rows, "num_dense": 2, "vocab_sizes": VOCAB, "seed": 11}},
        "features": features,
        "model": {"feature_groups": [{"group_name": "all", "feature_names": [f["name"] for f in features]}],
                  "backbone": {"blocks": [{"name": "deep", "inputs": [{"feature_group_name": "all"}],
                                           "component": {"class_name": "MLP",
                                                         "params": {"hidden_units": [256, 128, 64]}}}],
                               "concat_blocks": ["deep"]},
                  "task": {"type": "binary", "label": "label"}},
        "train": {"epochs": 2, "batch_size": 512, "progress": False, "tensorboard": False, "seed": seed,
                  "device": device, "optimizer": {"name": "adam", "lr": 0.003}},
    }


def variants(rows: int, seed: int, device: str) -> dict[str, dict]:
    base = config(rows, seed, device)
    bf16 = copy.deepcopy(base)
    bf16["train"]["mixed_precision"] = "bf16"
    out = {"fp32 fitted": base, "bf16 fitted": bf16}
    for name, max_rows in (("fp32 dynamic", VOCAB[-1] + 2), ("fp32 dynamic bounded", VOCAB[-1] // 4)):
        dynamic = copy.deepcopy(base)
        dynamic["features"][-1]["vocabulary"] = {"type": "dynamic", "max_rows": max_rows,
                                                 "evict_after": 2 * rows // 512 if "bounded" in name else None}
        out[name] = dynamic
    return out


def mapping_rate(total: int = 1_000_000, batch: int = 4096) -> float:
    """Raw ids mapped per second by a training-mode DynamicVocabulary (half the ids fresh)."""
    vocab = DynamicVocabulary(DynamicVocabularyConfig(max_rows=100_000, admit_min_count=2, evict_after=50))
    generator = torch.Generator().manual_seed(0)
    start, done, fresh = time.perf_counter(), 0, 0
    while done < total:
        repeat = torch.randint(0, 50_000, (batch // 2,), generator=generator)
        new = torch.arange(fresh, fresh + batch // 2) + 10**9
        fresh += batch // 2
        vocab(torch.cat([repeat, new]))
        done += batch
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    speed: dict[str, list[float]] = {}
    auc: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for name, raw in variants(args.rows, seed, args.device).items():
                result = train_run(raw, Path(tmp) / f"{name.replace(' ', '_')}_{seed}")
                speed.setdefault(name, []).append(result.samples_per_second)
                auc.setdefault(name, []).append(result.valid_metrics["auc"])
    print(f"device {args.device}, {args.rows} rows, seeds {args.seeds}, torch {torch.__version__}")
    for name in speed:
        values = auc[name]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{name:22s} samples/s {statistics.mean(speed[name]):9,.0f}   valid auc "
              f"{statistics.mean(values):.4f} ± {spread:.4f}")

    def ratio(a: str, b: str) -> float:
        return statistics.mean(x / y for x, y in zip(speed[a], speed[b]))

    print(f"ratio bf16/fp32 samples/s: {ratio('bf16 fitted', 'fp32 fitted'):.2f}")
    print(f"ratio dynamic/fitted samples/s: {ratio('fp32 dynamic', 'fp32 fitted'):.2f}")
    print(f"ratio dynamic bounded/fitted samples/s: {ratio('fp32 dynamic bounded', 'fp32 fitted'):.2f}")
    print(f"dynamic vocabulary mapping: {mapping_rate():,.0f} ids/s")


if __name__ == "__main__":
    main()
