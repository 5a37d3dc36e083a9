"""EasyRec's ``DBMTL`` (deep Bayesian multi-target learning) as a recblocks MultiTaskModel.

EasyRec (``easy_rec/python/model/dbmtl.py``): the ``all`` group, then ``bottom_dnn`` when set
(or, instead of both, the multi-modal ``bottom_cmbf`` / ``bottom_uniter`` layer over the
``image`` / ``general`` / ``text`` / ``other`` groups: ``bottom_dnn`` is then unread), then, with ``expert_dnn``, an MMoE of ``num_expert`` copies of it (one gate per tower); each
tower runs its ``dnn``, then its ``relation_dnn`` over ``concat(own features, relation features
of relation_tower_names)``, then a dense layer of ``num_class`` logits. recblocks' MultiTaskModel
towers read the same fields; the bottom and the MMoE become backbone blocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes._multimodal import multimodal_blocks
from recblocks.easyrec.model_classes.cmbf import fusion_params
from recblocks.easyrec.model_classes.towers import (dnn_params, input_block, mlp_block, multi_task_section,
                                                    no_backbone, require_groups, task_tower)

__all__ = ["dbmtl"]


@EASYREC_MODELS.register("DBMTL", message="dbmtl")
def dbmtl(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """DBMTL: bottom DNN, optional MMoE, task towers with Bayesian relation DNNs."""
    no_backbone(model_config, "DBMTL", where)
    path = join_path(where, "dbmtl")
    params = model_config.get("dbmtl", {})
    towers = [task_tower(t, join_path(path, "task_towers", i)) for i, t in enumerate(params.get("task_towers", []))]
    if not towers:
        raise ConfigError(join_path(path, "task_towers"), "DBMTL needs task towers", "at least one", 0)
    modal = next((field for field in _MODAL_BOTTOMS if field in params), None)
    if modal is not None:
        section = multi_task_section("DBMTL", model_config, params, [], towers, where)
        blocks, section["feature_groups"] = _modal_bottom(model_config, params, modal, features, where, path)
        section["backbone"]["blocks"] = blocks
    else:
        section = multi_task_section("DBMTL", model_config, params, [input_block()], towers, where)
        require_groups(section["feature_groups"], ("all",), "DBMTL", where)
        blocks = section["backbone"]["blocks"]
        bottom = dnn_params(params.get("bottom_dnn"), join_path(path, "bottom_dnn"))
        if bottom is not None:
            blocks.append(mlp_block("bottom_dnn", ["all"], bottom))
    if "expert_dnn" in params:
        blocks.append(mmoe_block(params, blocks[-1]["name"], len(towers), path))
    return section


#: DBMTL's multi-modal bottoms and the component each one is.
_MODAL_BOTTOMS = {"bottom_cmbf": "CMBF", "bottom_uniter": "UNITER"}


def _modal_bottom(model_config: Mapping[str, Any], params: Mapping[str, Any], field: str, features: FeatureFacts,
                  where: str, path: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(blocks, feature groups)`` of a ``bottom_cmbf`` / ``bottom_uniter``, ending in one ``bottom`` block."""
    tower = dict(params[field])
    blocks, outputs, groups = multimodal_blocks(model_config, tower, features, where, join_path(path, field),
                                                class_name=f"DBMTL's {field}", component=_MODAL_BOTTOMS[field],
                                                params=fusion_params(tower))
    if len(outputs) > 1:  # EasyRec concatenates the fusion output and the other group
        blocks.append({"name": "bottom", "inputs": [{"block_name": name} for name in outputs],
                       "merge_inputs_into_list": True, "component": {"class_name": "Concatenate", "params": {}}})
    return blocks, groups


def mmoe_block(params: Mapping[str, Any], source: str, num_tasks: int, path: str) -> dict[str, Any]:
    """EasyRec's MMOE layer of ``num_expert`` copies of ``expert_dnn`` over the block ``source``."""
    num_expert = int(params.get("num_expert", 0))
    if num_expert < 1:
        raise ConfigError(join_path(path, "num_expert"), "expert_dnn needs a number of experts", "num_expert >= 1",
                          num_expert)
    expert = dnn_params(params["expert_dnn"], join_path(path, "expert_dnn"))
    if expert is None:
        raise ConfigError(join_path(path, "expert_dnn", "hidden_units"), "an expert needs layers",
                          "at least one positive width", params["expert_dnn"].get("hidden_units"))
    return {"name": "mmoe", "inputs": [{"block_name": source}],
            "component": {"class_name": "MMoE", "params": {"num_tasks": num_tasks, "num_experts": num_expert,
                                                            "expert_mlp": expert}}}
