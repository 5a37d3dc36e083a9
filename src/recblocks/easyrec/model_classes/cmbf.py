"""EasyRec's ``CMBF`` (cross-modal-based fusion) as a recblocks RankModel.

EasyRec (``easy_rec/python/model/cmbf.py``, ``layers/cmbf.py``): the CMBF layer over the
``image`` / ``general`` / ``text`` / ``other`` groups (``cmbf.config``, a ``CMBFTower``), then
``final_dnn``, then a dense layer of ``num_class`` logits. The layer is recblocks'
:class:`~recblocks.layers.cmbf.CMBF` component with the message's fields as its params; the
groups are read as :mod:`~recblocks.easyrec.model_classes._multimodal` describes. EasyRec's
``l2_regularization`` of this class is 0 (its message has none).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes._common import check_model_fields, class_message, mlp_block, rank_model_section
from recblocks.easyrec.model_classes._multimodal import multimodal_blocks

__all__ = ["cmbf", "fusion_params", "multimodal_rank_model"]


def fusion_params(tower: Mapping[str, Any]) -> dict[str, Any]:
    """The tower message's fields as the fusion component's params (``other_feature_dnn`` left out)."""
    return {key: value for key, value in tower.items() if key != "other_feature_dnn"}


def multimodal_rank_model(model_config: Mapping[str, Any], features: FeatureFacts, where: str, *, message: str,
                          class_name: str, component: str) -> dict[str, Any]:
    """``<message> { config {...} final_dnn {...} }``: the fusion bottom, ``final_dnn``, the output layer."""
    check_model_fields(model_config, message, where)
    params = class_message(model_config, message, where)
    path = join_path(where, message)
    if "config" not in params:
        raise ConfigError(join_path(path, "config"), f"{class_name} needs its layer's parameters",
                          "config {...}", "no config")
    tower = dict(params["config"])
    blocks, outputs, groups = multimodal_blocks(model_config, tower, features, where, join_path(path, "config"),
                                                class_name=class_name, component=component,
                                                params=fusion_params(tower))
    dnn = params.get("final_dnn")
    width = None
    if dnn is not None and list(dnn.get("hidden_units", [])) not in ([], [0]):
        blocks.append(mlp_block("final_dnn", [{"block_name": name} for name in outputs], dnn,
                                join_path(path, "final_dnn")))
        outputs, width = ["final_dnn"], int(list(dnn["hidden_units"])[-1])
    return rank_model_section(model_config, message, blocks, outputs, width, where, class_name=class_name,
                              l2_regularization=0.0, groups=groups)


@EASYREC_MODELS.register("CMBF", message="cmbf")
def cmbf(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """CMBF: image and text self-attention towers fused by cross-modal attention, then final_dnn."""
    return multimodal_rank_model(model_config, features, where, message="cmbf", class_name="CMBF",
                                 component="CMBF")
