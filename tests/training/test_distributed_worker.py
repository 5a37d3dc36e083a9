"""The per-rank program of tests/training/test_distributed.py, run by torchrun (2 ranks, gloo).

``python -m torch.distributed.run --standalone --nproc_per_node 2 test_distributed_worker.py OUT``
writes, under OUT: ``rank<r>.json`` (the row ids each rank trained on, per step, and the
metrics it computed), ``ddp_state.pt`` (rank 0's weights after the DDP training) and
``run_ddp/`` (a run interrupted after its first checkpoint, to be resumed by 1 process).
Not a test module: it has no tests and does nothing when imported.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import torch

# one small model without dropout or batch norm; adagrad for the dense and (row-wise) embedding tables
CONFIG: dict[str, Any] = {
    "data": {"synthetic": {"num_rows": 500, "num_dense": 2, "vocab_sizes": [30, 40, 25], "seed": 3}},
    "features": [{"name": "I1", "kind": "dense"}, {"name": "I2", "kind": "dense"},
                 {"name": "C1", "kind": "sparse", "embedding_dim": 4},
                 {"name": "C2", "kind": "sparse", "embedding_dim": 4},
                 {"name": "C3", "kind": "sparse", "embedding_dim": 4}],
    "model": {"feature_groups": [{"group_name": "all", "feature_names": ["I1", "I2", "C1", "C2", "C3"]}],
              "backbone": {"blocks": [{"name": "deep", "inputs": [{"feature_group_name": "all"}],
                                       "component": {"class_name": "MLP", "params": {
                                           "hidden_units": [8, 4], "use_bn": False, "use_final_bn": False,
                                           "use_bias": True}}}],
                           "concat_blocks": ["deep"]},
              "task": {"type": "binary", "label": "label"}},
    "train": {"epochs": 2, "max_steps": 30, "batch_size": 8, "progress": False, "seed": 5, "tensorboard": False,
              "optimizer": {"name": "adagrad", "lr": 0.05}},
}
PER_RANK_BATCH = 8


def with_row_ids(batch: Any) -> Any:
    """The batch with an ``row_id`` extras column: each row's index in the split."""
    batch.extras["row_id"] = torch.arange(len(batch))
    return batch


def recording_loader(base: type) -> type:
    """A subclass of the loader class ``base`` that records the row ids of every batch it yields."""

    class Recording(base):  # type: ignore[misc, valid-type]
        seen: list[list[int]]

        def __iter__(self):  # type: ignore[no-untyped-def]
            for batch in super().__iter__():
                self.seen.append(batch.extras["row_id"].tolist())
                yield batch

    return Recording


class PartlyUsed(torch.nn.Module):
    """``used(x)``; ``unused`` never takes part."""

    def __init__(self) -> None:
        super().__init__()
        self.used, self.unused = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.used(x)


def main(out: Path) -> None:
    from recblocks.data.loader import InMemoryLoader
    from recblocks.metrics import MetricCollection
    from recblocks.runs.experiment import Experiment, build_model
    from recblocks.runs.run_dir import RunDir
    from recblocks.training import distributed
    from recblocks.training.callbacks import Callback
    from recblocks.training.trainer import Trainer, seed_everything

    experiment = Experiment.from_raw(copy.deepcopy(CONFIG))  # joins the process group (torchrun's env)
    assert distributed.is_distributed() and distributed.world_size() == 2
    rank = distributed.rank()
    report: dict[str, Any] = {"rank": rank, "world_size": distributed.world_size()}

    # 1. DDP training on this rank's shard
    preprocessor = distributed.on_main(experiment.fit_preprocessor, "data.train", share=True)
    if not distributed.is_main():
        experiment._load_synthetic()
    train = with_row_ids(experiment.batch("train", preprocessor))
    seed_everything(CONFIG["train"]["seed"])
    model = build_model(experiment.config, experiment.schema, preprocessor)
    loader = recording_loader(InMemoryLoader)(train, PER_RANK_BATCH, shuffle=True, seed=CONFIG["train"]["seed"],
                                              shard_index=rank, num_shards=2)
    loader.seen = []
    trainer = Trainer(model, experiment.config.train)
    history = trainer.fit(loader)
    report["seen"] = loader.seen
    report["steps"] = trainer.global_step
    report["sparse_gradients"] = any(p.grad is not None and p.grad.is_sparse for p in model.parameters())
    report["train_rows"] = len(train)
    report["epoch_samples"] = [record.samples for record in history.epochs]
    if distributed.is_main():
        torch.save(model.state_dict(), out / "ddp_state.pt")

    # 2. exact metrics over the ranks: a sharded evaluation and a MetricCollection of unequal parts
    valid = experiment.batch("valid", preprocessor)
    sharded = InMemoryLoader(valid, 16, shuffle=False, shard_index=rank, num_shards=2)
    report["valid_sharded"] = trainer.evaluate(sharded)
    report["valid_rows_here"] = sum(len(b) for b in sharded)
    generator = torch.Generator().manual_seed(100 + rank)
    rows = 37 if rank == 0 else 53
    preds, labels = torch.rand(rows, generator=generator), (torch.rand(rows, generator=generator) < 0.4).float()
    groups = torch.randint(0, 6, (rows,), generator=generator)
    report["parts"] = {"preds": preds.tolist(), "labels": labels.tolist(), "groups": groups.tolist()}
    collection = MetricCollection(["auc", "gauc", "logloss"], "binary", group_key="user")
    for start in range(0, rows, 10):
        collection.update(preds[start:start + 10], labels[start:start + 10], groups[start:start + 10])
    collection.gather(distributed.all_gather_rows)
    report["gathered"] = collection.compute()

    # 3. a 2-process run interrupted before its second checkpoint (resumed by 1 process in the test)
    raw = copy.deepcopy(CONFIG)
    raw["train"].update(max_steps=None, epochs=1, save_checkpoints_steps=7)

    class Interrupt(Callback):
        def on_checkpoint(self, trainer: Any) -> None:
            if trainer.global_step >= 14:
                raise KeyboardInterrupt("interrupted by the test")

    run = Experiment.from_raw(copy.deepcopy(raw))
    try:
        if distributed.is_main():
            with RunDir(out / "run_ddp") as run_dir:
                run_dir.write_config(raw)
                run.train(run_dir, callbacks=[Interrupt()])
        else:
            run.train(None, callbacks=[Interrupt()])
    except KeyboardInterrupt:
        report["interrupted"] = True
    # 4. a model with a parameter its loss never reaches: DDP needs find_unused_parameters
    torch.manual_seed(0)
    partly = PartlyUsed()
    inputs = torch.randn(4, 2) + rank
    wrapped = distributed.wrap_model(partly, lambda: partly(inputs).sum())
    for _ in range(2):  # the second backward fails if DDP waited for the unused gradients
        wrapped(inputs).sum().backward()
    report["find_unused"] = wrapped.find_unused_parameters
    report["inputs"], report["used_grad"] = inputs.tolist(), partly.used.weight.grad.tolist()
    report["unused_grad"] = None if partly.unused.weight.grad is None else partly.unused.weight.grad.tolist()
    (out / f"rank{rank}.json").write_text(json.dumps(report))
    distributed.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
