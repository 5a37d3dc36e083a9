"""EasyRec's ``UNITER`` (universal image-text representation) as a recblocks RankModel.

EasyRec (``easy_rec/python/model/uniter.py``, ``layers/uniter.py``): the UNITER layer over the
``image`` / ``general`` / ``text`` / ``other`` groups (``uniter.config``, a ``UniterTower``), then
``final_dnn``, then a dense layer of ``num_class`` logits. The layer is recblocks'
:class:`~recblocks.layers.uniter.UNITER` component with the message's fields as its params; the
groups are read as :mod:`~recblocks.easyrec.model_classes._multimodal` describes. EasyRec's
``l2_regularization`` of this class is 0 (its message has none).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes.cmbf import multimodal_rank_model

__all__ = ["uniter"]


@EASYREC_MODELS.register("Uniter", message="uniter", aliases=("UNITER",))
def uniter(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """UNITER: a [CLS] token, image regions and text through one transformer, then final_dnn."""
    return multimodal_rank_model(model_config, features, where, message="uniter", class_name="Uniter",
                                 component="UNITER")
