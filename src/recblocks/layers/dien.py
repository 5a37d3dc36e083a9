"""DIEN: interest extraction GRU and target-attentive evolution (AUGRU / AGRU / AIGRU)."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from recblocks.core.context import ForwardContext
from recblocks.core.errors import ShapeError
from recblocks.core.limits import MAX_LAYER_WIDTH
from recblocks.core.params import Params
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec
from recblocks.layers.base import Component
from recblocks.layers.sequence import SEQUENCE_INPUT, length_mask, sequence_spec, split_sequence

__all__ = ["DIEN", "DIENParams", "evolve_step"]

_SEQ = (TensorSpec((4, 3)), TensorSpec((), "long"), TensorSpec((2,)))


def evolve_step(att_type: str, gi: torch.Tensor, gh: torch.Tensor, h: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """One evolution step from the input and state projections ``gi, gh (B, 3H)`` (``u | r | h~`` blocks).

    ``u = sigmoid(gi_u + gh_u)``, ``r = sigmoid(gi_r + gh_r)``, ``h~ = tanh(gi_h + r * gh_h)``;
    GRU / AIGRU: ``h' = (1 - u) h + u h~``; AUGRU: ``u~ = a u``, ``h' = (1 - u~) h + u~ h~``;
    AGRU: ``h' = (1 - a) h + a h~`` (paper convention: ``u`` multiplies the candidate).
    ``a`` is ``(B, 1)``.

    Example:
        >>> zeros = torch.zeros(1, 6)
        >>> evolve_step("AUGRU", zeros, zeros, torch.ones(1, 2), torch.tensor([[0.4]]))
        tensor([[0.8000, 0.8000]])
    """
    gi_u, gi_r, gi_h = gi.chunk(3, dim=-1)
    gh_u, gh_r, gh_h = gh.chunk(3, dim=-1)
    u = torch.sigmoid(gi_u + gh_u)
    r = torch.sigmoid(gi_r + gh_r)
    candidate = torch.tanh(gi_h + r * gh_h)
    if att_type == "AUGRU":
        u = a * u
    elif att_type == "AGRU":
        u = a.expand_as(u)
    return (1 - u) * h + u * candidate


class DIENParams(Params):
    """Parameters of :class:`DIEN` (catalogue / Monolith / FuxiCTR names)."""

    num_units: int | None = Field(default=None, ge=1, le=MAX_LAYER_WIDTH,
                                  description="GRU width H (default: the sequence width D)")
    att_type: Literal["AUGRU", "AGRU", "AIGRU", "GRU"] = "AUGRU"
    attention_type: Literal["bilinear", "dot"] = "bilinear"
    use_attention_softmax: bool = True
    aux_loss_weight: float = Field(default=0.0, ge=0.0, le=1e6,
                                   description="weight of the paper's auxiliary next-behaviour loss (0: off)")
    aux_hidden_units: int = Field(default=32, ge=1, le=MAX_LAYER_WIDTH,
                                  description="hidden width of the auxiliary loss's scorer")
    aux_loss_name: str = "dien_aux"


@COMPONENTS.register(
    "DIEN", params=DIENParams, input_kind="sequence", positional=("num_units",),
    examples=[
        ({"num_units": 4}, _SEQ),
        ({"att_type": "AGRU", "use_attention_softmax": False}, _SEQ),
        ({"att_type": "AIGRU", "num_units": 2, "attention_type": "dot"}, _SEQ),
        ({"att_type": "GRU"}, [TensorSpec((4, 3)), TensorSpec((), "long"), None, TensorSpec((3,))]),
        ({"aux_loss_weight": 0.5, "aux_hidden_units": 4}, _SEQ),
    ])
class DIEN(Component):
    """Interest evolution: a GRU over the behaviours, then a target-attentive GRU (DIEN).

    Zhou et al., "Deep Interest Evolution Network for Click-Through Rate Prediction", AAAI 2019
    (arXiv:1809.03672). (1) An extractor GRU gives ``h_t`` per behaviour. (2) Attention to the
    target ``q``: ``e_t = h_t^T W q`` (``bilinear``) or ``h_t^T q`` (``dot``, needs
    ``D_q = H``); padding positions are masked; ``a = softmax(e)`` over the valid positions, or
    ``a = sigmoid(e)`` without ``use_attention_softmax``. (3) The evolution GRU runs over
    ``h_t`` with :func:`evolve_step` (AUGRU, AGRU, AIGRU: a plain GRU on ``a_t h_t``, or GRU:
    no attention); a padded step leaves the state unchanged (lengths honoured, vectorised
    over the batch, one loop over the ``L`` steps). The output is the state after the last
    valid step (zeros for an empty sequence). (4) With ``aux_loss_weight > 0``, in training, the
    paper's auxiliary loss supervises the extractor: each state ``h_t`` scores the next behaviour
    ``e_{t+1}`` of its own sequence (label 1) and the behaviour at the same position of the next
    row of the batch (a negative drawn from the batch, label 0) with a small scorer
    ``MLP([h; e]) -> 1``; the binary cross-entropy over the pairs where both positions are valid is
    added to the model's loss as ``aux_loss_name`` with that weight (logged as ``aux/<name>``).

    Args:
        num_units: GRU width ``H`` (default: ``D``).
        att_type: ``'AUGRU'`` (default), ``'AGRU'``, ``'AIGRU'`` or ``'GRU'``.
        attention_type: ``'bilinear'`` (a learned ``W`` of ``H x D_q``) or ``'dot'``.
        use_attention_softmax: softmax over the valid positions (else a sigmoid per position).
        aux_loss_weight: weight of the auxiliary next-behaviour loss (0, the default: off).
        aux_hidden_units: hidden width of the auxiliary loss's scorer MLP.
        aux_loss_name: the name the auxiliary loss is added and logged under.

    Shape:
        - Input: sequence input ``(seq (B, L, D), lengths (B,), target (B, D_q))``.
        - Output: ``(B, H)``.
        - Context: adds one scalar loss in training when ``aux_loss_weight > 0``.

    Example:
        >>> dien = DIEN.from_spec(DIENParams(num_units=4),
        ...                       (TensorSpec((5, 3)), TensorSpec((), "long"), TensorSpec((2,))))
        >>> dien((torch.randn(2, 5, 3), torch.tensor([5, 2]), torch.randn(2, 2))).shape
        torch.Size([2, 4])
    """

    def __init__(self, params: DIENParams, dim: int, target_dim: int, where: str) -> None:
        super().__init__(params)
        self.where, self.dim, self.target_dim = where, dim, target_dim
        hidden = self.hidden = params.num_units or dim
        self.extractor = nn.GRU(dim, hidden, batch_first=True)
        self.bilinear = None
        if params.att_type != "GRU" and params.attention_type == "bilinear":
            self.bilinear = nn.Parameter(torch.empty(hidden, target_dim))
            nn.init.xavier_uniform_(self.bilinear)
        self.input_proj = nn.Linear(hidden, 3 * hidden)
        self.state_proj = nn.Linear(hidden, 3 * hidden)
        self.aux_scorer = None
        self.uses_context = params.aux_loss_weight > 0  # type: ignore[misc]  (the backbone passes the context)
        if params.aux_loss_weight > 0:
            self.aux_scorer = nn.Sequential(nn.Linear(hidden + dim, params.aux_hidden_units), nn.ReLU(),
                                            nn.Linear(params.aux_hidden_units, 1))

    @classmethod
    def _spec(cls, spec: Any, params: DIENParams, where: str) -> tuple[int, int]:
        seq = sequence_spec(spec, where, "DIEN", need_target=True)
        hidden = params.num_units or seq.dim
        if params.att_type != "GRU" and params.attention_type == "dot" and seq.target_dim != hidden:
            raise ShapeError(where, "DIEN: dot attention needs a target as wide as the GRU (num_units)",
                             f"a target width of {hidden} in {SEQUENCE_INPUT}", seq.target_dim)
        return seq.dim, seq.target_dim  # type: ignore[return-value]

    @classmethod
    def from_spec(cls, params: DIENParams, input_spec: Any, where: str = "") -> "DIEN":
        where = where or "DIEN"
        return cls(params, *cls._spec(input_spec, params, where), where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        dims = self._spec(input_spec, self.params, self.where)
        if dims != (self.dim, self.target_dim):
            raise ShapeError(self.where, "DIEN: the input widths differ from the ones this layer was built for",
                             f"D={self.dim}, D_q={self.target_dim}", f"D={dims[0]}, D_q={dims[1]}")
        return TensorSpec((self.hidden,))

    def attention(self, states: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Attention weights ``(B, L)`` of the extracted states to the target (0 on padding)."""
        query = target @ self.bilinear.T if self.bilinear is not None else target  # (B, H)
        scores = (states @ query.unsqueeze(-1)).squeeze(-1)
        if self.params.use_attention_softmax:
            weights = torch.softmax(scores.masked_fill(~mask, torch.finfo(scores.dtype).min), dim=-1)
        else:
            weights = torch.sigmoid(scores)
        return weights * mask

    def auxiliary_loss(self, seq: torch.Tensor, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Next-behaviour loss: ``h_t`` against ``e_{t+1}`` (1) and the next row's ``e_{t+1}`` (0)."""
        assert self.aux_scorer is not None
        positive, negative = seq[:, 1:], seq.roll(1, dims=0)[:, 1:]
        valid = mask[:, 1:] & mask.roll(1, dims=0)[:, 1:]
        h = states[:, :-1]
        logits = torch.cat([self.aux_scorer(torch.cat([h, positive], dim=-1)),
                            self.aux_scorer(torch.cat([h, negative], dim=-1))], dim=-1)  # (B, L-1, 2)
        labels = torch.zeros_like(logits)
        labels[..., 0] = 1.0
        losses = nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none").sum(-1)
        weight = valid.to(losses.dtype)
        return (losses * weight).sum() / weight.sum().clamp_min(1.0)

    def forward(self, x: Any, context: ForwardContext | None = None) -> torch.Tensor:
        seq, lengths, target = split_sequence(x)  # from_spec checked that the target is there
        mask = length_mask(lengths, seq.shape[1])
        states, _ = self.extractor(seq)  # padding is at the end: valid states never see it
        if self.aux_scorer is not None and context is not None and context.training and seq.shape[1] > 1:
            context.add_loss(self.params.aux_loss_name, self.auxiliary_loss(seq, states, mask),
                             weight=self.params.aux_loss_weight)
        att_type = self.params.att_type
        weights = torch.ones_like(mask, dtype=states.dtype) if att_type == "GRU" else self.attention(
            states, target, mask)
        inputs = states * weights.unsqueeze(-1) if att_type == "AIGRU" else states
        gi = self.input_proj(inputs)  # (B, L, 3H), all steps at once
        h = states.new_zeros(states.shape[0], self.hidden)
        for t in range(seq.shape[1]):
            new = evolve_step(att_type, gi[:, t], self.state_proj(h), h, weights[:, t : t + 1])
            h = torch.where(mask[:, t : t + 1], new, h)
        return h
