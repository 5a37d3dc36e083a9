"""EasyRec's ``MMoE`` as a recblocks MultiTaskModel.

MMoE (``easy_rec/python/model/mmoe.py``): the ``all`` group feeds an MMOE layer (``expert_dnn``
copied ``num_expert`` times, or one ``experts`` entry per expert), one softmax gate per tower;
tower ``i`` runs its ``dnn`` over the ``i``-th mixture, then a dense layer of ``num_class``
logits. The towers are EasyRec ``TaskTower`` s (no relations).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes.dbmtl import mmoe_block
from recblocks.easyrec.model_classes.towers import (dnn_params, input_block, mlp_block, multi_task_section,
                                                    no_backbone, require_groups, task_tower)

__all__ = ["mmoe", "task_towers"]


def task_towers(params: Mapping[str, Any], path: str) -> list[dict[str, Any]]:
    """The class's ``task_towers`` translated (at least one)."""
    towers = [task_tower(t, join_path(path, "task_towers", i)) for i, t in enumerate(params.get("task_towers", []))]
    if not towers:
        raise ConfigError(join_path(path, "task_towers"), "the model needs task towers", "at least one", 0)
    return towers


@EASYREC_MODELS.register("MMoE", message="mmoe")
def mmoe(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """MMoE: shared experts mixed by one gate per task tower (Ma et al., KDD 2018)."""
    no_backbone(model_config, "MMoE", where)
    path = join_path(where, "mmoe")
    params = model_config.get("mmoe", {})
    towers = task_towers(params, path)
    section = multi_task_section("MMoE", model_config, params, [input_block()], towers, where)
    require_groups(section["feature_groups"], ("all",), "MMoE", where)
    blocks = section["backbone"]["blocks"]
    if "expert_dnn" in params:
        blocks.append(mmoe_block(params, "all", len(towers), path))
        return section
    experts = params.get("experts", [])
    if not experts:
        raise ConfigError(path, "MMoE needs experts", "expert_dnn with num_expert, or experts", "neither")
    widths = []
    for i, expert in enumerate(experts):
        epath = join_path(path, "experts", i)
        mlp = dnn_params(expert.get("dnn"), join_path(epath, "dnn"))
        if mlp is None:
            raise ConfigError(join_path(epath, "dnn", "hidden_units"), "an expert needs layers",
                              "at least one positive width", expert.get("dnn"))
        widths.append(mlp["hidden_units"][-1])
        blocks.append(mlp_block(f"expert_{i}", ["all"], mlp))
    if len(set(widths)) > 1:
        raise ConfigError(join_path(path, "experts"), "the experts' outputs are mixed, so they need one width",
                          "equal last hidden_units", widths)
    blocks.append({"name": "mmoe", "merge_inputs_into_list": True,
                   "inputs": [*({"block_name": f"expert_{i}"} for i in range(len(experts))), {"block_name": "all"}],
                   "component": {"class_name": "MMoE", "params": {"num_tasks": len(towers),
                                                                   "num_experts": len(experts)}}})
    return section
