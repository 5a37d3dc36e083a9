"""EasyRec ``PDN`` (Path-based Deep Network): trigger paths times similarity paths, plus a bias path.

EasyRec (``easy_rec/python/model/pdn.py``, message ``pdn``) reads the groups ``user``, ``item``,
an optional ``bias`` and three sequence groups read position by position: ``u2i_seq`` (the user's
behaviour on each trigger item; its lengths mask every path), ``i_seq`` (trigger item side info)
and ``i2i_seq`` (trigger-to-target co-occurrence). Trigger net: ``u2i_dnn`` over
``[u2i_seq, i_seq]`` plus ``user_dnn(user)`` per position, then ``trigger_dnn`` (last layer linear,
no batch norm) and ``exp``. Similarity net: ``i2i_dnn(i_seq) * item_dnn(item)`` (twice),
``i2i_seq`` and the tiled item vector, concatenated, then ``sim_dnn`` (last layer linear) and
``exp``. ``z`` = the masked sum over positions of trigger * similarity, plus ``softplus(bias_dnn(bias))``;
EasyRec's probability is ``1 - exp(-z)`` and its logits (what the sigmoid cross-entropy reads) are
``log(clip(1 - exp(-z), 1e-8, 1 - 1e-8))``; the backbone ends in those logits, so the loss is
EasyRec's, while recblocks' probability, ``sigmoid(logits)``, is ``p / (1 + p)`` of EasyRec's ``p``. The optional direct
net (``direct_user_dnn`` / ``direct_item_dnn``) is refused: not translated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes._common import (
    check_model_fields, class_message, mlp_block, mlp_params, num_class, rank_model_section, require_group,
)

__all__ = ["pdn"]

_SEQUENCE_GROUPS = ("u2i_seq", "i_seq", "i2i_seq")
_REQUIRED = ("user_dnn", "item_dnn", "u2i_dnn", "trigger_dnn", "i2i_dnn", "sim_dnn")
#: tile (B, d) over the positions of x[0] (B, L, e): a broadcast product with ones
_SIM_INPUT = ("lambda x: tf.concat([x[0] * x[1][:, None, :], x[0] * x[1][:, None, :], x[2], "
              "x[1][:, None, :] * tf.ones_like(x[0][:, :, :1])], axis=2)")
_PATHS = ("lambda x: tf.reduce_sum(tf.exp(x[0]) * tf.exp(x[1]) * tf.stack("
          "[tf.cast(x[2] > i, tf.float32) for i in range(x[1].shape[1])], axis=1)[:, :, None], axis=1)")


def _scoring_block(name: str, inputs: list[dict[str, Any]], dnn: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A DNN whose last layer is linear and scores with one number (trigger, sim and bias nets)."""
    params = mlp_params(dnn, where, last_linear=True)
    if params["hidden_units"][-1] != 1:
        raise ConfigError(join_path(where, "hidden_units"), "PDN sums one score per path", "a last width of 1",
                          params["hidden_units"][-1])
    return {"name": name, "inputs": inputs, "component": {"class_name": "MLP", "params": params}}


@EASYREC_MODELS.register("PDN", message="pdn")
def pdn(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """Trigger net x similarity net summed over the masked trigger positions, plus the bias net."""
    params = class_message(model_config, "pdn", where)
    check_model_fields(model_config, "pdn", where)
    path = join_path(where, "pdn")
    if num_class(model_config) != 1:
        raise ConfigError(join_path(where, "num_class"), "PDN outputs one probability", "1", num_class(model_config))
    for name in _REQUIRED:
        if not params.get(name):
            raise ConfigError(join_path(path, name), f"PDN needs {name}", "hidden_units: [...]", "none")
    for name in ("direct_user_dnn", "direct_item_dnn"):
        if params.get(name):
            raise ConfigError(join_path(path, name), "PDN's direct net is not translated", f"no {name}", "set")
    for group in ("user", "item", *_SEQUENCE_GROUPS):
        require_group(model_config, group, where)
    seq = {g: {"block_name": f"{g}_input", "input_slice": "[0]"} for g in _SEQUENCE_GROUPS}
    blocks: list[dict[str, Any]] = [
        {"name": f"{g}_input", "inputs": [{"feature_group_name": g}],
         "input_layer": {"output_seq_and_normal_feature": True}} for g in _SEQUENCE_GROUPS]
    blocks += [
        mlp_block("user_dnn", [{"feature_group_name": "user"}], params["user_dnn"], join_path(path, "user_dnn")),
        mlp_block("u2i_dnn", [seq["u2i_seq"], seq["i_seq"]], params["u2i_dnn"], join_path(path, "u2i_dnn")),
        {"name": "trigger_merge", "inputs": [{"block_name": "u2i_dnn"}, {"block_name": "user_dnn"}],
         "merge_inputs_into_list": True, "lambda": {"expression": "lambda x: x[0] + x[1][:, None, :]"}},
        _scoring_block("trigger_dnn", [{"block_name": "trigger_merge"}], params["trigger_dnn"],
                       join_path(path, "trigger_dnn")),
        mlp_block("item_dnn", [{"feature_group_name": "item"}], params["item_dnn"], join_path(path, "item_dnn")),
        mlp_block("i2i_dnn", [seq["i_seq"]], params["i2i_dnn"], join_path(path, "i2i_dnn")),
        {"name": "sim_input", "inputs": [{"block_name": "i2i_dnn"}, {"block_name": "item_dnn"}, seq["i2i_seq"]],
         "merge_inputs_into_list": True, "lambda": {"expression": _SIM_INPUT}},
        _scoring_block("sim_dnn", [{"block_name": "sim_input"}], params["sim_dnn"], join_path(path, "sim_dnn")),
        {"name": "paths", "inputs": [{"block_name": "trigger_dnn"}, {"block_name": "sim_dnn"},
                                     {"block_name": "u2i_seq_input", "input_slice": "[1]"}],
         "merge_inputs_into_list": True, "lambda": {"expression": _PATHS}},
    ]
    z_inputs = [{"block_name": "paths"}]
    z = "x[0]"
    if params.get("bias_dnn"):
        require_group(model_config, "bias", where, "PDN's bias_dnn reads it")
        blocks.append(_scoring_block("bias_dnn", [{"feature_group_name": "bias"}], params["bias_dnn"],
                                     join_path(path, "bias_dnn")))
        z_inputs.append({"block_name": "bias_dnn"})
        z = "x[0] + tf.nn.softplus(x[1])"
    blocks.append({"name": "logits", "inputs": z_inputs, "merge_inputs_into_list": True,
                   "lambda": {"expression": f"lambda x: tf.log(tf.clip_by_value(1 - tf.exp(-({z})), 1e-8, 1 - 1e-8))"}})
    return rank_model_section(model_config, "pdn", blocks, ["logits"], None, where, class_name="PDN",
                              l2_regularization=float(params.get("l2_regularization", 1e-6)))
