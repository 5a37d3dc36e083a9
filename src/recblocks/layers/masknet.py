"""MaskBlock and MaskNet (Wang, She, Zhang, arXiv:2102.07619), with EasyRec's parameter names.

LayerNorm epsilons are torch's (1e-5), not Keras' 1e-3 (components.md §11).
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from recblocks.core.errors import ConfigError, ShapeError
from recblocks.core.limits import MAX_LAYER_WIDTH, MAX_LAYERS
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.activations import initialize
from recblocks.layers.base import Component
from recblocks.layers.mlp import MLP, MLPParams

__all__ = ["MaskBlock", "MaskBlockParams", "MaskNet", "MaskNetParams"]


class MaskBlockParams(Params):
    """Parameters of :class:`MaskBlock` (EasyRec ``MaskBlock`` message)."""

    output_size: int | None = Field(default=None, ge=1, le=MAX_LAYER_WIDTH)
    reduction_factor: float | None = Field(default=None, gt=0.0, le=1e4)
    aggregation_size: int | None = Field(default=None, ge=1, le=MAX_LAYER_WIDTH)
    input_layer_norm: bool = False
    projection_dim: int | None = Field(default=None, ge=1, le=MAX_LAYER_WIDTH)


def _two_inputs(spec: Any, where: str) -> tuple[int, int]:
    """``net`` and ``mask_input`` widths of ``[net (B, D_net), mask_input (B, D_mask)]`` or one ``(B, D)``."""
    expected = "[net (B, D_net), mask_input (B, D_mask)] or one (B, D) used as both"
    if isinstance(spec, TensorSpec):
        specs = [spec, spec]
    elif isinstance(spec, (list, tuple)) and len(spec) >= 2 and all(isinstance(s, TensorSpec) for s in spec):
        specs = list(spec[:2])
    else:
        raise ShapeError(where, "MaskBlock takes a net and a mask input", expected, describe_spec(spec))
    if any(s.rank != 2 or s.dtype != "float" for s in specs):
        raise ShapeError(where, "MaskBlock inputs must be 2-D float tensors", expected, describe_spec(spec))
    return specs[0].shape[0], specs[1].shape[0]


@COMPONENTS.register(
    "MaskBlock", params=MaskBlockParams, input_kind="fields", positional=("output_size",),
    examples=[
        ({"output_size": 3, "aggregation_size": 4}, [TensorSpec((5,)), TensorSpec((6,))]),
        ({"reduction_factor": 1.5, "input_layer_norm": True, "projection_dim": 2}, TensorSpec((4,))),
    ])
class MaskBlock(Component):
    """Instance-guided mask ``h = net * (relu(m W_a + b_a) W_m + b_m)`` (MaskNet, arXiv:2102.07619).

    The mask comes from ``m = mask_input`` (through a no-bias projection to ``projection_dim``
    first, when set); the aggregation width is ``aggregation_size``, or
    ``int(D_mask * reduction_factor)`` when that is set (it wins, as in EasyRec). With
    ``output_size`` the block returns ``relu(LayerNorm(h W_o))`` (``W_o`` without bias), else
    ``h``. ``input_layer_norm`` applies a LayerNorm to ``net`` first (EasyRec's proto default
    ``false``; its docs say true: components.md §13 follows the proto).

    Args:
        output_size: width of the output projection (default: none, return ``h``).
        reduction_factor: aggregation width as a multiple of ``D_mask``.
        aggregation_size: aggregation width (one of the two is required).
        input_layer_norm: LayerNorm on ``net`` before masking.
        projection_dim: low-rank projection of the mask input before the aggregation layer.

    Shape:
        - Input: ``[net (B, D_net), mask_input (B, D_mask)]`` or one ``(B, D)`` used as both.
        - Output: ``(B, output_size)``, or ``(B, D_net)`` without ``output_size``.

    Example:
        >>> block = MaskBlock.from_spec(MaskBlockParams(aggregation_size=2, output_size=2), TensorSpec((2,)))
        >>> with torch.no_grad():
        ...     for layer in (block.aggregation, block.mask, block.output):
        ...         _ = layer.weight.copy_(torch.eye(2))
        ...     _ = block.aggregation.bias.zero_(), block.mask.bias.zero_()
        >>> block([torch.tensor([[3.0, 4.0]]), torch.tensor([[1.0, 2.0]])]).detach()
        tensor([[0.0000, 1.0000]])
    """

    #: ``model_params.l2_regularization`` with ``l2_scope: easyrec`` reaches this module's kernels (as in EasyRec)
    easyrec_l2 = True

    def __init__(self, params: MaskBlockParams, net_dim: int, mask_dim: int, where: str) -> None:
        super().__init__(params)
        self.where = where
        self.dims = (net_dim, mask_dim)
        if params.reduction_factor is not None:
            width = max(1, int(mask_dim * params.reduction_factor))
        elif params.aggregation_size is None:  # one of two fields: checked when built, so a bare block parses
            raise ConfigError(join_path(where, "aggregation_size"), "a MaskBlock needs reduction_factor or "
                              "aggregation_size", "one of them", "neither")
        else:
            width = int(params.aggregation_size)  # type: ignore[arg-type]
        source = mask_dim
        self.projection = None
        if params.projection_dim is not None:
            self.projection = nn.Linear(mask_dim, params.projection_dim, bias=False)
            source = params.projection_dim
        self.aggregation = nn.Linear(source, width)
        initialize(self.aggregation.weight, "he_uniform", join_path(where, "aggregation"))
        nn.init.zeros_(self.aggregation.bias)
        self.mask = nn.Linear(width, net_dim)
        self.input_norm = nn.LayerNorm(net_dim) if params.input_layer_norm else None
        self.output = nn.Linear(net_dim, params.output_size, bias=False) if params.output_size else None
        self.output_norm = nn.LayerNorm(params.output_size) if params.output_size else None
        for layer in (self.projection, self.mask, self.output):  # Keras Dense defaults
            if layer is not None:
                initialize(layer.weight, "glorot_uniform", where)
        nn.init.zeros_(self.mask.bias)

    @classmethod
    def from_spec(cls, params: MaskBlockParams, input_spec: Any, where: str = "") -> "MaskBlock":
        where = where or "MaskBlock"
        return cls(params, *_two_inputs(input_spec, where), where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        dims = _two_inputs(input_spec, self.where)
        if dims != self.dims:
            raise ShapeError(self.where, "MaskBlock input widths differ from the ones it was built for",
                             f"net (B, {self.dims[0]}), mask_input (B, {self.dims[1]})", describe_spec(input_spec))
        return TensorSpec((self.params.output_size or self.dims[0],))

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        net, mask_input = (x, x) if isinstance(x, torch.Tensor) else (x[0], x[1])
        if self.input_norm is not None:
            net = self.input_norm(net)
        if self.projection is not None:
            mask_input = self.projection(mask_input)
        hidden = net * self.mask(torch.relu(self.aggregation(mask_input)))
        if self.output is None:
            return hidden
        return torch.relu(self.output_norm(self.output(hidden)))  # type: ignore[misc]


class MaskNetParams(Params):
    """Parameters of :class:`MaskNet` (EasyRec ``MaskNet`` message)."""

    mask_blocks: list[MaskBlockParams] = Field(min_length=1, max_length=MAX_LAYERS)
    use_parallel: bool = True
    mlp: MLPParams | None = None
    input_layer_norm: bool = True


def _masknet_input(spec: Any, where: str) -> tuple[int, int | None]:
    """``(width, field_dim)`` of a ``(B, D)`` input (field_dim None) or of fields ``(B, F, D)`` / ``F x (B, D)``."""
    expected = "(B, D), (B, F, D) or a field list F x (B, D)"
    if isinstance(spec, TensorSpec) and spec.dtype == "float" and spec.rank in (2, 3):
        return (spec.shape[0], None) if spec.rank == 2 else (spec.shape[0] * spec.shape[1], spec.shape[1])
    if isinstance(spec, (list, tuple)) and spec and all(isinstance(s, TensorSpec) and s.rank == 2 for s in spec):
        dims = {s.shape[0] for s in spec}
        if len(dims) != 1:
            raise ShapeError(where, "MaskNet fields must have one embedding width for the per-field LayerNorm",
                             "equal widths", sorted(dims))
        return len(spec) * spec[0].shape[0], spec[0].shape[0]
    raise ShapeError(where, "MaskNet takes flat embeddings or a field list", expected, describe_spec(spec))


@COMPONENTS.register(
    "MaskNet", params=MaskNetParams, input_kind="tensor", positional=("mask_blocks",),
    examples=[
        ({"mask_blocks": [{"output_size": 3, "aggregation_size": 4}] * 2}, TensorSpec((6,))),
        ({"mask_blocks": [{"output_size": 4, "reduction_factor": 1.0}, {"output_size": 2, "aggregation_size": 3}],
          "use_parallel": False, "mlp": {"hidden_units": [2], "use_bn": False, "use_final_bn": False}},
         [TensorSpec((3,))] * 2),
        ({"mask_blocks": [{"aggregation_size": 2}], "input_layer_norm": False}, TensorSpec((2, 3))),
    ])
class MaskNet(Component):
    """MaskBlocks in parallel (outputs concatenated) or in series, then an optional MLP (arXiv:2102.07619).

    ``x`` is the flattened embedding ``(B, F*D)``, layer-normalised when ``input_layer_norm``:
    per field when the input keeps its fields (a field list or ``(B, F, D)``: the paper's and
    FuxiCTR's form, components.md §11), over the whole vector when it arrives flat ``(B, F*D)``
    (EasyRec's form, where the field boundaries are gone). Parallel:
    ``concat_k MaskBlock_k(x, x)``; serial: ``h = x; h = MaskBlock_k(h, x)`` (the mask always
    comes from the embedding).

    Args:
        mask_blocks: the MaskBlock parameters of each block (see :class:`MaskBlock`).
        use_parallel: parallel blocks (EasyRec default) instead of a series.
        mlp: optional MLP on the result (EasyRec ``MLP`` parameters).
        input_layer_norm: LayerNorm on the input (see above for per field vs whole vector).

    Shape:
        - Input: ``(B, D)`` flat, or fields ``(B, F, D)`` / ``F x (B, D)`` (then ``D_in = F*D``).
        - Output: ``(B, mlp.hidden_units[-1])``; without MLP ``(B, sum_k out_k)`` (parallel) or
          the last block's ``(B, out_K)`` (serial), ``out_k`` = ``output_size`` or the block's net width.

    Example:
        >>> net = MaskNet.from_spec(MaskNetParams(mask_blocks=[{"output_size": 3, "aggregation_size": 8}] * 2),
        ...                         TensorSpec((12,)))
        >>> net(torch.randn(4, 12)).shape
        torch.Size([4, 6])
    """

    def __init__(self, params: MaskNetParams, width: int, field_dim: int | None, where: str) -> None:
        super().__init__(params)
        self.where = where
        self.width = width
        self.field_dim = field_dim
        self.input_norm = None
        if params.input_layer_norm:
            self.input_norm = nn.LayerNorm(field_dim if field_dim is not None else width)
        blocks, net_dim, outputs = [], width, []
        for i, block in enumerate(params.mask_blocks):
            dim = width if params.use_parallel else net_dim
            blocks.append(MaskBlock(block, dim, width, join_path(where, "mask_blocks", i)))
            net_dim = block.output_size or dim
            outputs.append(net_dim)
        self.blocks = nn.ModuleList(blocks)
        out = sum(outputs) if params.use_parallel else net_dim
        self.mlp = MLP(params.mlp, out, join_path(where, "mlp")) if params.mlp is not None else None
        self.output_dim = self.mlp.output_dim if self.mlp is not None else out

    @classmethod
    def from_spec(cls, params: MaskNetParams, input_spec: Any, where: str = "") -> "MaskNet":
        where = where or "MaskNet"
        return cls(params, *_masknet_input(input_spec, where), where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        if _masknet_input(input_spec, self.where) != (self.width, self.field_dim):
            raise ShapeError(self.where, "MaskNet input differs from the one it was built for",
                             f"{self.width} values" + (f" in fields of {self.field_dim}" if self.field_dim else ""),
                             describe_spec(input_spec))
        return TensorSpec((self.output_dim,))

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            x = torch.stack(list(x), dim=1)
        if self.input_norm is not None:
            x = self.input_norm(x)
        x = x.reshape(x.shape[0], -1)
        if self.params.use_parallel:
            out = torch.cat([block([x, x]) for block in self.blocks], dim=-1)
        else:
            out = x
            for block in self.blocks:
                out = block([out, x])
        return self.mlp(out) if self.mlp is not None else out
