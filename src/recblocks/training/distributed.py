"""Data-parallel training over ``torch.distributed``: the process group, ranks, gathers, the DDP wrap.

``recblocks train CONFIG`` run by ``torchrun --nproc_per_node N`` (or ``recblocks train CONFIG
--nproc N``, which starts torchrun itself: :func:`launch_command`) finds torchrun's
environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) and
joins the process group (:func:`init_from_env`: gloo on CPU, nccl for a CUDA device). Without
that environment, or with a world of one process, every function here is the single-process
answer (rank 0 of 1, no communication), so the plain path stays as it was.

What the rest of recblocks takes from here:

* :func:`rank`, :func:`world_size`, :func:`is_main`, :func:`barrier`: who writes (rank 0
  alone writes the run directory, logs and the progress bar) and when to wait.
* :func:`all_gather_rows`: the rows of a tensor from every rank, concatenated in rank order
  (the ranks may hold different numbers of rows), so evaluation metrics (AUC, GAUC,
  logloss...) are computed exactly over every rank's predictions, never averaged.
* :func:`broadcast_object`: rank 0's object (the fitted preprocessing, a checkpoint) on every rank.
* :func:`wrap_model`: the model in ``DistributedDataParallel``. Only the training forward
  goes through the wrapper; the trainer keeps calling the plain model for ``loss``,
  ``predictions``, evaluation and ``state_dict``, so the checkpoint layout is the plain one
  and the model's own loss (side channels, auxiliary losses, regularization) is untouched:
  every gradient of the backward pass, whichever path it came by, is averaged over ranks.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from recblocks.core.errors import ConfigError, RecBlocksError

__all__ = ["rank", "world_size", "local_rank", "is_main", "is_distributed", "barrier", "launched",
           "init_from_env", "shutdown", "all_gather_rows", "all_reduce_sum", "broadcast_object", "unused_parameters",
           "wrap_model", "broadcast_buffers", "quiet_other_ranks", "launch_command", "GatheredEvaluator",
           "on_main", "RankFailedError",
           "needs_dense_embedding_gradients", "dense_embedding_gradients"]

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _group_ready() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def is_distributed() -> bool:
    """A process group of two or more processes is initialised."""
    return _group_ready() and torch.distributed.get_world_size() > 1


def rank() -> int:
    """This process's rank in the group (0 without one)."""
    return torch.distributed.get_rank() if _group_ready() else 0


def world_size() -> int:
    """The number of processes in the group (1 without one)."""
    return torch.distributed.get_world_size() if _group_ready() else 1


def local_rank() -> int:
    """The rank on this machine (torchrun's ``LOCAL_RANK``; 0 without it): the CUDA device index."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    """Rank 0, the process that writes the run directory and the logs."""
    return rank() == 0


def barrier() -> None:
    """Wait until every rank reaches this point (no-op in a single process)."""
    if is_distributed():
        torch.distributed.barrier()


def launched() -> bool:
    """Started by torchrun (or an equivalent launcher) with a world of two or more processes."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: torch.device | str | None = None) -> bool:
    """Join the process group torchrun's environment describes; True when distributed.

    The backend is nccl when ``device`` is a CUDA device (the process then uses
    ``cuda:LOCAL_RANK``), gloo otherwise. Idempotent; nothing happens outside torchrun.

    Raises:
        ConfigError: torchrun's variables are incomplete, or torch.distributed is unavailable.
    """
    if _group_ready():
        return is_distributed()
    if not launched():
        return False
    missing = [key for key in ENV_KEYS if key not in os.environ]
    if missing:
        raise ConfigError("environment", "a distributed launch needs torchrun's variables", f"all of {list(ENV_KEYS)}",
                          f"missing {missing}")
    if not torch.distributed.is_available():
        raise ConfigError("environment", "WORLD_SIZE > 1 but this torch has no torch.distributed",
                          "a torch build with distributed support", "none")
    cuda = device is not None and torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.set_device(local_rank())
    torch.distributed.init_process_group("nccl" if cuda else "gloo", init_method="env://")
    release_at_exit()
    return is_distributed()


def release_at_exit() -> None:
    """Have the process group freed at interpreter exit while the interpreter is whole
    (:func:`_release_at_exit`); for every place that joins a group. Registered once."""
    if not _EXIT_RELEASE:
        atexit.register(_release_at_exit)
        _EXIT_RELEASE.append(True)


_EXIT_RELEASE: list[bool] = []


def _release_at_exit() -> None:
    """Free the process group while the interpreter is still whole.

    ``destroy_process_group`` only drops torch's own references: a DDP wrapper (kept by a trainer,
    often inside a reference cycle) still holds the gloo backend, whose worker threads and pending
    work then die during interpreter finalization, where releasing a tensor's Python object
    aborts the process ("terminate called without an active exception", SIGABRT; seen in about 1
    of 20 two-process runs on a loaded machine, always after the work was done). At exit the
    callers' frames are gone, so a garbage collection here frees the wrappers and the backend.
    """
    if _group_ready():
        torch.distributed.destroy_process_group()
    gc.collect()


def shutdown() -> None:
    """Leave the process group (after the last collective). Every rank first waits at a barrier,
    so no rank tears its connections down while another still holds them open (with gloo, a
    peer closing early can abort the other process from a background thread)."""
    if _group_ready():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def _comm_device() -> torch.device:
    if _group_ready() and torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_gather_rows(tensor: torch.Tensor | None) -> torch.Tensor | None:
    """Every rank's ``tensor`` concatenated along dim 0 in rank order; the ranks may hold
    different numbers of rows, and a rank with nothing passes ``None`` (the other dims and
    the dtype come from the ranks that have rows). Returns ``tensor`` itself in a single
    process, None when no rank has a tensor.

    Shape:
        - Input: ``(N_r, ...)`` on rank ``r``.
        - Output: ``(sum_r N_r, ...)`` on every rank, on the input's device (CPU for None).
    """
    if not is_distributed():
        return tensor
    meta: list[Any] = [None] * world_size()
    mine = None if tensor is None else (int(tensor.shape[0]), tuple(tensor.shape[1:]), str(tensor.dtype))
    torch.distributed.all_gather_object(meta, mine)
    present = [m for m in meta if m is not None]
    if not present:
        return None
    _, tail, dtype_name = present[0]
    dtype = getattr(torch, dtype_name.removeprefix("torch."))
    device = _comm_device()
    source = tensor.detach() if tensor is not None else torch.zeros((0, *tail), dtype=dtype)
    flag = dtype == torch.bool
    moved = (source.to(torch.uint8) if flag else source).to(device).contiguous()
    counts = [m[0] if m is not None else 0 for m in meta]
    padded = torch.zeros((max(counts), *tail), dtype=moved.dtype, device=device)
    padded[: moved.shape[0]] = moved
    parts = [torch.empty_like(padded) for _ in counts]
    torch.distributed.all_gather(parts, padded)
    joined = torch.cat([part[:count] for part, count in zip(parts, counts)])
    return (joined.bool() if flag else joined).to(tensor.device if tensor is not None else "cpu")


def all_reduce_sum(values: Sequence[float]) -> list[float]:
    """The element-wise sum over ranks of a list of floats (float64); the list itself in a single process."""
    if not is_distributed():
        return [float(v) for v in values]
    summed = torch.tensor([float(v) for v in values], dtype=torch.float64, device=_comm_device())
    torch.distributed.all_reduce(summed)
    return summed.cpu().tolist()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` (picklable) on every rank; ``obj`` itself in a single process."""
    if not is_distributed():
        return obj
    holder = [obj if rank() == src else None]
    torch.distributed.broadcast_object_list(holder, src=src, device=_comm_device())
    return holder[0]


class RankFailedError(RecBlocksError):
    """Raised on the other ranks when a step that rank 0 runs alone (:func:`on_main`) failed there."""


def on_main(fn: Callable[[], Any], where: str, share: bool = False) -> Any:
    """``fn()`` run by rank 0 alone (writing the run directory, fitting the preprocessing), the
    other ranks waiting for it. An error there stops every rank: rank 0 raises it, the others
    raise :class:`RankFailedError` quoting it (instead of waiting forever in the next
    collective). ``share``: every rank returns rank 0's result (pickled); else the others get None.
    """
    if not is_distributed():
        return fn()
    result, failure, error = None, None, None
    if is_main():
        try:
            result = fn()
        except BaseException as exc:  # noqa: BLE001  (told to every rank, then raised)
            failure, error = f"{type(exc).__name__}: {exc}", exc
    shared = broadcast_object((failure, result if share else None))
    if shared[0] is not None:
        if error is not None:
            raise error
        raise RankFailedError(where, "rank 0 failed (rank 0 reports the error)", "rank 0 to succeed", shared[0])
    return result if is_main() else shared[1]


def broadcast_buffers(model: nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (batch-norm statistics) to every rank, e.g. before an evaluation."""
    if not is_distributed():
        return
    for buffer in model.buffers():
        if buffer.is_floating_point() or buffer.dtype in (torch.int64, torch.int32):
            moved = buffer.data.to(_comm_device())
            torch.distributed.broadcast(moved, src=src)
            buffer.data.copy_(moved.to(buffer.device))


def unused_parameters(model: nn.Module, loss_of: Callable[[], torch.Tensor]) -> list[str]:
    """Names of trainable parameters the loss ``loss_of()`` does not depend on.

    Runs one forward and backward (``torch.autograd.grad``, nothing accumulates in ``.grad``)
    and leaves the model as it found it: the random states and the buffers (batch-norm
    statistics) are restored afterwards.
    """
    from recblocks.training.train_state import capture_rng, restore_rng

    rng = capture_rng()
    buffers = [(buffer, buffer.detach().clone()) for buffer in model.buffers()]
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    try:
        loss = loss_of()
        grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
    finally:
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)
        restore_rng(rng)
    return [name for (name, _), grad in zip(named, grads) if grad is None]


def wrap_model(model: nn.Module, loss_of: Callable[[], torch.Tensor] | None = None) -> nn.Module:
    """``model`` in ``DistributedDataParallel`` (rank 0's weights broadcast to every rank).

    ``loss_of``: a closure computing the model's loss on one batch; when given, the
    parameters the loss does not reach are found first (:func:`unused_parameters`, agreed by
    every rank) and ``find_unused_parameters`` is switched on only when there are any. Sparse
    embedding gradients (``nn.Embedding(sparse=True)``) are all-reduced by gloo; nccl has no
    sparse all-reduce, so a CUDA run needs dense embedding gradients.
    """
    from torch.nn.parallel import DistributedDataParallel

    unused = unused_parameters(model, loss_of) if loss_of is not None else []
    find_unused = all_reduce_sum([float(bool(unused))])[0] > 0
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    ids = [device] if device.type == "cuda" else None
    if unused:
        logging.getLogger("recblocks").info("DDP: parameters the loss does not reach (find_unused_parameters "
                                            "on): %s", unused[:5])
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused)


def needs_dense_embedding_gradients() -> bool:
    """The process group cannot all-reduce sparse gradients (nccl): tables must give dense ones."""
    return is_distributed() and torch.distributed.get_backend() == "nccl"


def dense_embedding_gradients(model: nn.Module) -> list[str]:
    """Switch every ``nn.Embedding``/``nn.EmbeddingBag`` built with ``sparse=True`` to dense
    gradients (before the optimizer is built: the tables then get the dense optimizer form);
    returns the switched modules' names."""
    switched = []
    for name, module in model.named_modules():
        if isinstance(module, (nn.Embedding, nn.EmbeddingBag)) and module.sparse:
            module.sparse = False
            switched.append(name)
    return switched


def quiet_other_ranks() -> None:
    """Ranks other than 0 log errors only (rank 0 reports the run)."""
    if not is_main():
        logging.getLogger("recblocks").setLevel(logging.ERROR)


def launch_command(nproc: int, args: Sequence[str], nnodes: int = 1) -> list[str]:
    """The torchrun command (this interpreter's ``torch.distributed.run``) that runs
    ``recblocks <args>`` in ``nproc`` processes on this machine (``--standalone``: a local
    rendezvous on a free port)."""
    if nproc < 1:
        raise ConfigError("--nproc", "the number of processes must be positive", ">= 1", nproc)
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nnodes={nnodes}",
            f"--nproc_per_node={nproc}", "-m", "recblocks.cli.main", *args]


class GatheredEvaluator:
    """An evaluator fed with one rank's shard whose :meth:`compute` first gathers every rank's
    collected rows (the wrapped evaluator's ``gather(all_gather_rows)``), so the metrics are
    those of the whole data set. Every other member is the wrapped evaluator's.

    Raises:
        ConfigError: the evaluator has no ``gather`` (evaluate an unsharded loader instead).
    """

    def __init__(self, evaluator: Any, where: str = "evaluation") -> None:
        if not callable(getattr(evaluator, "gather", None)):
            raise ConfigError(where, "a sharded evaluation needs an evaluator that can gather the ranks' rows",
                              "an evaluator with gather(all_gather_rows)", type(evaluator).__name__)
        self.evaluator = evaluator

    def __getattr__(self, name: str) -> Any:
        return getattr(self.evaluator, name)

    def update(self, outputs: Any, batch: Any) -> None:
        self.evaluator.update(outputs, batch)

    def compute(self) -> dict[str, float]:
        self.evaluator.gather(all_gather_rows)
        return self.evaluator.compute()
