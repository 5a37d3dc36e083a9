"""Feature-based distillation: a similarity between a teacher's and a student's hidden layers, added as a loss."""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from recblocks.core.context import ForwardContext
from recblocks.core.params import Params
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import TensorSpec, describe_spec
from recblocks.layers.base import Component, block_name
from recblocks.layers.field_inputs import named_error

__all__ = ["FeatureDistillation", "FeatureDistillationParams", "hidden_similarity"]


def hidden_similarity(teacher: torch.Tensor, student: torch.Tensor, similarity: str) -> torch.Tensor:
    """``cosine``: ``mean_b cos(t_b, s_b)``; ``euclid``: ``||T - S||_F`` over the whole batch.

    Example:
        >>> t, s = torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 4.0]])
        >>> float(hidden_similarity(t, s, "euclid")), float(hidden_similarity(t, s, "cosine"))
        (5.0, 0.0)
    """
    if similarity == "cosine":
        return (F.normalize(teacher, dim=1) * F.normalize(student, dim=1)).sum(dim=1).mean()
    return (teacher - student).pow(2).sum().sqrt()


class FeatureDistillationParams(Params):
    """Parameters of :class:`FeatureDistillation`."""

    similarity: Literal["cosine", "euclid"] = "euclid"
    loss_weight: float = Field(default=-0.1, ge=-1e6, le=1e6)
    loss_name: str | None = Field(default=None, min_length=1, pattern=r"^[^/]+$")


@COMPONENTS.register(
    "FeatureDistillation", params=FeatureDistillationParams, input_kind="fields", uses_context=True,
    examples=[({}, [TensorSpec((4,))] * 2), ({"similarity": "cosine", "loss_weight": 0.5}, [TensorSpec((3,))] * 2)])
class FeatureDistillation(Component):
    """A similarity between a teacher's hidden layer (no gradient) and a student's, added to the loss.

    Rocket Launching (Zhou et al., "Rocket Launching: A Universal and Efficient Framework for
    Training Well-performing Light Net", AAAI 2018; EasyRec ``RocketLaunching`` with
    ``feature_based_distillation``): for ``[teacher (B, D), student (B, D)]`` the teacher is
    detached and ``loss_weight * sim`` is added in training, with ``sim`` the mean cosine
    (``cosine``) or the Frobenius distance ``||T - S||_F`` over the batch (``euclid``).
    EasyRec adds ``-0.1 * sim`` and, because it passes the flag instead of the similarity
    function, always takes the distance, whatever ``feature_distillation_function`` says: the
    defaults reproduce that. The block output (the weighted value per row in training, zeros
    otherwise) only orders the graph.

    Args:
        similarity: ``'cosine'`` or ``'euclid'``.
        loss_weight: weight of ``sim`` in the model's loss (EasyRec: ``-0.1``).
        loss_name: name of the added loss (no ``/``); default ``<block>_<similarity>``.

    Shape:
        - Input: ``[teacher (B, D), student (B, D)]``.
        - Output: ``(B, 1)``; added loss ``()``.

    Example:
        >>> fd = FeatureDistillation.from_spec(FeatureDistillationParams(), [TensorSpec((2,))] * 2, "fd")
        >>> context = ForwardContext(training=True)
        >>> _ = fd([torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]])], context)
        >>> context.losses["fd_euclid"]
        (tensor(5.), -0.1)
    """

    def __init__(self, params: FeatureDistillationParams, where: str) -> None:
        super().__init__(params)
        self.where = where
        self.loss_name = params.loss_name or f"{block_name(where)}_{params.similarity}"

    @classmethod
    def from_spec(cls, params: FeatureDistillationParams, input_spec: Any, where: str = "") -> "FeatureDistillation":
        block = cls(params, where or "FeatureDistillation")
        block.output_spec(input_spec)
        return block

    def output_spec(self, input_spec: Any) -> TensorSpec:
        if not (isinstance(input_spec, (list, tuple)) and len(input_spec) == 2
                and all(isinstance(s, TensorSpec) and s.rank == 2 for s in input_spec)
                and input_spec[0].shape == input_spec[1].shape):
            raise named_error(self.where, "FeatureDistillation", "needs a teacher and a student of one width",
                              "[teacher (B, D), student (B, D)]", describe_spec(input_spec))
        return TensorSpec((1,))

    def forward(self, x: Any, context: ForwardContext) -> torch.Tensor:
        teacher, student = x
        if not context.training:
            return student.new_zeros(student.shape[0], 1)
        value = hidden_similarity(teacher.detach(), student, self.params.similarity)
        context.add_loss(self.loss_name, value, weight=self.params.loss_weight)
        return (value * self.params.loss_weight).expand(student.shape[0], 1)
