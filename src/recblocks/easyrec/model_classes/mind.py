"""EasyRec's ``MIND`` (multi-interest network with dynamic routing) as a recblocks MatchModel.

EasyRec (``easy_rec/python/model/mind.py``): the ``hist`` group's behaviour sequences are
averaged (``user_seq_combine: SUM``, every sequence of one width) or concatenated (``CONCAT``)
and routed into interest capsules (``capsule_config``: the ``CapsuleRouting`` component). The
``user`` group goes through a batch norm and ``user_dnn``; it is tiled next to every capsule and
``concat_dnn`` (last layer a plain dense layer) maps each to an interest. The ``item`` group goes
through ``item_dnn`` (same last layer). With ``COSINE`` the interests and the item vector are
unit-normalised. Label-aware attention (``simi_pow``) mixes the interests by their similarity
to the row's item into the user vector, scored against the items by inner product (no
temperature), then ``|w| s + b`` with ``scale_simi``.

In recblocks the interests are a third backbone output (``user_interests_idx_in_output``): the
catalogue evaluation scores an item by the user's best interest instead of the label-aware
user vector, which reads the row's own (target) item. A point-wise ``loss_type`` scores the
row's user vector and item as DSSM's point-wise form does (a RankModel; the label-aware user
vector reads the row's item, as in EasyRec).

``max_interests_simi < 1`` adds EasyRec's interest-similarity penalty (LabelAwareAttention's).

``time_id_fea`` names a hist-group sequence feature with ``embedding_dim: 1``: its embedding is a
learned logit per time bucket, and a ``TimeWeightedSequence`` block scales the other behaviours by
its softmax over the valid positions before the capsules (EasyRec weights after combining them:
the same, the weight being one scalar per position).

Refused, naming the field: a ``pre_capsule_dnn`` with layers, and what DSSM refuses (``EUCLID``);
``ignore_in_batch_neg_sam`` is read as DSSM reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes.dssm import POINTWISE, match_loss, match_section, pointwise_section
from recblocks.easyrec.model_classes.towers import (check_model_fields, dnn_params, feature_groups, mlp_block,
                                                    no_backbone, require_groups)

__all__ = ["mind"]

#: Capsule fields copied into CapsuleRouting's params (the same names).
_CAPSULE_FIELDS = ("max_k", "max_seq_len", "high_dim", "num_iters", "routing_logits_scale", "routing_logits_stddev",
                   "squash_pow", "scale_ratio", "const_caps_num")
#: Tiles the user vector (B, U) next to every capsule (B, K, H): (B, K, H + U).
_TILE_USER = "lambda x: torch.cat([x[0], x[1].unsqueeze(1) * torch.ones_like(x[0][:, :, :1])], dim=-1)"


@EASYREC_MODELS.register("MIND", message="mind")
def mind(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """MIND: behaviour capsules routed into user interests, label-aware attention (Li et al., CIKM 2019)."""
    no_backbone(model_config, "MIND", where)
    check_model_fields(model_config, "mind", where, also=("loss_type",))
    match_loss(model_config, where, pointwise=True)
    path = join_path(where, "mind")
    params = model_config.get("mind", {})
    _refuse(params, path)
    groups = feature_groups(model_config, where)
    require_groups(groups, ("hist", "user", "item"), "MIND", where)
    cosine = params.get("simi_func", "COSINE") == "COSINE"
    blocks = [{"name": "hist_input", "inputs": [{"feature_group_name": "hist"}],
               "input_layer": {"output_seq_and_normal_feature": True}}]
    capsule_input = "hist_input"
    hist = list(next(g for g in groups if g["group_name"] == "hist")["feature_names"])
    if params.get("time_id_fea"):
        blocks.append(_time_weights(params["time_id_fea"], hist, features, join_path(path, "time_id_fea")))
        capsule_input = "hist_time"
        hist = [name for name in hist if name != params["time_id_fea"]]
    if params.get("user_seq_combine", "SUM") == "SUM" and len(hist) > 1:
        widths = [features.get(name, {}).get("embedding_dim") for name in hist]
        if len(set(widths)) != 1 or widths[0] is None:
            raise ConfigError(join_path(path, "user_seq_combine"), "SUM averages the behaviour sequences, so they "
                              "need one embedding width", "equal embedding_dim (or user_seq_combine: CONCAT)",
                              dict(zip(hist, widths)))
        blocks.append({"name": "hist_mean", "inputs": [{"block_name": capsule_input}],
                       "lambda": {"expression": f"lambda x: [sum(torch.chunk(x[0], {len(hist)}, dim=-1)) / "
                                                f"{len(hist)}, x[1]]"}})
        capsule_input = "hist_mean"
    capsule = {key: params["capsule_config"][key] for key in _CAPSULE_FIELDS if key in params.get("capsule_config", {})}
    blocks.append({"name": "capsules", "inputs": [{"block_name": capsule_input}],
                   "component": {"class_name": "CapsuleRouting", "params": capsule}})
    blocks.append({"name": "user_input", "inputs": [{"feature_group_name": "user"}], "input_layer": {}})
    blocks.append({"name": "user_bn", "inputs": [{"block_name": "user_input"}],
                   "component": {"class_name": "BatchNormalization", "params": {}}})
    user = dnn_params(params.get("user_dnn"), join_path(path, "user_dnn"))
    if user is not None:
        blocks.append(mlp_block("user_dnn", ["user_bn"], user))
    blocks.append({"name": "interest_input", "merge_inputs_into_list": True,
                   "inputs": [{"block_name": "capsules", "input_slice": "[0]"},
                              {"block_name": "user_dnn" if user is not None else "user_bn"}],
                   "lambda": {"expression": _TILE_USER}})
    blocks.append(mlp_block("interests", ["interest_input"],
                            dnn_params(params.get("concat_dnn", {}), join_path(path, "concat_dnn"),
                                       linear_last=True)))  # type: ignore[arg-type]
    blocks.append({"name": "item_input", "inputs": [{"feature_group_name": "item"}], "input_layer": {}})
    blocks.append(mlp_block("item_tower", ["item_input"],
                            dnn_params(params.get("item_dnn", {}), join_path(path, "item_dnn"),
                                       linear_last=True)))  # type: ignore[arg-type]
    interests, item = "interests", "item_tower"
    if cosine:
        for name in ("interests", "item_tower"):
            blocks.append({"name": f"{name}_unit", "inputs": [{"block_name": name}],
                           "component": {"class_name": "L2Norm", "params": {}}})
        interests, item = "interests_unit", "item_tower_unit"
    blocks.append({"name": "user_tower", "merge_inputs_into_list": True,
                   "inputs": [{"block_name": interests}, {"block_name": item},
                              {"block_name": "capsules", "input_slice": "[1]"}],
                   "component": {"class_name": "LabelAwareAttention",
                                 "params": {"simi_pow": float(params.get("simi_pow", 10.0)),
                                            "max_interests_simi": float(params.get("max_interests_simi", 1.0))}}})
    if model_config.get("loss_type", "CLASSIFICATION") in POINTWISE:
        return pointwise_section("MIND", model_config, {**params, "simi_func": "INNER_PRODUCT"}, path, blocks, where,
                                 towers=("user_tower", item))
    blocks.append({"name": "user_interests", "merge_inputs_into_list": True,
                   "inputs": [{"block_name": interests}, {"block_name": "capsules", "input_slice": "[1]"}],
                   "lambda": {"expression": "lambda x: x[0] * x[1].unsqueeze(-1)"}})
    section = match_section("MIND", model_config, {**params, "simi_func": "INNER_PRODUCT", "temperature": 1.0}, path,
                            blocks, ["user_tower", item, "user_interests"], features, where)
    section["model_params"]["user_interests_idx_in_output"] = 2
    return section


def _time_weights(time_name: str, hist: list[str], features: FeatureFacts, where: str) -> dict[str, Any]:
    """The ``hist_time`` block: the behaviours scaled by a softmax of the time feature's one-wide embedding."""
    if time_name not in hist:
        raise ConfigError(where, "the time feature must be in the hist group", f"one of {hist}", repr(time_name))
    widths = [features.get(name, {}).get("embedding_dim") for name in hist]
    index = hist.index(time_name)
    if widths[index] != 1 or any(w is None for w in widths):
        raise ConfigError(where, "the time feature's embedding is its one logit per time bucket",
                          "embedding_dim: 1", widths[index])
    return {"name": "hist_time", "inputs": [{"block_name": "hist_input"}],
            "component": {"class_name": "TimeWeightedSequence", "params": {"time_index": sum(widths[:index])}}}


def _refuse(params: Mapping[str, Any], path: str) -> None:
    if dnn_params(params.get("pre_capsule_dnn"), join_path(path, "pre_capsule_dnn")) is not None:
        raise ConfigError(join_path(path, "pre_capsule_dnn"), "a DNN before the capsules is not supported",
                          "no layers", params["pre_capsule_dnn"].get("hidden_units"))
    if "capsule_config" not in params:
        raise ConfigError(join_path(path, "capsule_config"), "MIND needs its capsule layer",
                          "capsule_config {max_seq_len: ..., high_dim: ...}", "missing")
