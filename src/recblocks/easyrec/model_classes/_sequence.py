"""EasyRec's target attention over ``sequence_features`` / ``seq_att_groups``, as DIN blocks.

In EasyRec (``easy_rec/python/layers/input_layer.py`` and ``sequence_feature_layer.py``) a
feature group with ``sequence_features`` outputs its plain concatenation followed by one
target-attention vector per entry: ``seq_dnn`` (default ``[128, 64, 32, 1]``, last layer linear)
scores ``[q, k, q - k, q * k]`` for every behaviour ``k``, a masked softmax pools the
behaviours, and the key (target) embedding is appended unless ``need_key_feature`` is false.
recblocks' groups define the entry as its own group (sequences, then keys) and its ``DIN``
component computes the same attention; :func:`group_inputs` wires them together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes._common import check_sequence_entry, mlp_params

__all__ = ["attention_group", "din_blocks", "group_inputs", "has_sequence_features"]

#: EasyRec's ``seq_dnn`` when a ``sequence_features`` entry sets none.
DEFAULT_SEQ_DNN = {"hidden_units": [128, 64, 32, 1]}


def din_blocks(entry: Mapping[str, Any], dnn: Mapping[str, Any] | None, name: str, where: str,
               need_key_feature: bool = True) -> list[dict[str, Any]]:
    """The sequence input of group ``entry['group_name']`` and a DIN block ``name`` over it."""
    group = str(entry["group_name"])
    attention = mlp_params(dnn or DEFAULT_SEQ_DNN, join_path(where, "seq_dnn"), last_linear=True)
    if attention["hidden_units"][-1] != 1:
        raise ConfigError(join_path(where, "hidden_units"), "the attention DNN scores each behaviour with one "
                          "number", "a last width of 1", attention["hidden_units"][-1])
    return [{"name": f"{group}_seq_input", "inputs": [{"feature_group_name": group}],
             "input_layer": {"output_seq_and_normal_feature": True}},
            {"name": name, "inputs": [{"block_name": f"{group}_seq_input"}],
             "component": {"class_name": "DIN", "params": {"attention_dnn": attention,
                                                           "need_target_feature": need_key_feature}}}]


def attention_group(entry: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A model-level ``seq_att_groups`` entry as a recblocks group: its sequences, then their keys."""
    check_sequence_entry(entry, where)
    maps = entry.get("seq_att_map", [])
    if not maps:
        raise ConfigError(join_path(where, "seq_att_map"), "an attention group pairs keys with sequences",
                          "seq_att_map { key: ... hist_seq: ... }", "none")
    for m, att in enumerate(maps):
        if len(att.get("key", [])) != len(att.get("hist_seq", [])):
            raise ConfigError(join_path(where, "seq_att_map", m), "key and hist_seq pair up position by position",
                              f"as many hist_seq as keys ({len(att.get('key', []))})", len(att.get("hist_seq", [])))
    hist = [name for att in maps for name in att["hist_seq"]]
    keys = [name for att in maps for name in att["key"]]
    return {"group_name": entry["group_name"], "feature_names": [*hist, *keys]}


def group_inputs(model_config: Mapping[str, Any], group: str, where: str) -> tuple[list[dict[str, Any]],
                                                                                  list[dict[str, Any]]]:
    """Blocks and inputs that give EasyRec's concatenated output of ``group``: the group, then one
    target-attention vector per ``sequence_features`` entry."""
    index, config = next((i, g) for i, g in enumerate(model_config.get("feature_groups", []))
                         if g.get("group_name") == group)
    blocks: list[dict[str, Any]] = []
    inputs: list[dict[str, Any]] = [{"feature_group_name": group}]
    for k, entry in enumerate(config.get("sequence_features", [])):
        path = join_path(where, "feature_groups", index, "sequence_features", k)
        check_sequence_entry(entry, path)
        name = f"seq_dnn{entry['group_name']}"
        blocks += din_blocks(entry, entry.get("seq_dnn"), name, path, bool(entry.get("need_key_feature", True)))
        inputs.append({"block_name": name})
    return blocks, inputs


def has_sequence_features(model_config: Mapping[str, Any], group: str) -> bool:
    return any(g.get("group_name") == group and g.get("sequence_features")
               for g in model_config.get("feature_groups", []))
