"""AITM tower: attention over a task's tower and the information transferred from earlier tasks."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from recblocks.core.errors import ShapeError
from recblocks.core.limits import MAX_LAYER_WIDTH
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.activations import initialize
from recblocks.layers.base import Component
from recblocks.layers.mlp import MLP, MLPParams

__all__ = ["AITMTower", "AITMTowerParams"]

_EXPECTED = "[this task's tower (B, D), earlier tasks' towers (B, D_p)...] (at least two, the earlier ones of one width)"


class AITMTowerParams(Params):
    """Parameters of :class:`AITMTower` (EasyRec ``AITMTower`` names and defaults)."""

    project_dim: int | None = Field(default=None, ge=1, le=MAX_LAYER_WIDTH,
                                    description="width of queries, keys and values (default: D)")
    transfer_mlp: MLPParams | None = None
    stop_gradient: bool = True


def _towers(spec: Any, where: str) -> tuple[int, int]:
    """(D of this task's tower, D_p of the earlier towers)."""
    if not (isinstance(spec, (list, tuple)) and len(spec) >= 2 and all(isinstance(s, TensorSpec) for s in spec)):
        raise ShapeError(where, "AITMTower needs this task's tower and at least one earlier tower", _EXPECTED,
                         describe_spec(spec))
    if any(s.rank != 2 or s.dtype != "float" for s in spec):
        raise ShapeError(where, "AITMTower: every tower must be a 2-D float tensor", _EXPECTED, describe_spec(spec))
    earlier = {s.shape[0] for s in spec[1:]}
    if len(earlier) != 1:
        raise ShapeError(where, "AITMTower: the earlier towers must have one width", _EXPECTED, describe_spec(spec))
    return spec[0].shape[0], earlier.pop()


@COMPONENTS.register(
    "AITMTower", params=AITMTowerParams, input_kind="fields", aliases=("AITM",),
    examples=[
        ({"transfer_mlp": {"hidden_units": [4]}, "stop_gradient": False}, [TensorSpec((4,)), TensorSpec((3,))]),
        ({"project_dim": 2}, [TensorSpec((4,)), TensorSpec((4,)), TensorSpec((4,))]),
    ])
class AITMTower(Component):
    """Adaptive information transfer: attend over a task's tower and the earlier tasks' (AITM).

    Xi et al., "Modeling the Sequential Dependence among Audience Multi-step Conversions with
    Multi-task Learning in Targeted Display Advertising", KDD 2021 (arXiv:2105.08489); EasyRec
    ``AITMTower``. Input ``[t_0, t_1, ...]``: ``t_0`` is this task's tower, ``t_i`` earlier
    ones, taken as ``p_i = Transfer(stopgrad(t_i))`` (``transfer_mlp``, shared; no gradient
    reaches the earlier towers when ``stop_gradient``). Each position ``i`` has its own dense
    ``k_i, v_i`` (width ``project_dim``, default ``D``); ``q = W_q t_0 + b_q``; with ``K, V`` the
    stacked ``(B, N, d)``: ``out = softmax(q K^T / sqrt(d)) V``, the row of ``t_0`` of the
    self-attention (EasyRec computes every row and keeps that one; the other queries are
    never used, so they are not built).

    Args:
        project_dim: width ``d`` of the queries, keys and values (default: ``t_0``'s width).
        transfer_mlp: the transfer MLP applied to every earlier tower (None: none).
        stop_gradient: stop the gradient into the earlier towers (EasyRec's default).

    Shape:
        - Input: ``[(B, D), N - 1 x (B, D_p)]``, ``N >= 2``.
        - Output: ``(B, d)``.

    Example:
        >>> aitm = AITMTower.from_spec(AITMTowerParams(), [TensorSpec((4,)), TensorSpec((4,))])
        >>> aitm([torch.randn(3, 4), torch.randn(3, 4)]).shape
        torch.Size([3, 4])
    """

    def __init__(self, params: AITMTowerParams, dims: tuple[int, int], count: int, where: str) -> None:
        super().__init__(params)
        self.where, self.dims, self.count = where, dims, count
        own, earlier = dims
        self.transfer = None
        if params.transfer_mlp is not None:
            self.transfer = MLP(params.transfer_mlp, earlier, join_path(where, "transfer_mlp"))
            earlier = self.transfer.output_dim
        self.output_dim = params.project_dim or own
        self.query = nn.Linear(own, self.output_dim)  # only this task's row is read out
        self.projections = nn.ModuleList(nn.Linear(own if i == 0 else earlier, 2 * self.output_dim)  # k, v of tower i
                                         for i in range(count))
        for layer in (self.query, *self.projections):
            initialize(layer.weight, "glorot_uniform", where, fan_in=layer.in_features, fan_out=self.output_dim)
            nn.init.zeros_(layer.bias)

    @classmethod
    def from_spec(cls, params: AITMTowerParams, input_spec: Any, where: str = "") -> "AITMTower":
        where = where or "AITMTower"
        return cls(params, _towers(input_spec, where), len(input_spec), where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        dims = _towers(input_spec, self.where)
        if (dims, len(input_spec)) != (self.dims, self.count):
            raise ShapeError(self.where, "AITMTower: the towers differ from the ones this layer was built for",
                             f"{self.count} towers of widths {self.dims}", describe_spec(input_spec))
        return TensorSpec((self.output_dim,))

    def forward(self, x: Any) -> torch.Tensor:
        towers = []
        for i, tower in enumerate(x):
            if i > 0:
                tower = tower.detach() if self.params.stop_gradient else tower
                tower = self.transfer(tower) if self.transfer is not None else tower
            towers.append(self.projections[i](tower))
        k, v = torch.stack(towers, dim=1).chunk(2, dim=-1)  # (B, N, d) each
        q = self.query(x[0]).unsqueeze(1)  # (B, 1, d)
        weights = torch.softmax(q @ k.transpose(1, 2) / self.output_dim**0.5, dim=-1)  # (B, 1, N)
        return (weights @ v).squeeze(1)
