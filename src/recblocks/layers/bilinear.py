"""FiBiNet's bilinear feature interaction (``BiLinear``, EasyRec ``Bilinear``)."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from recblocks.core.limits import MAX_LAYER_WIDTH
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.activations import initialize
from recblocks.layers.base import Component, stack_fields
from recblocks.layers.field_inputs import fields_of, named_error, pair_indices

__all__ = ["BiLinear", "BiLinearParams"]

_TYPES = {"all": "field_all", "each": "field_each", "interaction": "field_interaction"}


class BiLinearParams(Params):
    """Parameters of :class:`BiLinear` (EasyRec ``Bilinear``: ``type``, ``use_plus``, ``num_output_units``)."""

    bilinear_type: Literal["field_all", "field_each", "field_interaction", "all", "each", "interaction"] = Field(
        default="field_interaction", alias="type")
    use_plus: bool | None = None
    num_output_units: int | None = Field(default=None, ge=1, le=MAX_LAYER_WIDTH,
                                         description=f"width of the output Dense, at most {MAX_LAYER_WIDTH:,}")
    kernel_initializer: str = "glorot_normal"

    @property
    def kind(self) -> str:
        """The canonical type name (``field_all`` | ``field_each`` | ``field_interaction``)."""
        return _TYPES.get(self.bilinear_type, self.bilinear_type)

    @property
    def plus(self) -> bool:
        """Whether the pair output is the inner product (bilinear+)."""
        return self.num_output_units is not None if self.use_plus is None else self.use_plus


@COMPONENTS.register(
    "BiLinear", params=BiLinearParams, input_kind="fields", aliases=("Bilinear",),
    examples=[
        ({}, [TensorSpec((3,))] * 3),
        ({"bilinear_type": "field_all"}, TensorSpec((3, 2))),
        ({"type": "each", "num_output_units": 4}, [TensorSpec((2,))] * 3),
        ({"type": "interaction", "use_plus": True}, [TensorSpec((2,)), TensorSpec((3,)), TensorSpec((4,))]),
        ({"type": "interaction", "use_plus": False, "num_output_units": 2}, [TensorSpec((2,)), TensorSpec((3,))]),
    ])
class BiLinear(Component):
    """Bilinear interaction ``p_ij = (v_i W) * v_j`` of every field pair (FiBiNET, Huang et al., 2019).

    Papers: "FiBiNET: Combining Feature Importance and Bilinear feature Interaction...",
    RecSys 2019, arXiv:1905.09433; "FiBiNet++", arXiv:2209.05016. Pairs ``i < j`` come in the
    canonical row-major upper-triangle order. ``W`` is one ``D x D`` matrix (``field_all``),
    one per left field (``field_each``; ``F - 1`` matrices, the last field is never on the
    left) or one per pair (``field_interaction``, ``W_ij: D_i -> D_j``, the only type that
    allows unequal widths); Glorot normal, no bias. Bilinear+ (``use_plus``) takes the inner
    product ``(v_i W) . v_j`` instead of the element-wise one. With ``num_output_units`` a
    Dense layer (with bias, Glorot uniform) maps the concatenated pairs to that width (EasyRec).
    EasyRec's type names ``all``/``each``/``interaction`` are accepted. ``use_plus`` defaults
    to EasyRec's ``True`` when ``num_output_units`` is set (the EasyRec form) and to the
    paper's ``False`` otherwise.

    Args:
        bilinear_type: ``field_all``, ``field_each`` or ``field_interaction`` (EasyRec ``type``).
        use_plus: bilinear+ (inner products); ``None`` picks as described above.
        num_output_units: width of the output Dense; ``None`` returns the pairs themselves.
        kernel_initializer: initializer of the bilinear matrices.

    Shape:
        - Input: field list ``F x (B, D)`` or ``(B, F, D)``, ``F >= 2`` (``F x (B, D_f)`` for
          ``field_interaction``).
        - Output: ``(B, P * D)`` (``(B, sum_j D_j)`` over pairs for unequal widths), ``(B, P)``
          with bilinear+, or ``(B, num_output_units)``; ``P = F (F - 1) / 2``.

    Example:
        >>> layer = BiLinear.from_spec(BiLinearParams(bilinear_type="field_all"), [TensorSpec((2,))] * 2)
        >>> with torch.no_grad():
        ...     _ = layer.weight.copy_(torch.eye(2))
        ...     layer([torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 4.0]])])
        tensor([[3., 8.]])
    """

    def __init__(self, params: BiLinearParams, widths: list[int], where: str = "BiLinear") -> None:
        super().__init__(params)
        self.where = where
        self.widths = widths
        num_fields = len(widths)
        rows, cols = pair_indices(num_fields)
        self.pair_list = [(i, j) for i in range(num_fields) for j in range(i + 1, num_fields)]
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        self.equal = len(set(widths)) == 1
        kind, init, init_where = params.kind, params.kernel_initializer, join_path(where, "kernel_initializer")
        if not self.equal and kind != "field_interaction":
            raise named_error(where, "BiLinear", "all embedding dimensions must be same when not use bilinear "
                              "type: interaction", "one width for every field", widths)
        dim = widths[0]
        self.weight: nn.Parameter | None = None
        self.pair_weights: nn.ParameterList | None = None
        if kind == "field_all":
            self.weight = nn.Parameter(initialize(torch.empty(dim, dim), init, init_where))
        elif kind == "field_each":
            self.weight = nn.Parameter(initialize(torch.empty(num_fields - 1, dim, dim), init, init_where,
                                                  fan_in=dim, fan_out=dim))
        elif self.equal:
            self.weight = nn.Parameter(initialize(torch.empty(len(rows), dim, dim), init, init_where,
                                                  fan_in=dim, fan_out=dim))
        else:
            self.pair_weights = nn.ParameterList(
                nn.Parameter(initialize(torch.empty(widths[i], widths[j]), init, init_where, fan_in=widths[i],
                                        fan_out=widths[j])) for i, j in self.pair_list)
        pairs = len(rows)
        right_widths = sum(widths[j] for _, j in self.pair_list)
        self.pairs_dim = pairs if params.plus else (pairs * dim if self.equal else right_widths)
        self.output = None
        if params.num_output_units is not None:
            self.output = nn.Linear(self.pairs_dim, params.num_output_units)
            initialize(self.output.weight, "glorot_uniform")
            nn.init.zeros_(self.output.bias)
        self.output_dim = params.num_output_units or self.pairs_dim

    @staticmethod
    def widths_of(spec: Any, where: str, kind: str) -> list[int]:
        """Field widths of a field list or ``(B, F, D)`` input (unequal widths only for interaction)."""
        if kind == "field_interaction" and isinstance(spec, (list, tuple)) and all(
                isinstance(s, TensorSpec) and s.rank == 2 for s in spec) and len(spec) >= 2:
            if any(s.dtype != "float" for s in spec):
                raise named_error(where, "BiLinear", "field embeddings must be float tensors", "float fields",
                                  describe_spec(spec))
            return [s.shape[0] for s in spec]
        num_fields, dim = fields_of(spec, where, "BiLinear", min_fields=2)
        return [dim] * num_fields

    @classmethod
    def from_spec(cls, params: BiLinearParams, input_spec: Any, where: str = "") -> "BiLinear":
        where = where or "BiLinear"
        return cls(params, cls.widths_of(input_spec, where, params.kind), where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        widths = self.widths_of(input_spec, self.where, self.params.kind)
        if widths != self.widths:
            raise named_error(self.where, "BiLinear", "field widths differ from the ones it was built for",
                              self.widths, widths)
        return TensorSpec((self.output_dim,))

    def pairs(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        """The pair interactions before the output Dense: ``(B, P, D)``, or ``(B, P)`` with bilinear+."""
        if self.pair_weights is not None:
            fields = list(x)
            out = [(fields[i] @ w) * fields[j] for (i, j), w in
                   zip(self.pair_list, self.pair_weights)]
            return torch.stack([o.sum(-1) for o in out], dim=1) if self.params.plus else torch.cat(out, dim=-1)
        v = stack_fields(x)
        kind = self.params.kind
        if kind == "field_all":
            left = v[:, self.rows] @ self.weight
        elif kind == "field_each":
            left = torch.einsum("bfd,fde->bfe", v[:, :-1], self.weight)[:, self.rows]
        else:
            left = torch.einsum("bpd,pde->bpe", v[:, self.rows], self.weight)
        products = left * v[:, self.cols]
        return products.sum(-1) if self.params.plus else products

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        out = self.pairs(x).flatten(1)
        return out if self.output is None else self.output(out)
