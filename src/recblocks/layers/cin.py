"""xDeepFM's compressed interaction network (``CIN``)."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from pydantic import Field
from torch import nn

from recblocks.core.errors import ConfigError
from recblocks.core.limits import MAX_LAYER_WIDTH, MAX_LAYERS
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec
from recblocks.layers.activations import initialize, make_activation
from recblocks.layers.base import Component, stack_fields
from recblocks.layers.field_inputs import fields_of, named_error

__all__ = ["CIN", "CINParams"]


class CINParams(Params):
    """Parameters of :class:`CIN` (EasyRec spells ``layer_sizes`` ``hidden_feature_sizes``)."""

    layer_sizes: list[Annotated[int, Field(ge=1, le=MAX_LAYER_WIDTH)]] = Field(
        alias="hidden_feature_sizes", min_length=1, max_length=MAX_LAYERS,
        description=f"feature maps H_k per layer: 1 to {MAX_LAYERS:,} layers of at most {MAX_LAYER_WIDTH:,}")
    activation: str | None = "relu"
    split_half: bool = False
    use_bias: bool = True
    kernel_initializer: str = "he_normal"


@COMPONENTS.register(
    "CIN", params=CINParams, input_kind="tensor3d", positional=("layer_sizes",),
    examples=[
        ({"hidden_feature_sizes": [3, 2]}, TensorSpec((3, 4))),
        ({"layer_sizes": [4, 2, 3], "split_half": True, "activation": None, "use_bias": False},
         [TensorSpec((2,))] * 3),
    ])
class CIN(Component):
    """Compressed interaction network of xDeepFM: vector-wise explicit high-order crosses (Lian et al., 2018).

    Paper: "xDeepFM: Combining Explicit and Implicit Feature Interactions...", KDD 2018,
    arXiv:1803.05170. With ``X^0`` the ``m`` field embeddings, layer ``k`` computes
    ``X^k[h, d] = act(sum_{i,j} W^k[h, i, j] X^{k-1}[i, d] X^0[j, d] + b_h)`` (a 1x1 convolution
    over the ``H_{k-1} * m`` outer products) and pools ``p^k = sum_d X^k``; the output is the
    concatenation of the ``p^k``. With ``split_half`` the first half of every non-last layer's
    maps feeds the next layer and only the second half is pooled (DeepCTR). The activation
    default is EasyRec's/DeepCTR's ``relu`` (FuxiCTR and Monolith use none: set ``None``);
    kernels He-normal, biases zero (EasyRec).

    Args:
        layer_sizes: feature maps ``H_k`` of each layer (EasyRec ``hidden_feature_sizes``).
        activation: activation of every layer (``None`` for identity).
        split_half: split non-last layers between the next layer and the output (sizes must be even).
        use_bias: learn a bias per feature map.
        kernel_initializer: initializer of the compression kernels.

    Shape:
        - Input: ``(B, F, D)`` or a field list ``F x (B, D)`` (``F = m`` fields).
        - Output: ``(B, sum_k H_k)``; with ``split_half`` ``(B, sum_{k<K} H_k / 2 + H_K)``.

    Example:
        >>> cin = CIN.from_spec(CINParams(layer_sizes=[1], activation=None, use_bias=False), TensorSpec((2, 2)))
        >>> with torch.no_grad():
        ...     _ = cin.kernels[0].fill_(1.0)
        ...     cin(torch.tensor([[[1.0, 2.0], [3.0, 4.0]]]))
        tensor([[52.]])
    """

    def __init__(self, params: CINParams, num_fields: int, where: str = "CIN") -> None:
        super().__init__(params)
        self.where = where
        self.num_fields = num_fields
        sizes = params.layer_sizes
        if params.split_half and any(size % 2 for size in sizes[:-1]):
            raise ConfigError(join_path(where, "layer_sizes"), "layer_size must be even number except for the "
                              "last layer when split_half=True", "even sizes before the last", sizes)
        self.kernels = nn.ParameterList()
        self.biases = nn.ParameterList() if params.use_bias else None
        previous = num_fields
        self.feeds: list[int] = []
        self.output_dim = 0
        for k, size in enumerate(sizes):
            kernel = torch.empty(size, previous, num_fields)
            initialize(kernel, params.kernel_initializer, join_path(where, "kernel_initializer"),
                       fan_in=previous * num_fields, fan_out=size)
            self.kernels.append(nn.Parameter(kernel))
            if self.biases is not None:
                self.biases.append(nn.Parameter(torch.zeros(size)))
            last = k == len(sizes) - 1
            feed = size // 2 if params.split_half and not last else size
            self.feeds.append(feed)
            self.output_dim += size - feed if params.split_half and not last else size
            previous = feed
        self.act = make_activation(params.activation, join_path(where, "activation"))

    @classmethod
    def from_spec(cls, params: CINParams, input_spec: Any, where: str = "") -> "CIN":
        where = where or "CIN"
        num_fields, _ = fields_of(input_spec, where, "CIN", min_fields=1)
        return cls(params, num_fields, where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        num_fields, _ = fields_of(input_spec, self.where, "CIN", min_fields=1)
        if num_fields != self.num_fields:
            raise named_error(self.where, "CIN", "the number of fields differs from the one it was built for",
                              f"{self.num_fields} fields", num_fields)
        return TensorSpec((self.output_dim,))

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        # Laid out as (B, D, maps): every layer's H_{k-1} * m outer products are then a contiguous
        # (B * D, H_{k-1} * m) matrix and the compression one matmul with the (H_k, H_{k-1} * m)
        # kernel. (A three-operand einsum "ohm,bhd,bmd->bod" contracts pairwise through a
        # (H_k, m, B, D) intermediate and is several times slower on CPU.)
        x0 = stack_fields(x).transpose(1, 2)  # (B, D, m)
        batch, width, _ = x0.shape
        hidden = x0
        pooled = []
        for k, kernel in enumerate(self.kernels):
            products = (hidden.unsqueeze(3) * x0.unsqueeze(2)).reshape(batch * width, -1)  # (B*D, H*m)
            maps = torch.matmul(products, kernel.flatten(1).t()).view(batch, width, -1)  # (B, D, H_k)
            if self.biases is not None:
                maps = maps + self.biases[k]
            maps = self.act(maps)
            feed = self.feeds[k]
            if feed < maps.shape[2]:
                hidden, out = maps[..., :feed], maps[..., feed:]
            else:
                hidden, out = maps, maps
            pooled.append(out.sum(dim=1))
        return torch.cat(pooled, dim=-1)
