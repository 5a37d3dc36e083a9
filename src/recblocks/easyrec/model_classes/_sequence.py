"""EasyRec's target attention over ``sequence_features`` / ``seq_att_groups``, as DIN blocks.

In EasyRec (``easy_rec/python/layers/input_layer.py`` and ``sequence_feature_layer.py``) a
feature group with ``sequence_features`` outputs its plain concatenation followed by one
target-attention vector per entry: ``seq_dnn`` (default ``[128, 64, 32, 1]``, last layer linear)
scores ``[q, k, q - k, q * k]`` for every behaviour ``k``, a masked softmax pools the
behaviours, and the key (target) embedding is appended unless ``need_key_feature`` is false.
``aux_hist_seq`` sequences are pooled with the same weights and appended after the pooled
behaviours; ``allow_key_transform`` pads a narrower key with zeros, or (a wider key, or
``transform_dnn``) projects key and behaviours with a dense layer to the behaviours' width.
recblocks' groups define the entry as its own group (sequences, auxiliary sequences, then keys)
and its ``DIN`` component computes the same attention (``need_target_feature``, ``aux_dim``,
``allow_key_transform``, ``transform_dnn``); :func:`group_inputs` wires them together, and
:func:`attach_sequence_attention` does it for every plain input block of such a group that a
class translation wrote (EasyRec's ``_input_layer(features, group)`` always appends them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes._common import check_sequence_entry, mlp_params

FeatureFacts = Mapping[str, Mapping[str, Any]]

__all__ = ["attach_sequence_attention", "attention_group", "din_blocks", "group_inputs", "has_sequence_features"]

#: EasyRec's ``seq_dnn`` when a ``sequence_features`` entry sets none.
DEFAULT_SEQ_DNN = {"hidden_units": [128, 64, 32, 1]}


def din_blocks(entry: Mapping[str, Any], dnn: Mapping[str, Any] | None, name: str, where: str,
               need_key_feature: bool = True, features: FeatureFacts | None = None) -> list[dict[str, Any]]:
    """The sequence input of group ``entry['group_name']`` and a DIN block ``name`` over it.

    ``features`` (the translated features) give the width of ``aux_hist_seq`` sequences."""
    group = str(entry["group_name"])
    attention = mlp_params(dnn or DEFAULT_SEQ_DNN, join_path(where, "seq_dnn"), last_linear=True)
    if attention["hidden_units"][-1] != 1:
        raise ConfigError(join_path(where, "hidden_units"), "the attention DNN scores each behaviour with one "
                          "number", "a last width of 1", attention["hidden_units"][-1])
    params: dict[str, Any] = {"attention_dnn": attention, "need_target_feature": need_key_feature}
    for key in ("allow_key_transform", "transform_dnn"):
        if entry.get(key):
            params[key] = True
    aux_dim = _aux_width(entry, features, where)
    if aux_dim:
        params["aux_dim"] = aux_dim
    return [{"name": f"{group}_seq_input", "inputs": [{"feature_group_name": group}],
             "input_layer": {"output_seq_and_normal_feature": True}},
            {"name": name, "inputs": [{"block_name": f"{group}_seq_input"}],
             "component": {"class_name": "DIN", "params": params}}]


def _aux_width(entry: Mapping[str, Any], features: FeatureFacts | None, where: str) -> int:
    """The summed embedding width of the entry's ``aux_hist_seq`` sequences (0 without them)."""
    maps = entry.get("seq_att_map", [])
    names = list(maps[-1].get("aux_hist_seq", [])) if maps else []
    width = 0
    for j, name in enumerate(names):
        dim = (features or {}).get(name, {}).get("embedding_dim")
        if not dim:
            raise ConfigError(join_path(where, "seq_att_map", len(maps) - 1, "aux_hist_seq", j), "the width of an "
                              "auxiliary sequence is needed to tell it from the scored ones", "a sequence feature "
                              "with embedding_dim", repr(name))
        width += int(dim)
    return width


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


def group_inputs(model_config: Mapping[str, Any], group: str, where: str,
                 features: FeatureFacts | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
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
        blocks += din_blocks(entry, entry.get("seq_dnn"), name, path, bool(entry.get("need_key_feature", True)),
                             features)
        inputs.append({"block_name": name})
    return blocks, inputs


def attach_sequence_attention(section: dict[str, Any], model_config: Mapping[str, Any], features: FeatureFacts,
                              where: str) -> dict[str, Any]:
    """``section`` with EasyRec's target-attention vectors appended to every plain input block of a group
    with ``sequence_features`` (a block reading only that group with the default ``input_layer``)."""
    backbone = section.get("backbone")
    if not backbone or not any(g.get("sequence_features") for g in model_config.get("feature_groups", [])):
        return section
    for i, group in enumerate(model_config.get("feature_groups", [])):
        if group.get("sequence_features") and group.get("negative_sampler"):
            raise ConfigError(join_path(where, "feature_groups", i, "negative_sampler"), "EasyRec attends over the "
                              "sequences once per sampled negative item in such a group; that is not translated",
                              "negative_sampler: false on a group with sequence_features", "true")
    blocks: list[dict[str, Any]] = []
    renamed: dict[str, str] = {}
    names = {b.get("name") for b in backbone.get("blocks", [])}
    for block in backbone.get("blocks", []):
        inputs = block.get("inputs", [])
        group = inputs[0].get("feature_group_name") if len(inputs) == 1 else None
        if group is None or block.get("input_layer") != {} or not has_sequence_features(model_config, group):
            blocks.append(block)
            continue
        seq_blocks, group_in = group_inputs(model_config, group, where, features)
        blocks += [b for b in seq_blocks if b["name"] not in names]
        names.update(b["name"] for b in seq_blocks)
        name = block["name"]
        if name == group:  # only an input_layer block may carry a group's name: readers follow the new one
            name = f"{group}_with_seq_fea"
            renamed[group] = name
        blocks.append({"name": name, "inputs": group_in, "lambda": {"expression": "lambda x: x"}})
    out = {**section, "backbone": {**backbone, "blocks": blocks}}
    return _renamed(out, renamed) if renamed else out


def _renamed(value: Any, names: Mapping[str, str], key: str = "") -> Any:
    """``value`` with every reference to a block in ``names`` (``block_name``, a tower's ``input``,
    ``output_blocks`` / ``concat_blocks`` entries) pointing at its new name."""
    if isinstance(value, dict):
        return {k: _renamed(v, names, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, names, key) for v in value]
    if isinstance(value, str) and key in ("block_name", "input", "output_blocks", "concat_blocks"):
        return names.get(value, value)
    return value


def has_sequence_features(model_config: Mapping[str, Any], group: str) -> bool:
    return any(g.get("group_name") == group and g.get("sequence_features")
               for g in model_config.get("feature_groups", []))
