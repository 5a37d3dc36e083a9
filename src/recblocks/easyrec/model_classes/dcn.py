"""EasyRec ``DCN``: a DNN and a DCN-v1 cross network over the group ``all``, concatenated, ``final_dnn``.

EasyRec (``easy_rec/python/model/dcn.py``) reads only the group ``all`` (``deep_tower.input`` and
``cross_tower.input`` are required by the message but not read): ``deep_tower.dnn`` and
``cross_num`` vector cross layers ``x_{l+1} = x_0 (x_l . w_l) + b_l + x_l`` both run on its
concatenation; ``[deep, cross]`` -> ``final_dnn`` -> dense ``output`` (``num_class`` units).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes._common import (
    check_model_fields, class_message, dnn_is_empty, mlp_block, rank_model_section, require_group,
)
from recblocks.easyrec.model_classes._sequence import group_inputs

__all__ = ["dcn"]


@EASYREC_MODELS.register("DCN", message="dcn")
def dcn(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """A deep DNN and a DCN-v1 cross network over the group 'all', concatenated, then final_dnn."""
    params = class_message(model_config, "dcn", where)
    check_model_fields(model_config, "dcn", where)
    path = join_path(where, "dcn")
    require_group(model_config, "all", where, " (DCN's deep and cross towers both read it)")
    deep = (params.get("deep_tower") or {}).get("dnn")
    if dnn_is_empty(deep):
        raise ConfigError(join_path(path, "deep_tower", "dnn", "hidden_units"), "DCN's deep tower needs layers",
                          "e.g. hidden_units: [128, 64]", "none")
    cross_num = int((params.get("cross_tower") or {}).get("cross_num", 3))
    blocks, inputs = group_inputs(model_config, "all", where, features)
    blocks += [
        mlp_block("dnn", inputs, deep, join_path(path, "deep_tower", "dnn")),
        {"name": "cross", "inputs": inputs,
         "component": {"class_name": "CrossNet", "params": {"num_layers": cross_num,
                                                            "kernel_initializer": "glorot_uniform"}}},
    ]
    final = params.get("final_dnn")
    if dnn_is_empty(final):
        return rank_model_section(model_config, "dcn", blocks, ["dnn", "cross"], None, where, class_name="DCN")
    blocks.append(mlp_block("final_dnn", [{"block_name": "dnn"}, {"block_name": "cross"}], final,
                            join_path(path, "final_dnn")))
    return rank_model_section(model_config, "dcn", blocks, ["final_dnn"], int(final["hidden_units"][-1]), where,
                              class_name="DCN")
