"""EasyRec's ``SimpleMultiTask`` as a recblocks MultiTaskModel.

EasyRec (``easy_rec/python/model/simple_multi_task.py``): every tower runs its ``dnn`` over the
``all`` group and ends in a dense layer of ``num_class`` logits; nothing is shared but the
embeddings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes.mmoe import task_towers
from recblocks.easyrec.model_classes.towers import input_block, multi_task_section, no_backbone, require_groups

__all__ = ["simple_multi_task"]


@EASYREC_MODELS.register("SimpleMultiTask", message="simple_multi_task")
def simple_multi_task(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """SimpleMultiTask: one tower per task over the shared ``all`` group (no shared layers)."""
    no_backbone(model_config, "SimpleMultiTask", where)
    path = join_path(where, "simple_multi_task")
    params = model_config.get("simple_multi_task", {})
    section = multi_task_section("SimpleMultiTask", model_config, params, [input_block()], task_towers(params, path),
                                 where)
    require_groups(section["feature_groups"], ("all",), "SimpleMultiTask", where)
    return section
