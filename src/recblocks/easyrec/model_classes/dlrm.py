"""EasyRec ``DLRM``: bottom DNN on the dense group, dot interactions with the sparse embeddings, top DNN.

EasyRec (``easy_rec/python/model/dlrm.py``) reads the groups ``dense`` (concatenated, through
``bot_dnn``) and ``sparse`` (the field list). ``arch_interaction_op: 'dot'``: the pairwise dot
products of ``[bot_dnn output, sparse fields...]`` (upper triangle row by row, the diagonal only
with ``arch_interaction_itself``), concatenated with the sparse embeddings (and the bottom
output with ``arch_with_dense_feature``); ``'cat'``: the bottom output and the sparse embeddings
concatenated. Then ``top_dnn`` and a dense ``output`` layer of ONE unit (EasyRec ignores
``num_class`` here, so only ``num_class: 1`` is accepted).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes._common import (
    check_model_fields, class_message, dnn_is_empty, mlp_block, num_class, rank_model_section, require_group,
)
from recblocks.easyrec.model_classes._sequence import has_sequence_features

__all__ = ["dlrm"]


@EASYREC_MODELS.register("DLRM", message="dlrm")
def dlrm(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """Bottom DNN on 'dense', dot interactions with the 'sparse' embeddings, top DNN."""
    params = class_message(model_config, "dlrm", where)
    check_model_fields(model_config, "dlrm", where)
    path = join_path(where, "dlrm")
    if num_class(model_config) != 1:
        raise ConfigError(join_path(where, "num_class"), "EasyRec's DLRM has a one-unit output layer", "1",
                          num_class(model_config))
    for group in ("dense", "sparse"):
        require_group(model_config, group, where)
        if has_sequence_features(model_config, group):
            raise ConfigError(join_path(where, "feature_groups"), f"DLRM's '{group}' group with sequence_features "
                              "is not translated", "a group without sequence_features", f"'{group}' with them")
    for name in ("bot_dnn", "top_dnn"):
        if dnn_is_empty(params.get(name)):
            raise ConfigError(join_path(path, name, "hidden_units"), f"DLRM's {name} needs layers",
                              "e.g. hidden_units: [64, 32, 16]", "none")
    op = params.get("arch_interaction_op", "dot")
    if op not in ("dot", "cat"):
        raise ConfigError(join_path(path, "arch_interaction_op"), "unknown interaction", "'dot' or 'cat'", repr(op),
                          choices=["dot", "cat"])
    blocks: list[dict[str, Any]] = [
        mlp_block("bot_dnn", [{"feature_group_name": "dense"}], params["bot_dnn"], join_path(path, "bot_dnn")),
        {"name": "sparse_input", "inputs": [{"feature_group_name": "sparse"}],
         "input_layer": {"output_2d_tensor_and_feature_list": True}},
    ]
    sparse_2d = {"block_name": "sparse_input", "input_slice": "[0]"}
    if op == "cat":
        top_inputs = [{"block_name": "bot_dnn"}, sparse_2d]
    else:
        # a tensor beside a list: the inputs merge into one field list [bottom output, sparse fields...]
        blocks.append({"name": "interaction", "inputs": [{"block_name": "bot_dnn"},
                                                         {"block_name": "sparse_input", "input_slice": "[1]"}],
                       "component": {"class_name": "DotInteraction",
                                     "params": {"self_interaction": bool(params.get("arch_interaction_itself"))}}})
        top_inputs = [{"block_name": "interaction"}, sparse_2d]
        if params.get("arch_with_dense_feature"):
            top_inputs.append({"block_name": "bot_dnn"})
    blocks.append(mlp_block("top_dnn", top_inputs, params["top_dnn"], join_path(path, "top_dnn")))
    return rank_model_section(model_config, "dlrm", blocks, ["top_dnn"], int(params["top_dnn"]["hidden_units"][-1]),
                              where, class_name="DLRM",
                              l2_regularization=float(params.get("l2_regularization", 1e-5)))
