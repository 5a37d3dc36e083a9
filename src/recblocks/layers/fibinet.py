"""FiBiNet: SENet re-weighting plus bilinear interactions in one component (EasyRec ``FiBiNet``)."""

from __future__ import annotations

from typing import Any, Literal

import torch

from recblocks.core.errors import ConfigError
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec
from recblocks.layers.base import Component
from recblocks.layers.bilinear import BiLinear, BiLinearParams
from recblocks.layers.mlp import MLP, MLPParams
from recblocks.layers.senet import SENet, SENetParams

__all__ = ["FiBiNet", "FiBiNetParams"]


class FiBiNetParams(Params):
    """Parameters of :class:`FiBiNet` (EasyRec ``FiBiNet``: ``senet``, ``bilinear``, ``mlp``)."""

    senet: SENetParams = SENetParams()
    bilinear: BiLinearParams | None = None
    mlp: MLPParams | None = None
    mode: Literal["fibinet", "fibinet++"] = "fibinet++"
    share_bilinear: bool = False


@COMPONENTS.register(
    "FiBiNet", params=FiBiNetParams, input_kind="fields",
    examples=[
        ({"senet": {"reduction_ratio": 4}, "bilinear": {"type": "each", "num_output_units": 3}},
         [TensorSpec((2,))] * 3),
        ({"senet": {}, "mlp": {"hidden_units": [4]}}, [TensorSpec((4,)), TensorSpec((2,))]),
        ({"mode": "fibinet", "bilinear": {"bilinear_type": "field_all"}}, TensorSpec((3, 2))),
        ({"mode": "fibinet", "share_bilinear": True, "mlp": {"hidden_units": [3], "use_bn": False,
                                                             "use_final_bn": False}}, [TensorSpec((2,))] * 3),
    ])
class FiBiNet(Component):
    """SENet plus bilinear feature interaction, concatenated, with an optional MLP (FiBiNET / FiBiNet++).

    Papers: FiBiNET (Huang et al., RecSys 2019, arXiv:1905.09433) and FiBiNet++ (Zhang et al.,
    2022, arXiv:2209.05016).

    * ``fibinet++`` (default; EasyRec's ``FiBiNet``): ``out = concat(SENet+(E), BiLinear(E))``
      (the bilinear part, only when ``bilinear`` is set, sees the raw embeddings; the SENet
      mode defaults to ``plus``).
    * ``fibinet`` (paper): ``V = SENet(E)`` (classic), ``p = BiLinear(E)``, ``q = BiLinear'(V)``;
      ``out = concat(p, q)`` with two bilinear layers (FuxiCTR) or one shared
      (``share_bilinear``, DeepCTR); ``bilinear`` defaults to ``BiLinearParams()``.

    Then ``mlp`` when given.

    Args:
        senet: the SENet parameters (its ``mode`` defaults to the FiBiNet mode's variant).
        bilinear: the BiLinear parameters (optional in ``fibinet++``).
        mlp: an MLP applied to the concatenation.
        mode: ``fibinet++`` or ``fibinet``.
        share_bilinear: one bilinear layer for ``E`` and ``V`` (``fibinet`` mode).

    Shape:
        - Input: field list ``F x (B, D_f)`` or ``(B, F, D)`` (``fibinet`` needs equal widths).
        - Output: ``(B, W)``: SENet width ``sum_f D_f`` plus the bilinear width (twice in
          ``fibinet``), or ``(B, mlp.hidden_units[-1])``.

    Example:
        >>> block = FiBiNet.from_spec(FiBiNetParams(bilinear=BiLinearParams(num_output_units=4)),
        ...                           [TensorSpec((2,))] * 3)
        >>> block([torch.randn(5, 2) for _ in range(3)]).shape
        torch.Size([5, 10])
    """

    def __init__(self, params: FiBiNetParams, senet: SENet, bilinears: list[BiLinear], mlp: MLP | None,
                 width: int, where: str) -> None:
        super().__init__(params)
        self.where = where
        self.senet = senet
        self.bilinear = bilinears[0] if bilinears else None
        self.bilinear_v = bilinears[1] if len(bilinears) > 1 else None
        self.mlp = mlp
        self.output_dim = width if mlp is None else mlp.output_dim

    @classmethod
    def from_spec(cls, params: FiBiNetParams, input_spec: Any, where: str = "") -> "FiBiNet":
        where = where or "FiBiNet"
        paper = params.mode == "fibinet"
        senet_mode = params.senet.resolved("classic" if paper else "plus")
        if paper and senet_mode != "classic":
            raise ConfigError(join_path(where, "senet", "mode"), "the fibinet mode re-weights fields with the "
                              "classic SENet", "'classic' or unset", senet_mode)
        senet = SENet.from_spec(params.senet, input_spec, join_path(where, "senet"),
                                default_mode="classic" if paper else "plus")
        senet_spec = senet.output_spec(input_spec)
        bilinear_params = params.bilinear or (BiLinearParams() if paper else None)
        bilinears: list[BiLinear] = []
        width = senet_spec.shape[-1] if not paper else 0
        if bilinear_params is not None:
            first = BiLinear.from_spec(bilinear_params, input_spec, join_path(where, "bilinear"))
            bilinears.append(first)
            width += first.output_dim
            if paper:
                if not params.share_bilinear:
                    bilinears.append(BiLinear.from_spec(bilinear_params, senet_spec, join_path(where, "bilinear")))
                width += first.output_dim
        mlp = MLP.from_spec(params.mlp, TensorSpec((width,)), join_path(where, "mlp")) if params.mlp else None
        return cls(params, senet, bilinears, mlp, width, where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        self.senet.output_spec(input_spec)
        return TensorSpec((self.output_dim,))

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        weighted = self.senet(x)
        if self.params.mode == "fibinet":
            first = self.bilinear  # always built in this mode
            second = self.bilinear_v or first
            out = torch.cat([first(x), second(weighted)], dim=-1)  # type: ignore[misc]
        elif self.bilinear is not None:
            out = torch.cat([weighted, self.bilinear(x)], dim=-1)
        else:
            out = weighted
        return out if self.mlp is None else self.mlp(out)
