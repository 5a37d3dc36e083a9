"""Dot product of two key:value maps over their shared keys (EasyRec's custom op ``MappedDotProduct``).

EasyRec reads two strings ``k1:v1<sep>k2:v2...`` (a query map and a document map). recblocks
has no key:value feature kind yet, so the component takes each map as two aligned tensors:
keys as token ids ``(B, L)`` long (``0`` padding, ``1`` unknown, as the preprocessor emits a
``multi`` feature) and their values ``(B, L)`` float. The keys of both maps must share one
vocabulary (same ``embedding_name``) or one ``hash_bucket_size``. What the feature pipeline
would need to feed it from one ``k:v`` column: a weighted multi-valued kind whose
preprocessing emits ids and a parallel float tensor (``Batch.features`` holds one tensor per
feature today), and a ``raw_input`` that hands both on.
"""

from __future__ import annotations

from typing import Any

import torch

from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.features.schema import PADDING_ID
from recblocks.layers.base import Component
from recblocks.layers.field_inputs import named_error
from recblocks.layers.text_match import FeatureHead, MatchHeadParams, token_matches

__all__ = ["MappedDotProduct", "MappedDotProductParams", "mapped_dot"]

_EXPECTED = ("[query_keys (B, L_q) long, query_values (B, L_q) float, doc_keys (B, L_d) long, "
             "doc_values (B, L_d) float]")


class MappedDotProductParams(MatchHeadParams):
    """Parameters of :class:`MappedDotProduct` (EasyRec ``MappedDotProduct`` message)."""


def mapped_dot(query_keys: torch.Tensor, query_values: torch.Tensor, doc_keys: torch.Tensor,
               doc_values: torch.Tensor) -> torch.Tensor:
    """``(B,)``: ``sum_{i, j: q_i = d_j} u_i v_j`` over known keys (unknown ``1`` and padding ``0`` match nothing).

    Example:
        >>> mapped_dot(torch.tensor([[2, 3, 0]]), torch.tensor([[1.0, 2.0, 9.0]]),
        ...            torch.tensor([[3, 4]]), torch.tensor([[5.0, 7.0]])).tolist()
        [10.0]
    """
    match = token_matches(query_keys.long(), doc_keys.long()).to(query_values.dtype)  # (B, L_q, L_d)
    query_values = query_values * (query_keys != PADDING_ID)
    return torch.einsum("bi,bij,bj->b", query_values, match, doc_values.to(query_values.dtype))


@COMPONENTS.register(
    "MappedDotProduct", params=MappedDotProductParams, input_kind="fields",
    examples=[({}, [TensorSpec((3,), "long"), TensorSpec((3,)), TensorSpec((4,), "long"), TensorSpec((4,))]),
              ({"normalize_fn": "tanh", "boundaries": [-1.0, 0.0, 1.0], "embedding_dim": 3},
               [TensorSpec((2,), "long"), TensorSpec((2,)), TensorSpec((2,), "long"), TensorSpec((2,))])],
)
class MappedDotProduct(Component):
    """Dot product of a query and a document key:value map over shared keys (EasyRec ``MappedDotProduct``).

    ``y = sum_{k in Q and D} q_k d_k`` (for repeated keys, every pair of equal keys counts);
    no shared key gives 0. Then EasyRec's head: ``normalize_fn`` (a name here; EasyRec
    evaluates a Python lambda), ``boundaries`` (bucket ids ``0..len(boundaries)``) and
    ``embedding_dim`` (one table of ``len(boundaries) + 1`` rows). Each map is given as its keys
    (token ids) and its values, see the module docstring; EasyRec's ``separator`` and
    ``default_value`` belong to its string parsing.

    Args:
        normalize_fn: ``log1p``, ``sqrt``, ``sigmoid`` or ``tanh`` applied to the product.
        boundaries: bucketize the product (increasing).
        embedding_dim: embed the bucket (needs ``boundaries``).

    Shape:
        - Input: ``[query_keys (B, L_q) long, query_values (B, L_q) float, doc_keys (B, L_d) long, doc_values (B, L_d) float]``.
        - Output: ``(B, 1)`` float; ``(B, 1)`` long with ``boundaries``; ``(B, D)`` with ``embedding_dim``.

    Example:
        >>> layer = MappedDotProduct.from_spec(MappedDotProductParams(), [TensorSpec((2,), "long"), TensorSpec((2,)),
        ...                                                               TensorSpec((1,), "long"), TensorSpec((1,))])
        >>> layer([torch.tensor([[2, 3]]), torch.tensor([[0.5, 2.0]]), torch.tensor([[3]]), torch.tensor([[4.0]])])
        tensor([[8.]])
    """

    def __init__(self, params: MappedDotProductParams, where: str) -> None:
        super().__init__(params)
        self.where = where
        self.head = FeatureHead(1, params.normalize_fn, params.boundaries, params.embedding_dim)

    @classmethod
    def from_spec(cls, params: MappedDotProductParams, input_spec: Any, where: str = "") -> "MappedDotProduct":
        module = cls(params, where or "MappedDotProduct")
        module.output_spec(input_spec)
        return module

    def output_spec(self, input_spec: Any) -> TensorSpec:
        if not isinstance(input_spec, (list, tuple)) or len(input_spec) != 4 or not all(
                isinstance(s, TensorSpec) for s in input_spec):
            raise named_error(self.where, "MappedDotProduct", "input must be a list of 4 tensors (keys and values of "
                              "two maps)", _EXPECTED, describe_spec(input_spec))
        for keys, values in (input_spec[:2], input_spec[2:]):
            if keys.dtype != "long" or values.dtype != "float" or keys.rank != 2 or keys.shape != values.shape:
                raise named_error(self.where, "MappedDotProduct", "each map needs long keys and float values of "
                                  "one shape (B, L)", _EXPECTED, describe_spec(input_spec))
        return self.head.output_spec()

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return self.head(mapped_dot(*x).unsqueeze(1))
