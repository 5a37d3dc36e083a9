"""EasyRec's ``MultiTowerRecall`` as a recblocks RankModel.

EasyRec (``easy_rec/python/model/multi_tower_recall.py``, a RankModel): the ``user`` group runs
the user tower's ``dnn``, the ``item`` group the item tower's (EasyRec's DNN, every layer with
batch norm and activation), their outputs are concatenated, ``final_dnn`` runs over them and a
dense layer gives the logit, trained point-wise on the row's label. The section has no
``tasks``: as for every RankModel translation the pipeline translation adds the task from
``data_config.label_fields`` and ``model_config.loss_type``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes.towers import (check_model_fields, dnn_params, feature_groups,
                                                    l2_regularization, mlp_block, no_backbone, require_groups)

__all__ = ["multi_tower_recall"]


@EASYREC_MODELS.register("MultiTowerRecall", message="multi_tower_recall")
def multi_tower_recall(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """MultiTowerRecall: user and item towers concatenated under a final DNN, one logit per row."""
    no_backbone(model_config, "MultiTowerRecall", where)
    check_model_fields(model_config, "multi_tower_recall", where, also=("loss_type", "num_class"))
    path = join_path(where, "multi_tower_recall")
    params = model_config.get("multi_tower_recall", {})
    if params.get("ignore_in_batch_neg_sam", False):
        raise ConfigError(join_path(path, "ignore_in_batch_neg_sam"), "not supported", "false", "true")
    groups = feature_groups(model_config, where)
    require_groups(groups, ("user", "item"), "MultiTowerRecall", where)
    blocks: list[dict[str, Any]] = []
    towers = []
    for side in ("user", "item"):
        blocks.append({"name": f"{side}_input", "inputs": [{"feature_group_name": side}], "input_layer": {}})
        towers.append(f"{side}_input")
        mlp = dnn_params(params.get(f"{side}_tower", {}).get("dnn"), join_path(path, f"{side}_tower", "dnn"))
        if mlp is not None:
            blocks.append(mlp_block(f"{side}_tower", [f"{side}_input"], mlp))
            towers[-1] = f"{side}_tower"
    final = dnn_params(params.get("final_dnn"), join_path(path, "final_dnn"))
    if final is not None:
        blocks.append(mlp_block("final_dnn", towers, final))
        towers = ["final_dnn"]
    section: dict[str, Any] = {
        "model_class": "RankModel", "model_name": "MultiTowerRecall", "feature_groups": groups,
        "backbone": {"blocks": blocks, "concat_blocks": towers},
        "model_params": {"l2_regularization": l2_regularization(params)}}
    if "embedding_regularization" in model_config:
        section["embedding_regularization"] = float(model_config["embedding_regularization"])
    return section
