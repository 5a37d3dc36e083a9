"""The ``torchrec`` embedding backend: a recblocks model wrapped in TorchRec's DistributedModelParallel.

:func:`shard_model` wraps, it does not rewrite: every fused width of the model's
:class:`~recblocks.layers.embedding.EmbeddingCollection` becomes a
:class:`~recblocks.training.torchrec_backend_tables.TorchRecTables` (one TorchRec table per
table key, one KeyedJaggedTensor key per feature), an ``EmbeddingShardingPlanner`` places
the tables (``table_wise`` or ``column_wise`` on CPU; ``row_wise`` and
``table_row_wise`` need CUDA), and ``DistributedModelParallel`` shards them, with the
embedding optimizer fused into the backward pass (FBGEMM: ``sgd``, ``adagrad``,
``rowwise_adagrad``; ``adam`` only on CUDA) and the dense parameters in DistributedDataParallel. The model's own
``forward``, ``loss``, ``predictions`` and evaluator are used unchanged.

Checkpoints: :func:`save_sharded_checkpoint` writes model and optimizer state with
``torch.distributed.checkpoint`` (each rank its own shards), :func:`load_sharded_checkpoint`
resumes from one (any world size the planner can place), :func:`plain_state_dict` gathers
the plain layout (the same keys as the unsharded model) and
:func:`plain_state_dict_from_checkpoint` reads it from a sharded checkpoint in one process,
so an unsharded model loads any checkpoint.

TorchRec and FBGEMM are an opt-in extra (``make setup-torchrec``); they are imported when
these functions run, never when recblocks is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recblocks.core.errors import ConfigError
from recblocks.layers.embedding import EmbeddingCollection
from recblocks.training.config import OptimizerConfig, TrainConfig
from recblocks.training.torchrec_backend_tables import TableLayout, TorchRecTables, table_layouts

__all__ = ["SHARDING_TYPES", "FUSED_OPTIMIZERS", "ShardedModel", "require_torchrec", "shard_model",
           "plain_state_dict", "load_plain_state_dict", "save_sharded_checkpoint", "load_sharded_checkpoint",
           "plain_state_dict_from_checkpoint"]

INSTALL_HINT = "make setup-torchrec (pinned torchrec==1.8.0 + fbgemm-gpu-cpu==1.8.0, installed --no-deps)"

#: sharding type -> whether it runs on CPU (TorchRec's row-wise kernels need CUDA)
SHARDING_TYPES = {"table_wise": True, "column_wise": True, "table_column_wise": True, "row_wise": False,
                  "table_row_wise": False}

#: recblocks optimizer name -> (FBGEMM's fused optimizer, ``EmbOptimType`` member; whether FBGEMM runs it on CPU)
FUSED_OPTIMIZERS = {"sgd": ("EXACT_SGD", True), "adagrad": ("EXACT_ADAGRAD", True),
                    "rowwise_adagrad": ("EXACT_ROWWISE_ADAGRAD", True), "adam": ("ADAM", False)}


def require_torchrec(where: str = "train.embedding_backend") -> None:
    """Raise a ConfigError naming the install command when TorchRec or FBGEMM is missing."""
    try:
        import fbgemm_gpu  # noqa: F401
        import torchrec  # noqa: F401
    except ImportError as error:
        raise ConfigError(where, f"the torchrec backend needs the TorchRec extra ({error.name} is not installed)",
                          f"it installed: {INSTALL_HINT}", "not installed") from None


@dataclass
class ShardedModel:
    """A model wrapped by :func:`shard_model`.

    Attributes:
        dmp: the ``DistributedModelParallel`` (call it on a batch: the model's outputs).
        model: the wrapped recblocks model (``loss``, ``predictions``, ``evaluator``).
        optimizer: TorchRec's ``CombinedOptimizer``: the fused embedding optimizer and the
            dense one, both keyed by parameter name (what the checkpoint holds).
        layouts: where each TorchRec table lives in the plain layout.
        plain_keys: the plain model's ``state_dict`` keys, in order.
    """

    dmp: Any
    model: nn.Module
    optimizer: Any
    layouts: list[TableLayout]
    plain_keys: list[str] = field(default_factory=list)

    def __call__(self, batch: Any) -> Any:
        return self.dmp(batch)

    def train_step(self, batch: Any) -> float:
        """One optimizer step on this rank's ``batch`` (every rank steps together); the loss."""
        self.dmp.train()
        outputs = self.dmp(batch)
        loss = self.model.loss(outputs, batch).total
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    @torch.no_grad()
    def predict(self, batch: Any) -> dict[str, torch.Tensor]:
        """The model's predictions for this rank's ``batch`` (every rank calls it together)."""
        self.dmp.eval()
        return self.model.predictions(self.dmp(batch))


def _collections(model: nn.Module) -> list[tuple[str, EmbeddingCollection]]:
    return [(name, module) for name, module in model.named_modules() if isinstance(module, EmbeddingCollection)]


def _fused_params(config: TrainConfig, device: torch.device, where: str = "train.embedding_optimizer") -> dict[str, Any]:
    """TorchRec's ``fused_params`` for ``train.embedding_optimizer`` (or the dense optimizer's kind)."""
    from fbgemm_gpu.split_embedding_configs import EmbOptimType

    explicit = config.embedding_optimizer
    cfg: OptimizerConfig = explicit if explicit is not None else config.optimizer
    if explicit is None:
        where = "train.optimizer"
    if cfg.name not in FUSED_OPTIMIZERS:
        raise ConfigError(f"{where}.name", "TorchRec's fused embedding optimizer has no such kind",
                          f"one of {sorted(FUSED_OPTIMIZERS)}", repr(cfg.name), choices=sorted(FUSED_OPTIMIZERS))
    kind, on_cpu = FUSED_OPTIMIZERS[cfg.name]
    if device.type != "cuda" and not on_cpu:
        cpu = sorted(k for k, (_, ok) in FUSED_OPTIMIZERS.items() if ok)
        raise ConfigError(f"{where}.name", f"FBGEMM's fused {cfg.name} runs only on CUDA; set "
                          "train.embedding_optimizer to a kind it runs on CPU", f"one of {cpu} on CPU", repr(cfg.name))
    if explicit is not None and (cfg.weight_decay or cfg.momentum):
        raise ConfigError(where, "weight decay and momentum are not applied to fused embedding tables",
                          "weight_decay: 0 and momentum: 0", f"weight_decay {cfg.weight_decay}, momentum {cfg.momentum}")
    params: dict[str, Any] = {"optimizer": getattr(EmbOptimType, kind),
                              "learning_rate": config.embedding_learning_rate}
    if cfg.name == "adam":
        params.update(beta1=cfg.betas[0], beta2=cfg.betas[1], eps=cfg.eps if cfg.eps is not None else 1e-8)
    elif cfg.name in ("adagrad", "rowwise_adagrad"):
        params["eps"] = cfg.eps if cfg.eps is not None else 1e-10
        if cfg.initial_accumulator_value:
            raise ConfigError(f"{where}.initial_accumulator_value", "FBGEMM's fused Adagrad starts from 0", "0",
                              cfg.initial_accumulator_value)
    return params


def _plan(model: nn.Module, sharder: Any, sharding: str, names: list[str], world: int, group: Any,
          device: torch.device) -> Any:
    from torchrec.distributed.planner import EmbeddingShardingPlanner, Topology
    from torchrec.distributed.planner.types import ParameterConstraints

    constraints = {name: ParameterConstraints(sharding_types=[sharding], min_partition=4) for name in names}
    planner = EmbeddingShardingPlanner(topology=Topology(world_size=world, compute_device=device.type),
                                       constraints=constraints)
    return planner.collective_plan(model, [sharder], group)


def shard_model(model: nn.Module, train_config: TrainConfig | Mapping[str, Any] | None = None, *,
                sharding: str = "table_wise", process_group: Any = None,
                device: torch.device | str = "cpu") -> ShardedModel:
    """Wrap ``model`` (built and initialized, on every rank alike) in DistributedModelParallel.

    The tables start from the model's current weights (every rank must hold the same ones:
    build the model with the same seed). ``torch.distributed`` must be initialized (gloo on
    CPU; world size 1 works). ``model`` is changed in place: its fused widths become TorchRec
    collections; use :func:`plain_state_dict` for a state dict an unsharded model loads.

    Raises:
        ConfigError: TorchRec not installed (naming the install command), an unknown or
            CUDA-only ``sharding`` on CPU, a fused optimizer FBGEMM lacks, a name TorchRec
            cannot hold.
    """
    require_torchrec()
    import torch.distributed as dist
    from torchrec.distributed.embedding import EmbeddingCollectionSharder
    from torchrec.distributed.model_parallel import DefaultDataParallelWrapper, DistributedModelParallel
    from torchrec.optim.keyed import CombinedOptimizer, KeyedOptimizerWrapper
    from torchrec.optim.optimizers import in_backward_optimizer_filter

    from recblocks.core.params import parse_params
    from recblocks.training.optimizers import make_dense_optimizer

    config = train_config if isinstance(train_config, TrainConfig) else parse_params(TrainConfig, train_config, "train")
    device = torch.device(device)
    if sharding not in SHARDING_TYPES:
        raise ConfigError("train.embedding_sharding", "unknown TorchRec sharding type", f"one of {sorted(SHARDING_TYPES)}",
                          repr(sharding), choices=sorted(SHARDING_TYPES))
    if device.type != "cuda" and not SHARDING_TYPES[sharding]:
        raise ConfigError("train.embedding_sharding", f"{sharding} sharding needs CUDA (TorchRec's row-wise kernels)",
                          f"one of {[k for k, cpu in SHARDING_TYPES.items() if cpu]} on CPU", repr(sharding))
    if not dist.is_initialized():
        raise ConfigError("shard_model", "torch.distributed is not initialized",
                          "dist.init_process_group('gloo', ...) first (torchrun does it for recblocks train)",
                          "no process group")
    fused = _fused_params(config, device)
    plain = {k: v.detach().clone() for k, v in model.state_dict().items()}
    layouts: list[TableLayout] = []
    for prefix, collection in _collections(model):
        prefix = f"{prefix}." if prefix else ""
        for width_key in list(collection.fused.keys()):
            table = collection.fused[width_key]
            tables = table_layouts(prefix, width_key, table.slots, table.table_offsets)
            layouts += tables
            collection.fused[width_key] = TorchRecTables(table.dim, table.slots, tables)
    names = [layout.name for layout in layouts]
    if len(set(names)) != len(names):
        raise ConfigError("model", "two embedding collections hold a table of the same name; the torchrec "
                          "backend needs unique table names", "one embedding collection", f"tables {names}")
    group = process_group or dist.group.WORLD
    sharder = EmbeddingCollectionSharder(fused_params=fused)
    plan = _plan(model, sharder, sharding, names, dist.get_world_size(group), group, device)
    # not DMP's default static graph: its first step all-reduces only through outputs DDP can flatten,
    # and a recblocks model returns a dataclass (ModelOutput)
    dmp = DistributedModelParallel(model, device=device, sharders=[sharder], plan=plan,
                                   data_parallel_wrapper=DefaultDataParallelWrapper(static_graph=False))
    dense = dict(in_backward_optimizer_filter(dmp.named_parameters()))
    optimizers = [("embedding", dmp.fused_optimizer)]
    if dense:
        dense_opt = KeyedOptimizerWrapper(
            dense, lambda params: make_dense_optimizer(list(params), config.optimizer, config.base_learning_rate))
        optimizers.append(("dense", dense_opt))
    sharded = ShardedModel(dmp, dmp.module, CombinedOptimizer(optimizers), layouts, list(plain))
    load_plain_state_dict(sharded, plain)
    return sharded


def _local_shards(value: Any) -> list[tuple[tuple[int, int], torch.Tensor]]:
    """``[(row, column) offset, tensor]`` of this rank's pieces of a sharded (or whole) weight."""
    from torch.distributed._shard.sharded_tensor import ShardedTensor

    if isinstance(value, ShardedTensor):
        return [(tuple(s.metadata.shard_offsets), s.tensor) for s in value.local_shards()]  # type: ignore[misc]
    if hasattr(value, "to_local") and hasattr(value, "device_mesh"):  # a DTensor
        return [((0, 0), value.full_tensor())]
    return [((0, 0), value)]


def plain_state_dict(sharded: ShardedModel) -> dict[str, torch.Tensor]:
    """The plain layout's ``state_dict`` (same keys as the unsharded model), on every rank.

    Collective: every rank must call it. Each table is gathered whole on every rank (fine for
    tables that fit one process; a larger model saves with :func:`save_sharded_checkpoint`).
    """
    import torch.distributed as dist

    state = sharded.dmp.state_dict()
    by_key = {layout.torchrec_key: layout for layout in sharded.layouts}
    mine = [(key, offset, piece.detach().cpu()) for key in by_key for offset, piece in _local_shards(state[key])]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, mine)
    pieces = [p for rank in gathered for p in rank]
    return _assemble(sharded.plain_keys, sharded.layouts, state, pieces)


def _assemble(plain_keys: list[str], layouts: list[TableLayout], state: Mapping[str, Any],
              pieces: list[tuple[str, tuple[int, int], torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The plain state dict from dense entries and the tables' pieces."""
    tables: dict[str, torch.Tensor] = {}
    for layout in layouts:
        tables[layout.torchrec_key] = torch.zeros(layout.rows, layout.torchrec_dim)
    for key, (row, col), piece in pieces:
        tables[key][row: row + piece.shape[0], col: col + piece.shape[1]] = piece
    fused: dict[str, list[TableLayout]] = {}
    for layout in layouts:
        fused.setdefault(layout.plain_key, []).append(layout)
    out: dict[str, torch.Tensor] = {}
    for key in plain_keys:
        if key in fused:
            rows = sum(layout.rows for layout in fused[key])
            weight = torch.zeros(rows, fused[key][0].dim)
            for layout in fused[key]:
                weight[layout.row_offset: layout.row_offset + layout.rows] = tables[layout.torchrec_key][:, : layout.dim]
            out[key] = weight
        else:
            value = state[key]
            out[key] = value.detach().cpu().clone() if isinstance(value, torch.Tensor) else value
    return out


@torch.no_grad()
def load_plain_state_dict(sharded: ShardedModel, plain: Mapping[str, torch.Tensor]) -> None:
    """Copy a plain-layout ``state_dict`` into the sharded model (each rank fills its own shards)."""
    state = sharded.dmp.state_dict()
    layouts = {layout.torchrec_key: layout for layout in sharded.layouts}
    missing = sorted(set(sharded.plain_keys) - set(plain))
    if missing:
        raise ConfigError("load_plain_state_dict", "the state dict lacks keys of the model", "every key", missing[:5])
    for key, value in state.items():
        layout = layouts.get(key)
        if layout is None:
            if isinstance(value, torch.Tensor):
                value.copy_(plain[key])
            continue
        table = plain[layout.plain_key][layout.row_offset: layout.row_offset + layout.rows]
        full = torch.zeros(layout.rows, layout.torchrec_dim)
        full[:, : layout.dim] = table
        for (row, col), piece in _local_shards(value):
            piece.copy_(full[row: row + piece.shape[0], col: col + piece.shape[1]])
    sharded.dmp.load_state_dict(state)


def save_sharded_checkpoint(sharded: ShardedModel, path: str | Path) -> Path:
    """Write model and optimizer state with ``torch.distributed.checkpoint`` (collective; each
    rank writes its shards, ``.metadata`` maps them); the folder ``path``."""
    import torch.distributed.checkpoint as dcp

    path = Path(path)
    dcp.save({"model": sharded.dmp.state_dict(), "optimizer": sharded.optimizer.state_dict()}, checkpoint_id=path)
    return path


def load_sharded_checkpoint(sharded: ShardedModel, path: str | Path) -> None:
    """Resume ``sharded`` (model and optimizer state) from :func:`save_sharded_checkpoint`'s folder."""
    import torch.distributed.checkpoint as dcp

    for name, optimizer in sharded.optimizer.optimizers:
        if name == "dense":  # torch creates optimizer state lazily: create it so the checkpoint has a target
            optimizer.init_state()
    state = {"model": sharded.dmp.state_dict(), "optimizer": sharded.optimizer.state_dict()}
    dcp.load(state, checkpoint_id=Path(path))
    sharded.dmp.load_state_dict(state["model"])
    sharded.optimizer.load_state_dict(state["optimizer"])


def plain_state_dict_from_checkpoint(model: nn.Module, path: str | Path) -> dict[str, torch.Tensor]:
    """The plain-layout ``state_dict`` for the unsharded ``model`` from a sharded checkpoint folder,
    read in this one process (no process group needed); ``model.load_state_dict`` takes it."""
    import torch.distributed.checkpoint as dcp

    plain = model.state_dict()
    layouts: list[TableLayout] = []
    for prefix, collection in _collections(model):
        prefix = f"{prefix}." if prefix else ""
        for width_key, table in collection.fused.items():
            layouts += table_layouts(prefix, width_key, table.slots, table.table_offsets)
    tables = {layout.plain_key for layout in layouts}
    target = {f"model.{k}": v.detach().clone() for k, v in plain.items() if k not in tables}
    target.update({f"model.{layout.torchrec_key}": torch.zeros(layout.rows, layout.torchrec_dim) for layout in layouts})
    dcp.load(target, checkpoint_id=Path(path), no_dist=True)
    state = {k[len("model."):]: v for k, v in target.items()}
    pieces = [(layout.torchrec_key, (0, 0), state[layout.torchrec_key]) for layout in layouts]
    return _assemble(list(plain), layouts, state, pieces)
