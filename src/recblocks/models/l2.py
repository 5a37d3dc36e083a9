"""Which weights ``model_params.l2_regularization`` reaches (``model_params.l2_scope``).

``all_kernels`` (recblocks' default): every weight of two or more dimensions outside the
embedding tables. ``easyrec``: only the kernels of modules EasyRec hands its
``l2_regularizer`` to, marked with the class attribute ``easyrec_l2 = True`` (MLP, DIN, BST,
MaskNet's blocks, MMoE, PPNet, multi-task towers); the rank model's output layer, Cross, FM,
CIN, SENet, AutoInt and the other interaction layers are left out, as in EasyRec.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["l2_kernels", "weight_penalty"]


def l2_kernels(model: nn.Module, scope: str) -> list[nn.Parameter]:
    """The weights the l2 penalty covers under ``scope``, each once.

    Args:
        model: the model (its embedding tables live under ``embeddings.`` and are never included).
        scope: ``"all_kernels"`` or ``"easyrec"``.

    Returns:
        Parameters of two or more dimensions.

    Example:
        >>> from recblocks.layers.mlp import MLP, MLPParams
        >>> model = nn.ModuleDict({"mlp": MLP(MLPParams(hidden_units=[3], use_bn=False), 4), "out": nn.Linear(3, 1)})
        >>> [tuple(p.shape) for p in l2_kernels(model, "easyrec")], len(l2_kernels(model, "all_kernels"))
        ([(3, 4)], 2)
    """
    if scope == "all_kernels":
        return [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith("embeddings.")]
    seen: dict[int, nn.Parameter] = {}
    for name, module in model.named_modules():
        if getattr(module, "easyrec_l2", False) and not name.startswith("embeddings"):
            for p in module.parameters():
                if p.dim() >= 2:
                    seen.setdefault(id(p), p)
    return list(seen.values())


def weight_penalty(kernels: list[nn.Parameter], l2: float, lookups: list[torch.Tensor], embedding_l2: float,
                   device: torch.device | None = None) -> torch.Tensor:
    """``0.5 * l2 * sum ||W||^2`` over ``kernels`` plus ``0.5 * embedding_l2 * sum ||e||^2`` over the
    embedding ``lookups`` of the batch (TensorFlow's ``l2_loss`` convention); a 0-d tensor."""
    total = torch.zeros((), device=device)
    if l2 > 0 and kernels:
        total = total + 0.5 * l2 * sum(p.pow(2).sum() for p in kernels)
    if embedding_l2 > 0 and lookups:
        total = total + 0.5 * embedding_l2 * sum(e.pow(2).sum() for e in lookups)
    return total
