"""The torchrec backend on the zoo DeepFM (configs/ml100k_ctr/deepfm.yaml, a 600-row slice of the CTR split).

Acceptance (issue 14, 2): two gloo processes train the table-wise sharded model, checkpoint
(``torch.distributed.checkpoint``), resume into a fresh sharded model and train on; the resumed
run predicts what the uninterrupted one does, and the unsharded model loaded from the sharded
checkpoint predicts the same scores (to 1e-5); both also match one process training the plain
model on the concatenated global batches. In one process (world size 1): SGD and Adagrad updates
equal the plain backend's, and the checkpoint round trip. This file is also the ranks' script
(``python test_torchrec_backend.py RANK WORLD STORE OUT SHARDING``).
Every test needing TorchRec is skipped, with the reason printed, where the extra is not installed.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[2]
CTR = REPO.parent / "shared" / "data" / "ml-100k-ctr" / "test.parquet"
SKIP_REASON = "the torchrec backend needs the TorchRec extra: run `make setup-torchrec` to install it"
#: the zoo config's dense optimizer (adam) with a fused embedding optimizer FBGEMM runs on CPU
TRAIN = {"optimizer": {"name": "adam", "lr": 0.01}, "embedding_optimizer": {"name": "adagrad", "lr": 0.05}}
GLOBAL_BATCH, STEPS, RESUME_AT = 100, 4, 2


def zoo_deepfm(seed: int = 0, embedding_regularization: float | None = None) -> tuple[Any, dict[str, Any]]:
    """The zoo DeepFM built with ``seed``, and its ``train`` (400 rows) and ``test`` (200 rows) batches."""
    import pyarrow.parquet as pq

    from recblocks.runs.experiment import Experiment, build_model

    raw = yaml.safe_load((REPO / "configs" / "ml100k_ctr" / "deepfm.yaml").read_text(encoding="utf-8"))
    if embedding_regularization is not None:
        raw["model"]["embedding_regularization"] = embedding_regularization
    raw["train"].pop("early_stopping")
    table = pq.read_table(CTR)
    experiment = Experiment.from_raw(raw)
    experiment.tables = {"train": table.slice(0, 400), "test": table.slice(400, 200)}
    preprocessor = experiment.fit_preprocessor()
    torch.manual_seed(seed)
    model = build_model(experiment.config, experiment.schema, preprocessor)
    return model, {split: experiment.batch(split, preprocessor) for split in ("train", "test")}


def _local(batch: Any, step: int, rank: int, world: int) -> Any:
    """This rank's disjoint part of global batch ``step``."""
    size = GLOBAL_BATCH // world
    start = step * GLOBAL_BATCH + rank * size
    return batch.slice(start, start + size)


#: the two-process runs: table-wise on the zoo DeepFM as configured; column-wise without its embedding
#: regularization (a sum over the looked-up rows, which any data-parallel run halves: each rank's sum, averaged),
#: so that run is also compared with one process training on the concatenated global batches
RUNS = {"table_wise": None, "column_wise": 0.0}


def _worker(rank: int, world: int, store: Path, out: Path) -> None:
    """One rank, for each run: train, checkpoint, resume into a fresh sharded model, train on, predict."""
    import torch.distributed as dist

    from recblocks.training.torchrec_backend import (load_sharded_checkpoint, plain_state_dict,
                                                     save_sharded_checkpoint, shard_model)

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    for sharding, regularization in RUNS.items():
        folder = out / sharding
        model, batches = zoo_deepfm(seed=0, embedding_regularization=regularization)
        sharded = shard_model(model, TRAIN, sharding=sharding)
        owned = {layout.name: [tuple(s.metadata.shard_sizes) for s in sharded.dmp.state_dict()[layout.torchrec_key]
                               .local_shards()] for layout in sharded.layouts}
        for step in range(STEPS):
            if step == RESUME_AT:
                save_sharded_checkpoint(sharded, folder / "checkpoint_a")
            sharded.train_step(_local(batches["train"], step, rank, world))
        uninterrupted = sharded.predict(batches["test"])["ctr"]
        fresh, _ = zoo_deepfm(seed=1, embedding_regularization=regularization)  # other initial weights
        resumed = shard_model(fresh, TRAIN, sharding=sharding)
        load_sharded_checkpoint(resumed, folder / "checkpoint_a")
        for step in range(RESUME_AT, STEPS):
            resumed.train_step(_local(batches["train"], step, rank, world))
        save_sharded_checkpoint(resumed, folder / "checkpoint_b")
        scores = resumed.predict(batches["test"])["ctr"]
        plain = plain_state_dict(resumed)
        torch.save({"uninterrupted": uninterrupted, "resumed": scores, "owned": owned,
                    **({"plain": plain} if rank == 0 else {})}, folder / f"rank{rank}.pt")
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both runs on two gloo processes (started once: most of their time is importing TorchRec)."""
    if not CTR.is_file():
        pytest.skip(f"{CTR} is absent")
    pytest.importorskip("torchrec", reason=SKIP_REASON)
    out, world = tmp_path_factory.mktemp("torchrec_ranks"), 2
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, __file__, str(rank), str(world), str(out / "store"), str(out)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for rank in range(world)]
    logs = [p.communicate(timeout=300)[0].decode(errors="replace") for p in procs]
    for rank, (proc, log) in enumerate(zip(procs, logs)):
        assert proc.returncode == 0, f"rank {rank} failed:\n{log[-4000:]}"
    return out


@pytest.fixture
def torchrec() -> Any:
    if not CTR.is_file():
        pytest.skip(f"{CTR} is absent")
    return pytest.importorskip("torchrec", reason=SKIP_REASON)


def _plain_reference(steps: int, regularization: float | None) -> tuple[Any, dict[str, Any]]:
    """The unsharded zoo DeepFM trained in one process on the concatenated global batches."""
    from recblocks.training.config import TrainConfig
    from recblocks.training.optimizers import build_optimizer

    model, batches = zoo_deepfm(seed=0, embedding_regularization=regularization)
    optimizer = build_optimizer(model, TrainConfig.model_validate(TRAIN))
    for step in range(steps):
        batch = _local(batches["train"], step, 0, 1)
        loss = model.loss(model(batch), batch).total
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model, batches


def _scores(model: Any, batch: Any) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model.predictions(model(batch))["ctr"]


@pytest.mark.parametrize("sharding", list(RUNS))
def test_two_ranks_train_checkpoint_resume_and_predict_like_the_unsharded_model(two_ranks: Path,
                                                                               sharding: str) -> None:
    from recblocks.training.torchrec_backend import plain_state_dict_from_checkpoint

    folder, regularization = two_ranks / sharding, RUNS[sharding]
    ranks = [torch.load(folder / f"rank{rank}.pt", weights_only=False) for rank in range(2)]
    # the tables are really split: table-wise, each table lives whole on one rank and both ranks hold some;
    # column-wise, the 16-wide tables are split into column shards on both ranks
    owned = [{name for name, shards in r["owned"].items() if shards} for r in ranks]
    if sharding == "table_wise":
        assert owned[0] and owned[1] and not owned[0] & owned[1]
    else:
        columns = [[shape[1] for shape in r["owned"]["deep__user_id"]] for r in ranks]
        assert columns[0] and columns[1] and sum(columns[0] + columns[1]) == 16, columns
    resumed = ranks[0]["resumed"]
    assert torch.allclose(ranks[1]["resumed"], resumed, atol=1e-6)
    assert torch.allclose(ranks[0]["uninterrupted"], resumed, atol=1e-5)  # resuming changes nothing
    unsharded, batches = zoo_deepfm(seed=2, embedding_regularization=regularization)
    unsharded.load_state_dict(plain_state_dict_from_checkpoint(unsharded, folder / "checkpoint_b"))
    assert (_scores(unsharded, batches["test"]) - resumed).abs().max().item() < 1e-5
    gathered = ranks[0]["plain"]
    for key, value in unsharded.state_dict().items():
        assert torch.equal(gathered[key], value), key
    if regularization is None:
        return
    import torch.distributed as dist

    from recblocks.training.torchrec_backend import load_sharded_checkpoint, shard_model

    # the two ranks' checkpoint resumes in a world of one (DCP reshards model and optimizer state)
    dist.init_process_group("gloo", init_method=f"file://{folder / 'store_one'}", rank=0, world_size=1)
    try:
        alone, batches = zoo_deepfm(seed=5, embedding_regularization=regularization)
        one = shard_model(alone, TRAIN, sharding=sharding)
        load_sharded_checkpoint(one, folder / "checkpoint_b")
        assert (one.predict(batches["test"])["ctr"] - resumed).abs().max().item() < 1e-6
    finally:
        dist.destroy_process_group()
    reference, batches = _plain_reference(STEPS, regularization)  # one process, concatenated global batches
    assert (_scores(reference, batches["test"]) - resumed).abs().max().item() < 1e-5


@pytest.fixture
def world_of_one(torchrec: Any, tmp_path: Path) -> Any:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


@pytest.mark.parametrize("name", ["sgd", "adagrad"])
def test_fused_updates_equal_the_plain_backend(world_of_one: Any, name: str) -> None:
    from recblocks.training.config import TrainConfig
    from recblocks.training.optimizers import build_optimizer
    from recblocks.training.torchrec_backend import plain_state_dict, shard_model

    model, batches = zoo_deepfm(seed=0, embedding_regularization=0.0)  # the padding row is not looked up
    plain = copy.deepcopy(model)
    config = TrainConfig.model_validate({"optimizer": {"name": name, "lr": 0.05}})
    sharded, optimizer = shard_model(model, config), build_optimizer(plain, config)
    for step in range(3):
        batch = _local(batches["train"], step, 0, 1)
        loss = plain.loss(plain(batch), batch).total
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        assert abs(sharded.train_step(batch) - loss.item()) < 1e-5
    state = plain_state_dict(sharded)
    for key, value in plain.state_dict().items():
        assert (state[key] - value).abs().max().item() < 1e-5, key


def test_checkpoint_round_trip_in_one_process(world_of_one: Any, tmp_path: Path) -> None:
    from recblocks.training.torchrec_backend import (load_sharded_checkpoint, plain_state_dict,
                                                     plain_state_dict_from_checkpoint, save_sharded_checkpoint,
                                                     shard_model)

    model, batches = zoo_deepfm(seed=0)
    sharded = shard_model(model, TRAIN)
    sharded.train_step(batches["train"].slice(0, 50))
    save_sharded_checkpoint(sharded, tmp_path / "checkpoint")
    expected = plain_state_dict(sharded)
    files = sorted(p.name for p in (tmp_path / "checkpoint").iterdir())
    assert ".metadata" in files and any(f.endswith(".distcp") for f in files), files
    unsharded, _ = zoo_deepfm(seed=3)
    loaded = plain_state_dict_from_checkpoint(unsharded, tmp_path / "checkpoint")
    assert list(loaded) == list(unsharded.state_dict())
    for key in expected:
        assert torch.equal(loaded[key], expected[key]), key
    other, _ = zoo_deepfm(seed=4)
    resumed = shard_model(other, TRAIN)
    load_sharded_checkpoint(resumed, tmp_path / "checkpoint")
    batch = batches["train"].slice(50, 100)
    assert sharded.train_step(batch) == resumed.train_step(batch)  # optimizer state came back too
    assert torch.equal(sharded.predict(batches["test"])["ctr"], resumed.predict(batches["test"])["ctr"])


if __name__ == "__main__":  # one rank of the two-process test
    from recblocks.training import distributed

    distributed.release_at_exit()  # the sharded models hold the group: free it before finalization
    _worker(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
