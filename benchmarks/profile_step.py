"""Where a training step's time goes: recblocks vs the ceiling, phase by phase and op by op.

Run from the repository root (one workload at a time; it is CPU-heavy)::

    .venv/bin/python benchmarks/profile_step.py --workload ml100k
    .venv/bin/python benchmarks/profile_step.py --workload synthetic --steps 40 --ops 30

It builds exactly what ``benchmarks/throughput.py`` times (same configs and data), then:

1. Phase timing (``perf_counter`` around each phase of a hand-unrolled copy of
   ``Trainer._train_epoch``'s body; CPU ops are synchronous so the wall split is exact):
   batch gather (``InMemoryLoader`` -> ``Batch.take``), embedding lookup
   (``model.embeddings``), backbone + heads, task loss, regularization, zero_grad, backward,
   optimizer steps (dense Adam / SparseAdam separately). The real ``Trainer._train_epoch``
   is timed over the same number of steps; the difference is "trainer overhead".
   The ceiling gets the same split.
2. ``torch.profiler`` over a few steps of each system: the top ops by self CPU time.
3. Optionally (``--cprofile``) a cProfile of recblocks' real ``_train_epoch``, by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput as tp  # noqa: E402
from ceiling import CeilingDeepFM, CeilingTrainer, read_encoded  # noqa: E402


def build_recblocks(workload: str, train: Path, threads: int, reg: bool) -> tuple[Any, Any, Any]:
    from recblocks.data.loader import InMemoryLoader, load_batch
    from recblocks.features.preprocess import Preprocessor
    from recblocks.runs import build_model, label_columns, parse_run_config
    from recblocks.training.trainer import Trainer

    raw = tp.run_config(workload, train, 1, threads, reg)
    raw["train"]["progress"] = False
    config, schema = parse_run_config(raw)
    pre = Preprocessor(schema)
    from recblocks.data.readers import read_table

    pre.fit(read_table(config.data.train, pre.required_columns()))
    batch, _ = load_batch(config.data.train, pre, label_columns(config.model))
    model = build_model(config, schema, pre)
    trainer = Trainer(model, config.train)
    loader = InMemoryLoader(batch, config.train.batch_size, shuffle=True, seed=config.train.seed)
    return trainer, loader, model


def build_ceiling(workload: str, train: Path, reg: bool) -> tuple[CeilingTrainer, Any]:
    spec = tp._ceiling_inputs(workload)
    w = tp.WORKLOADS[workload]
    data = read_encoded(str(train), spec["sparse"], spec["dense"], spec["multi"], max_len=tp.MAX_GENRES)
    torch.manual_seed(tp.SEED)
    model = CeilingDeepFM(data.vocab_sizes, data.multi_vocab, data.dense.shape[1] if data.dense is not None else 0,
                          w["dim"], w["hidden"])
    coef = tp.REG if reg else 0.0
    return CeilingTrainer(model, 1e-3, coef, coef), data


class Phases:
    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self.t = 0.0

    def start(self) -> None:
        self.t = time.perf_counter()

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.times[name].append(now - self.t)
        self.t = now

    def report(self, title: str, rows: int, full_step: float | None = None) -> dict[str, float]:
        means = {k: statistics.median(v) * 1000 for k, v in self.times.items()}
        total = sum(means.values())
        steps = len(next(iter(self.times.values())))
        print(f"\n{title}: per-step milliseconds (median of {steps} steps per phase, batch {rows})")
        for k, v in means.items():
            print(f"  {k:<28}{v:9.2f} ms  {v / total * 100:5.1f}%")
        print(f"  {'sum of phases':<28}{total:9.2f} ms  -> {rows / total * 1000:,.0f} samples/s")
        if full_step is not None:
            print(f"  {'real loop, per step (best)':<28}{full_step:9.2f} ms  -> {rows / full_step * 1000:,.0f} samples/s "
                  f"(vs sum of phases {full_step - total:+.2f} ms)")
        return means


def _endless(loader: Any) -> Any:
    while True:
        yield from loader


def phases_recblocks(trainer: Any, it: Any, steps: int, ph: Phases, warm: int = 0) -> Phases:
    from recblocks.core.context import ForwardContext, LossTerms
    from recblocks.models.outputs import ModelOutput

    model, opt = trainer.model, trainer.optimizer
    model.train()
    for i in range(warm + steps):
        ph.start()
        batch = next(it)
        ph.mark("batch gather (Batch.take)")
        context = ForwardContext(model.training, batch.labels)
        emb = model.embeddings(batch.features)
        ph.mark("embedding lookup")
        out = model.backbone(emb, context)
        logits = {}
        for task, idx in zip(model.tasks, model._task_inputs):
            x = out[idx] if idx is not None else out
            if task.name in model.heads:
                x = model.heads[task.name](x)
            logits[task.name] = x.squeeze(-1) if task.output_dim == 1 else x
        outputs = ModelOutput(logits, context.outputs, context.losses, emb.looked_up)
        ph.mark("backbone + heads")
        regularization = model.regularization_loss(outputs)
        ph.mark("regularization")
        tasks, loss = model._heads.terms(outputs.logits, batch.labels, regularization)
        terms = LossTerms(loss, tasks, {}, regularization)
        ph.mark("task loss")
        opt.zero_grad(set_to_none=True)
        ph.mark("zero_grad")
        loss.backward()
        ph.mark("backward")
        for name, o in opt.optimizers.items():
            o.step()
            ph.mark(f"step {name} ({type(o).__name__})")
        loss.detach()
        [value.detach() for value in terms.values()]
        if i < warm:
            for v in ph.times.values():
                v.clear()
    return ph


def _batches(n: int, batch_size: int) -> Any:
    epoch = 0
    while True:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(epoch))
        for start in range(0, n, batch_size):
            yield order[start:start + batch_size]
        epoch += 1


def phases_ceiling(tr: CeilingTrainer, data: Any, idx_it: Any, steps: int, ph: Phases, warm: int = 0) -> Phases:
    import torch.nn.functional as F

    model = tr.model
    for i in range(warm + steps):
        ph.start()
        idx = next(idx_it)
        ids = data.ids.index_select(0, idx)
        multi = data.multi.index_select(0, idx) if data.multi is not None else None
        dense = data.dense.index_select(0, idx) if data.dense is not None else None
        y = data.labels.index_select(0, idx)
        ph.mark("batch gather (index_select)")
        rows = ids + model.offsets
        if model.has_multi:
            rows = torch.cat([rows, multi + model.multi_offset], dim=1)
        e = model.deep(rows)
        w = model.wide(rows)
        ph.mark("embedding lookup")
        # the rest of CeilingDeepFM.forward, on the looked-up tensors
        w = w.squeeze(-1)
        model.looked_up = [e, w]
        s = model.num_single
        fields = [e[:, :s]]
        wide = w[:, :s].sum(dim=1, keepdim=True)
        if model.has_multi:
            mask = (multi != 0).to(e.dtype)
            count = mask.sum(dim=1, keepdim=True).clamp_min(1.0)
            fields.append(((e[:, s:] * mask.unsqueeze(-1)).sum(dim=1) / count).unsqueeze(1))
            wide = wide + (w[:, s:] * mask).sum(dim=1, keepdim=True) / count
        if model.num_dense:
            fields.append(dense.unsqueeze(-1) * model.dense_deep)
            wide = wide + dense @ model.dense_wide
        x = torch.cat(fields, dim=1) if len(fields) > 1 else fields[0]
        fm = 0.5 * (x.sum(dim=1).pow(2) - x.pow(2).sum(dim=1)).sum(dim=1, keepdim=True)
        logits = (wide + fm + model.mlp(x.flatten(1))).squeeze(-1)
        ph.mark("FM + MLP + wide sum")
        loss = F.binary_cross_entropy_with_logits(logits, y)
        if tr.embedding_reg:
            loss = loss + 0.5 * tr.embedding_reg * sum(t.pow(2).sum() for t in model.looked_up)
        if tr.l2:
            loss = loss + 0.5 * tr.l2 * sum(k.pow(2).sum() for k in model.kernels())
        ph.mark("loss (+reg)")
        tr.sparse_opt.zero_grad(set_to_none=True)
        tr.dense_opt.zero_grad(set_to_none=True)
        ph.mark("zero_grad")
        loss.backward()
        ph.mark("backward")
        tr.dense_opt.step()
        ph.mark("step dense (Adam)")
        tr.sparse_opt.step()
        ph.mark("step embedding (SparseAdam)")
        if i < warm:
            for v in ph.times.values():
                v.clear()
    return ph


def real_loop_recblocks(trainer: Any, loader: Any, steps: int) -> float:
    """ms per step of the real Trainer._train_epoch (a fresh epoch of the loader) stopped after ``steps``."""
    trainer.config = trainer.config.model_copy(update={"max_steps": trainer.global_step + steps})
    start = time.perf_counter()
    trainer._train_epoch(loader, 0)
    return (time.perf_counter() - start) / steps * 1000


def real_loop_ceiling(tr: CeilingTrainer, data: Any, batch_size: int, steps: int) -> float:
    """ms per step of CeilingTrainer's loop body (fresh permutation, like an epoch start) over ``steps``."""
    start = time.perf_counter()
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(int(start * 1000) % 1000))
    losses = []
    for i in range(steps):
        idx = order[i * batch_size:(i + 1) * batch_size]
        losses.append(tr.step(data.ids.index_select(0, idx),
                              data.multi.index_select(0, idx) if data.multi is not None else None,
                              data.dense.index_select(0, idx) if data.dense is not None else None,
                              data.labels.index_select(0, idx)))
    float(torch.stack(losses).sum())
    return (time.perf_counter() - start) / steps * 1000


def op_table(fn: Any, title: str, rows: int) -> None:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    print(f"\n{title}: top ops by self CPU time")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=48))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=["synthetic", "ml100k"], default="ml100k")
    parser.add_argument("--rows", type=int, default=1_000_000, help="synthetic rows (data of throughput.py)")
    parser.add_argument("--steps", type=int, default=20, help="steps per block")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved blocks per system")
    parser.add_argument("--warm", type=int, default=5)
    parser.add_argument("--prof-steps", type=int, default=10)
    parser.add_argument("--ops", type=int, default=25)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reg", action="store_true")
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--skip-ops", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.workload == "synthetic":
        train, _ = tp.synthetic_data(args.rows)
    else:
        train, _, _ = tp.ml100k_data()
    bs = tp.WORKLOADS[args.workload]["batch"]
    steps = min(args.steps, (args.rows if args.workload == "synthetic" else tp.ML100K_ROWS) // bs - args.warm - 1)
    trainer, loader, model = build_recblocks(args.workload, train, args.threads, args.reg)
    ctr, data = build_ceiling(args.workload, train, args.reg)

    # interleave the two systems in blocks so that both see the same machine (other processes come and go)
    rb_ph, ce_ph = Phases(), Phases()
    rb_it, ce_it = _endless(loader), _batches(len(data), bs)
    phases_recblocks(trainer, rb_it, 0, rb_ph, warm=args.warm)
    phases_ceiling(ctr, data, ce_it, 0, ce_ph, warm=args.warm)
    rb_real, ce_real = [], []
    for _ in range(args.rounds):
        phases_recblocks(trainer, rb_it, steps, rb_ph)
        phases_ceiling(ctr, data, ce_it, steps, ce_ph)
        rb_real.append(real_loop_recblocks(trainer, loader, steps))
        ce_real.append(real_loop_ceiling(ctr, data, bs, steps))
    rb_ph.report(f"recblocks ({args.workload})", bs, min(rb_real))
    ce_ph.report(f"ceiling ({args.workload})", bs, min(ce_real))
    print(f"\nreal loop ms/step over {args.rounds} interleaved blocks of {steps} steps: recblocks "
          f"{[round(x, 1) for x in rb_real]}, ceiling {[round(x, 1) for x in ce_real]}")
    print(f"ratio recblocks/ceiling (samples/s): best blocks {min(ce_real) / min(rb_real):.3f}, "
          f"median blocks {statistics.median(ce_real) / statistics.median(rb_real):.3f}, "
          f"paired blocks median {statistics.median(c / r for c, r in zip(ce_real, rb_real)):.3f}")

    if not args.skip_ops:
        k = args.prof_steps
        op_table(lambda: real_loop_recblocks(trainer, loader, k), f"recblocks ({k} real steps)", args.ops)
        op_table(lambda: real_loop_ceiling(ctr, data, bs, k), f"ceiling ({k} real steps)", args.ops)
    if args.cprofile:
        prof = cProfile.Profile()
        prof.enable()
        real_loop_recblocks(trainer, loader, steps)
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(45)
        print("\nrecblocks cProfile (cumulative) of the real loop:\n" + out.getvalue())


if __name__ == "__main__":
    main()
