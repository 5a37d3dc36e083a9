"""The co-action unit of CAN (``CAN``): item-side embeddings used as the weights of a small MLP."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.activations import check_activation, make_activation
from recblocks.layers.base import Component
from recblocks.layers.field_inputs import named_error, spec_list

__all__ = ["CAN", "CANParams"]


class CANParams(Params):
    """Parameters of :class:`CAN` (Monolith names and defaults)."""

    layer_num: int = Field(default=2, ge=1, le=64)
    activation: str | None = "relu"
    is_seq: bool = False
    is_stacked: bool = True


def _user_rank(params: CANParams) -> int:
    """Rank of the user input without the batch axis."""
    return 1 + int(params.is_seq) + int(params.is_stacked)


def _user_layout(params: CANParams) -> str:
    axes = ["B", *(["F"] if params.is_stacked else []), *(["S"] if params.is_seq else []), "d"]
    return f"({', '.join(axes)})"


@COMPONENTS.register(
    "CAN", params=CANParams, input_kind="fields",
    examples=[
        ({}, [TensorSpec((3, 2)), TensorSpec((12,))]),
        ({"layer_num": 1, "is_seq": True, "is_stacked": False, "activation": "tanh"},
         [TensorSpec((4, 3)), TensorSpec((12,))]),
        ({"layer_num": 1, "is_seq": True, "activation": None}, [TensorSpec((2, 4, 2)), TensorSpec((6,))]),
        ({"layer_num": 1, "is_stacked": False}, [TensorSpec((2,)), TensorSpec((6,))]),
    ])
class CAN(Component):
    """Co-Action unit: the item-side embedding parameterises an MLP applied to the user side.

    Paper: Bian et al., "CAN: Feature Co-Action Network for Click-Through Rate Prediction",
    WSDM 2022, arXiv:2011.05625 (Monolith ``CAN``). The item vector (per sample) is split into
    ``[W_1 (d*d), b_1 (d), W_2, b_2, ...]``; each ``W_l`` is read row-major as ``(d, d)``; the
    user vector ``h`` (a row) goes through ``h <- act(h W_l + b_l)`` for every layer, the last
    included (Monolith; the paper's reference code uses tanh: set ``activation: tanh``). With
    ``is_seq`` the results are summed over the sequence axis. The paper's multi-order inputs
    and separate co-action embedding table are not part of this layer (feed ``[u, u^2]`` or a
    dedicated feature group to get them). No weights of its own.

    Args:
        layer_num: layers of the co-action MLP.
        activation: activation after every layer.
        is_seq: the user side has a sequence axis ``S`` (summed in the output).
        is_stacked: the user side has a field axis ``F`` (kept in the output).

    Shape:
        - Input: ``[user, item]``; ``item`` is ``(B, layer_num * (d*d + d))``; ``user`` is
          ``(B, F, S, d)``, ``(B, F, d)``, ``(B, S, d)`` or ``(B, d)`` by ``is_stacked``/``is_seq``.
        - Output: ``(B, F, d)`` when stacked, else ``(B, d)``.

    Example:
        >>> can = CAN.from_spec(CANParams(layer_num=1, is_stacked=False), [TensorSpec((2,)), TensorSpec((6,))])
        >>> can([torch.tensor([[1.0, 2.0]]), torch.tensor([[1.0, 0.0, 0.0, 1.0, 0.5, -5.0]])])
        tensor([[1.5000, 0.0000]])
    """

    def __init__(self, params: CANParams, dim: int, where: str = "") -> None:
        super().__init__(params)
        self.dim = dim
        self.act = make_activation(params.activation, where, dim)

    @classmethod
    def from_spec(cls, params: CANParams, input_spec: Any, where: str = "") -> "CAN":
        check_activation(params.activation, join_path(where, "activation"))
        layout = f"[user {_user_layout(params)}, item (B, layer_num*(d*d+d))]"
        user, item = spec_list(input_spec, where, "CAN", 2, layout)
        for name, spec, rank in (("user", user, _user_rank(params) + 1), ("item", item, 2)):
            if not isinstance(spec, TensorSpec) or spec.rank != rank or spec.dtype != "float":
                raise named_error(where, "CAN", f"the {name} input has the wrong shape (is_seq={params.is_seq}, "
                                  f"is_stacked={params.is_stacked})", layout, describe_spec(input_spec))
        dim = user.shape[-1]
        expected = params.layer_num * dim * (dim + 1)
        if item.shape[0] != expected:
            raise named_error(where, "CAN", f"the item width must be layer_num * d * (d + 1) = "
                              f"{params.layer_num} * {dim} * {dim + 1}", f"(B, {expected})", describe_spec(item))
        return cls(params, dim, where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        user = input_spec[0]
        return TensorSpec((user.shape[0], self.dim)) if self.params.is_stacked else TensorSpec((self.dim,))

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        user, item = x[0], x[1]
        batch, d = item.shape[0], self.dim
        h = user.reshape(batch, -1, d)  # every user row of a sample: (B, N, d)
        for weights in item.reshape(batch, self.params.layer_num, d * d + d).unbind(dim=1):
            kernel, bias = weights[:, : d * d].reshape(batch, d, d), weights[:, d * d:]
            h = self.act(torch.bmm(h, kernel) + bias.unsqueeze(1))
        h = h.reshape(user.shape)
        if self.params.is_seq:
            h = h.sum(dim=-2)  # the sequence axis
        return h
