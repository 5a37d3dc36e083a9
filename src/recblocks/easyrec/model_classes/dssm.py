"""EasyRec's ``DSSM`` and ``DSSM_SENet`` two-tower retrieval models as recblocks MatchModels.

DSSM (``easy_rec/python/model/dssm.py``): the ``user`` group runs the user tower's ``dnn``, the
``item`` group the item tower's; the last layer of each is a plain dense layer (no batch norm,
no activation). ``COSINE`` unit-normalises both vectors and divides their dot product by
``temperature``; ``INNER_PRODUCT`` takes the raw dot product; ``scale_simi`` learns
``s |w| + b``. With ``loss_type: SOFTMAX_CROSS_ENTROPY`` the scores of every row against every
item of the batch are a softmax (in-batch negatives, duplicates of the row's ``item_id`` masked):
recblocks' MatchModel trains exactly that. DSSM_SENet (``dssm_senet.py``) puts EasyRec's SENet
before each tower's DNN: the FiBiNet++ form (``mode: plus``) of its older layer, i.e. without
the skip connection and the output LayerNorm.

A point-wise ``loss_type`` (``CLASSIFICATION`` / ``L2_LOSS``: one label per user-item row)
scores each row's own user and item: that is a recblocks RankModel whose backbone ends in the
similarity, ``sum(u * v, -1) / temperature`` (a ``(B, 1)`` logit, so no head is added), and
with ``scale_simi`` a ``Dense(1)`` whose kernel starts at 1 (EasyRec's ``|w| s + b``; here
``w`` is not kept positive). Like every RankModel translation, the section has no ``tasks``:
the label is ``data_config.label_fields[0]``, outside the model section, and the pipeline
translation adds the task (binary for ``CLASSIFICATION``, regression for ``L2_LOSS``).

``ignore_in_batch_neg_sam: true`` -> ``in_batch_negatives: false`` (each row scored against its
own item and the sampler's negatives only; it needs a ``negative_sampler``).

Refused, naming the field: ``simi_func: EUCLID``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes.towers import (check_model_fields, dnn_params, feature_groups,
                                                    l2_regularization, mlp_block, no_backbone, require_groups)

__all__ = ["dssm", "dssm_senet", "match_loss", "match_section"]

#: Similarities recblocks' MatchModel computes.
SIMILARITIES = ("COSINE", "INNER_PRODUCT")


#: Point-wise losses (one label per row), scored by a RankModel.
POINTWISE = ("CLASSIFICATION", "L2_LOSS")


def match_loss(model_config: Mapping[str, Any], where: str, pointwise: bool = False) -> None:
    """The list-wise softmax loss (in-batch negatives), or with ``pointwise`` a point-wise one."""
    loss = model_config.get("loss_type", "CLASSIFICATION")
    allowed = ["SOFTMAX_CROSS_ENTROPY", *(POINTWISE if pointwise else ())]
    if loss not in allowed:
        problem = "a point-wise (one label per user-item row) " if loss in POINTWISE else ""
        raise ConfigError(join_path(where, "loss_type"), f"{problem}{loss} is not supported for "
                          f"{model_config.get('model_class')}", " or ".join(allowed), loss, choices=allowed)


def match_section(model_name: str, model_config: Mapping[str, Any], params: Mapping[str, Any], path: str,
                  blocks: list[dict[str, Any]], outputs: list[str], features: FeatureFacts,
                  where: str) -> dict[str, Any]:
    """A recblocks MatchModel section over ``blocks``; ``outputs`` are the user and item vectors.

    ``item_id`` is the class's ``item_id``, else the item tower's ``id`` when that names a
    feature (EasyRec's shipped configs write the id feature there), else the first id feature
    of the ``item`` group (EasyRec's configs list the item id first; recblocks' catalogue
    evaluation needs one). ``user_id`` is the user tower's ``id`` when that names a feature.
    """
    section_groups = feature_groups(model_config, where)
    simi = params.get("simi_func", "COSINE")
    if simi not in SIMILARITIES:
        raise ConfigError(join_path(path, "simi_func"), "similarity not supported", f"one of {list(SIMILARITIES)}",
                          simi, choices=SIMILARITIES)
    model_params: dict[str, Any] = {
        "user_tower_idx_in_output": 0, "item_tower_idx_in_output": 1, "simi_func": simi,
        "temperature": float(params.get("temperature", 1.0)), "scale_simi": bool(params.get("scale_simi", True)),
        "l2_regularization": l2_regularization(params)}
    if params.get("ignore_in_batch_neg_sam", False):  # the row's own item and the sampled negatives only
        model_params["in_batch_negatives"] = False
    item_id = params.get("item_id") or params.get("item_tower", {}).get("id")
    if params.get("item_id") and item_id not in features:
        raise ConfigError(join_path(path, "item_id"), "unknown feature", "a feature name", repr(item_id),
                          choices=list(features))
    if item_id not in features:
        item_group = next((g["feature_names"] for g in section_groups if g["group_name"] == "item"), [])
        item_id = next((n for n in item_group if features.get(n, {}).get("kind") in ("sparse", "hashed")), None)
    if item_id is not None:
        model_params["item_id"] = item_id
    user_id = params.get("user_tower", {}).get("id")
    if user_id in features:
        model_params["user_id"] = user_id
    section: dict[str, Any] = {
        "model_class": "MatchModel", "model_name": model_name, "feature_groups": section_groups,
        "backbone": {"blocks": blocks, "output_blocks": outputs}, "model_params": model_params}
    if "embedding_regularization" in model_config:
        section["embedding_regularization"] = float(model_config["embedding_regularization"])
    return section


def _tower_mlp(params: Mapping[str, Any], side: str, path: str) -> dict[str, Any]:
    tower = params.get(f"{side}_tower")
    if tower is None:
        raise ConfigError(join_path(path, f"{side}_tower"), "the tower is required", f"{side}_tower {{dnn {{...}}}}",
                          "missing")
    return dnn_params(tower.get("dnn", {}), join_path(path, f"{side}_tower", "dnn"), linear_last=True)  # type: ignore[return-value]


@EASYREC_MODELS.register("DSSM", message="dssm")
def dssm(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """DSSM: a user tower and an item tower scored by cosine or inner product (Huang et al., 2013)."""
    return _two_towers("DSSM", "dssm", model_config, features, where, senet=False)


@EASYREC_MODELS.register("DSSM_SENet", message="dssm_senet")
def dssm_senet(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """DSSM with a SENet (FiBiNet++ form) re-weighting each tower's fields before its DNN."""
    return _two_towers("DSSM_SENet", "dssm_senet", model_config, features, where, senet=True)


def _two_towers(name: str, message: str, model_config: Mapping[str, Any], features: FeatureFacts, where: str,
                senet: bool) -> dict[str, Any]:
    no_backbone(model_config, name, where)
    check_model_fields(model_config, message, where, also=("loss_type", "num_class"))
    match_loss(model_config, where, pointwise=True)
    path = join_path(where, message)
    params = model_config.get(message, {})
    require_groups(feature_groups(model_config, where), ("user", "item"), name, where)
    blocks: list[dict[str, Any]] = []
    for side in ("user", "item"):
        mlp = _tower_mlp(params, side, path)
        source = f"{side}_input"
        if senet:
            blocks.append({"name": source, "inputs": [{"feature_group_name": side}],
                           "input_layer": {"only_output_feature_list": True}})
            blocks.append({"name": f"{side}_senet", "inputs": [{"block_name": source}],
                           "component": {"class_name": "SENet",
                                         "params": _senet(params[f"{side}_tower"].get("senet", {}),
                                                          join_path(path, f"{side}_tower", "senet"))}})
            source = f"{side}_senet"
        else:
            blocks.append({"name": source, "inputs": [{"feature_group_name": side}], "input_layer": {}})
        blocks.append(mlp_block(f"{side}_tower", [source], mlp))
    if model_config.get("loss_type", "CLASSIFICATION") in POINTWISE:
        return pointwise_section(name, model_config, params, path, blocks, where)
    return match_section(name, model_config, params, path, blocks, ["user_tower", "item_tower"], features, where)


def _senet(senet: Mapping[str, Any], where: str) -> dict[str, Any]:
    """EasyRec's (older, non-Keras) SENet layer: the plus form without skip connection and LayerNorm."""
    for key in ("use_skip_connection", "use_output_layer_norm"):
        if senet.get(key, False):
            raise ConfigError(join_path(where, key), "DSSM_SENet's SENet layer has no such option", "unset", True)
    return {"mode": "plus", "reduction_ratio": float(senet.get("reduction_ratio", 4)),
            "num_squeeze_group": int(senet.get("num_squeeze_group", 2)), "use_skip_connection": False,
            "use_output_layer_norm": False}


def pointwise_section(model_name: str, model_config: Mapping[str, Any], params: Mapping[str, Any], path: str,
                      blocks: list[dict[str, Any]], where: str,
                      towers: tuple[str, str] = ("user_tower", "item_tower")) -> dict[str, Any]:
    """A RankModel scoring the row's user and item vectors, the blocks ``towers`` (see the module docstring)."""
    simi = params.get("simi_func", "COSINE")
    if simi not in SIMILARITIES:
        raise ConfigError(join_path(path, "simi_func"), "similarity not supported", f"one of {list(SIMILARITIES)}",
                          simi, choices=SIMILARITIES)
    if simi == "COSINE":
        blocks += [{"name": f"{t}_unit", "inputs": [{"block_name": t}],
                    "component": {"class_name": "L2Norm", "params": {}}} for t in towers]
        towers = (f"{towers[0]}_unit", f"{towers[1]}_unit")
    temperature = float(params.get("temperature", 1.0)) if simi == "COSINE" else 1.0
    blocks.append({"name": "similarity", "merge_inputs_into_list": True,
                   "inputs": [{"block_name": t} for t in towers],
                   "lambda": {"expression": f"lambda x: torch.sum(x[0] * x[1], dim=-1, keepdim=True) / {temperature!r}"}})
    if params.get("scale_simi", True):
        blocks.append({"name": "scaled_similarity", "inputs": [{"block_name": "similarity"}],
                       "component": {"class_name": "Dense", "params": {"units": 1, "kernel_initializer": "ones"}}})
    section: dict[str, Any] = {
        "model_class": "RankModel", "model_name": model_name, "feature_groups": feature_groups(model_config, where),
        "backbone": {"blocks": blocks, "concat_blocks": [blocks[-1]["name"]]},
        "model_params": {"l2_regularization": l2_regularization(params)}}
    if "embedding_regularization" in model_config:
        section["embedding_regularization"] = float(model_config["embedding_regularization"])
    return section
