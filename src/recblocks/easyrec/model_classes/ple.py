"""EasyRec's ``PLE`` (progressive layered extraction) as a recblocks MultiTaskModel.

EasyRec (``easy_rec/python/model/ple.py``): the ``all`` group feeds ``extraction_networks``, one
per level: each task has ``expert_num_per_task`` experts (``task_expert_net``) and the level
``share_num`` shared ones (``share_expert_net``); a task's softmax gate (a linear layer of its
input) mixes its own and the shared experts; below the last level a shared gate mixes all of
them into the next level's shared input. Tower ``i`` runs its ``dnn`` over task ``i``'s output
and a dense logit. recblocks' ``PLE`` component takes the levels as ``extraction_levels``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes.mmoe import task_towers
from recblocks.easyrec.model_classes.towers import (dnn_params, input_block, multi_task_section, no_backbone,
                                                    require_groups)

__all__ = ["ple"]


@EASYREC_MODELS.register("PLE", message="ple")
def ple(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """PLE: task-specific and shared experts in levels, mixed by task gates (Tang et al., RecSys 2020)."""
    no_backbone(model_config, "PLE", where)
    path = join_path(where, "ple")
    params = model_config.get("ple", {})
    towers = task_towers(params, path)
    section = multi_task_section("PLE", model_config, params, [input_block()], towers, where)
    require_groups(section["feature_groups"], ("all",), "PLE", where)
    networks = params.get("extraction_networks", [])
    if not networks:
        raise ConfigError(join_path(path, "extraction_networks"), "PLE needs extraction networks", "at least one", 0)
    levels = []
    for i, network in enumerate(networks):
        npath = join_path(path, "extraction_networks", i)
        expert = dnn_params(network.get("task_expert_net"), join_path(npath, "task_expert_net"))
        shared = dnn_params(network.get("share_expert_net"), join_path(npath, "share_expert_net"))
        share_num = int(network.get("share_num", 0))
        if expert is None or share_num < 1 or shared is None:
            raise ConfigError(npath, "every level needs task experts and shared experts with layers",
                              "task_expert_net, share_expert_net and share_num >= 1",
                              {"share_num": share_num, "share_expert_net": shared is not None})
        levels.append({"num_specific_experts": int(network.get("expert_num_per_task", 1)),
                       "num_shared_experts": share_num, "expert_mlp": expert, "shared_expert_mlp": shared})
    section["backbone"]["blocks"].append(
        {"name": "ple", "inputs": [{"block_name": "all"}],
         "component": {"class_name": "PLE", "params": {"num_tasks": len(towers), "extraction_levels": levels}}})
    return section
