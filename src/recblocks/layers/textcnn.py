"""TextCNN over a token-embedding sequence (EasyRec ``TextCNN``; Kim, arXiv:1408.5882)."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from pydantic import Field, model_validator
from torch import nn

from recblocks.core.errors import ShapeError
from recblocks.core.limits import MAX_LAYER_WIDTH, MAX_LAYERS, MAX_SEQUENCE_LENGTH
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.activations import initialize, make_activation
from recblocks.layers.base import Component
from recblocks.layers.mlp import MLP, MLPParams

__all__ = ["TextCNN", "TextCNNParams"]

_Width = Annotated[int, Field(ge=1, le=MAX_LAYER_WIDTH)]


class TextCNNParams(Params):
    """Parameters of :class:`TextCNN` (EasyRec ``TextCNN`` message)."""

    filter_sizes: list[Annotated[int, Field(ge=1, le=MAX_SEQUENCE_LENGTH)]] = Field(min_length=1,
                                                                                    max_length=MAX_LAYERS)
    num_filters: list[_Width] = Field(min_length=1, max_length=MAX_LAYERS)
    pad_sequence_length: int = Field(default=0, ge=0, le=MAX_SEQUENCE_LENGTH)
    activation: str | None = "relu"
    mlp: MLPParams | None = None

    @model_validator(mode="after")
    def _one_count_per_size(self) -> "TextCNNParams":
        if len(self.filter_sizes) != len(self.num_filters):
            raise ValueError(f"filter_sizes and num_filters need one entry each per convolution; got "
                             f"{len(self.filter_sizes)} and {len(self.num_filters)}")
        return self


def _sequence_input(spec: Any, where: str) -> tuple[int, int]:
    """``(L, D)`` of ``(seq (B, L, D), lengths (B,), ...)``."""
    expected = "a sequence with its lengths (seq (B, L, D), lengths (B,)[, target])"
    if isinstance(spec, TensorSpec):
        raise ShapeError(where, "TextCNN needs the sequence lengths (set output_seq_and_normal_feature on the "
                         "input layer)", expected, describe_spec(spec))
    if (not isinstance(spec, (list, tuple)) or len(spec) < 2 or not isinstance(spec[0], TensorSpec)
            or not isinstance(spec[1], TensorSpec)):
        raise ShapeError(where, "TextCNN takes a token-embedding sequence and its lengths", expected,
                         describe_spec(spec))
    seq, lengths = spec[0], spec[1]
    if seq.rank != 3 or seq.dtype != "float":
        raise ShapeError(where, "the TextCNN sequence must be a 3-D float tensor", expected, describe_spec(spec))
    if lengths.shape != () or lengths.dtype != "long":
        raise ShapeError(where, "the TextCNN lengths must be one integer per row", expected, describe_spec(spec))
    return seq.shape[0], seq.shape[1]


@COMPONENTS.register(
    "TextCNN", params=TextCNNParams, input_kind="sequence", positional=("filter_sizes", "num_filters"),
    examples=[
        ({"filter_sizes": [2, 3], "num_filters": [3, 2]}, (TensorSpec((5, 4)), TensorSpec((), "long"), None)),
        ({"filter_sizes": [2], "num_filters": [2], "pad_sequence_length": 4, "activation": "tanh",
          "mlp": {"hidden_units": [3]}}, [TensorSpec((6, 3)), TensorSpec((), "long"), TensorSpec((3,))]),
    ])
class TextCNN(Component):
    """Convolutions of several widths over a sequence, max-pooled over time and concatenated (Kim, arXiv:1408.5882).

    For each ``(size k, filters n)``: ``c_t = act(W * seq[t:t+k] + b)`` ``(B, L-k+1, n)``, then
    the maximum over the windows that lie inside the row's length (``t + k <= len``; a row
    shorter than ``k`` keeps its first window, which reads the zero padding, as EasyRec's
    unmasked pooling does). With ``pad_sequence_length > 0`` the sequence is first cut or
    zero-padded to that length (EasyRec). Kernels start Glorot-uniform (Keras ``Conv1D``).

    Args:
        filter_sizes: window sizes ``k`` of the convolutions.
        num_filters: number of filters ``n`` of each convolution (one entry per size).
        pad_sequence_length: cut or pad the sequence to this length first (0: keep ``L``).
        activation: activation of the convolutions (default ``relu``).
        mlp: optional MLP on the pooled features (EasyRec ``MLP`` parameters).

    Shape:
        - Input: ``(seq (B, L, D), lengths (B,)[, target])``: the sequence output of an input layer.
        - Output: ``(B, sum n)``, or ``(B, mlp.hidden_units[-1])``.

    Example:
        >>> cnn = TextCNN.from_spec(TextCNNParams(filter_sizes=[2, 3], num_filters=[4, 2]),
        ...                         (TensorSpec((5, 8)), TensorSpec((), "long"), None))
        >>> cnn((torch.randn(3, 5, 8), torch.tensor([5, 2, 4]), None)).shape
        torch.Size([3, 6])
    """

    def __init__(self, params: TextCNNParams, seq_len: int, dim: int, where: str) -> None:
        super().__init__(params)
        self.where = where
        self.dims = (seq_len, dim)
        length = params.pad_sequence_length or seq_len
        if max(params.filter_sizes) > length:
            raise ShapeError(where, "a TextCNN filter is longer than the sequence",
                             f"filter sizes up to L = {length}", params.filter_sizes)
        self.length = length
        self.convs = nn.ModuleList()
        for size, filters in zip(params.filter_sizes, params.num_filters):
            conv = nn.Conv1d(dim, filters, size)
            initialize(conv.weight, "glorot_uniform", join_path(where, "filter_sizes"), fan_in=dim * size,
                       fan_out=filters * size)
            nn.init.zeros_(conv.bias)
            self.convs.append(conv)
        self.act = make_activation(params.activation, join_path(where, "activation"))
        width = sum(params.num_filters)
        self.mlp = MLP(params.mlp, width, join_path(where, "mlp")) if params.mlp is not None else None
        self.output_dim = self.mlp.output_dim if self.mlp is not None else width
        for size in set(params.filter_sizes):
            self.register_buffer(f"starts_{size}", torch.arange(length - size + 1), persistent=False)

    @classmethod
    def from_spec(cls, params: TextCNNParams, input_spec: Any, where: str = "") -> "TextCNN":
        where = where or "TextCNN"
        return cls(params, *_sequence_input(input_spec, where), where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        if _sequence_input(input_spec, self.where) != self.dims:
            raise ShapeError(self.where, "the TextCNN sequence differs from the one it was built for",
                             f"seq (B, {self.dims[0]}, {self.dims[1]})", describe_spec(input_spec))
        return TensorSpec((self.output_dim,))

    def forward(self, x: Any) -> torch.Tensor:
        seq, lengths = x[0], x[1]
        if seq.shape[1] > self.length:
            seq = seq[:, :self.length]
        elif seq.shape[1] < self.length:
            seq = nn.functional.pad(seq, (0, 0, 0, self.length - seq.shape[1]))
        tokens = seq.transpose(1, 2)  # (B, D, L)
        pooled = []
        for conv, size in zip(self.convs, self.params.filter_sizes):
            out = self.act(conv(tokens))  # (B, n, L - k + 1)
            starts = getattr(self, f"starts_{size}")
            valid = starts[None, :] + size <= lengths.clamp(min=size)[:, None]  # (B, L - k + 1)
            pooled.append(out.masked_fill(~valid[:, None, :], float("-inf")).amax(dim=-1))
        net = torch.cat(pooled, dim=-1)
        return self.mlp(net) if self.mlp is not None else net
