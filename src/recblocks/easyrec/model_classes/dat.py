"""EasyRec ``DAT`` (dual augmented two-tower) as a recblocks MatchModel with two AMM losses.

EasyRec (``easy_rec/python/model/dat.py`` and the list-wise loss of ``match_model.py``; Yu et
al., "A Dual Augmented Two-tower Model for Online Large-scale Recommendation", DLP-KDD 2021):
the user tower runs its ``dnn`` (last layer a plain dense layer) over ``concat(user group,
user_id_augment group)``, the item tower likewise over ``item`` and ``item_id_augment``. Both
outputs are always L2-normalised (whatever ``simi_func``) and scored by their dot product over
``temperature`` with in-batch negatives (``loss_type: SOFTMAX_CROSS_ENTROPY`` only). The
adaptive-mimic losses pull each augmented vector towards the other side's (gradient-stopped)
embedding: ``amm_u_weight * mean_{b,d} (a_u - p_i)^2`` and ``amm_i_weight * mean_{b,d} (a_i -
p_u)^2``. recblocks: a MatchModel (``COSINE``, no ``scale_simi``) whose backbone also holds two
``AuxiliaryLoss`` blocks (``l2_loss`` is ``mean_b sum_d``, so the weight is divided by ``d``).
EasyRec's ``reg_pos_loss`` of list-wise match models is not added (as for DSSM).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes.dssm import match_loss, match_section
from recblocks.easyrec.model_classes.towers import (check_model_fields, dnn_params, feature_groups, input_block,
                                                    mlp_block, no_backbone, require_groups)

__all__ = ["dat"]

#: The proto defaults of ``amm_u_weight`` / ``amm_i_weight``.
_AMM_DEFAULT = 0.5


@EASYREC_MODELS.register("DAT", message="dat")
def dat(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """DAT: two towers fed with learned augmented vectors, in-batch softmax, adaptive-mimic losses."""
    no_backbone(model_config, "DAT", where)
    check_model_fields(model_config, "dat", where, also=("loss_type", "num_class"))
    match_loss(model_config, where)
    path = join_path(where, "dat")
    params = dict(model_config.get("dat", {}))
    require_groups(feature_groups(model_config, where), ("user", "item", "user_id_augment", "item_id_augment"),
                   "DAT", where)
    blocks: list[dict[str, Any]] = []
    widths = {}
    for side in ("user", "item"):
        tower = params.get(f"{side}_tower")
        if tower is None:
            raise ConfigError(join_path(path, f"{side}_tower"), "the tower is required",
                              f"{side}_tower {{id: ... dnn {{...}}}}", "missing")
        mlp = dnn_params(tower.get("dnn", {}), join_path(path, f"{side}_tower", "dnn"), linear_last=True)
        assert mlp is not None  # linear_last refuses a tower without layers
        widths[side] = int(mlp["hidden_units"][-1])
        blocks += [input_block(side), input_block(f"{side}_id_augment"),
                   mlp_block(f"{side}_tower", [side, f"{side}_id_augment"], mlp)]
    if widths["user"] != widths["item"]:
        raise ConfigError(join_path(path, "item_tower", "dnn", "hidden_units"), "the towers' last layers give the "
                          "two embeddings, which must have one width", f"a last width of {widths['user']}",
                          widths["item"])
    for side, other, key in (("user", "item", "amm_u_weight"), ("item", "user", "amm_i_weight")):
        weight = float(params.get(key, _AMM_DEFAULT))
        stopped = {"block_name": f"{other}_tower", "input_fn": "lambda x: tf.stop_gradient(tf.nn.l2_normalize(x, "
                   "axis=-1))"}
        blocks.append({"name": f"amm_loss_{side[0]}", "inputs": [{"block_name": f"{side}_id_augment"}, stopped],
                       "merge_inputs_into_list": True,
                       "component": {"class_name": "AuxiliaryLoss", "params": {
                           "loss_type": "l2_loss", "loss_weight": weight / widths[side],
                           "loss_name": f"amm_loss_{side[0]}"}}})
    # DAT normalises both embeddings and divides by temperature whatever simi_func says: COSINE
    params["simi_func"] = "COSINE"
    section = match_section("DAT", model_config, params, path, blocks, ["user_tower", "item_tower"], features, where)
    section["model_params"]["scale_simi"] = False
    return section
