"""EasyRec ``DeepFM``: wide logits + FM + DNN, summed, or concatenated into ``final_dnn``.

EasyRec (``easy_rec/python/model/deepfm.py``) reads the groups ``wide`` (every feature embedded
to ``wide_output_dim`` values, summed over features) and ``deep`` (the concatenation feeds
``dnn``; the field list feeds the FM unless an ``fm`` group exists). The FM is the
per-dimension vector ``0.5 * ((sum e)^2 - sum e^2)`` (width D). Without ``final_dnn``:
``wide + FM (summed over D, or a dense layer of num_class units when num_class > 1) +
dense(dnn output, num_class)``. With ``final_dnn``: ``[wide, FM vector, dnn output]`` ->
``final_dnn`` -> dense ``output``. ``wide_output_dim`` must equal ``num_class`` without
``final_dnn`` (EasyRec asserts it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes._common import (
    check_model_fields, class_message, dense_block, dnn_is_empty, feature_group_names, feature_groups, mlp_block,
    num_class, rank_model_section, require_group,
)
from recblocks.easyrec.model_classes._sequence import group_inputs, has_sequence_features

__all__ = ["deepfm", "wide_blocks"]


def wide_blocks(model_config: Mapping[str, Any], wide_dim: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The ``wide`` group's blocks and the input reading its logits: (B, C) summed per class when
    ``wide_dim == num_class > 1``, else the sum of every value (B, 1)."""
    classes = num_class(model_config)
    if classes > 1 and wide_dim == classes:
        return ([{"name": "wide_features", "inputs": [{"feature_group_name": "wide"}],
                  "input_layer": {"only_output_feature_list": True, "wide_output_dim": wide_dim}},
                 {"name": "wide_feature", "inputs": [{"block_name": "wide_features"}],
                  "component": {"class_name": "Add", "params": {}}}], {"block_name": "wide_feature"})
    return ([{"name": "wide_features", "inputs": [{"feature_group_name": "wide"}],
              "input_layer": {"wide_output_dim": wide_dim}}],
            {"block_name": "wide_features", "input_fn": "lambda x: tf.reduce_sum(x, axis=1, keepdims=True)"})


@EASYREC_MODELS.register("DeepFM", message="deepfm")
def deepfm(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """Wide logits, an FM over the deep (or fm) group and a DNN, summed or fed to final_dnn."""
    params = class_message(model_config, "deepfm", where)
    check_model_fields(model_config, "deepfm", where)
    path = join_path(where, "deepfm")
    classes = num_class(model_config)
    for group in ("wide", "deep"):
        require_group(model_config, group, where)
    wide_dim = int(params.get("wide_output_dim", 1))
    has_final = not dnn_is_empty(params.get("final_dnn"))
    if not has_final and wide_dim != classes:
        raise ConfigError(join_path(path, "wide_output_dim"), "without final_dnn the wide logits are added to "
                          "the others, so EasyRec asserts wide_output_dim == num_class", str(classes), wide_dim)
    if dnn_is_empty(params.get("dnn")):
        raise ConfigError(join_path(path, "dnn", "hidden_units"), "DeepFM's deep part needs layers",
                          "e.g. hidden_units: [128, 64]", "none")
    groups = feature_groups(model_config, where)
    fm_group = "fm" if "fm" in feature_group_names(model_config) else "deep"
    if has_sequence_features(model_config, fm_group):
        raise ConfigError(join_path(where, "feature_groups"), f"the FM reads the group '{fm_group}' as a field list, "
                          "and its sequence_features attention vectors are not translated there",
                          "a group without sequence_features (or an 'fm' group)", f"'{fm_group}' with them")
    blocks, wide = wide_blocks(model_config, wide_dim)
    blocks.append({"name": "deep_input", "inputs": [{"feature_group_name": "deep"}],
                   "input_layer": {"output_2d_tensor_and_feature_list": True}})
    if fm_group == "fm":
        blocks.append({"name": "fm_input", "inputs": [{"feature_group_name": "fm"}],
                       "input_layer": {"only_output_feature_list": True}})
        fm_input = {"block_name": "fm_input"}
    else:
        fm_input = {"block_name": "deep_input", "input_slice": "[1]"}
    per_dimension = has_final or classes > 1
    # An FM over one field is exactly zero (EasyRec computes it all the same): it is left out.
    has_fm = len(groups[[g["group_name"] for g in groups].index(fm_group)]["feature_names"]) > 1
    if has_fm:
        blocks.append({"name": "fm_feature", "inputs": [fm_input],
                       "component": {"class_name": "FM", "params": {"use_variant": per_dimension}}})
    seq_blocks, deep_inputs = group_inputs(model_config, "deep", where, features)
    blocks += seq_blocks
    deep_inputs[0] = {"block_name": "deep_input", "input_slice": "[0]"}
    blocks.append(mlp_block("deep_feature", deep_inputs, params["dnn"], join_path(path, "dnn")))
    if has_final:
        final_inputs = [wide, *([{"block_name": "fm_feature"}] if has_fm else []), {"block_name": "deep_feature"}]
        blocks.append(mlp_block("final_dnn", final_inputs,
                                params["final_dnn"], join_path(path, "final_dnn")))
        return rank_model_section(model_config, "deepfm", blocks, ["final_dnn"],
                                  int(params["final_dnn"]["hidden_units"][-1]), where, class_name="DeepFM",
                                  groups=groups)
    logits = [wide]
    if has_fm and classes > 1:
        blocks.append(dense_block("fm_logits", [{"block_name": "fm_feature"}], classes))
        logits.append({"block_name": "fm_logits"})
    elif has_fm:
        logits.append({"block_name": "fm_feature"})
    blocks.append(dense_block("deep_logits", [{"block_name": "deep_feature"}], classes))
    logits.append({"block_name": "deep_logits"})
    blocks.append({"name": "output", "inputs": logits,
                   "merge_inputs_into_list": True, "component": {"class_name": "Add", "params": {}}})
    return rank_model_section(model_config, "deepfm", blocks, ["output"], None, where, class_name="DeepFM",
                              groups=groups)
