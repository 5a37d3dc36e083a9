"""EasyRec ``WideAndDeep``: the summed wide embeddings plus a DNN's logits, or both through ``final_dnn``.

EasyRec (``easy_rec/python/model/wide_and_deep.py``) reads the groups ``wide`` (each feature
embedded to ``wide_output_dim`` values, the features summed with ``tf.add_n``) and ``deep`` (the
concatenation feeds ``dnn``). Without ``final_dnn``, ``wide_output_dim`` is forced to
``num_class`` and the output is ``wide + dense(dnn output, num_class)``; with it,
``[wide, dnn output]`` -> ``final_dnn`` -> dense ``output``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes._common import (
    check_model_fields, class_message, dense_block, dnn_is_empty, feature_groups, group_named, mlp_block, num_class,
    rank_model_section, require_group, wide_sum_blocks,
)
from recblocks.easyrec.model_classes._sequence import group_inputs

__all__ = ["wide_and_deep"]


@EASYREC_MODELS.register("WideAndDeep", message="wide_and_deep")
def wide_and_deep(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """Summed wide embeddings plus the deep DNN's logits, or both fed to final_dnn."""
    params = class_message(model_config, "wide_and_deep", where)
    check_model_fields(model_config, "wide_and_deep", where)
    path = join_path(where, "wide_and_deep")
    classes = num_class(model_config)
    for group in ("wide", "deep"):
        require_group(model_config, group, where)
    if dnn_is_empty(params.get("dnn")):
        raise ConfigError(join_path(path, "dnn", "hidden_units"), "WideAndDeep's deep part needs layers",
                          "e.g. hidden_units: [128, 64]", "none")
    groups = feature_groups(model_config, where)
    has_final = not dnn_is_empty(params.get("final_dnn"))
    wide_dim = int(params.get("wide_output_dim", 1)) if has_final else classes
    blocks, wide = wide_sum_blocks(group_named(groups, "wide"), wide_dim)
    seq_blocks, deep_inputs = group_inputs(model_config, "deep", where, features)
    blocks += seq_blocks
    blocks.append(mlp_block("deep_feature", deep_inputs, params["dnn"], join_path(path, "dnn")))
    if has_final:
        blocks.append(mlp_block("final_dnn", [wide, {"block_name": "deep_feature"}], params["final_dnn"],
                                join_path(path, "final_dnn")))
        return rank_model_section(model_config, "wide_and_deep", blocks, ["final_dnn"],
                                  int(params["final_dnn"]["hidden_units"][-1]), where, class_name="WideAndDeep",
                                  groups=groups)
    blocks.append(dense_block("deep_out", [{"block_name": "deep_feature"}], classes))
    blocks.append({"name": "output", "inputs": [wide, {"block_name": "deep_out"}], "merge_inputs_into_list": True,
                   "component": {"class_name": "Add", "params": {}}})
    return rank_model_section(model_config, "wide_and_deep", blocks, ["output"], None, where,
                              class_name="WideAndDeep", groups=groups)
