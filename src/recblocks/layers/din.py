"""DIN: target attention pooling of a behaviour sequence."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field

from recblocks.core.errors import ConfigError, ShapeError
from recblocks.core.params import Params, join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.base import Component
from recblocks.layers.mlp import MLP, MLPParams
from recblocks.layers.sequence import SEQUENCE_INPUT, length_mask, sequence_spec, split_sequence

__all__ = ["DIN", "DINParams"]

_SEQ = (TensorSpec((4, 3)), TensorSpec((), "long"), TensorSpec((3,)))
#: EasyRec's value for masked scores before the softmax.
_PAD_SCORE = -(2.0**32) + 1


class DINParams(Params):
    """Parameters of :class:`DIN` (EasyRec ``DINEncoder`` names and defaults)."""

    attention_dnn: MLPParams = Field(description="the scoring MLP; its last width must be 1")
    need_target_feature: bool = True
    attention_normalizer: Literal["softmax", "sigmoid", "none"] = "softmax"
    pool_full_sequence: bool = False
    aux_dim: int = Field(default=0, ge=0, description="the last aux_dim widths of the sequence are pooled, not scored")
    allow_key_transform: bool = False
    transform_dnn: bool = False


@COMPONENTS.register(
    "DIN", params=DINParams, input_kind="sequence", aliases=("DINEncoder",), positional=("attention_dnn",),
    examples=[
        ({"attention_dnn": {"hidden_units": [4, 1], "activation": "dice"}}, _SEQ),
        ({"attention_dnn": {"hidden_units": [1]}, "attention_normalizer": "sigmoid", "need_target_feature": False},
         [TensorSpec((4, 3)), TensorSpec((), "long"), None, TensorSpec((2,))]),
        ({"attention_dnn": {"hidden_units": [2, 1], "use_bn": False}, "attention_normalizer": "none"}, _SEQ),
        ({"attention_dnn": {"hidden_units": [2, 1]}, "pool_full_sequence": True},
         (TensorSpec((4, 5)), TensorSpec((), "long"), TensorSpec((3,)))),
        ({"attention_dnn": {"hidden_units": [2, 1]}, "allow_key_transform": True, "aux_dim": 2},
         (TensorSpec((4, 6)), TensorSpec((), "long"), TensorSpec((3,)))),
        ({"attention_dnn": {"hidden_units": [1]}, "allow_key_transform": True, "transform_dnn": True},
         (TensorSpec((4, 4)), TensorSpec((), "long"), TensorSpec((3,)))),
    ])
class DIN(Component):
    """Target attention: pool the sequence with MLP scores of (target, behaviour) pairs (DIN).

    Zhou et al., "Deep Interest Network for Click-Through Rate Prediction", KDD 2018
    (arXiv:1706.06978). With ``q`` the target tiled over the ``L`` positions and ``k_t`` the
    behaviours: ``s_t = MLP([q, k_t, q - k_t, q * k_t])``; padding positions
    (``t >= lengths``) are masked; ``a = softmax(s)`` (``'softmax'``, EasyRec's default and
    ours: it keeps the weights of a long sequence bounded), ``a = sigmoid(s / sqrt(D))`` (``'sigmoid'``) or ``a = s``
    (``'none'``, the paper: intensity kept); ``out = sum_t a_t k_t``. Masked positions get weight
    0, so a row with no valid position pools to zeros. The last MLP layer is always linear with
    a bias and no BN (as EasyRec forces it). A target narrower than ``D`` is zero-padded for
    scoring and the keys are cut to its width before pooling (EasyRec), unless
    ``pool_full_sequence`` keeps all ``D`` key widths in the pooled vector (for side information
    the target cannot have, such as the user's rating of each behaviour); a wider one is an error.

    EasyRec's sequence-group options (``SeqAttGroupConfig``, ``sequence_feature_layer.py``):
    ``aux_dim`` marks the last ``aux_dim`` widths of the sequence as auxiliary behaviours
    (``aux_hist_seq``): they are not scored, and are pooled with the same weights and appended
    after the pooled behaviours. With ``allow_key_transform`` a target of another width than the
    scored behaviours ``D_s = D - aux_dim`` is transformed: zero-padded to ``D_s`` when narrower
    (and not ``transform_dnn``), otherwise both the target and the behaviours pass a dense layer
    of ``D_s`` units (with bias, linear); the pooled vector is then ``D_s`` wide and the appended
    target is the transformed one.

    Args:
        attention_dnn: the scoring MLP (:class:`~recblocks.layers.mlp.MLPParams`); its last
            width must be 1; its final activation / BN / bias are overridden as above.
        need_target_feature: append the target to the pooled vector.
        attention_normalizer: ``'softmax'``, ``'sigmoid'`` or ``'none'``.
        pool_full_sequence: pool all ``D`` key widths, not only the first ``D_q``.
        aux_dim: widths at the end of the sequence that are pooled but not scored.
        allow_key_transform: pad or project a target whose width differs from ``D_s``.
        transform_dnn: with ``allow_key_transform``, always project (never pad).

    Shape:
        - Input: sequence input ``(seq (B, L, D), lengths (B,), target (B, D_q))``, ``D_q <= D_s``
          unless ``allow_key_transform``; ``D_s = D - aux_dim``.
        - Output: ``(B, P + aux_dim)``, or ``(B, P + aux_dim + Q)`` with ``need_target_feature``;
          ``P = Q = D_s`` when the target is transformed, else ``Q = D_q`` and ``P = D_s`` with
          ``pool_full_sequence``, else ``D_q``.

    Example:
        >>> din = DIN.from_spec(DINParams(attention_dnn={"hidden_units": [8, 1]}),
        ...                     (TensorSpec((5, 4)), TensorSpec((), "long"), TensorSpec((4,))))
        >>> din((torch.randn(2, 5, 4), torch.tensor([3, 5]), torch.randn(2, 4))).shape
        torch.Size([2, 8])
    """

    #: ``model_params.l2_regularization`` with ``l2_scope: easyrec`` reaches this module's kernels (as in EasyRec)
    easyrec_l2 = True

    def __init__(self, params: DINParams, dim: int, target_dim: int, where: str) -> None:
        super().__init__(params)
        self.where = where
        self.dim, self.target_dim = dim, target_dim
        self.scored = dim - params.aux_dim  # D_s
        units = params.attention_dnn.hidden_units
        if not units or units[-1] != 1:
            raise ConfigError(join_path(where, "attention_dnn.hidden_units"), "DIN's scoring MLP must end in one unit",
                              "a last width of 1", units)
        #: "pad" or "dense" when the target is transformed to D_s (allow_key_transform), else None
        self.transform = None
        if params.allow_key_transform and target_dim != self.scored:
            self.transform = "pad" if self.scored > target_dim and not params.transform_dnn else "dense"
        if self.transform == "dense":
            self.key_dense = torch.nn.Linear(target_dim, self.scored)
            self.seq_dense = torch.nn.Linear(self.scored, self.scored)
            for layer in (self.key_dense, self.seq_dense):
                torch.nn.init.xavier_uniform_(layer.weight)  # tf.layers.dense's Glorot-uniform kernel
                torch.nn.init.zeros_(layer.bias)
        scoring = params.attention_dnn.model_copy(
            update={"use_final_bn": False, "use_final_bias": True, "final_activation": "linear"})
        self.attention = MLP(scoring, 4 * self.scored, join_path(where, "attention_dnn"))

    @classmethod
    def from_spec(cls, params: DINParams, input_spec: Any, where: str = "") -> "DIN":
        where = where or "DIN"
        spec = sequence_spec(input_spec, where, "DIN", need_target=True)
        scored = spec.dim - params.aux_dim
        if scored < 1:
            raise ShapeError(where, "DIN: aux_dim leaves no behaviour width to score", f"aux_dim < {spec.dim}",
                             params.aux_dim)
        if spec.target_dim > scored and not params.allow_key_transform:  # type: ignore[operator]
            raise ShapeError(where, "DIN: the target is wider than the sequence", f"a target width <= {scored} "
                             f"in {SEQUENCE_INPUT} (or allow_key_transform)", describe_spec(input_spec))
        return cls(params, spec.dim, spec.target_dim, where)  # type: ignore[arg-type]

    def output_spec(self, input_spec: Any) -> TensorSpec:
        spec = sequence_spec(input_spec, self.where, "DIN", need_target=True)
        if (spec.dim, spec.target_dim) != (self.dim, self.target_dim):
            raise ShapeError(self.where, "DIN: the input widths differ from the ones this layer was built for",
                             f"D={self.dim}, D_q={self.target_dim}", f"D={spec.dim}, D_q={spec.target_dim}")
        if self.transform:
            pooled = target = self.scored
        else:
            pooled, target = (self.scored if self.params.pool_full_sequence else self.target_dim), self.target_dim
        return TensorSpec((pooled + self.params.aux_dim + (target if self.params.need_target_feature else 0),))

    def forward(self, x: Any) -> torch.Tensor:
        sequence, lengths, query = split_sequence(x)  # from_spec checked that the target is there
        keys, aux = sequence[..., : self.scored], sequence[..., self.scored:]
        if self.transform == "dense":
            query, keys = self.key_dense(query), self.seq_dense(keys)
        elif self.transform == "pad":
            query = torch.nn.functional.pad(query, (0, self.scored - self.target_dim))
        length = keys.shape[1]
        width = query.shape[-1]
        padded = query if width == self.scored else torch.nn.functional.pad(query, (0, self.scored - width))
        q = padded.unsqueeze(1).expand(-1, length, -1)
        scores = self.attention(torch.cat([q, keys, q - keys, q * keys], dim=-1)).squeeze(-1)  # (B, L)
        mask = length_mask(lengths, length)
        normalizer = self.params.attention_normalizer
        if normalizer == "softmax":
            weights = torch.softmax(scores.masked_fill(~mask, _PAD_SCORE), dim=-1)
        elif normalizer == "sigmoid":
            weights = torch.sigmoid(scores / self.scored**0.5)
        else:
            weights = scores
        weights = weights * mask
        values = keys if self.params.pool_full_sequence or self.transform else keys[..., : self.target_dim]
        if self.params.aux_dim:
            values = torch.cat([values, aux], dim=-1)
        pooled = torch.bmm(weights.unsqueeze(1), values).squeeze(1)
        return torch.cat([pooled, query], dim=-1) if self.params.need_target_feature else pooled
