"""The ``fbgemm`` embedding backend: FBGEMM table-batched embeddings with the optimizer fused into backward.

:func:`to_fbgemm` replaces every fused width group of every :class:`EmbeddingCollection` of a
model (one ``nn.Embedding`` per width; tables are row ranges) by :class:`FbgemmFusedTable`,
whose lookup is one FBGEMM ``SplitTableBatchedEmbeddingBagsCodegen`` (one table of the same
rows, ``EmbeddingLocation.HOST`` / ``ComputeDevice.CPU``). Its backward updates the looked-up
rows in place (the optimizer is fused into backward), so the tables take no part in the
ordinary optimizer: dense weights keep theirs.

* Lookup: one vector per id, ``(B, S, D)`` as the plain lookup, done as ``PoolingMode.SUM`` over
  bags of ONE id each (the same numbers; FBGEMM's ``PoolingMode.NONE`` took about 4x longer per
  step on CPU here). Pooling of multi-valued, weighted, sequence and element-pooled features stays
  the plain code after the lookup, so the forward output (:class:`FeatureEmbeddings`) is the same
  in layout and value, padding ids included.
* Optimizers FBGEMM runs on CPU (checked against fbgemm-gpu-cpu 1.8.0): ``sgd`` -> ``EXACT_SGD``,
  ``rowwise_adagrad`` -> ``EXACT_ROWWISE_ADAGRAD``, ``adagrad`` -> ``EXACT_ADAGRAD``. ``ADAM``,
  ``PARTIAL_ROWWISE_ADAM`` and ``LAMB`` raise "not supported in CPU mode" in FBGEMM.
* Widths that are not a multiple of 4 (FBGEMM requires it; e.g. the width-1 wide tables) are
  padded with zero columns that never receive a gradient; for row-wise Adagrad, whose
  accumulator is a mean over the row, ``lr`` and ``eps`` are scaled by ``sqrt(D / D_padded)``
  and the accumulator is stored times ``D / D_padded``, which gives exactly the unpadded update.
* Plain layout: the ``nn.Embedding`` stays registered under the same name (frozen, no gradient)
  and is refreshed from FBGEMM whenever ``state_dict()`` is taken; ``load_state_dict()`` pushes
  it back into FBGEMM. FBGEMM's own tensors live outside the module tree, so the state-dict keys
  are exactly the plain model's and any plain model loads the weights.

fbgemm is imported only when :func:`to_fbgemm` runs; a missing install is a ConfigError naming
``make setup-torchrec``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from recblocks.core.errors import ConfigError
from recblocks.layers.embedding import EmbeddingCollection, _FusedTable

__all__ = ["FBGEMM_CPU_OPTIMIZERS", "FbgemmFusedTable", "to_fbgemm", "import_fbgemm", "INSTALL_COMMAND"]

#: recblocks optimizer name -> FBGEMM ``EmbOptimType`` member that FBGEMM runs on CPU.
FBGEMM_CPU_OPTIMIZERS = {"sgd": "EXACT_SGD", "rowwise_adagrad": "EXACT_ROWWISE_ADAGRAD", "adagrad": "EXACT_ADAGRAD"}
INSTALL_COMMAND = "make setup-torchrec"


def import_fbgemm(where: str = "train.embedding_backend") -> dict[str, Any]:
    """FBGEMM's TBE class and enums; a ConfigError naming the install command when it is missing."""
    try:
        from fbgemm_gpu.split_embedding_configs import EmbOptimType
        from fbgemm_gpu.split_table_batched_embeddings_ops_common import EmbeddingLocation, PoolingMode
        from fbgemm_gpu.split_table_batched_embeddings_ops_training import (
            ComputeDevice,
            SplitTableBatchedEmbeddingBagsCodegen,
        )
    except (ImportError, OSError) as exc:
        raise ConfigError(where, f"the fbgemm backend needs FBGEMM, which is not installed ({exc}); install the "
                          f"opt-in extra with `{INSTALL_COMMAND}`", "an installed fbgemm-gpu-cpu", "none") from None
    return {"TBE": SplitTableBatchedEmbeddingBagsCodegen, "EmbOptimType": EmbOptimType,
            "EmbeddingLocation": EmbeddingLocation, "PoolingMode": PoolingMode, "ComputeDevice": ComputeDevice}


class FbgemmFusedTable(_FusedTable):
    """One width group of an :class:`EmbeddingCollection` looked up and trained by FBGEMM.

    Args:
        plain: the plain group it replaces (its slots, offsets and ``nn.Embedding`` are kept).
        optimizer: ``sgd``, ``rowwise_adagrad`` or ``adagrad`` (fused into backward).
        lr: learning rate of the fused update.
        eps: Adagrad epsilon (ignored by ``sgd``).
        initial_accumulator_value: starting Adagrad accumulator.

    Shape:
        - lookup: ``(B, S)`` global row ids -> ``(B, S, D)``.
    """

    def __init__(self, plain: _FusedTable, optimizer: str, lr: float, eps: float = 1e-8,
                 initial_accumulator_value: float = 0.0) -> None:
        nn.Module.__init__(self)
        fb = import_fbgemm()
        self.dim, self.slots, self.table_offsets = plain.dim, plain.slots, plain.table_offsets
        self.table, self.sparse, self.widths = plain.table, plain.sparse, plain.widths
        self._offsets_cache = plain._offsets_cache
        self.optimizer = optimizer
        rows = self.table.num_embeddings
        self.padded = 4 * math.ceil(self.dim / 4)
        # row-wise Adagrad averages over the padded row: rescale so the update is the unpadded one
        self.row_scale = self.dim / self.padded if optimizer == "rowwise_adagrad" else 1.0
        root = math.sqrt(self.row_scale)
        tbe = fb["TBE"]([(rows, self.padded, fb["EmbeddingLocation"].HOST, fb["ComputeDevice"].CPU)],
                        optimizer=getattr(fb["EmbOptimType"], FBGEMM_CPU_OPTIMIZERS[optimizer]),
                        learning_rate=lr * root, eps=eps * root, pooling_mode=fb["PoolingMode"].SUM)
        object.__setattr__(self, "tbe", tbe)  # outside the module tree: the state dict stays the plain one
        for state in self._fused_states():
            state.fill_(initial_accumulator_value * self.row_scale)
        self.table.weight.requires_grad_(False)
        self.import_weights()
        self._arange: torch.Tensor = torch.arange(1)
        self._lr_group: dict[str, Any] | None = None
        self._lr_applied = lr
        self.register_state_dict_pre_hook(lambda module, prefix, keep_vars: module.export_weights())
        self.register_load_state_dict_post_hook(lambda module, incompatible: module.import_weights())

    def _fused_states(self) -> list[torch.Tensor]:
        return list(self.tbe.split_optimizer_states()[0]) if self.optimizer != "sgd" else []

    def fbgemm_weight(self) -> torch.Tensor:
        """FBGEMM's ``(rows, D)`` weights (a view; padding columns left out)."""
        return self.tbe.split_embedding_weights()[0][:, : self.dim]

    @torch.no_grad()
    def export_weights(self) -> None:
        """Copy FBGEMM's weights into the plain ``nn.Embedding`` (done before every ``state_dict()``)."""
        self.table.weight.copy_(self.fbgemm_weight())

    @torch.no_grad()
    def import_weights(self) -> None:
        """Copy the plain ``nn.Embedding`` weights into FBGEMM (done after every ``load_state_dict()``)."""
        weights = self.tbe.split_embedding_weights()[0]
        weights.zero_()
        weights[:, : self.dim].copy_(self.table.weight)

    def set_learning_rate(self, lr: float) -> None:
        self.tbe.set_learning_rate(lr * math.sqrt(self.row_scale))
        self._lr_applied = lr

    def follow_learning_rate(self, group: dict[str, Any]) -> None:
        """Read the fused update's learning rate from ``group["lr"]`` at every lookup: FBGEMM takes
        the rate when the forward runs, so a schedule must reach it before the forward."""
        self._lr_group = group

    def optimizer_state(self) -> dict[str, torch.Tensor]:
        """The fused optimizer's state in the plain optimizer's layout: ``sum`` ``(rows,)`` for
        ``rowwise_adagrad``, ``(rows, D)`` for ``adagrad``; nothing for ``sgd``."""
        states = self._fused_states()
        if not states:
            return {}
        state = states[0]
        plain = state / self.row_scale if state.dim() == 1 else state[:, : self.dim]
        return {"sum": plain.clone()}

    @torch.no_grad()
    def load_optimizer_state(self, state: dict[str, torch.Tensor], where: str) -> None:
        states = self._fused_states()
        if set(state) != ({"sum"} if states else set()):
            raise ConfigError(where, "the saved fused-optimizer state does not fit this table",
                              sorted({"sum"} if states else set()), sorted(state))
        if states:
            target = states[0] if states[0].dim() == 1 else states[0][:, : self.dim]
            if tuple(target.shape) != tuple(state["sum"].shape):
                raise ConfigError(where, "the saved accumulator has another shape", tuple(target.shape),
                                  tuple(state["sum"].shape))
            target.copy_(state["sum"] * self.row_scale)

    def lookup(self, rows: torch.Tensor) -> torch.Tensor:
        if self._lr_group is not None and self._lr_group["lr"] != self._lr_applied:
            self.set_learning_rate(self._lr_group["lr"])
        count = rows.numel()
        if self._arange.numel() != count + 1:
            self._arange = torch.arange(count + 1, dtype=torch.int64)
        vectors = self.tbe(rows.reshape(-1), self._arange)
        vectors = vectors.view(*rows.shape, self.padded)
        return vectors if self.padded == self.dim else vectors[..., : self.dim]


def to_fbgemm(model: nn.Module, optimizer: str, lr: float, eps: float = 1e-8,
              initial_accumulator_value: float = 0.0, where: str = "train.embedding_optimizer.name"
              ) -> dict[str, FbgemmFusedTable]:
    """Put every fused table of every :class:`EmbeddingCollection` in ``model`` on FBGEMM, in place.

    Returns the new groups by module path (``embeddings.fused.dim16``...). Groups already on
    FBGEMM are returned as they are.

    Raises:
        ConfigError: ``optimizer`` is not one FBGEMM runs on CPU (``where`` names the config
            place), or FBGEMM is not installed (naming ``make setup-torchrec``).
    """
    if optimizer not in FBGEMM_CPU_OPTIMIZERS:
        raise ConfigError(where, "FBGEMM fuses only these optimizers into backward on CPU (its ADAM, LAMB and "
                          "PARTIAL_ROWWISE_ADAM are CUDA-only)", f"one of {sorted(FBGEMM_CPU_OPTIMIZERS)}",
                          repr(optimizer))
    import_fbgemm()
    tables: dict[str, FbgemmFusedTable] = {}
    for path, module in model.named_modules():
        if not isinstance(module, EmbeddingCollection):
            continue
        for key, group in list(module.fused.items()):
            name = f"{path}.fused.{key}" if path else f"fused.{key}"
            if not isinstance(group, FbgemmFusedTable):
                if group.table.weight.device.type != "cpu":
                    raise ConfigError("train.embedding_backend", "the fbgemm backend runs on CPU here "
                                      "(fbgemm-gpu-cpu)", "a model on cpu", str(group.table.weight.device))
                group = FbgemmFusedTable(group, optimizer, lr, eps, initial_accumulator_value)
                module.fused[key] = group
            tables[name] = group
    return tables
