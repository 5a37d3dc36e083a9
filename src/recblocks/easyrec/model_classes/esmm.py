"""EasyRec's ``ESMM`` (entire-space multi-task model) as recblocks' ESMM model class.

EasyRec (``easy_rec/python/model/esmm.py``): each ``groups`` entry runs its ``dnn`` over the
feature group its ``input`` names and the tower input is their concatenation (without
``groups``: the ``all`` group); the CTR and CVR towers run their ``dnn`` and a dense logit;
pCTCVR = pCTR x pCVR. recblocks' ``model_class: ESMM`` (``models/esmm.py``) trains the same
two losses (CTR on the click label, CTCVR on the conversion label over every row).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes.towers import (check_model_fields, dnn_params, feature_groups, input_block,
                                                    l2_regularization, mlp_block, no_backbone, require_groups,
                                                    task_tower)

__all__ = ["esmm"]


@EASYREC_MODELS.register("ESMM", message="esmm")
def esmm(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """ESMM: pCTCVR = pCTR x pCVR trained over the entire space (Ma et al., SIGIR 2018)."""
    no_backbone(model_config, "ESMM", where)
    check_model_fields(model_config, "esmm", where, also=("loss_type", "num_class"))
    path = join_path(where, "esmm")
    params = model_config.get("esmm", {})
    groups = feature_groups(model_config, where)
    names = [g["group_name"] for g in groups]
    blocks: list[dict[str, Any]] = []
    outputs = []
    for i, tower in enumerate(params.get("groups", [])):
        tpath = join_path(path, "groups", i)
        name = tower.get("input")
        if name not in names:
            raise ConfigError(join_path(tpath, "input"), "unknown feature group", f"one of {names}", repr(name),
                              choices=names)
        blocks.append({"name": f"group_{i}", "inputs": [{"feature_group_name": name}]})
        outputs.append(f"group_{i}")
        mlp = dnn_params(tower.get("dnn"), join_path(tpath, "dnn"))
        if mlp is not None:
            blocks.append(mlp_block(f"group_{i}_dnn", [f"group_{i}"], mlp))
            outputs[-1] = f"group_{i}_dnn"
    if not blocks:
        require_groups(groups, ("all",), "ESMM without groups", where)
        blocks, outputs = [input_block()], ["all"]
    towers = {}
    for key in ("ctr_tower", "cvr_tower"):
        if key not in params:
            raise ConfigError(join_path(path, key), "ESMM needs both towers", key, "missing")
        towers[key] = task_tower(params[key], join_path(path, key))
    section: dict[str, Any] = {
        "model_class": "ESMM", "model_name": "ESMM", "feature_groups": groups,
        "backbone": {"blocks": blocks, "concat_blocks": outputs},
        "model_params": {**towers, "l2_regularization": l2_regularization(params)},
    }
    if "embedding_regularization" in model_config:
        section["embedding_regularization"] = float(model_config["embedding_regularization"])
    return section
