"""The torchrec embedding backend on the zoo DeepFM (configs/ml100k_ctr/deepfm.yaml): parity and speed.

Opt-in (needs the TorchRec extra, ``make setup-torchrec``). Two parts, both printed:

* ``parity``: two gloo processes per sharding type (table-wise, column-wise) train the DeepFM on
  ML-100K CTR train rows (global batch 1,024, 512 per rank), checkpoint with
  ``torch.distributed.checkpoint``, resume into a fresh sharded model, train on, and predict the
  valid split; prints the largest score difference between the resumed and the uninterrupted run
  and between the unsharded model loaded from the sharded checkpoint and the sharded model, the
  checkpoint's size, and each rank's tables.
* ``speed``: one process, the Trainer with ``embedding_backend: plain`` and ``torchrec`` alternately
  (same SGD/Adagrad, same batches), training samples per second of each and their ratio
  (measured in one run: the machine's load moves absolute numbers).

    python benchmarks/torchrec_backend.py [--steps 40] [--part parity|speed|both]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
CTR = REPO.parent / "shared" / "data" / "ml-100k-ctr"
TRAIN = {"optimizer": {"name": "adam", "lr": 0.001}, "embedding_optimizer": {"name": "adagrad", "lr": 0.05}}
GLOBAL_BATCH = 1024


def deepfm(seed: int) -> tuple[Any, Any, Any]:
    """The zoo DeepFM on the CTR split's train rows; ``(model, train batch, valid batch)``."""
    import pyarrow.parquet as pq

    from recblocks.runs.experiment import Experiment, build_model

    raw = yaml.safe_load((REPO / "configs" / "ml100k_ctr" / "deepfm.yaml").read_text(encoding="utf-8"))
    raw["train"].pop("early_stopping")
    experiment = Experiment.from_raw(raw)
    experiment.tables = {"train": pq.read_table(CTR / "train.parquet"), "valid": pq.read_table(CTR / "valid.parquet")}
    preprocessor = experiment.fit_preprocessor()
    torch.manual_seed(seed)
    model = build_model(experiment.config, experiment.schema, preprocessor)
    return model, experiment.batch("train", preprocessor), experiment.batch("valid", preprocessor)


def rank_main(rank: int, world: int, out: Path, steps: int) -> None:
    import torch.distributed as dist

    from recblocks.training.torchrec_backend import (load_sharded_checkpoint, plain_state_dict,
                                                     save_sharded_checkpoint, shard_model)

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{out / 'store'}", rank=rank, world_size=world)
    for sharding in ("table_wise", "column_wise"):
        folder = out / sharding
        model, train, valid = deepfm(0)
        size = GLOBAL_BATCH // world

        def local(step: int) -> Any:
            return train.slice(step * GLOBAL_BATCH + rank * size, step * GLOBAL_BATCH + (rank + 1) * size)

        sharded = shard_model(model, TRAIN, sharding=sharding)
        half = steps // 2
        start = time.perf_counter()
        for step in range(steps):
            if step == half:
                save_sharded_checkpoint(sharded, folder / "checkpoint_a")
            sharded.train_step(local(step))
        seconds = time.perf_counter() - start
        uninterrupted = sharded.predict(valid)["ctr"]
        other, _, _ = deepfm(1)
        resumed = shard_model(other, TRAIN, sharding=sharding)
        load_sharded_checkpoint(resumed, folder / "checkpoint_a")
        for step in range(half, steps):
            resumed.train_step(local(step))
        save_sharded_checkpoint(resumed, folder / "checkpoint_b")
        scores = resumed.predict(valid)["ctr"]
        plain_state_dict(resumed)  # collective; the test checks its keys
        tables = sorted(f"{layout.name}{list(s.metadata.shard_sizes)}" for layout in resumed.layouts
                        for s in resumed.dmp.state_dict()[layout.torchrec_key].local_shards())
        torch.save({"uninterrupted": uninterrupted, "resumed": scores, "tables": tables, "seconds": seconds},
                   folder / f"rank{rank}.pt")
    dist.destroy_process_group()


def parity(steps: int) -> None:
    from recblocks.training.torchrec_backend import plain_state_dict_from_checkpoint

    with TemporaryDirectory() as tmp:
        out = Path(tmp)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
               "OMP_NUM_THREADS": "1"}
        procs = [subprocess.Popen([sys.executable, __file__, "--rank", str(r), "--out", tmp, "--steps", str(steps)],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for r in range(2)]
        for rank, proc in enumerate(procs):
            log = proc.communicate()[0].decode(errors="replace")
            if proc.returncode:
                raise SystemExit(f"rank {rank} failed:\n{log[-3000:]}")
        for sharding in ("table_wise", "column_wise"):
            ranks = [torch.load(out / sharding / f"rank{r}.pt", weights_only=False) for r in range(2)]
            unsharded, _, valid = deepfm(2)
            unsharded.load_state_dict(plain_state_dict_from_checkpoint(unsharded, out / sharding / "checkpoint_b"))
            unsharded.eval()
            with torch.no_grad():
                plain_scores = unsharded.predictions(unsharded(valid))["ctr"]
            resumed = ranks[0]["resumed"]
            size = sum(f.stat().st_size for f in (out / sharding / "checkpoint_b").iterdir())
            files = sorted(f.name for f in (out / sharding / "checkpoint_b").iterdir())
            print(f"{sharding}: 2 ranks x {GLOBAL_BATCH // 2} rows, {steps} steps, {len(valid):,} valid rows")
            print(f"  max |resumed - uninterrupted| = {(resumed - ranks[0]['uninterrupted']).abs().max().item():.2e}")
            print(f"  max |rank1 - rank0| = {(ranks[1]['resumed'] - resumed).abs().max().item():.2e}")
            print(f"  max |unsharded from checkpoint - sharded| = {(plain_scores - resumed).abs().max().item():.2e}")
            print(f"  checkpoint: {size / 1e6:.2f} MB in {files}")
            for rank, result in enumerate(ranks):
                print(f"  rank {rank}: {len(result['tables'])} shards: {' '.join(result['tables'])}")


def speed(steps: int) -> None:
    from recblocks.data.loader import InMemoryLoader
    from recblocks.training.trainer import Trainer

    rates: dict[str, list[float]] = {"plain": [], "torchrec": []}
    for repeat in range(2):
        for backend in ("plain", "torchrec"):
            model, train, _ = deepfm(0)
            trainer = Trainer(model, {**TRAIN, "batch_size": GLOBAL_BATCH, "max_steps": steps, "progress": False,
                                      "tensorboard": False, "embedding_backend": backend})
            history = trainer.fit(InMemoryLoader(train, GLOBAL_BATCH, shuffle=True, seed=0))
            rates[backend].append(history.epochs[-1].samples_per_s)
            if torch.distributed.is_initialized():
                torch.distributed.destroy_process_group()
    best = {k: max(v) for k, v in rates.items()}
    print(f"speed (1 process, {steps} steps of {GLOBAL_BATCH} rows, best of 2 alternating runs): "
          f"plain {best['plain']:,.0f} samples/s, torchrec {best['torchrec']:,.0f} samples/s")
    print(f"ratio torchrec/plain: {best['torchrec'] / best['plain']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--part", choices=["parity", "speed", "both"], default="both")
    parser.add_argument("--rank", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rank is not None:
        rank_main(args.rank, 2, Path(args.out), args.steps)
        return
    if args.part in ("parity", "both"):
        parity(args.steps)
    if args.part in ("speed", "both"):
        speed(args.steps)


if __name__ == "__main__":
    main()
