"""Pairwise product layers: AFM's attention-pooled products and PNN's inner and outer (kernel) products."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from recblocks.core.limits import MAX_LAYER_WIDTH
from recblocks.core.params import Params
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec
from recblocks.layers.activations import initialize
from recblocks.layers.base import Component, stack_fields
from recblocks.layers.field_inputs import fields_of, named_error, pair_indices

__all__ = ["AFM", "AFMParams", "InnerProduct", "InnerProductParams", "OuterProduct", "OuterProductParams"]


class _Pairs(Component):
    """Base: checks a field list / (B, F, D) input with F >= 2 and keeps the pair indices."""

    name = "Pairs"

    def __init__(self, params: Params, num_fields: int, dim: int, where: str) -> None:
        super().__init__(params)
        self.where, self.num_fields, self.dim = where, num_fields, dim
        rows, cols = pair_indices(num_fields)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        self.num_pairs = len(rows)

    @classmethod
    def from_spec(cls, params: Any, input_spec: Any, where: str = "") -> Any:
        where = where or cls.name
        num_fields, dim = fields_of(input_spec, where, cls.name, min_fields=2)
        return cls(params, num_fields, dim, where)

    def check(self, input_spec: Any) -> None:
        num_fields, dim = fields_of(input_spec, self.where, self.name, min_fields=2)
        if (num_fields, dim) != (self.num_fields, self.dim):
            raise named_error(self.where, self.name, "fields differ from the ones it was built for",
                              f"(B, {self.num_fields}, {self.dim})", f"(B, {num_fields}, {dim})")

    def sides(self, x: torch.Tensor | list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        v = stack_fields(x)
        return v[:, self.rows], v[:, self.cols]  # (B, P, D) each


class AFMParams(Params):
    """Parameters of :class:`AFM` (DeepCTR ``AFMLayer`` names)."""

    attention_factor: int = Field(default=4, ge=1, le=MAX_LAYER_WIDTH)
    dropout_rate: float = Field(default=0.0, ge=0.0, lt=1.0)


@COMPONENTS.register(
    "AFM", params=AFMParams, input_kind="fields", aliases=("AFMLayer",),
    examples=[({}, [TensorSpec((3,))] * 3), ({"attention_factor": 2, "dropout_rate": 0.5}, TensorSpec((4, 2)))])
class AFM(_Pairs):
    """Attentional factorization machine: attention-weighted sum of pairwise products (Xiao et al., 2017).

    Paper: "Attentional Factorization Machines...", IJCAI 2017, arXiv:1708.04617.
    ``u_ij = v_i * v_j`` for the pairs ``i < j``; ``a'_ij = h^T relu(u_ij W + b)``;
    ``a = softmax`` over the pairs; ``y = p^T Dropout(sum_ij a_ij u_ij)``. ``W (D x t)``, ``h``
    and ``p`` are Glorot normal, ``b`` zeros. The L2 penalty of DeepCTR (``l2_reg_w``) is left
    to the optimizer's weight decay.

    Args:
        attention_factor: width ``t`` of the attention network.
        dropout_rate: dropout on the pooled vector (training only).

    Shape:
        - Input: field list ``F x (B, D)`` or ``(B, F, D)``, ``F >= 2``.
        - Output: ``(B, 1)``.

    Example:
        >>> afm = AFM.from_spec(AFMParams(), [TensorSpec((2,))] * 2)
        >>> with torch.no_grad():
        ...     _ = afm.projection.fill_(1.0)
        ...     afm([torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 4.0]])])
        tensor([[11.]])
    """

    name = "AFM"

    def __init__(self, params: AFMParams, num_fields: int, dim: int, where: str) -> None:
        super().__init__(params, num_fields, dim, where)
        factor = params.attention_factor
        self.attention = nn.Linear(dim, factor)
        initialize(self.attention.weight, "glorot_normal")
        nn.init.zeros_(self.attention.bias)
        self.score = nn.Parameter(initialize(torch.empty(factor), "glorot_normal", fan_in=factor, fan_out=1))
        self.projection = nn.Parameter(initialize(torch.empty(dim), "glorot_normal", fan_in=dim, fan_out=1))
        self.dropout = nn.Dropout(params.dropout_rate)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        self.check(input_spec)
        return TensorSpec((1,))

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        left, right = self.sides(x)
        products = left * right
        weights = torch.softmax(torch.relu(self.attention(products)) @ self.score, dim=-1)  # (B, P)
        pooled = self.dropout((weights.unsqueeze(-1) * products).sum(dim=1))
        return (pooled @ self.projection).unsqueeze(-1)


class InnerProductParams(Params):
    """Parameters of :class:`InnerProduct`."""

    reduce_sum: bool = True


@COMPONENTS.register(
    "InnerProduct", params=InnerProductParams, input_kind="fields", aliases=("InnerProductLayer",),
    examples=[({}, [TensorSpec((3,))] * 3), ({"reduce_sum": False}, TensorSpec((4, 2)))])
class InnerProduct(_Pairs):
    """PNN inner product layer: ``p_ij = v_i . v_j`` for every field pair (Qu et al., 2016).

    Paper: "Product-based Neural Networks for User Response Prediction", ICDM 2016,
    arXiv:1611.00144. Pairs ``i < j`` in the canonical row-major upper-triangle order; no weights.

    Args:
        reduce_sum: return the inner products ``(B, P)``; False returns the element-wise
            products ``(B, P * D)`` flattened.

    Shape:
        - Input: field list ``F x (B, D)`` or ``(B, F, D)``, ``F >= 2``.
        - Output: ``(B, P)`` or ``(B, P * D)``, ``P = F (F - 1) / 2``.

    Example:
        >>> inner = InnerProduct.from_spec(InnerProductParams(), TensorSpec((3, 2)))
        >>> inner(torch.tensor([[[1.0, 2.0], [3.0, 4.0], [1.0, 0.0]]]))
        tensor([[11.,  1.,  3.]])
    """

    name = "InnerProduct"

    def output_spec(self, input_spec: Any) -> TensorSpec:
        self.check(input_spec)
        return TensorSpec((self.num_pairs if self.params.reduce_sum else self.num_pairs * self.dim,))

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        left, right = self.sides(x)
        products = left * right
        return products.sum(-1) if self.params.reduce_sum else products.flatten(1)


class OuterProductParams(Params):
    """Parameters of :class:`OuterProduct` (DeepCTR ``OutterProductLayer``)."""

    kernel_type: Literal["mat", "vec", "num"] = "mat"


@COMPONENTS.register(
    "OuterProduct", params=OuterProductParams, input_kind="fields", aliases=("OutterProductLayer", "OuterProductLayer"),
    examples=[({}, [TensorSpec((3,))] * 3), ({"kernel_type": "vec"}, TensorSpec((3, 2))),
              ({"kernel_type": "num"}, TensorSpec((4, 2)))])
class OuterProduct(_Pairs):
    """PNN outer (kernel) product layer: ``p_ij = v_i^T W_ij^T v_j`` per field pair (Qu et al., 2016/2018).

    Papers: PNN (ICDM 2016, arXiv:1611.00144) and its kernel-product extension (TOIS,
    arXiv:1807.00311), as in the authors' code and DeepCTR. ``mat``: ``W_ij (D x D)``,
    ``p_ij = sum_{a,c} v_j[a] W_ij[a, c] v_i[c]``; ``vec``: ``p_ij = sum_d v_i[d] v_j[d] w_ij[d]``;
    ``num``: ``p_ij = w_ij (v_i . v_j)``. Kernels Glorot uniform.

    Args:
        kernel_type: ``mat``, ``vec`` or ``num``.

    Shape:
        - Input: field list ``F x (B, D)`` or ``(B, F, D)``, ``F >= 2``.
        - Output: ``(B, P)``, ``P = F (F - 1) / 2``.

    Example:
        >>> outer = OuterProduct.from_spec(OuterProductParams(kernel_type="num"), TensorSpec((3, 2)))
        >>> with torch.no_grad():
        ...     _ = outer.kernel.fill_(1.0)
        ...     outer(torch.tensor([[[1.0, 2.0], [3.0, 4.0], [1.0, 0.0]]]))
        tensor([[11.,  1.,  3.]])
    """

    name = "OuterProduct"

    def __init__(self, params: OuterProductParams, num_fields: int, dim: int, where: str) -> None:
        super().__init__(params, num_fields, dim, where)
        shape = {"mat": (self.num_pairs, dim, dim), "vec": (self.num_pairs, dim), "num": (self.num_pairs, 1)}
        fans = {"mat": (dim, dim), "vec": (self.num_pairs, dim), "num": (self.num_pairs, 1)}[params.kernel_type]
        self.kernel = nn.Parameter(initialize(torch.empty(shape[params.kernel_type]), "glorot_uniform",
                                              fan_in=fans[0], fan_out=fans[1]))

    def output_spec(self, input_spec: Any) -> TensorSpec:
        self.check(input_spec)
        return TensorSpec((self.num_pairs,))

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        left, right = self.sides(x)
        if self.params.kernel_type == "mat":
            return torch.einsum("bpa,pac,bpc->bp", right, self.kernel, left)
        return (left * right * self.kernel).sum(-1)
