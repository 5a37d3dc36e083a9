"""EasyRec's ``RocketLaunching`` (a booster net teaching a light net) as a recblocks RankModel of two tasks.

EasyRec (``easy_rec/python/model/rocket_launching.py``): the ``all`` group, then ``share_dnn``
when set; the booster reads it, the light net reads it without gradient
(``stop_gradient``); each ends in a dense layer of ``num_class`` logits (``booster_output``,
``light_output``). Both are trained on the first label with their own classification loss; the
light logits also learn the booster's (a ``hint_loss``: mean squared error against the booster
logits, which get no gradient from it); with ``feature_based_distillation`` every light hidden
layer is compared with the first booster layer of the same width, adding ``-0.1 * sim`` (EasyRec
passes the flag where the similarity function belongs, so ``sim`` is always the distance
``||booster - light||_F`` over the batch, whatever ``feature_distillation_function`` says).
Metrics are reported for both nets (``light/auc``, ``booster/auc``).

Here: a RankModel whose backbone ends in ``[light logits, booster logits]`` (tasks ``light`` and
``booster``, in that order, so a bare metric name means the light net's, the net one serves),
``hint_loss`` an ``AuxiliaryLoss`` (``l2_loss`` with weight ``1 / num_class``: EasyRec's mean is
over the ``B * num_class`` values), the feature losses ``FeatureDistillation`` blocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes._common import (check_model_fields, class_message, dense_block, dnn_is_empty,
                                                    mlp_params, num_class, rank_model_section, require_group)

__all__ = ["rocket_launching"]

#: EasyRec's weight of each feature-based similarity term.
FEATURE_LOSS_WEIGHT = -0.1


def _stop_gradient(name: str, source: str) -> dict[str, Any]:
    return {"name": name, "inputs": [{"block_name": source}],
            "lambda": {"expression": "lambda x: tf.stop_gradient(x)"}}


def _dnn_blocks(name: str, source: str, dnn: Mapping[str, Any], where: str,
                per_layer: bool) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """The DNN as one MLP block, or one block per layer; ``(blocks, [(width, block of that layer)])``."""
    params = mlp_params(dnn, where)
    units = params["hidden_units"]
    if not per_layer:
        return ([{"name": name, "inputs": [{"block_name": source}],
                  "component": {"class_name": "MLP", "params": params}}], [(units[-1], name)])
    blocks, layers, previous = [], [], source
    for i, width in enumerate(units):
        layer = {**params, "hidden_units": [width]}
        if "dropout_ratio" in params:
            layer["dropout_ratio"] = [params["dropout_ratio"][i]]
        blocks.append({"name": f"{name}_{i}", "inputs": [{"block_name": previous}],
                       "component": {"class_name": "MLP", "params": layer}})
        layers.append((width, f"{name}_{i}"))
        previous = f"{name}_{i}"
    return blocks, layers


@EASYREC_MODELS.register("RocketLaunching", message="rocket_launching")
def rocket_launching(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """Rocket Launching: a booster and a light net on a shared DNN, the light net distilled from the booster."""
    check_model_fields(model_config, "rocket_launching", where)
    params = class_message(model_config, "rocket_launching", where)
    path = join_path(where, "rocket_launching")
    require_group(model_config, "all", where)
    classes = num_class(model_config)
    feature_based = bool(params.get("feature_based_distillation", False))
    blocks: list[dict[str, Any]] = [{"name": "all", "inputs": [{"feature_group_name": "all"}], "input_layer": {}}]
    base = "all"
    if not dnn_is_empty(params.get("share_dnn")):
        blocks.append({"name": "share_dnn", "inputs": [{"block_name": "all"}], "component": {
            "class_name": "MLP", "params": mlp_params(params["share_dnn"], join_path(path, "share_dnn"))}})
        base = "share_dnn"
    blocks.append(_stop_gradient("light_input", base))
    nets = {}
    for net, source in (("booster", base), ("light", "light_input")):
        dnn = params.get(f"{net}_dnn")
        if dnn_is_empty(dnn):
            raise ConfigError(join_path(path, f"{net}_dnn", "hidden_units"), f"the {net} net needs layers",
                              "e.g. hidden_units: [128, 64]", (dnn or {}).get("hidden_units", []))
        net_blocks, layers = _dnn_blocks(f"{net}_dnn", source, dnn, join_path(path, f"{net}_dnn"), feature_based)
        blocks += net_blocks
        blocks.append(dense_block(f"{net}_output", [{"block_name": layers[-1][1]}], classes))
        nets[net] = layers
    blocks.append(_stop_gradient("booster_output_no_grad", "booster_output"))
    losses = [{"name": "hint_loss", "inputs": [{"block_name": "booster_output_no_grad"},
                                               {"block_name": "light_output"}], "merge_inputs_into_list": True,
               "component": {"class_name": "AuxiliaryLoss", "params": {
                   "loss_type": "l2_loss", "loss_weight": 1.0 / classes, "loss_name": "hint_loss"}}}]
    if feature_based:
        count = 0
        for width, light in nets["light"]:
            booster = next((name for w, name in nets["booster"] if w == width), None)
            if booster is None:
                continue
            losses.append({"name": f"similarity_{count}", "inputs": [{"block_name": booster},
                                                                     {"block_name": light}],
                           "merge_inputs_into_list": True, "component": {"class_name": "FeatureDistillation", "params": {
                               "similarity": "euclid", "loss_weight": FEATURE_LOSS_WEIGHT,
                               "loss_name": f"similarity_{count}"}}})
            count += 1
    blocks += losses
    ordering = [{"block_name": loss["name"], "ignore_input": True} for loss in losses]
    for net in ("light", "booster"):
        blocks.append({"name": net, "inputs": [{"block_name": f"{net}_output"}, *ordering],
                       "lambda": {"expression": "lambda x: x"}})
    section = rank_model_section(model_config, "rocket_launching", blocks, ["light", "booster"], None, where,
                                 class_name="RocketLaunching")
    section["backbone"] = {"blocks": blocks, "output_blocks": ["light", "booster"]}
    section["tasks"] = [{"name": "light"}, {"name": "booster"}]  # the label, type and metrics: the pipeline's
    return section
