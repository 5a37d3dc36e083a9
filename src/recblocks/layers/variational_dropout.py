"""Feature-wise variational dropout: a learned drop rate per feature, with its penalty."""

from __future__ import annotations

import math
from typing import Any

import torch
from pydantic import Field
from torch import nn

from recblocks.core.context import ForwardContext
from recblocks.core.errors import ShapeError
from recblocks.core.params import Params
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.base import Component, block_name

__all__ = ["VariationalDropout", "VariationalDropoutParams"]

#: Machine epsilon of float64, added inside EasyRec's logs (``np.finfo(float).eps``).
_EPS = float(torch.finfo(torch.float64).eps)


class VariationalDropoutParams(Params):
    """Parameters of :class:`VariationalDropout` (EasyRec ``VariationalDropoutLayer`` names and defaults)."""

    regularization_lambda: float = Field(default=0.01, ge=0.0, le=1e6,
                                         description="weight of the keep-rate penalty, per batch row")
    use_embedding_wise: bool = Field(default=False, description="one rate per embedding column instead of "
                                     "per feature (EasyRec embedding_wise_variational_dropout)")
    temperature: float = Field(default=0.1, gt=0.0, le=1e3, description="temperature of the concrete relaxation")
    loss_name: str | None = Field(default=None, min_length=1, pattern=r"^[^/]+$")


def _widths(spec: Any, where: str) -> list[int]:
    """The feature widths ``D_f`` of a field list (widths may differ) or of a ``(B, F, D)`` tensor."""
    expected = "a feature list F x (B, D_f) or a (B, F, D) tensor"
    if isinstance(spec, TensorSpec) and spec.rank == 3:
        return [spec.shape[1]] * spec.shape[0]
    if isinstance(spec, (list, tuple)) and spec and all(isinstance(s, TensorSpec) and s.rank == 2 for s in spec):
        return [s.shape[0] for s in spec]
    raise ShapeError(where, "VariationalDropout needs the features of a group", expected, describe_spec(spec))


@COMPONENTS.register(
    "VariationalDropout", params=VariationalDropoutParams, input_kind="fields", uses_context=True,
    aliases=("VariationalDropoutLayer",),
    examples=[
        ({}, [TensorSpec((4,)), TensorSpec((1,)), TensorSpec((3,))]),
        ({"use_embedding_wise": True, "regularization_lambda": 0.1}, [TensorSpec((2,))] * 3),
        ({"loss_name": "feature_dropout"}, TensorSpec((3, 2))),
    ])
class VariationalDropout(Component):
    """Feature-wise variational dropout that learns how droppable each feature is.

    Chang et al., "Dropout Feature Ranking for Deep Learning Models", arXiv:1712.08645, as
    EasyRec's ``VariationalDropoutLayer`` applies it to a feature group. Every feature ``f``
    (or, with ``use_embedding_wise``, every embedding column) has a learned drop rate
    ``p_f = sigmoid(theta_f)``. In training each row's feature is multiplied by a relaxed
    Bernoulli keep mask ``1 - sigmoid((logit p_f + logit u) / temperature)`` with ``u ~ U(0, 1)``;
    in evaluation by its expectation ``1 - p_f``. The penalty
    ``regularization_lambda / B * sum_f (1 - p_f)`` (it rewards dropping features) is added
    through the forward context as ``loss_name`` (default ``<block>_variational_dropout_loss``)
    in training and evaluation. ``theta`` starts Glorot-uniform as a 1-D variable,
    ``U(-sqrt(3 / n), sqrt(3 / n))`` over its ``n`` entries. The rates rank the features: a
    high ``p_f`` marks a feature the model does without.

    Args:
        regularization_lambda: weight of the penalty (EasyRec's default 0.01).
        use_embedding_wise: one rate per embedding column instead of per feature.
        temperature: temperature of the concrete relaxation (EasyRec 0.1).
        loss_name: name of the added penalty (no ``/``); default ``<block>_variational_dropout_loss``.

    Shape:
        - Input: feature list ``F x (B, D_f)`` (widths may differ) or ``(B, F, D)``.
        - Output: the same structure and shapes; added loss ``()``.

    Example:
        >>> layer = VariationalDropout.from_spec(VariationalDropoutParams(), [TensorSpec((2,)), TensorSpec((1,))])
        >>> with torch.no_grad():
        ...     _ = layer.logit_p.copy_(torch.tensor([0.0, 100.0]))
        >>> context = ForwardContext(training=False)
        >>> layer.eval()([torch.tensor([[2.0, 4.0]]), torch.tensor([[3.0]])], context)
        [tensor([[1., 2.]], grad_fn=<MulBackward0>), tensor([[0.]], grad_fn=<MulBackward0>)]
        >>> round(context.losses["VariationalDropout_variational_dropout_loss"][0].item(), 4)
        0.005
    """

    def __init__(self, params: VariationalDropoutParams, widths: list[int], where: str) -> None:
        super().__init__(params)
        self.where, self.widths = where, list(widths)
        self.loss_name = params.loss_name or f"{block_name(where)}_variational_dropout_loss"
        size = sum(widths) if params.use_embedding_wise else len(widths)
        limit = math.sqrt(3.0 / size)
        self.logit_p = nn.Parameter(torch.empty(size).uniform_(-limit, limit))
        # feature index of every embedding column: expands per-feature rates to the columns
        columns = [f for f, width in enumerate(widths) for _ in range(width)]
        self.register_buffer("column_feature", torch.tensor(columns, dtype=torch.long), persistent=False)

    @classmethod
    def from_spec(cls, params: VariationalDropoutParams, input_spec: Any, where: str = "") -> "VariationalDropout":
        where = where or "VariationalDropout"
        return cls(params, _widths(input_spec, where), where)

    def output_spec(self, input_spec: Any) -> Any:
        widths = _widths(input_spec, self.where)
        if widths != self.widths:
            raise ShapeError(self.where, "VariationalDropout: the features differ from the ones this layer was "
                             "built for", f"widths {self.widths}", widths)
        return input_spec

    def drop_rates(self) -> torch.Tensor:
        """``p`` per feature (or per embedding column): ``(F,)`` or ``(sum D_f,)``."""
        return torch.sigmoid(self.logit_p)

    def _column_scale(self, batch: int) -> torch.Tensor:
        p = self.drop_rates()
        if self.training:
            p = p.expand(batch, -1)
            u = torch.rand_like(p)
            logits = (torch.log(p + _EPS) - torch.log(1.0 - p + _EPS)
                      + torch.log(u + _EPS) - torch.log(1.0 - u + _EPS))
            keep = 1.0 - torch.sigmoid(logits / self.params.temperature)
        else:
            keep = (1.0 - p).expand(batch, -1)
        return keep if self.params.use_embedding_wise else keep[:, self.column_feature]  # (B, sum D_f)

    def forward(self, x: Any, context: ForwardContext) -> Any:
        stacked = isinstance(x, torch.Tensor)
        fields = list(x.unbind(dim=1)) if stacked else list(x)
        batch = fields[0].shape[0]
        scale = torch.split(self._column_scale(batch), self.widths, dim=1)
        out = [f * s for f, s in zip(fields, scale)]
        penalty = self.params.regularization_lambda / batch * (1.0 - self.drop_rates()).sum()
        context.add_loss(self.loss_name, penalty)
        return torch.stack(out, dim=1) if stacked else out
