"""EasyRec ``FM``: the summed wide weights plus the second-order FM term and a bias.

EasyRec (``easy_rec/python/model/fm.py``) reads the groups ``wide`` (embedded to ``num_class``
values per feature, everything summed to one column) and ``deep`` (the field list of the FM).
The FM term is summed over the embedding dimension (``num_class`` 1) or mapped by a dense layer
to ``num_class`` logits; a learned bias ``fm_bias`` is added.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes._common import (
    check_model_fields, class_message, dense_block, feature_groups, num_class, rank_model_section, require_group,
)

__all__ = ["fm"]


@EASYREC_MODELS.register("FM", message="fm")
def fm(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """Summed wide weights plus the FM term over the deep group, plus a bias."""
    params = class_message(model_config, "fm", where)
    check_model_fields(model_config, "fm", where)
    classes = num_class(model_config)
    for group in ("wide", "deep"):
        require_group(model_config, group, where)
    groups = feature_groups(model_config, where)
    wide = {"block_name": "wide_features", "input_fn": "lambda x: tf.reduce_sum(x, axis=1, keepdims=True)"}
    blocks: list[dict[str, Any]] = [
        {"name": "wide_features", "inputs": [{"feature_group_name": "wide"}],
         "input_layer": {"wide_output_dim": classes}},
        {"name": "fm_fields", "inputs": [{"feature_group_name": "deep"}],
         "input_layer": {"only_output_feature_list": True}},
        {"name": "fm_feature", "inputs": [{"block_name": "fm_fields"}],
         "component": {"class_name": "FM", "params": {"use_variant": classes > 1}}},
    ]
    if classes > 1:  # the dense layer's bias is EasyRec's fm_bias (two added biases are one)
        blocks.append(dense_block("fm_logits", [{"block_name": "fm_feature"}], classes))
        blocks.append({"name": "output", "inputs": [wide, {"block_name": "fm_logits"}],
                       "merge_inputs_into_list": True, "component": {"class_name": "Add", "params": {}}})
    else:  # fm_bias: a Dense(1) over the sum, its kernel starting at 1 (one extra learned scale)
        blocks.append({"name": "wide_plus_fm", "inputs": [wide, {"block_name": "fm_feature"}],
                       "merge_inputs_into_list": True, "component": {"class_name": "Add", "params": {}}})
        blocks.append({"name": "output", "inputs": [{"block_name": "wide_plus_fm"}],
                       "component": {"class_name": "Dense", "params": {"units": 1, "kernel_initializer": "ones"}}})
    return rank_model_section(model_config, "fm", blocks, ["output"], None, where, class_name="FM", groups=groups,
                              l2_regularization=float(params.get("l2_regularization", 1e-4)))
