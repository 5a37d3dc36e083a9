"""EasyRec ``DropoutNet``: user and item towers over content and preference groups, scored by cosine.

EasyRec (``easy_rec/python/model/dropoutnet.py``; Volkovs et al., "DropoutNet: Addressing Cold
Start in Recommender Systems", NIPS 2017): each side reads up to two groups,
``<side>_content`` (through the ``<side>_content`` DNN) and ``<side>_preference`` (in training
each row's whole vector is dropped with probability ``<side>_dropout_rate`` and the kept rows
scaled by ``1 / keep``, then the ``<side>_preference`` DNN); their concatenation runs the
``<side>_tower`` DNN without its last layer, then a dense layer of that width (bias, no
activation). Both embeddings are L2-normalised and their dot product (the cosine) is the logit.
The model-level ``losses`` train on it (EasyRec sums ``CLASSIFICATION`` / ``PAIR_WISE_LOSS``
times their weights); its metrics read ``sigmoid(cosine)``. recblocks: a RankModel whose
backbone ends in the cosine ``(B, 1)``; the pipeline translation makes the binary task with
those ``losses``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes._common import (
    check_model_fields, class_message, feature_group_names, rank_model_section,
)
from recblocks.easyrec.model_classes.towers import dnn_params, input_block, mlp_block

__all__ = ["dropoutnet"]

#: The proto defaults of ``user_dropout_rate`` / ``item_dropout_rate``.
_DROPOUT_DEFAULTS = {"user": 0.0, "item": 0.5}


def _side(params: Mapping[str, Any], side: str, groups: list[str], path: str) -> tuple[list[dict[str, Any]], int]:
    """The blocks of one tower (ending in the block ``<side>_emb``) and its embedding width."""
    blocks: list[dict[str, Any]] = []
    parts: list[str] = []
    for kind in ("content", "preference"):
        group = f"{side}_{kind}"
        if group not in groups:
            continue
        blocks.append(input_block(group))
        source = group
        rate = float(params.get(f"{side}_dropout_rate", _DROPOUT_DEFAULTS[side]))
        if kind == "preference" and rate > 0.0:
            if rate >= 1.0:
                raise ConfigError(join_path(path, f"{side}_dropout_rate"), "a dropout rate drops a share of rows",
                                  "a value in [0, 1)", rate)
            blocks.append({"name": f"{group}_dropout", "inputs": [{"block_name": group}],
                           "component": {"class_name": "Dropout", "params": {"rate": rate, "noise_shape": [None, 1]}}})
            source = f"{group}_dropout"
        mlp = dnn_params(params.get(group), join_path(path, group))
        if mlp is not None:
            blocks.append(mlp_block(f"{group}_dnn", [source], mlp))
            source = f"{group}_dnn"
        parts.append(source)
    if not parts:
        raise ConfigError(join_path(path.rsplit(".", 1)[0], "feature_groups"), f"DropoutNet's {side} tower reads "
                          f"the group {side}_content or {side}_preference", f"a group named {side}_content or "
                          f"{side}_preference", f"groups {groups}")
    tower = params.get(f"{side}_tower") or {}
    mlp = dnn_params(tower, join_path(path, f"{side}_tower"), linear_last=True)
    assert mlp is not None  # linear_last refuses a tower without layers
    blocks.append(mlp_block(f"{side}_tower", parts, mlp))
    blocks.append({"name": f"{side}_emb", "inputs": [{"block_name": f"{side}_tower"}],
                   "component": {"class_name": "L2Norm", "params": {}}})
    return blocks, int(mlp["hidden_units"][-1])


@EASYREC_MODELS.register("DropoutNet", message="dropoutnet")
def dropoutnet(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """Content and (row-dropped) preference towers per side; the cosine of the two embeddings is the logit."""
    params = class_message(model_config, "dropoutnet", where)
    check_model_fields(model_config, "dropoutnet", where)
    path = join_path(where, "dropoutnet")
    if "softmax_loss" in params:
        raise ConfigError(join_path(path, "softmax_loss"), "the softmax loss with negative mining has no "
                          "recblocks loss", "losses of type CLASSIFICATION / PAIR_WISE_LOSS", "softmax_loss")
    groups = feature_group_names(model_config)
    user, user_dim = _side(params, "user", groups, path)
    item, item_dim = _side(params, "item", groups, path)
    if user_dim != item_dim:
        raise ConfigError(join_path(path, "item_tower", "hidden_units"), "the towers' last layers give the two "
                          "embeddings, which must have one width", f"a last width of {user_dim} (user_tower's)",
                          item_dim)
    cosine = {"name": "similarity", "inputs": [{"block_name": "user_emb"}, {"block_name": "item_emb"}],
              "merge_inputs_into_list": True,
              "lambda": {"expression": "lambda x: tf.reduce_sum(x[0] * x[1], axis=1, keepdims=True)"}}
    return rank_model_section(model_config, "dropoutnet", [*user, *item, cosine], ["similarity"], None, where,
                              class_name="DropoutNet", l2_regularization=float(params.get("l2_regularization", 0.0)))
