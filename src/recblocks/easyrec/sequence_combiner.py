"""EasyRec's per-feature ``sequence_combiner { text_cnn {...} }`` / ``{ attention {} }`` as backbone blocks.

EasyRec embeds such a SequenceFeature as a sequence, runs a TextCNN over it (convolutions of each
``filter_sizes`` width, max-pooled over time; ``(B, sum num_filters)``) or pools it by attention
(a linear score per element, masked softmax: recblocks' ``AttentionPooling``; ``(B, D)``), and
appends the result, after the group's other features and in the order of the feature names (as
EasyRec sorts its sequence columns), in every feature group that names it. recblocks' features
have no combiner of their own, so the model config (EasyRec spelling, before
:func:`recblocks.easyrec.model_section.model_section`) is rewritten, for each group ``G`` holding a
combined feature ``f``:

* ``G`` loses ``f``; a group ``G__text_cnn_f`` (``G__attention_f``) holds ``f`` alone;
* an ``input_layer`` block ``B`` reading ``G`` becomes ``B__rest`` (same options, reading ``G``
  without ``f``), ``B__f_seq`` (``G__text_cnn_f`` read with ``output_seq_and_normal_feature``)
  and ``B__f_cnn`` (the ``TextCNN`` component with the combiner's ``filter_sizes``,
  ``num_filters`` and ``pad_sequence_length``, or the ``AttentionPooling`` component); a block still named ``B`` (``B__merged`` when
  ``B`` is a group's name, which only an input block may bear; its readers follow) puts them
  back in ``B``'s layout: the 2-D
  concatenation (``f`` last), the feature list (``f``'s vector appended), or both
  (``output_2d_tensor_and_feature_list``). A layer block reading ``G`` directly reads a block
  ``<its name>__input`` (``G``'s default input layer, rewritten as above) instead.

The rewrite needs a backbone: the config's own (``model_class`` RankModel, MultiTaskModel,
MatchModel), or the one a built-in class is translated to (e.g. ``DeepFM``: the rewrite runs on
its translated model section). Refused with a ConfigError naming the place: a combined feature in
a WIDE group, read by a package's block, or with the
``only_output_3d_tensor`` / ``output_seq_and_normal_feature`` layouts (the TextCNN vector is not
a ``D``-wide field nor a sequence). Dropout options of ``B`` apply to ``B__rest`` only. As in
EasyRec, a layer needing equal field widths (``FM`` over the feature list) fails at build when
``sum num_filters`` differs from the other features' ``embedding_dim``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path

__all__ = ["text_cnn_params", "combiner_component", "apply_text_cnn"]

_UNSUPPORTED_LAYOUTS = ("only_output_3d_tensor", "output_seq_and_normal_feature")


def text_cnn_params(text_cnn: Mapping[str, Any], length: int) -> dict[str, Any]:
    """recblocks' ``TextCNN`` params for EasyRec's ``TextCNN`` combiner message.

    Example:
        >>> text_cnn_params({"filter_sizes": [2, 3], "num_filters": [4, 4], "pad_sequence_length": 14}, 20)
        {'filter_sizes': [2, 3], 'num_filters': [4, 4], 'pad_sequence_length': 14}
    """
    return {"filter_sizes": [int(s) for s in text_cnn.get("filter_sizes", [])],
            "num_filters": [int(n) for n in text_cnn.get("num_filters", [])],
            "pad_sequence_length": int(text_cnn.get("pad_sequence_length") or length)}


def combiner_component(kind: str, message: Mapping[str, Any], length: int) -> dict[str, Any]:
    """The component (``class_name`` and ``params``) of a ``sequence_combiner`` of ``kind``.

    Example:
        >>> combiner_component("attention", {}, 20)
        {'class_name': 'AttentionPooling', 'params': {}}
    """
    if kind == "attention":
        return {"class_name": "AttentionPooling", "params": {}}
    return {"class_name": "TextCNN", "params": text_cnn_params(message, length)}


def _layout(block: Mapping[str, Any], where: str) -> str:
    layer = block.get("input_layer") or {}
    for key in _UNSUPPORTED_LAYOUTS:
        if layer.get(key):
            raise ConfigError(join_path(where, "input_layer", key), "a group holding a TextCNN-combined sequence "
                              "feature cannot give this layout (the TextCNN vector is neither a D-wide field nor a "
                              "sequence)", "the 2-D tensor and/or the feature list", key)
    if layer.get("output_2d_tensor_and_feature_list"):
        return "both"
    if layer.get("only_output_feature_list"):
        return "list"
    return "2d"


_MERGE = {  # x[0]: the rest of the group, x[1:]: the TextCNN vectors
    "2d": "lambda x: tf.concat(x, axis=-1)",
    "list": "lambda x: [*x[0], *x[1:]]",
    "both": "lambda x: [tf.concat([x[0][0], *x[1:]], axis=-1), [*x[0][1], *x[1:]]]",
}


def _group(group: str, feature: str, combined: Mapping[str, dict[str, Any]]) -> str:
    kind = "attention" if combined[feature]["class_name"] == "AttentionPooling" else "text_cnn"
    return f"{group}__{kind}_{feature}"


def apply_text_cnn(model: Mapping[str, Any], combined: Mapping[str, dict[str, Any]], where: str) -> dict[str, Any]:
    """``model`` (EasyRec spelling) with every group and input block holding a combined feature rewritten.

    ``combined`` maps a feature name to its combiner component (:func:`combiner_component`).
    """
    groups, split = [], {}
    for i, group in enumerate(model.get("feature_groups", [])):
        names = list(group.get("feature_names", []))
        hit = sorted(n for n in names if n in combined)  # EasyRec appends them sorted by name
        if not hit:
            groups.append(group)
            continue
        if group.get("wide_deep") == "WIDE":
            raise ConfigError(join_path(where, "feature_groups", i), "a TextCNN-combined sequence feature in a WIDE "
                              "group has no equivalent", "the feature in DEEP groups only", hit[0])
        name = group["group_name"]
        split[name] = (hit, [n for n in names if n not in combined])
        groups.append({**group, "feature_names": split[name][1]})
        groups += [{"group_name": _group(name, f, combined), "feature_names": [f], "wide_deep": "DEEP"} for f in hit]
    if not split:
        return dict(model)
    backbone = dict(model.get("backbone", {}))
    for k, package in enumerate(backbone.get("packages", [])):
        for j, block in enumerate(package.get("blocks", [])):
            if any(i.get("feature_group_name") in split for i in block.get("inputs", [])):
                raise ConfigError(join_path(where, "backbone.packages", k, "blocks", j), "a package block reading a "
                                  "group with a TextCNN-combined feature is not translated", "a top-level input_layer "
                                  "block", block.get("name"))
    blocks: list[dict[str, Any]] = []
    for j, block in enumerate(backbone.get("blocks", [])):
        group = next((i["feature_group_name"] for i in block.get("inputs", []) if i.get("feature_group_name") in split),
                     None)
        if group is None:
            blocks.append(block)
            continue
        at = join_path(where, "backbone.blocks", j)
        if "input_layer" not in block:  # a layer reading the group directly: its implicit input layer made explicit
            reader = f"{block['name']}__input"
            inputs = [{**{k: v for k, v in i.items() if k != "feature_group_name"}, "block_name": reader}
                      if i.get("feature_group_name") == group else i for i in block["inputs"]]
            blocks += _rewrite({"name": reader, "inputs": [{"feature_group_name": group}], "input_layer": {}},
                               split[group], group, combined, at)
            blocks.append({**block, "inputs": inputs})
            continue
        blocks += _rewrite(block, split[group], group, combined, at)
    renamed = {name: f"{name}__merged" for name in split if name in {b.get("name") for b in blocks}}
    if renamed:  # only an input_layer block may bear a group's name: the merge block is renamed, and its readers
        blocks = [_renamed(b, renamed) for b in blocks]
        for key in ("concat_blocks", "output_blocks"):
            names = backbone.get(key)
            if names:
                backbone[key] = [renamed.get(n, n) for n in ([names] if isinstance(names, str) else names)]
    backbone["blocks"] = blocks
    return {**model, "feature_groups": groups, "backbone": backbone}


def _renamed(block: dict[str, Any], renamed: Mapping[str, str]) -> dict[str, Any]:
    out = dict(block)
    if "lambda" in block and block.get("name") in renamed and block.get("merge_inputs_into_list"):
        out["name"] = renamed[block["name"]]
    out["inputs"] = [{**i, "block_name": renamed[i["block_name"]]} if i.get("block_name") in renamed else i
                     for i in block.get("inputs", [])]
    return out


def _rewrite(block: dict[str, Any], split: tuple[list[str], list[str]], group: str,
             combined: Mapping[str, dict[str, Any]], at: str) -> list[dict[str, Any]]:
    """The blocks replacing the input_layer ``block`` of ``group`` (the last one keeps its name)."""
    blocks: list[dict[str, Any]] = []
    layout, name = _layout(block, at), block["name"]
    hit, rest = split
    parts = []
    if rest:
        blocks.append({**block, "name": f"{name}__rest"})
        parts.append(f"{name}__rest")
    elif layout != "2d":
        raise ConfigError(at, f"group {group!r} holds only TextCNN-combined features", "the 2-D layout",
                          "a feature list")
    for f in hit:
        blocks.append({"name": f"{name}__{f}_seq", "inputs": [{"feature_group_name": _group(group, f, combined)}],
                       "input_layer": {"output_seq_and_normal_feature": True}})
        blocks.append({"name": f"{name}__{f}_cnn", "inputs": [{"block_name": f"{name}__{f}_seq"}],
                       "component": {"class_name": combined[f]["class_name"], "params": dict(combined[f]["params"])}})
        parts.append(f"{name}__{f}_cnn")
    merge = _MERGE[layout] if rest else "lambda x: tf.concat(x, axis=-1)"
    blocks.append({"name": name, "inputs": [{"block_name": p} for p in parts], "merge_inputs_into_list": True,
                   "lambda": {"expression": merge}})
    return blocks
