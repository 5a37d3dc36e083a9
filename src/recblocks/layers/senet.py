"""Squeeze-and-excitation over fields (``SENet``): FiBiNet's classic form, FiBiNet++'s SENet+ and Monolith's."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from recblocks.core.limits import MAX_LAYER_WIDTH
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.activations import initialize, make_activation
from recblocks.layers.base import Component, stack_fields
from recblocks.layers.field_inputs import fields_of, named_error

__all__ = ["SENet", "SENetParams"]


class SENetParams(Params):
    """Parameters of :class:`SENet` (EasyRec ``SENet`` names; Monolith's ``cmp_dim``)."""

    mode: Literal["classic", "plus", "monolith"] | None = None
    reduction_ratio: float | None = Field(default=None, gt=0.0, le=MAX_LAYER_WIDTH)
    excitation_activation: str | None = "relu"
    num_squeeze_group: int = Field(default=2, ge=1, le=MAX_LAYER_WIDTH)
    use_skip_connection: bool = True
    use_output_layer_norm: bool = True
    cmp_dim: int | None = Field(default=None, ge=1, le=MAX_LAYER_WIDTH)
    out_type: Literal["concat", "stack"] = "concat"

    def resolved(self, default_mode: str = "classic") -> str:
        """The mode in effect (``None`` means ``default_mode``)."""
        return self.mode or default_mode


def _fields_or_widths(spec: Any, where: str, equal: bool) -> list[int]:
    """Field widths; unequal widths are allowed only for a field list when ``equal`` is False."""
    if not equal and isinstance(spec, (list, tuple)) and spec and all(
            isinstance(s, TensorSpec) and s.rank == 2 and s.dtype == "float" for s in spec):
        return [s.shape[0] for s in spec]
    num_fields, dim = fields_of(spec, where, "SENet", min_fields=1)
    return [dim] * num_fields


@COMPONENTS.register(
    "SENet", params=SENetParams, input_kind="fields", aliases=("SeNet", "SqueezeExcitation"),
    examples=[
        ({}, TensorSpec((4, 3))),
        ({"mode": "classic", "reduction_ratio": 2, "excitation_activation": "sigmoid"}, [TensorSpec((2,))] * 3),
        ({"mode": "plus", "reduction_ratio": 4}, [TensorSpec((4,)), TensorSpec((2,)), TensorSpec((6,))]),
        ({"mode": "plus", "num_squeeze_group": 1, "use_skip_connection": False, "use_output_layer_norm": False},
         TensorSpec((3, 2))),
        ({"mode": "monolith", "cmp_dim": 2}, [TensorSpec((3,)), TensorSpec((2,))]),
        ({"mode": "monolith", "cmp_dim": 2, "out_type": "stack"}, TensorSpec((3, 2))),
    ])
class SENet(Component):
    """Squeeze-and-excitation re-weighting of field embeddings (Hu et al., 2018; FiBiNET, FiBiNet++).

    Papers: "Squeeze-and-Excitation Networks", CVPR 2018, arXiv:1709.01507; FiBiNET,
    arXiv:1905.09433 (classic); FiBiNet++, arXiv:2209.05016 (SENet+). Three modes:

    * ``classic`` (default, components.md): ``z_f = mean_d e_f``;
      ``A = act(W_2 relu(W_1 z))`` with ``W_1: F -> max(1, floor(F / r))`` and ``W_2: -> F``
      (no bias; ``r = reduction_ratio``, default 3); output ``e_f * A_f`` as ``(B, F, D)``.
    * ``plus`` (EasyRec's ``SENet``, default ``r = 4``): every field is split into ``g`` groups;
      the squeeze is ``[max, mean]`` of each group; ``a = relu(z W_1 + b_1)`` (width
      ``max(1, floor(2 g F / r))``, He normal), ``w = a W_2 + b_2`` (width ``sum_f D_f``, Glorot
      normal) is a bit-wise weight; ``out = concat(E) * w`` (``+ concat(E)`` with the skip
      connection), then LayerNorm (torch's epsilon 1e-5; EasyRec's Keras uses 1e-3).
    * ``monolith`` (Monolith ``SeNet``): ``z_f = mean_d e_f``; ``w = sigmoid(relu(z W_1 + b_1) W_2 + b_2)``
      with ``W_1: F -> cmp_dim``, or ``w = z`` when ``cmp_dim`` is unset; ``v_f = e_f * w_f``,
      concatenated (``out_type='concat'``) or stacked.

    EasyRec configs name the layer ``SENet`` but mean ``plus``: set ``mode: plus`` there (the
    catalogue makes ``classic`` the default).

    Args:
        mode: ``classic`` | ``plus`` | ``monolith`` (``None`` is ``classic``; inside FiBiNet it
            follows FiBiNet's mode).
        reduction_ratio: ``r``; ``None`` means 3 (classic) or 4 (plus).
        excitation_activation: activation of the classic excitation (``relu`` or ``sigmoid``).
        num_squeeze_group: groups ``g`` per field (plus); every width must be a multiple of it.
        use_skip_connection: add the input back (plus).
        use_output_layer_norm: LayerNorm on the output (plus).
        cmp_dim: hidden width of the monolith tower (``None``: weights are the field means).
        out_type: monolith output, ``concat`` ``(B, sum D_f)`` or ``stack`` ``(B, F, D)``.

    Shape:
        - Input: field list ``F x (B, D_f)`` or ``(B, F, D)`` (classic needs equal widths).
        - Output: classic ``(B, F, D)``; plus ``(B, sum_f D_f)``; monolith ``(B, sum_f D_f)`` or
          ``(B, F, D)``.

    Example:
        >>> senet = SENet.from_spec(SENetParams(), TensorSpec((2, 2)))
        >>> with torch.no_grad():
        ...     _ = senet.squeeze.weight.copy_(torch.tensor([[1.0, 1.0]]))
        ...     _ = senet.excite.weight.copy_(torch.tensor([[0.5], [1.0]]))
        ...     senet(torch.tensor([[[1.0, 1.0], [2.0, 2.0]]]))
        tensor([[[1.5000, 1.5000],
                 [6.0000, 6.0000]]])
    """

    def __init__(self, params: SENetParams, widths: list[int], where: str = "SENet",
                 default_mode: str = "classic") -> None:
        super().__init__(params)
        self.where = where
        self.widths = widths
        self.mode = params.resolved(default_mode)
        self.default_mode = default_mode
        num_fields, total = len(widths), sum(widths)
        self.norm: nn.Module | None = None
        if self.mode == "classic":
            ratio = params.reduction_ratio or 3.0
            reduced = max(1, int(num_fields // ratio))
            self.squeeze = nn.Linear(num_fields, reduced, bias=False)
            self.excite = nn.Linear(reduced, num_fields, bias=False)
            initialize(self.squeeze.weight, "glorot_normal")
            initialize(self.excite.weight, "glorot_normal")
            self.act = make_activation(params.excitation_activation, join_path(where, "excitation_activation"))
        elif self.mode == "plus":
            groups = params.num_squeeze_group
            bad = [w for w in widths if w < groups or w % groups]
            if bad:
                raise named_error(where, "SENet", f"field embedding widths must be multiples of "
                                  f"num_squeeze_group={groups}", f"widths divisible by {groups}", widths)
            squeezed = 2 * groups * num_fields
            ratio = params.reduction_ratio or 4.0
            self.squeeze = nn.Linear(squeezed, max(1, int(squeezed // ratio)))
            self.excite = nn.Linear(self.squeeze.out_features, total)
            initialize(self.squeeze.weight, "he_normal")
            initialize(self.excite.weight, "glorot_normal")
            for bias in (self.squeeze.bias, self.excite.bias):
                nn.init.zeros_(bias)
            if params.use_output_layer_norm:
                self.norm = nn.LayerNorm(total)
        else:
            if params.out_type == "stack" and len(set(widths)) != 1:
                raise named_error(where, "SENet", "out_type 'stack' needs equal field widths",
                                  "one width for every field", widths)
            self.squeeze = self.excite = None
            if params.cmp_dim is not None:
                self.squeeze = nn.Linear(num_fields, params.cmp_dim)
                self.excite = nn.Linear(params.cmp_dim, num_fields)
                for layer in (self.squeeze, self.excite):
                    initialize(layer.weight, "glorot_uniform")
                    nn.init.zeros_(layer.bias)

    @classmethod
    def from_spec(cls, params: SENetParams, input_spec: Any, where: str = "",
                  default_mode: str = "classic") -> "SENet":
        where = where or "SENet"
        mode = params.resolved(default_mode)
        return cls(params, _fields_or_widths(input_spec, where, equal=mode == "classic"), where, default_mode)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        widths = _fields_or_widths(input_spec, self.where, equal=self.mode == "classic")
        if widths != self.widths:
            raise named_error(self.where, "SENet", "field widths differ from the ones it was built for",
                              self.widths, describe_spec(input_spec))
        if self.mode == "classic" or self.mode == "monolith" and self.params.out_type == "stack":
            return TensorSpec((len(widths), widths[0]))
        return TensorSpec((sum(widths),))

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        if self.mode == "plus":
            return self._plus(x)
        if isinstance(x, torch.Tensor) or len(set(self.widths)) == 1:
            fields = stack_fields(x)
            means = fields.mean(dim=-1)
        else:
            fields = None
            means = torch.stack([f.mean(dim=-1) for f in x], dim=1)
        if self.mode == "classic":
            weights = self.act(self.excite(torch.relu(self.squeeze(means))))
        elif self.squeeze is None:
            weights = means
        else:
            weights = torch.sigmoid(self.excite(torch.relu(self.squeeze(means))))
        if fields is None:
            return torch.cat([f * weights[:, i:i + 1] for i, f in enumerate(x)], dim=-1)
        out = fields * weights.unsqueeze(-1)
        if self.mode == "monolith" and self.params.out_type == "concat":
            return out.flatten(1)
        return out

    def _plus(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        groups = self.params.num_squeeze_group
        if isinstance(x, torch.Tensor) or len(set(self.widths)) == 1:
            fields = stack_fields(x)
            grouped = fields.reshape(fields.shape[0], fields.shape[1], groups, -1)
            squeezed = torch.cat([grouped.amax(dim=-1), grouped.mean(dim=-1)], dim=-1).flatten(1)
            flat = fields.flatten(1)
        else:
            parts = []
            for field in x:
                grouped = field.reshape(field.shape[0], groups, -1)
                parts += [grouped.amax(dim=-1), grouped.mean(dim=-1)]
            squeezed = torch.cat(parts, dim=-1)
            flat = torch.cat(list(x), dim=-1)
        weights = self.excite(torch.relu(self.squeeze(squeezed)))
        out = flat * weights
        if self.params.use_skip_connection:
            out = out + flat
        return out if self.norm is None else self.norm(out)
