"""MIND's multi-interest extraction: B2I dynamic routing into interest capsules, label-aware attention."""

from __future__ import annotations

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
from recblocks.layers.sequence import SEQUENCE_INPUT, length_mask, sequence_spec, split_sequence

__all__ = ["CapsuleRouting", "CapsuleRoutingParams", "LabelAwareAttention", "LabelAwareAttentionParams",
           "interest_similarity", "squash"]

#: Stands for minus infinity in masked logits (EasyRec's ``1e32``).
_MASKED = -1e32
#: Seed of the fixed routing logits used outside training (EasyRec seeds numpy with 28 there).
_EVAL_SEED = 28


class CapsuleRoutingParams(Params):
    """Parameters of :class:`CapsuleRouting` (EasyRec's ``Capsule`` message; same names and defaults)."""

    max_k: int = Field(default=5, ge=1, le=1024)
    max_seq_len: int = Field(ge=1, le=1_048_576)
    high_dim: int = Field(ge=1, le=1_048_576)
    num_iters: int = Field(default=3, ge=1, le=100)
    routing_logits_scale: float = Field(default=20.0, ge=0.0, le=1e6)
    routing_logits_stddev: float = Field(default=1.0, ge=0.0, le=1e6)
    squash_pow: float = Field(default=1.0, gt=0.0, le=1e3)
    scale_ratio: float = Field(default=1.0, gt=0.0, le=1e6)
    const_caps_num: bool = False


def squash(z: torch.Tensor, power: float = 1.0, scale: float = 1.0) -> torch.Tensor:
    """Capsule squash over the last axis: ``z * scale * (n / (1 + n))^power / sqrt(n)``, ``n = max(|z|^2, 1e-8)``.

    Example:
        >>> squash(torch.tensor([[3.0, 4.0]])).mul(26).round(decimals=4).tolist()  # |z|^2 = 25: z * (25 / 26) / 5
        [[15.0, 20.0]]
    """
    norm = z.square().sum(dim=-1, keepdim=True).clamp(min=1e-8)
    return z * (norm / (1 + norm)).pow(power) * scale / norm.sqrt()


def _unit(x: torch.Tensor) -> torch.Tensor:
    """``x / max(|x|, 1e-6)`` over the last axis (tf.nn.l2_normalize's epsilon 1e-12 on the square)."""
    return x * x.square().sum(dim=-1, keepdim=True).clamp(min=1e-12).rsqrt()


@COMPONENTS.register(
    "CapsuleRouting", params=CapsuleRoutingParams, input_kind="sequence", aliases=("B2ICapsule", "CapsuleLayer"),
    positional=("max_seq_len", "high_dim"),
    examples=[
        ({"max_seq_len": 4, "high_dim": 3}, [TensorSpec((4, 2)), TensorSpec((), "long")]),
        ({"max_seq_len": 2, "high_dim": 3, "max_k": 2, "const_caps_num": True, "routing_logits_scale": 0.0,
          "num_iters": 1}, [TensorSpec((5, 2)), TensorSpec((), "long"), TensorSpec((3,))]),
    ])
class CapsuleRouting(Component):
    """Behaviour-to-interest dynamic routing of MIND: the sequence becomes up to ``K`` interest capsules.

    Li et al., "Multi-Interest Network with Dynamic Routing for Recommendation at Tmall",
    CIKM 2019, arXiv:1904.08030; EasyRec's ``CapsuleLayer``. Each behaviour ``e_s`` is mapped by
    one shared bilinear matrix, ``u_s = e_s S`` (``S: D x H``). Routing logits ``b_sk`` start
    random (training: truncated normal with ``routing_logits_stddev``; otherwise a fixed uniform
    draw in ``[0, stddev)``) and, ``num_iters`` times: ``w_sk = softmax_k(b_sk)`` over the user's
    capsules, zero on padding; ``z_k = sum_s w_sk u_s``; below the last iteration
    ``b_sk = scale * <u_s / |u_s|, z_k / |z_k|>`` (``scale = routing_logits_scale``; with scale 0,
    ``<u_s, z_k / |z_k|>``). Routing reads ``u`` without gradient; the last ``z`` reads it with
    gradient and is squashed: ``c_k = z_k * scale_ratio * (n / (1 + n))^squash_pow / sqrt(n)``,
    ``n = |z_k|^2``. A user with ``n_b`` behaviours (at most ``max_seq_len`` are read) has
    ``K_u = max(1, min(max_k, floor(log n_b)))`` capsules (``max_k`` with ``const_caps_num``);
    the others are zero and masked.

    Args:
        max_k: most capsules per user ``K``.
        max_seq_len: behaviours read (the rest are cut off).
        high_dim: capsule width ``H``.
        num_iters: routing iterations.
        routing_logits_scale: scale of the cosine routing logits (0: raw dot products).
        routing_logits_stddev: spread of the initial routing logits.
        squash_pow: power of the squash factor.
        scale_ratio: scale of the squashed capsules.
        const_caps_num: every user gets ``max_k`` capsules.

    Shape:
        - Input: sequence ``(B, L, D)`` with lengths ``(B,)`` (a target, if any, is ignored).
        - Output: list ``[capsules (B, K, H), capsule mask (B, K)]`` (mask 1.0 on a user's capsules).

    Example:
        >>> layer = CapsuleRouting.from_spec(CapsuleRoutingParams(max_seq_len=4, high_dim=3),
        ...                                  [TensorSpec((4, 2)), TensorSpec((), "long")])
        >>> capsules, mask = layer([torch.randn(2, 4, 2), torch.tensor([4, 1])])
        >>> capsules.shape, mask.tolist()
        (torch.Size([2, 5, 3]), [[1.0, 0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0, 0.0]])
    """

    def __init__(self, params: CapsuleRoutingParams, dim: int, where: str) -> None:
        super().__init__(params)
        self.where = where
        self.dim = dim
        self.bilinear = nn.Parameter(torch.empty(dim, params.high_dim))
        nn.init.xavier_uniform_(self.bilinear)  # tf.get_variable's default (Glorot uniform)
        generator = torch.Generator().manual_seed(_EVAL_SEED)
        fixed = torch.rand(params.max_seq_len, params.max_k, generator=generator) * params.routing_logits_stddev
        self.register_buffer("eval_logits", fixed, persistent=False)

    @classmethod
    def from_spec(cls, params: CapsuleRoutingParams, input_spec: Any, where: str = "") -> "CapsuleRouting":
        where = where or "CapsuleRouting"
        return cls(params, sequence_spec(input_spec, where, "CapsuleRouting").dim, where)

    def output_spec(self, input_spec: Any) -> list[TensorSpec]:
        spec = sequence_spec(input_spec, self.where, "CapsuleRouting")
        if spec.dim != self.dim:
            raise ShapeError(self.where, "CapsuleRouting: the behaviour width differs from the one this layer was "
                             "built for", f"D={self.dim} in {SEQUENCE_INPUT}", f"D={spec.dim}")
        params: CapsuleRoutingParams = self.params  # type: ignore[assignment]
        return [TensorSpec((params.max_k, params.high_dim)), TensorSpec((params.max_k,))]

    def capsule_counts(self, lengths: torch.Tensor) -> torch.Tensor:
        """``K_u`` per row: ``max(1, min(max_k, floor(log n_b)))``, or ``max_k`` with ``const_caps_num``."""
        params: CapsuleRoutingParams = self.params  # type: ignore[assignment]
        if params.const_caps_num:
            return torch.full_like(lengths, params.max_k)
        logs = torch.log(lengths.clamp(min=1).to(torch.float32)).floor().long()
        return logs.clamp(min=1, max=params.max_k)

    def initial_logits(self, batch: int, length: int, device: torch.device) -> torch.Tensor:
        params: CapsuleRoutingParams = self.params  # type: ignore[assignment]
        if self.training:
            logits = torch.empty(batch, length, params.max_k, device=device)
            std = params.routing_logits_stddev
            return nn.init.trunc_normal_(logits, std=std, a=-2 * std, b=2 * std) if std > 0 else logits.zero_()
        return self.eval_logits[:length].to(device).expand(batch, -1, -1)

    def forward(self, x: Any) -> list[torch.Tensor]:
        params: CapsuleRoutingParams = self.params  # type: ignore[assignment]
        seq, lengths, _ = split_sequence(x)
        seq = seq[:, :params.max_seq_len]
        lengths = lengths.clamp(max=seq.shape[1])
        batch, length = seq.shape[0], seq.shape[1]
        high = seq @ self.bilinear  # (B, L, H)
        high_stop = high.detach()
        high_unit = _unit(high_stop)
        valid = length_mask(lengths, length).to(seq.dtype)  # (B, L)
        caps_mask = length_mask(self.capsule_counts(lengths), params.max_k).to(seq.dtype)  # (B, K)
        cap_limit = (caps_mask[:, None, :] * 2 - 1) * -_MASKED
        logits = self.initial_logits(batch, length, seq.device)
        capsules = seq.new_zeros(batch, params.max_k, params.high_dim)
        for step in range(params.num_iters):
            weights = torch.softmax(torch.minimum(logits, cap_limit), dim=2) * valid[:, :, None]
            last = step + 1 == params.num_iters
            capsules = torch.einsum("bse,bsk->bke", high if last else high_stop, weights)
            if last:
                capsules = squash(capsules, params.squash_pow, params.scale_ratio)
                break
            capsules = _unit(capsules)
            if params.routing_logits_scale > 0:
                logits = torch.einsum("bse,bke->bsk", high_unit, capsules) * params.routing_logits_scale
            else:
                logits = torch.einsum("bse,bke->bsk", high_stop, capsules)
        return [capsules * caps_mask[:, :, None], caps_mask]


class LabelAwareAttentionParams(Params):
    """Parameters of :class:`LabelAwareAttention`."""

    simi_pow: float = Field(default=10.0, gt=0.0, le=1e6)
    max_interests_simi: float = Field(default=1.0, ge=-1.0, le=1.0)


def interest_similarity(interests: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """EasyRec MIND's interest similarity: ``(c + 1) / 2`` averaged over the users with several
    interests, ``c`` a user's mean cosine over ordered pairs of distinct valid interests.

    Example:
        >>> v = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]])  # pairs: cos 1, 0, 0 (twice each)
        >>> round(float(interest_similarity(v, torch.ones(1, 3))), 4)  # ((2 / 6) + 1) / 2
        0.6667
    """
    unit = nn.functional.normalize(interests, dim=-1) * mask[:, :, None]
    pairs = (unit.sum(dim=1).square() - unit.square().sum(dim=1)).sum(dim=-1)  # (B,): sum over ordered pairs
    count = mask.sum(dim=1)
    cosine = pairs / (count * (count - 1)).clamp(min=1.0)
    multi = (count > 1).to(interests.dtype)
    return ((cosine + 1) * multi).sum() / 2 / multi.sum().clamp(min=1.0)


@COMPONENTS.register(
    "LabelAwareAttention", params=LabelAwareAttentionParams, input_kind="fields", positional=("simi_pow",),
    uses_context=True,
    examples=[
        ({}, [TensorSpec((3, 4)), TensorSpec((4,)), TensorSpec((3,))]),
        ({"simi_pow": 2.0, "max_interests_simi": 0.0}, [TensorSpec((2, 5)), TensorSpec((5,))]),
    ])
class LabelAwareAttention(Component):
    """MIND's label-aware attention: the target item picks a weighted mix of the user's interests.

    Li et al., CIKM 2019, arXiv:1904.08030 (Eq. 8); EasyRec's MIND. With interests ``v_k``, the
    item vector ``e`` and the capsule mask ``m_k``: ``a = softmax_k(simi_pow * <v_k, e>)`` over
    the valid capsules, ``u = sum_k a_k m_k v_k``. With ``simi_pow >= 100`` (EasyRec) ``a`` is the
    one-hot of the most similar interest. With ``max_interests_simi < 1`` (EasyRec) training adds
    the loss ``<block>_interest_simi = relu(s - max_interests_simi)``, ``s`` the
    :func:`interest_similarity` of the batch, which keeps a user's interests apart.

    Args:
        simi_pow: sharpness ``p`` of the attention (1: soft; large: close to the argmax).
        max_interests_simi: the interest similarity above which the penalty starts (1: none).

    Shape:
        - Input: list ``[interests (B, K, E), item (B, E)]`` or ``[interests, item, mask (B, K)]``.
        - Output: ``(B, E)``.

    Example:
        >>> layer = LabelAwareAttention.from_spec(LabelAwareAttentionParams(simi_pow=1.0),
        ...                                       [TensorSpec((2, 2)), TensorSpec((2,))])
        >>> interests = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
        >>> out = layer([interests, torch.tensor([[1.0, 0.0]])], ForwardContext(training=False))
        >>> [round(v, 4) for v in out[0].tolist()]  # softmax([1, 0])
        [0.7311, 0.2689]
    """

    def __init__(self, params: LabelAwareAttentionParams, num_interests: int, dim: int, where: str) -> None:
        super().__init__(params)
        self.where, self.num_interests, self.dim = where, num_interests, dim

    @classmethod
    def _check(cls, spec: Any, where: str) -> tuple[int, int]:
        expected = "[interests (B, K, E), item (B, E)] or [interests, item, mask (B, K)]"
        ok = isinstance(spec, (list, tuple)) and len(spec) in (2, 3) and all(isinstance(s, TensorSpec) for s in spec)
        if ok:
            interests, item = spec[0], spec[1]
            ok = len(interests.shape) == 2 and len(item.shape) == 1 and item.shape[0] == interests.shape[1] and (
                len(spec) == 2 or spec[2].shape == (interests.shape[0],))
        if not ok:
            raise ShapeError(where, "LabelAwareAttention needs the interests, the item vector of the same width and "
                             "optionally the capsule mask", expected, describe_spec(spec))
        return spec[0].shape[0], spec[0].shape[1]

    @classmethod
    def from_spec(cls, params: LabelAwareAttentionParams, input_spec: Any, where: str = "") -> "LabelAwareAttention":
        where = where or "LabelAwareAttention"
        return cls(params, *cls._check(input_spec, where), where)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        if self._check(input_spec, self.where) != (self.num_interests, self.dim):
            raise ShapeError(self.where, "LabelAwareAttention: the input differs from the one this layer was built "
                             "for", f"K={self.num_interests}, E={self.dim}", describe_spec(input_spec))
        return TensorSpec((self.dim,))

    def forward(self, x: list[torch.Tensor], context: ForwardContext) -> torch.Tensor:
        params: LabelAwareAttentionParams = self.params  # type: ignore[assignment]
        interests, item = x[0], x[1]
        mask = x[2] if len(x) > 2 else interests.new_ones(interests.shape[:2])
        if context.training and params.max_interests_simi < 1.0:
            penalty = torch.relu(interest_similarity(interests, mask) - params.max_interests_simi)
            context.add_loss(f"{block_name(self.where)}_interest_simi", penalty)
        scores = torch.einsum("bke,be->bk", interests, item) * params.simi_pow
        scores = torch.minimum(scores, (mask * 2 - 1) * -_MASKED)
        weights = torch.softmax(scores, dim=1)
        if params.simi_pow >= 100:
            weights = nn.functional.one_hot(weights.argmax(dim=1), weights.shape[1]).to(weights.dtype)
        return torch.einsum("bke,bk->be", interests * mask[:, :, None], weights)
