"""Training throughput of recblocks against a hand-written PyTorch DeepFM (the speed ceiling).

Run from the repository root::

    .venv/bin/python benchmarks/throughput.py                   # both workloads (~3 min on 2 quiet cores)
    .venv/bin/python benchmarks/throughput.py --only ml100k --repeats 5
    .venv/bin/python benchmarks/throughput.py --only synthetic --rows 200000   # quicker, smaller
    .venv/bin/python benchmarks/profile_step.py --workload synthetic           # where the time goes

Options: ``--only synthetic|ml100k``, ``--rows N`` (synthetic rows), ``--repeats N`` (fresh runs
per system, alternating which starts; default 1 synthetic, 3 ml100k), ``--epochs N`` (ml100k timed
epochs per run, default 3), ``--threads N`` (default 2), ``--reg``, ``--wait-idle S``,
``--no-interleave`` / ``--slice S``.

Workloads
---------
(a) ``synthetic`` — compute-bound: DeepFM, embedding dim 16, MLP [400, 400, 400], batch 4096,
    ONE epoch over ``--rows`` (default 1,000,000) Criteo-like rows (13 dense ``I*``, 26
    categorical ``C*`` with ``CRITEO_LIKE_VOCAB_SIZES`` raised to at least 10: vocabularies 10 ... 100,000) from
    :func:`recblocks.datasets.synthetic.make_synthetic` (seed 0), written once to
    ``benchmarks/_work/synthetic_<rows>/train.parquet`` (git-ignored) and read back by both systems.
    Dense features: ``log1p``, projected to 16 (value x learned vector) so they enter FM and MLP.
(b) ``ml100k`` — overhead-bound: the shipped user config ``configs/ml100k_ctr/deepfm.yaml``
    (DeepFM dim 16, MLP [256, 128, 64], batch 1024) on ``../shared/data/ml-100k-ctr/train.parquet``
    (80,000 rows; relative to the repo root), or, when that is absent, a synthetic table of the
    same shape and cardinalities in ``benchmarks/_work/ml100k_synthetic/``. One warm-up epoch,
    then ``--epochs`` (default 3) timed epochs; the train-loop figure is their median.

Both systems, per workload, run in their own fresh subprocess (so peak RSS is per system), with
``torch.set_num_threads(--threads)`` (default 2), seed 0, and the same process warm-up first: one
short run (4 batches) of the very same code path on the first rows of the data.
No validation or test set is used, no early stopping, no regularization (``--reg`` keeps the
ml100k config's ``embedding_regularization``/``l2_regularization`` 1e-5 and gives the ceiling
the same terms; the synthetic config then uses them too).

What is timed
-------------
recblocks, as a user runs it: its config dict (backbone spelling: ``wide`` input_layer with
``wide_output_dim: 1`` + ``reduce_sum`` lambda, ``features`` input_layer
``output_2d_tensor_and_feature_list``, FM on ``[1]``, MLP on ``[0]`` with a linear final unit
and ``use_bn: false``, ``Add``) passed to ``recblocks.runs.experiment.train_run``, which
reads the Parquet with recblocks' reader, fits and applies its ``Preprocessor``, builds the
model, trains with its ``Trainer`` (``InMemoryLoader``, ``CompositeOptimizer`` = SparseAdam +
Adam) and writes its run directory (config, preprocessor, weights, optimizer state, metrics).

* ``end-to-end`` = samples trained / wall time of the whole ``train_run`` call.
* ``train loop`` = samples / wall time of ``Trainer._train_epoch`` (timed by wrapping the method
  from outside), i.e. every step of the epoch INCLUDING the per-batch data work the user pays
  for inside the loop: the epoch permutation, ``Batch.take`` gathers, the trainer's bookkeeping.
  One-off costs (Parquet read, preprocessing fit/transform, model build, checkpointing) are in
  ``end-to-end`` only; they are broken down in the per-system lines.

The ceiling (``benchmarks/ceiling.py``): ``end-to-end`` = read Parquet + dictionary-encode +
build + train (no checkpoint is written); ``train loop`` = its epoch loop (permutation,
``index_select`` per batch, forward, loss, backward, SparseAdam + Adam steps).

Interleaving (default): the two subprocesses of a repeat are started together but time-sliced by a
baton: only one runs at any moment, and the running one hands over every ``--slice`` (1) second
of training, at a step boundary. Both systems thus sample the machine's slow drift alike (on the
shared 2-core VM this was developed on, back-to-back runs of the same code differed by up to 25%)
and never compete with each other; waiting for the baton is excluded from every figure
(``--no-interleave`` runs them one after the other instead).

Shared machines: before each timed epoch the worker waits (untimed, up to ``--wait-idle`` s) for
other processes to go quiet, and during the epoch it measures, window by window (>= 0.25 s of
steps), how much CPU OTHER processes used. Windows where they used more than 0.25 cores are
"contended"; the ``train loop`` figure replaces their time by their step count x the mean step
time of the epoch's quiet windows (the "undisturbed estimate"); ``(raw)`` is the plain wall-clock
figure. On a quiet machine both are the same. A WARNING line says when contention was seen.
Timed epochs of all repeats are pooled and their median is used.

The final lines, ``ratio synthetic: X.XX`` and ``ratio ml100k: X.XX``, are recblocks'
TRAIN-LOOP samples/s divided by the ceiling's train-loop samples/s (undisturbed estimates, pooled
medians). Acceptance targets: ratio synthetic >= 0.9, ratio ml100k >= 0.6.

The fbgemm backend (when ``fbgemm_gpu`` is importable: ``make setup-torchrec``; ``--no-fbgemm``
leaves it out): on the synthetic workload a third system, ``fbgemm``, runs the same recblocks
config with ``train.embedding_backend: fbgemm`` and ``embedding_optimizer: {name: rowwise_adagrad,
lr: 0.01}`` (FBGEMM's fused row-wise Adagrad; FBGEMM has no CPU Adam), dense weights on Adam as
before; it is interleaved with the other two in the same run (three-way baton) and timed the same
way. ``ratio fbgemm synthetic: X.XX`` is its train-loop samples/s over the SAME ceiling's (the
ceiling keeps SparseAdam: the figure is what a user gains by switching the backend, optimizer
included). Target: above 1.2.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "benchmarks" / "_work"
ML100K_DIR = REPO.parent / "shared" / "data" / "ml-100k-ctr"
ML100K_CONFIG = REPO / "configs" / "ml100k_ctr" / "deepfm.yaml"
RESULT_MARK = "@@RESULT@@ "
BATON_KEY = b"recblocks-throughput"
SEED = 0
WARM_BATCHES = 4

WORKLOADS: dict[str, dict[str, Any]] = {
    "synthetic": {"dim": 16, "hidden": [400, 400, 400], "batch": 4096},
    "ml100k": {"dim": 16, "hidden": [256, 128, 64], "batch": 1024},
}
ML100K_SPARSE = ["user_id", "movie_id", "gender", "age", "occupation", "zip3", "release_year"]
ML100K_CARDINALITY = {"user_id": 943, "movie_id": 1682, "gender": 2, "age": 7, "occupation": 21, "zip3": 382,
                      "release_year": 72}
NUM_GENRES, MAX_GENRES, ML100K_ROWS, ML100K_POSITIVE_RATE = 19, 6, 80_000, 0.553
REG = 1.0e-5
QUIET_CORES = 0.25  # CPU used by other processes below which a stretch of training counts as undisturbed
FBGEMM_LR = 0.01  # row-wise Adagrad learning rate of the fbgemm system (not tuned: a speed benchmark)
BACKENDS = {"recblocks": "plain", "fbgemm": "fbgemm"}  # recblocks systems -> train.embedding_backend


# ------------------------------------------------------------------------------- data files
def _write_warm(table_path: Path, rows: int, out: Path) -> Path:
    import pyarrow.parquet as pq

    if not out.exists():
        pq.write_table(pq.read_table(table_path).slice(0, rows), out)
    return out


def _vocab_sizes() -> list[int]:
    """The issue's workload: 26 categorical fields with vocabularies 10 ... 100,000."""
    from recblocks.datasets.synthetic import CRITEO_LIKE_VOCAB_SIZES

    return [max(10, v) for v in CRITEO_LIKE_VOCAB_SIZES]


VOCAB_SIZES = _vocab_sizes()


def synthetic_data(rows: int) -> tuple[Path, Path]:
    """``train.parquet`` of ``rows`` Criteo-like rows (cached) and its warm-up slice."""
    import pyarrow.parquet as pq

    from recblocks.datasets.synthetic import SyntheticConfig, make_synthetic

    folder = WORK / f"synthetic10_{rows}"
    path = folder / "train.parquet"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        print(f"writing {rows:,} synthetic Criteo-like rows to {path.relative_to(REPO)} ...", flush=True)
        table = make_synthetic(SyntheticConfig(num_rows=rows, num_dense=13, vocab_sizes=VOCAB_SIZES,
                                               seed=SEED))
        pq.write_table(table, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").rename(path)
    warm = _write_warm(path, WARM_BATCHES * WORKLOADS["synthetic"]["batch"], folder / "warm.parquet")
    return path, warm


def _ml100k_like_table():
    """80k rows with the ml-100k-ctr split's columns, cardinalities and positive rate (strings but label)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(SEED)
    n = ML100K_ROWS
    columns: dict[str, Any] = {"label": pa.array((rng.random(n) < ML100K_POSITIVE_RATE).astype(np.int64))}
    for name, size in ML100K_CARDINALITY.items():
        weights = np.arange(1, size + 1, dtype=np.float64) ** -0.8
        draws = rng.choice(size, n, p=weights / weights.sum())
        columns[name] = pa.array([f"{name[:2]}{i}" for i in range(size)], pa.large_string()).take(pa.array(draws))
    genres = pa.array([f"genre{i}" for i in range(NUM_GENRES)], pa.large_string())
    lengths = rng.choice(np.arange(1, MAX_GENRES + 1), n, p=[0.45, 0.33, 0.15, 0.05, 0.015, 0.005])
    values = genres.take(pa.array(rng.integers(0, NUM_GENRES, int(lengths.sum()))))
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))
    lists = pa.LargeListArray.from_arrays(offsets, values)
    columns["genres"] = pc.binary_join(lists, "^")
    columns["genre_first"] = pc.list_element(lists, 0)
    return pa.table(columns)


def ml100k_data() -> tuple[Path, Path, str]:
    """The real ml-100k-ctr train split when present, else a same-shaped synthetic stand-in."""
    import pyarrow.parquet as pq

    path = ML100K_DIR / "train.parquet"
    source = "ml-100k-ctr train split"
    warm_dir = WORK / "ml100k"
    if not path.exists():
        warm_dir = WORK / "ml100k_synthetic"
        path = warm_dir / "train.parquet"
        source = "SYNTHETIC stand-in (ml-100k-ctr not found at ../shared/data/ml-100k-ctr)"
        if not path.exists():
            warm_dir.mkdir(parents=True, exist_ok=True)
            pq.write_table(_ml100k_like_table(), path)
    warm_dir.mkdir(parents=True, exist_ok=True)
    warm = _write_warm(path, WARM_BATCHES * WORKLOADS["ml100k"]["batch"], warm_dir / "warm.parquet")
    return path, warm, source


# ----------------------------------------------------------------------------- configs
def _backbone(hidden: list[int]) -> dict[str, Any]:
    return {"blocks": [
        {"name": "wide_logit", "inputs": [{"feature_group_name": "wide"}], "input_layer": {"wide_output_dim": 1}},
        {"name": "features", "inputs": [{"feature_group_name": "all"}],
         "input_layer": {"output_2d_tensor_and_feature_list": True}},
        {"name": "fm", "inputs": [{"block_name": "features", "input_slice": "[1]"}], "component": {"class_name": "FM"}},
        {"name": "deep", "inputs": [{"block_name": "features", "input_slice": "[0]"}],
         "component": {"class_name": "MLP", "params": {"hidden_units": [*hidden, 1], "use_bn": False,
                                                        "use_final_bn": False, "final_activation": "linear"}}},
        {"name": "add", "inputs": [
            {"block_name": "wide_logit", "input_fn": "lambda x: tf.reduce_sum(x, axis=1, keepdims=True)"},
            {"block_name": "fm"}, {"block_name": "deep"}],
         "merge_inputs_into_list": True, "component": {"class_name": "Add"}},
    ], "concat_blocks": ["add"]}


def _train_section(batch: int, epochs: int, threads: int) -> dict[str, Any]:
    return {"epochs": epochs, "batch_size": batch, "optimizer": {"name": "adam", "lr": 0.001}, "seed": SEED,
            "num_threads": threads}


def synthetic_config(train: Path, epochs: int, threads: int, reg: bool, backend: str = "plain") -> dict[str, Any]:
    """The recblocks run config of workload (a)."""
    w = WORKLOADS["synthetic"]
    dense = [f"I{i}" for i in range(1, 14)]
    sparse = [f"C{j}" for j in range(1, 27)]
    features = [{"name": n, "kind": "dense", "normalization": "log1p", "embedding_dim": w["dim"]} for n in dense]
    features += [{"name": n, "kind": "sparse"} for n in sparse]
    model: dict[str, Any] = {
        "model_name": "DeepFM", "embedding_dim": w["dim"],
        "feature_groups": [{"group_name": "wide", "feature_names": dense + sparse, "wide_deep": "WIDE"},
                           {"group_name": "all", "feature_names": dense + sparse}],
        "backbone": _backbone(w["hidden"]),
        "task": {"type": "binary", "label": "label"},
    }
    if reg:
        model["embedding_regularization"] = REG
        model["model_params"] = {"l2_regularization": REG}
    section = _train_section(w["batch"], epochs, threads)
    if backend == "fbgemm":  # FBGEMM's fused row-wise Adagrad for the tables (it has no CPU Adam); Adam stays dense
        section.update(embedding_backend="fbgemm", embedding_optimizer={"name": "rowwise_adagrad", "lr": FBGEMM_LR})
    return {"data": {"train": str(train)}, "features": features, "model": model, "train": section}


def ml100k_config(train: Path, epochs: int, threads: int, reg: bool) -> dict[str, Any]:
    """``configs/ml100k_ctr/deepfm.yaml`` as shipped, with train-only data and no early stopping."""
    from recblocks.runs.config_file import load_config_file

    raw = load_config_file(ML100K_CONFIG)
    raw["data"] = {"train": str(train)}
    raw["train"] = {**raw.get("train", {}), **_train_section(WORKLOADS["ml100k"]["batch"], epochs, threads)}
    raw["train"].pop("early_stopping", None)
    model = raw["model"]
    if not reg:
        model["embedding_regularization"] = 0.0
        model["model_params"] = {**model.get("model_params", {}), "l2_regularization": 0.0}
    deep = next(b for b in model["backbone"]["blocks"] if b["name"] == "deep")
    units = deep["component"]["params"]["hidden_units"]
    if units[:-1] != WORKLOADS["ml100k"]["hidden"] or model.get("embedding_dim") != WORKLOADS["ml100k"]["dim"]:
        raise SystemExit(f"{ML100K_CONFIG} no longer describes the benchmarked model (MLP {units}, "
                         f"dim {model.get('embedding_dim')}); update WORKLOADS")
    return raw


def run_config(workload: str, train: Path, epochs: int, threads: int, reg: bool, backend: str = "plain"
               ) -> dict[str, Any]:
    if workload == "synthetic":
        return synthetic_config(train, epochs, threads, reg, backend)
    if backend != "plain":
        raise SystemExit(f"the {backend} backend is measured on the synthetic workload only")
    return ml100k_config(train, epochs, threads, reg)


# ----------------------------------------------------------------------------- contention
def _busy_seconds() -> float:
    """CPU seconds every process of the machine has spent busy since boot (/proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Contention:
    """Contention bookkeeping of the timed epochs.

    Before each epoch it waits (untimed, up to ``wait_limit`` s) for other processes to go quiet.
    During the epoch, ``tick()`` is called after every optimizer step; steps are grouped into
    windows of >= ``window`` s, and for each window the CPU time used by OTHER processes is
    measured (machine busy time from /proc/stat minus this process's CPU time). A window with
    more than ``QUIET_CORES`` foreign cores is "contended"; after one, training pauses (untimed,
    up to ``wait_limit`` s) until the machine is quiet again. ``clean_seconds`` re-estimates an
    epoch by replacing each contended window's time with its step count x the mean step time
    of the epoch's quiet windows (None when no window was quiet).
    """

    def __init__(self, wait_limit: float, window: float = 0.25) -> None:
        self.wait_limit = wait_limit
        self.window = window
        self.waited = 0.0  # every untimed wait (before epochs and paused inside them)
        self.epochs: list[list[tuple[int, float, float]]] = []  # (steps, seconds, foreign cores) per window
        self.paused: list[float] = []  # seconds paused inside each epoch (to subtract from its wall time)
        self._windows: list[tuple[int, float, float]] = []
        self._open = (0.0, 0.0, 0.0)
        self._steps = 0
        self._pause = 0.0

    def _wait(self) -> float:
        start = time.perf_counter()
        if self.wait_limit > 0:
            _wait_until_quiet(self.wait_limit)
        seconds = time.perf_counter() - start
        self.waited += seconds
        return seconds

    def before(self) -> None:
        self._wait()
        self._windows, self._steps, self._pause = [], 0, 0.0
        self._open = (_busy_seconds(), _own_cpu(), time.perf_counter())

    def tick(self) -> None:
        """After each optimizer step; pauses (untimed) when the window just closed was contended,
        and hands the baton to the other worker when its time slice is over (``--interleave``)."""
        self._steps += 1
        now = time.perf_counter()
        handover = _BATON is not None and _BATON.due()
        if now - self._open[2] >= self.window or handover:
            foreign = self._close(now)
            paused = False
            if foreign > QUIET_CORES and self.wait_limit > 0:
                self._pause += self._wait()
                paused = True
            if handover:
                seconds = _BATON.hand_over()  # type: ignore[union-attr]
                self._pause += seconds
                self.waited += seconds
                paused = True
            if paused:
                self._open = (_busy_seconds(), _own_cpu(), time.perf_counter())

    def _close(self, now: float) -> float:
        busy, own, start = self._open
        busy_now, own_now = _busy_seconds(), _own_cpu()
        wall = now - start
        foreign = max(0.0, (busy_now - busy) - (own_now - own)) / max(wall, 1e-9)
        self._windows.append((self._steps, wall, foreign))
        self._open, self._steps = (busy_now, own_now, now), 0
        return foreign

    def after(self) -> None:
        self._close(time.perf_counter())
        self.epochs.append(self._windows)
        self.paused.append(self._pause)

    @staticmethod
    def foreign(windows: list[tuple[int, float, float]]) -> float:
        """Average foreign cores over an epoch."""
        wall = sum(w for _, w, _ in windows)
        return sum(w * f for _, w, f in windows) / max(wall, 1e-9)

    @staticmethod
    def quiet_fraction(windows: list[tuple[int, float, float]]) -> float:
        steps = sum(s for s, _, _ in windows)
        return sum(s for s, _, f in windows if f <= QUIET_CORES) / max(steps, 1)

    @staticmethod
    def clean_seconds(windows: list[tuple[int, float, float]]) -> float | None:
        quiet = [(s, w) for s, w, f in windows if f <= QUIET_CORES and s > 0]
        if not quiet:
            return None
        per_step = sum(w for _, w in quiet) / sum(s for s, _ in quiet)
        return sum(w if (f <= QUIET_CORES or s == 0) else s * per_step for s, w, f in windows)


def _foreign_load(seconds: float = 2.0) -> float:
    """Cores kept busy by other processes over ``seconds`` (this process sleeps meanwhile)."""
    before = _busy_seconds()
    time.sleep(seconds)
    return (_busy_seconds() - before) / seconds


def _wait_until_quiet(limit: float) -> float:
    """Wait up to ``limit`` seconds for other processes to use < 0.25 cores; return the last load."""
    deadline = time.monotonic() + limit
    load = _foreign_load(1.0)
    while load >= 0.25 and time.monotonic() < deadline:
        load = _foreign_load(2.0)
    return load



class _Baton:
    """Time-slicing between the two worker processes of a repeat (``--interleave``).

    Only the worker holding the baton runs; the other blocks. A worker takes it once before doing
    anything (even importing torch) and hands it over every ``slice_s`` seconds of training (at a
    step boundary) and when it is done, so both systems sample the machine's slow drift alike and
    never compete with each other. Time spent waiting for the baton is excluded from every figure.
    """

    def __init__(self, address: str, name: str, slice_s: float) -> None:
        from multiprocessing.connection import Client

        self.conn = Client(address, authkey=BATON_KEY)
        self.conn.send(name)
        self.slice_s = slice_s
        self.started = time.perf_counter()
        self.paused = 0.0
        self.take()

    def take(self) -> None:
        start = time.perf_counter()
        self.conn.recv()
        self.started = time.perf_counter()
        self.paused += self.started - start

    def due(self) -> bool:
        return time.perf_counter() - self.started >= self.slice_s

    def hand_over(self) -> float:
        """Yield to the other worker; returns the seconds spent waiting for the baton to come back."""
        before = self.paused
        self.conn.send("yield")
        self.take()
        return self.paused - before

    def finish(self, result: dict[str, Any]) -> None:
        self.conn.send(("done", result))
        self.conn.close()


_BATON: _Baton | None = None


# ----------------------------------------------------------------------------- workers
def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed_epochs(workload: str, epochs: int) -> int:
    """Epochs to run: synthetic 1; ml100k 1 warm-up + ``epochs`` timed."""
    return 1 if workload == "synthetic" else 1 + epochs


def _timed(workload: str, values: list[float]) -> list[float]:
    """The timed epochs' entries: synthetic its only epoch; ml100k all but the warm-up epoch."""
    return values if workload == "synthetic" else values[1:]


def _summary(workload: str, system: str, samples: int, seconds: list[float], e2e: float,
             contention: _Contention, loss: float) -> dict[str, Any]:
    n_epochs = len(seconds)
    e2e -= contention.waited
    seconds = [s - p for s, p in zip(seconds, contention.paused)]
    timed_raw = _timed(workload, seconds)
    windows = _timed(workload, contention.epochs)
    clean = [c if c is not None else r for c, r in zip((_Contention.clean_seconds(w) for w in windows), timed_raw)]
    return {
        "system": system, "workload": workload, "rows": samples, "epochs": n_epochs,
        "epoch_seconds": seconds, "clean_seconds": clean,
        "loop_sps_raw": samples / statistics.median(timed_raw),
        "loop_sps": samples / statistics.median(clean),
        "e2e_sps": samples * n_epochs / e2e, "e2e_seconds": e2e, "train_loss": loss,
        "foreign": [_Contention.foreign(w) for w in windows],
        "quiet_fraction": [_Contention.quiet_fraction(w) for w in windows],
        "waited": contention.waited, "paused": sum(contention.paused), "peak_rss_mb": _peak_rss_mb(),
    }


def worker_recblocks(workload: str, train: Path, warm: Path, args: argparse.Namespace,
                     system: str = "recblocks") -> dict[str, Any]:
    import torch

    torch.set_num_threads(args.threads)
    from recblocks.features.preprocess import Preprocessor
    from recblocks.runs import train_run
    from recblocks.training.optimizers import CompositeOptimizer
    from recblocks.training.trainer import Trainer

    runs = WORK / "runs"
    # process warm-up: the same code path on 4 batches
    backend = BACKENDS[system]
    train_run(run_config(workload, warm, 1, args.threads, args.reg, backend), runs / f"{workload}_{system}_warm",
              overwrite=True)

    contention = _Contention(args.wait_idle)
    timings: dict[str, list[Any]] = {"epoch": [], "fit": [], "pre_fit": [], "transform": []}

    def wrap(cls: Any, name: str, key: str) -> None:
        original = getattr(cls, name)

        def timed(*a: Any, **kw: Any) -> Any:
            if key == "epoch":
                contention.before()
            start = time.perf_counter()
            result = original(*a, **kw)
            seconds = time.perf_counter() - start
            if key == "epoch":
                contention.after()
            timings[key].append((seconds, result) if key == "epoch" else seconds)
            return result

        setattr(cls, name, timed)

    step = CompositeOptimizer.step

    def counted_step(self: Any) -> None:
        step(self)
        contention.tick()

    CompositeOptimizer.step = counted_step  # type: ignore[method-assign]
    wrap(Trainer, "_train_epoch", "epoch")
    wrap(Trainer, "fit", "fit")
    wrap(Preprocessor, "fit", "pre_fit")
    wrap(Preprocessor, "transform", "transform")
    raw = run_config(workload, train, _timed_epochs(workload, args.epochs), args.threads, args.reg, backend)
    start = time.perf_counter()
    result = train_run(raw, runs / f"{workload}_{system}", overwrite=True)
    e2e = time.perf_counter() - start
    seconds = [s for s, _ in timings["epoch"]]
    records = [r for _, r in timings["epoch"]]
    fit = sum(timings["fit"]) - contention.waited
    out = _summary(workload, system, records[0].samples, seconds, e2e, contention, records[-1].train_loss)
    out["reported_sps"] = [r.samples_per_s for r in records]
    out["library_speed"] = result.samples_per_second
    out["breakdown"] = {"read+preprocess fit": sum(timings["pre_fit"]), "transform": sum(timings["transform"]),
                        "fit": fit, "epochs": sum(out["epoch_seconds"]),
                        "fit minus epochs": fit - sum(out["epoch_seconds"]),
                        "outside fit": out["e2e_seconds"] - fit}
    return out


def _ceiling_inputs(workload: str) -> dict[str, Any]:
    if workload == "synthetic":
        return {"sparse": [f"C{j}" for j in range(1, 27)], "dense": [f"I{i}" for i in range(1, 14)], "multi": None}
    return {"sparse": ML100K_SPARSE, "dense": [], "multi": "genres"}


def worker_ceiling(workload: str, train: Path, warm: Path, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from ceiling import CeilingDeepFM, CeilingTrainer, read_encoded

    w = WORKLOADS[workload]
    spec = _ceiling_inputs(workload)
    coef = REG if args.reg else 0.0

    def build(data: Any) -> CeilingTrainer:
        torch.manual_seed(SEED)
        model = CeilingDeepFM(data.vocab_sizes, data.multi_vocab, data.dense.shape[1] if data.dense is not None else 0,
                              w["dim"], w["hidden"])
        return CeilingTrainer(model, lr=1e-3, embedding_reg=coef, l2=coef)

    warm_data = read_encoded(str(warm), spec["sparse"], spec["dense"], spec["multi"], max_len=MAX_GENRES)
    build(warm_data).epoch(warm_data, w["batch"], SEED, 0)  # process warm-up: 4 batches

    contention = _Contention(args.wait_idle)
    start = time.perf_counter()
    data = read_encoded(str(train), spec["sparse"], spec["dense"], spec["multi"], max_len=MAX_GENRES)
    encoded = time.perf_counter()
    trainer = build(data)
    results = []
    for e in range(_timed_epochs(workload, args.epochs)):
        contention.before()
        results.append(trainer.epoch(data, w["batch"], SEED, e, on_step=contention.tick))
        contention.after()
    e2e = time.perf_counter() - start
    seconds = [s for s, _, _ in results]
    out = _summary(workload, "ceiling", len(data), seconds, e2e, contention, results[-1][1])
    out["breakdown"] = {"read+encode": encoded - start, "epochs": sum(out["epoch_seconds"])}
    return out


# ----------------------------------------------------------------------------- driver
def _worker_cmd(system: str, workload: str, train: Path, warm: Path, args: argparse.Namespace,
                baton: str | None = None) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", system, "--only", workload,
           "--train", str(train), "--warm", str(warm), "--epochs", str(args.epochs), "--threads", str(args.threads),
           "--wait-idle", str(args.wait_idle), "--slice", str(args.slice)]
    if args.reg:
        cmd.append("--reg")
    if baton:
        cmd += ["--baton", baton]
    return cmd


def _spawn_pair(order: list[str], workload: str, train: Path, warm: Path,
                args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Both workers at once, time-sliced by a baton (only one runs at a time); ``order[0]`` starts."""
    import tempfile
    from multiprocessing.connection import Listener

    folder = tempfile.mkdtemp(prefix="rb_baton_")
    address = os.path.join(folder, "baton")
    results: dict[str, dict[str, Any]] = {}
    logs = {s: open(os.path.join(folder, f"{s}.log"), "w+") for s in order}  # noqa: SIM115
    with Listener(address, family="AF_UNIX", authkey=BATON_KEY) as listener:
        procs = {s: subprocess.Popen(_worker_cmd(s, workload, train, warm, args, address), cwd=REPO, text=True,
                                     stdout=logs[s], stderr=subprocess.STDOUT) for s in order}
        conns = {}
        for _ in order:
            conn = listener.accept()
            conns[conn.recv()] = conn
        live = list(order)
        turn = 0
        while live:
            name = live[turn % len(live)]
            conn = conns[name]
            conn.send("go")
            try:
                message = conn.recv()
            except EOFError:
                message = ("done", None)
            if isinstance(message, tuple):
                live.remove(name)
                if message[1] is not None:
                    results[name] = message[1]
            else:
                turn += 1
        for name, proc in procs.items():
            proc.wait()
            logs[name].seek(0)
            text = logs[name].read()
            logs[name].close()
            if name not in results:
                sys.stderr.write(text[-12000:])
                raise SystemExit(f"{name} worker for {workload} failed (exit {proc.returncode})")
    return results


def _spawn(system: str, workload: str, train: Path, warm: Path, args: argparse.Namespace) -> dict[str, Any]:
    cmd = _worker_cmd(system, workload, train, warm, args)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])
    sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
    raise SystemExit(f"{system} worker for {workload} failed (exit {proc.returncode})")


def _pooled(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool the timed epochs of every repeat: train loop = rows / median epoch time."""
    pooled = dict(results[len(results) // 2])
    rows = pooled["rows"]
    clean = [s for r in results for s in r["clean_seconds"]]
    raw = [s for r in results for s in _timed(r["workload"], r["epoch_seconds"])]
    pooled["all_clean"], pooled["all_raw"] = clean, raw
    pooled["loop_sps"] = rows / statistics.median(clean)
    pooled["loop_sps_raw"] = rows / statistics.median(raw)
    pooled["e2e_sps"] = statistics.median(r["e2e_sps"] for r in results)
    pooled["e2e_seconds"] = statistics.median(r["e2e_seconds"] for r in results)
    pooled["peak_rss_mb"] = max(r["peak_rss_mb"] for r in results)
    pooled["foreign_all"] = [x for r in results for x in r["foreign"]]
    pooled["quiet_all"] = [x for r in results for x in r["quiet_fraction"]]
    pooled["paused_all"] = sum(r["paused"] for r in results)
    pooled["reported_all"] = [x for r in results for x in r.get("reported_sps", [])]
    return pooled


def _fmt_breakdown(result: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.2f}s" for k, v in result["breakdown"].items())


def _code_state() -> str:
    """Commit of the checkout and whether src/ has uncommitted changes (the code being measured)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=REPO, capture_output=True,
                               text=True, timeout=10).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "unknown (git unavailable)"
    changed = [line[3:] for line in dirty if line.strip()]
    return f"{head or '?'}" + (f" + uncommitted changes in {', '.join(changed)}" if changed else " (clean src/)")


def fbgemm_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("fbgemm_gpu") is not None


def run_workload(workload: str, args: argparse.Namespace) -> dict[str, float]:
    w = WORKLOADS[workload]
    if workload == "synthetic":
        train, warm = synthetic_data(args.rows)
        source = f"{args.rows:,} synthetic Criteo-like rows ({train.relative_to(REPO)})"
        timing = "1 epoch"
    else:
        train, warm, source = ml100k_data()
        timing = f"median of {args.epochs} epochs after 1 warm-up epoch, per repeat"
    print(f"\n== {workload}: DeepFM dim {w['dim']}, MLP {w['hidden']}, batch {w['batch']}, {source}; "
          f"train loop = {timing}; {args.threads} threads; regularization {'on' if args.reg else 'off'}", flush=True)
    systems = ["recblocks", "ceiling"] + (["fbgemm"] if workload == "synthetic" and args.fbgemm else [])
    per_system: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
    repeats = args.repeats or (1 if workload == "synthetic" else 3)
    for r in range(repeats):
        order = systems if r % 2 == 0 else systems[::-1]
        if args.interleave:
            for system, result in _spawn_pair(order, workload, train, warm, args).items():
                per_system[system].append(result)
            continue
        for system in order:
            per_system[system].append(_spawn(system, workload, train, warm, args))
    med = {s: _pooled(v) for s, v in per_system.items()}
    print(f"{'system':<10} {'train loop samples/s':>21} {'(raw)':>9} {'end-to-end samples/s':>21} "
          f"{'loop s/epoch':>13} {'e2e s':>7} {'train loss':>11} {'peak RSS MB':>12}")
    for system, res in med.items():
        loop_s = res["rows"] / res["loop_sps"]
        print(f"{system:<10} {res['loop_sps']:>21,.0f} {res['loop_sps_raw']:>9,.0f} {res['e2e_sps']:>21,.0f} "
              f"{loop_s:>13.2f} {res['e2e_seconds']:>7.1f} {res['train_loss']:>11.4f} {res['peak_rss_mb']:>12,.0f}")
    for system, res in med.items():
        extra = ""
        if system in BACKENDS:
            note = " (their clocks include the pauses)" if res["paused_all"] > 0 else ""
            extra = (f"; recblocks' own samples/s per epoch{note}: "
                     + ", ".join(f"{x:,.0f}" for x in res["reported_all"]))
        print(f"  {system}: timed epoch seconds {[round(s, 2) for s in res['all_raw']]} (undisturbed estimate "
              f"{[round(s, 2) for s in res['all_clean']]}); {_fmt_breakdown(res)}{extra}")
    foreign = max(x for res in med.values() for x in res["foreign_all"])
    quiet = min(x for res in med.values() for x in res["quiet_all"])
    paused = {system: res["paused_all"] for system, res in med.items()}
    print(f"  contention: other processes used up to {foreign:.2f} cores on average over a timed epoch; "
          f"{quiet:.0%} of the steps of the most disturbed epoch ran undisturbed; untimed pauses "
          + ", ".join(f"{k} {v:.0f}s" for k, v in paused.items()))
    if quiet < 0.9:
        print("  WARNING: part of the training ran while other processes competed for the CPU. 'train loop' "
              "re-estimates contended stretches from undisturbed ones; '(raw)' is the plain wall-clock figure; "
              "repeat on a quiet machine (or with --repeats) to confirm.")
    ratio = med["recblocks"]["loop_sps"] / med["ceiling"]["loop_sps"]
    e2e_ratio = med["recblocks"]["e2e_sps"] / med["ceiling"]["e2e_sps"]
    raw_ratio = med["recblocks"]["loop_sps_raw"] / med["ceiling"]["loop_sps_raw"]
    print(f"  recblocks / ceiling: train loop {ratio:.3f} (raw {raw_ratio:.3f}), end-to-end {e2e_ratio:.3f}", flush=True)
    ratios = {workload: ratio}
    if "fbgemm" in med:
        fb = med["fbgemm"]
        ratios[f"fbgemm {workload}"] = fb["loop_sps"] / med["ceiling"]["loop_sps"]
        print(f"  fbgemm backend / ceiling: train loop {ratios[f'fbgemm {workload}']:.3f} (raw "
              f"{fb['loop_sps_raw'] / med['ceiling']['loop_sps_raw']:.3f}), end-to-end "
              f"{fb['e2e_sps'] / med['ceiling']['e2e_sps']:.3f}; fbgemm / plain recblocks: train loop "
              f"{fb['loop_sps'] / med['recblocks']['loop_sps']:.3f}", flush=True)
    return ratios


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["synthetic", "ml100k"], help="run one workload")
    parser.add_argument("--rows", type=int, default=1_000_000, help="synthetic rows (default 1,000,000)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="fresh runs per system and workload, alternating the order (default: synthetic 1, "
                             "ml100k 3); the timed epochs of all repeats are pooled and their median reported")
    parser.add_argument("--epochs", type=int, default=3, help="ml100k timed epochs after the warm-up epoch")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads for both systems")
    parser.add_argument("--reg", action="store_true", help="embedding + l2 regularization 1e-5 in both systems")
    parser.add_argument("--wait-idle", type=float, default=60.0,
                        help="before each timed epoch wait up to this many seconds for other processes to go "
                             "quiet (< 0.25 cores; the wait is not timed); 0 disables")
    parser.add_argument("--no-interleave", dest="interleave", action="store_false",
                        help="run the two systems one after the other instead of time-slicing them")
    parser.add_argument("--slice", type=float, default=1.0,
                        help="seconds of training per time slice when interleaving (default 1)")
    parser.add_argument("--no-fbgemm", dest="fbgemm", action="store_false",
                        help="leave out the fbgemm-backend system (it runs on the synthetic workload when "
                             "fbgemm is installed: make setup-torchrec)")
    parser.add_argument("--worker", choices=["recblocks", "ceiling", "fbgemm"], help=argparse.SUPPRESS)
    parser.add_argument("--baton", help=argparse.SUPPRESS)
    parser.add_argument("--train", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--warm", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        global _BATON
        if args.baton:
            _BATON = _Baton(args.baton, args.worker, args.slice)
        if args.worker == "ceiling":
            result = worker_ceiling(args.only, args.train, args.warm, args)
        else:
            result = worker_recblocks(args.only, args.train, args.warm, args, args.worker)
        print(RESULT_MARK + json.dumps(result), flush=True)
        if _BATON is not None:
            _BATON.finish(result)
        return
    WORK.mkdir(parents=True, exist_ok=True)
    import torch

    print(f"recblocks code: {_code_state()}; torch {torch.__version__}; {os.cpu_count()} CPUs; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    workloads = [args.only] if args.only else ["synthetic", "ml100k"]
    if args.fbgemm and not fbgemm_installed():
        args.fbgemm = False
        print("fbgemm is not installed (opt-in extra: make setup-torchrec): no 'ratio fbgemm synthetic' line")
    ratios: dict[str, float] = {}
    for name in workloads:
        ratios.update(run_workload(name, args))
    print()
    for name in sorted(ratios, key=lambda n: n.startswith("fbgemm")):  # the plain ratios first, as before
        print(f"ratio {name}: {ratios[name]:.2f}")


if __name__ == "__main__":
    main()
