"""EasyRec ``AutoInt``: interacting (multi-head self-attention) layers over the fields of group ``all``.

EasyRec (``easy_rec/python/model/autoint.py``) stacks the embeddings of the group ``all`` into
``(B, F, D)`` (every feature must share one ``embedding_dim``), runs ``interacting_layer_num``
layers of ``multi_head_num`` heads of width ``multi_head_size`` (Q/K/V projections without bias,
a residual projection ``W_0 x``, then ReLU), flattens and applies a dense ``output`` layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes._common import (
    check_model_fields, class_message, feature_groups, group_named, rank_model_section, require_group,
)
from recblocks.easyrec.model_classes._sequence import group_inputs, has_sequence_features

__all__ = ["autoint"]


@EASYREC_MODELS.register("AutoInt", message="autoint")
def autoint(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """Multi-head self-attention layers over the field embeddings of 'all', flattened, output layer."""
    params = class_message(model_config, "autoint", where)
    check_model_fields(model_config, "autoint", where)
    path = join_path(where, "autoint")
    require_group(model_config, "all", where)
    groups = feature_groups(model_config, where)
    names = group_named(groups, "all")["feature_names"]
    dims = {name: (features.get(name) or {}).get("embedding_dim") for name in names}
    if len({d for d in dims.values() if d is not None}) > 1:
        raise ConfigError(join_path(where, "feature_groups"), "AutoInt stacks the fields of 'all', so EasyRec "
                          "requires one embedding_dim", "equal embedding_dim", dims)
    if "multi_head_size" not in params:
        raise ConfigError(join_path(path, "multi_head_size"), "the head width is required", "multi_head_size: N",
                          "nothing")
    heads, size = int(params.get("multi_head_num", 1)), int(params["multi_head_size"])
    if has_sequence_features(model_config, "all"):
        # EasyRec reshapes the group's output, attention vectors and keys included, to (B, fields, D)
        dim = next((d for d in dims.values() if d is not None), None)
        if dim is None:
            raise ConfigError(join_path(where, "feature_groups"), "the field width of 'all' is needed to reshape "
                              "its sequence attention output", "features with embedding_dim", "none set")
        blocks, inputs = group_inputs(model_config, "all", where, features)
        blocks.append({"name": "fields", "inputs": inputs,
                       "component": {"class_name": "Reshape", "params": {"target_shape": [-1, int(dim)]}}})
    else:
        blocks = [{"name": "fields", "inputs": [{"feature_group_name": "all"}],
                   "input_layer": {"only_output_3d_tensor": True}}]
    blocks += [
        {"name": "interacting", "inputs": [{"block_name": "fields"}],
         "component": {"class_name": "AutoInt", "params": {
             "num_layers": int(params.get("interacting_layer_num", 1)), "num_heads": heads,
             "attention_dim": heads * size, "use_residual": True, "out_type": "concat"}}},
    ]
    return rank_model_section(model_config, "autoint", blocks, ["interacting"], None, where, class_name="AutoInt",
                              groups=groups)
