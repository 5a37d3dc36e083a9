"""Pieces every ranking-class translation shares: the DNN message as an MLP, groups, regularization.

EasyRec's built-in ranking classes (``easy_rec/python/model/*.py``) all build on ``RankModel``:
the groups of ``feature_groups`` feed the class's own graph, a dense ``output`` layer of
``num_class`` units gives the logits, and ``loss_type`` / ``num_class`` / ``losses`` pick the
loss (that task is the pipeline translation's, which knows the label fields and metrics).
Their ``DNN`` stacks (``easy_rec/python/layers/dnn.py``) are ``tf.layers.dense`` (with a bias,
Glorot-uniform kernels) then batch norm when ``use_bn``, then the activation, then dropout, in
every layer the last included. The regularizers are the model's ``embedding_regularization``
and the class message's ``l2_regularization`` on dense kernels.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.schema import message_descriptor

__all__ = [
    "check_model_fields", "check_sequence_entry", "class_message", "dense_block", "dnn_is_empty", "expand_feature_name",
    "feature_group_names", "feature_groups", "group_named", "mlp_block", "mlp_params", "num_class",
    "plain_sequence_features", "rank_model_section", "require_group", "wide_sum_blocks",
]

#: EasyRec's feature-name range shorthand, matched at the start of a name as EasyRec does.
_RANGE = re.compile(r"([a-zA-Z_]+)\[([0-9]+)-([0-9]+)\]")

#: ``model_config`` fields a class translation reads itself or leaves to the pipeline translation
#: (``loss_type``, ``num_class``, ``losses`` and ``label_name`` make the task there).
_IGNORED_FIELDS = frozenset({"model_class", "model_name", "feature_groups", "embedding_regularization",
                             "loss_type", "num_class", "losses", "label_name"})


def class_message(model_config: Mapping[str, Any], message: str, where: str) -> dict[str, Any]:
    """The class's own parameter message (``deepfm {...}``), or a ConfigError naming what stands instead."""
    params = model_config.get(message)
    if params is None:
        oneof = message_descriptor("EasyRecModel").oneofs_by_name["model"].fields
        other = next((field.name for field in oneof if field.name in model_config), None)
        raise ConfigError(join_path(where, message), f"model_class {model_config.get('model_class')!r} reads its "
                          f"parameters from '{message}'", f"{message} {{...}}",
                          repr(other) if other else "no parameter message")
    return dict(params)


def check_model_fields(model_config: Mapping[str, Any], message: str, where: str,
                       allowed: Sequence[str] = ()) -> None:
    """Refuse ``model_config`` fields the class translation cannot honour (one ConfigError naming the first)."""
    known = _IGNORED_FIELDS | {message, *allowed}
    for key in model_config:
        if key in known or model_config[key] in ({}, []):  # an empty message changes nothing
            continue
        if key == "loss_weight_strategy" and model_config[key] == "Fixed":
            continue
        raise ConfigError(join_path(where, key), f"not supported by the translation of "
                          f"{model_config.get('model_class')!r} (no recblocks equivalent)",
                          f"only fields it reads: {sorted(known - {'model_class'})}", _short(model_config[key]))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def feature_group_names(model_config: Mapping[str, Any]) -> list[str]:
    return [str(g.get("group_name", "")) for g in model_config.get("feature_groups", [])]


def feature_groups(model_config: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    """EasyRec's ``feature_groups`` in recblocks' spelling (same field names; ``negative_sampler`` refused).

    EasyRec's range shorthand in feature names (``field[1-3]`` for ``field1, field2, field3``)
    is expanded.
    """
    groups = []
    for i, group in enumerate(model_config.get("feature_groups", [])):
        path = join_path(where, "feature_groups", i)
        if group.get("negative_sampler"):
            raise ConfigError(join_path(path, "negative_sampler"), "a ranking model has no negative sampler",
                              "negative_sampler: false", "true")
        if not group.get("group_name"):
            raise ConfigError(join_path(path, "group_name"), "a group of a built-in class needs a name",
                              "group_name: '...'", "no name")
        names = [n for name in group.get("feature_names", []) for n in expand_feature_name(str(name))]
        out: dict[str, Any] = {"group_name": group["group_name"], "feature_names": names}
        if group.get("wide_deep", "DEEP") != "DEEP":
            out["wide_deep"] = group["wide_deep"]
        if group.get("sequence_features"):
            out["sequence_features"] = plain_sequence_features(group["sequence_features"],
                                                               join_path(path, "sequence_features"))
        groups.append(out)
    return groups


def expand_feature_name(name: str) -> list[str]:
    """EasyRec's shorthand ``prefix[a-b]`` for ``prefix<a>, ..., prefix<b>`` (``feature_group.py``)."""
    match = _RANGE.match(name)
    if not match:
        return [name]
    prefix, start, end = match.group(1), int(match.group(2)), int(match.group(3))
    return [f"{prefix}{i}" for i in range(start, end + 1)]


def check_sequence_entry(entry: Mapping[str, Any], where: str) -> None:
    """A ``sequence_features`` entry EasyRec can build: ``aux_hist_seq`` only in its last ``seq_att_map``
    (EasyRec's sequence input keeps the auxiliary sequences of the last map only)."""
    maps = entry.get("seq_att_map", [])
    for m, att in enumerate(maps[:-1]):
        if att.get("aux_hist_seq"):
            raise ConfigError(join_path(where, "seq_att_map", m, "aux_hist_seq"), "EasyRec reads the auxiliary "
                              "sequences of the last seq_att_map only", "aux_hist_seq in the last seq_att_map",
                              att["aux_hist_seq"])


def plain_sequence_features(entries: Sequence[Mapping[str, Any]], where: str) -> list[dict[str, Any]]:
    """``sequence_features`` as recblocks' group spelling reads them (checked; the attention options
    ``seq_dnn``, ``need_key_feature``, ``allow_key_transform``, ``transform_dnn`` are the DIN block's)."""
    out = []
    for k, entry in enumerate(entries):
        check_sequence_entry(entry, join_path(where, k))
        maps = []
        for a in entry.get("seq_att_map", []):
            mapping = {"key": list(a.get("key", [])), "hist_seq": list(a.get("hist_seq", []))}
            if a.get("aux_hist_seq"):
                mapping["aux_hist_seq"] = list(a["aux_hist_seq"])
            maps.append(mapping)
        out.append({"group_name": entry["group_name"], "seq_att_map": maps})
    return out


def require_group(model_config: Mapping[str, Any], name: str, where: str, why: str = "", *,
                  named_by_field: bool = False) -> None:
    """A ConfigError unless ``feature_groups`` holds a group called ``name``.

    ``named_by_field``: ``where`` is the field that names the group (a tower's ``input``): the
    error names that field and suggests the nearest group; otherwise the class needs the group by
    its fixed name and the error names ``feature_groups``.
    """
    names = feature_group_names(model_config)
    if name in names:
        return
    if named_by_field:
        raise ConfigError(where, f"unknown feature group{why}", f"one of {names}", repr(name), choices=names)
    raise ConfigError(join_path(where, "feature_groups"), f"{model_config.get('model_class')} reads the group "
                      f"'{name}'{why}", f"a group with group_name: '{name}'", f"groups {names}")


def dnn_is_empty(dnn: Mapping[str, Any] | None) -> bool:
    """True when EasyRec's DNN returns its input unchanged (no layers, or ``hidden_units: 0``)."""
    units = list((dnn or {}).get("hidden_units", []))
    return not units or units == [0]


def mlp_params(dnn: Mapping[str, Any], where: str, *, last_linear: bool = False) -> dict[str, Any]:
    """EasyRec's ``DNN`` message as recblocks ``MLP`` params (biases, Glorot kernels, BN/act in the last layer).

    ``last_linear``: no batch norm and no activation in the last layer (DIN's attention DNN).
    """
    units = list(dnn.get("hidden_units", []))
    if not units or any(u <= 0 for u in units):
        raise ConfigError(join_path(where, "hidden_units"), "a DNN needs positive layer widths",
                          "e.g. hidden_units: [64, 32]", units)
    dropout = list(dnn.get("dropout_ratio", []))
    if dropout and len(dropout) != len(units):
        raise ConfigError(join_path(where, "dropout_ratio"), "EasyRec's DNN reads one dropout ratio per layer",
                          f"{len(units)} ratios (or none)", len(dropout))
    activation = dnn.get("activation", "tf.nn.relu")
    use_bn = bool(dnn.get("use_bn", True))
    params: dict[str, Any] = {
        "hidden_units": units, "activation": activation, "use_bn": use_bn,
        "use_final_bn": use_bn and not last_linear, "final_activation": None if last_linear else activation,
        "use_bias": True, "use_final_bias": True, "initializer": "glorot_uniform",
    }
    if dropout:
        params["dropout_ratio"] = dropout
    return params


def mlp_block(name: str, inputs: list[dict[str, Any]], dnn: Mapping[str, Any], where: str) -> dict[str, Any]:
    return {"name": name, "inputs": inputs, "component": {"class_name": "MLP", "params": mlp_params(dnn, where)}}


def dense_block(name: str, inputs: list[dict[str, Any]], units: int) -> dict[str, Any]:
    """A plain ``tf.layers.dense(x, units)`` (bias, Glorot-uniform kernel, no activation)."""
    return {"name": name, "inputs": inputs, "component": {"class_name": "Dense", "params": {"units": units}}}


def wide_sum_blocks(group: Mapping[str, Any], wide_dim: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The WIDE group ``group`` summed over its features: ``(B, wide_dim)`` (EasyRec's ``tf.add_n``).

    Returns the blocks and the input that reads the sum.
    """
    name = str(group["group_name"])
    if len(group["feature_names"]) == 1:
        return ([{"name": f"{name}_features", "inputs": [{"feature_group_name": name}],
                  "input_layer": {"wide_output_dim": wide_dim}}], {"block_name": f"{name}_features"})
    return ([{"name": f"{name}_features", "inputs": [{"feature_group_name": name}],
              "input_layer": {"only_output_feature_list": True, "wide_output_dim": wide_dim}},
             {"name": f"{name}_sum", "inputs": [{"block_name": f"{name}_features"}],
              "component": {"class_name": "Add", "params": {}}}], {"block_name": f"{name}_sum"})


def group_named(groups: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any]:
    return next(g for g in groups if g["group_name"] == name)


def num_class(model_config: Mapping[str, Any]) -> int:
    return int(model_config.get("num_class", 1))


def rank_model_section(model_config: Mapping[str, Any], message: str, blocks: list[dict[str, Any]],
                       output: list[str], output_width: int | None, where: str, *,
                       class_name: str, l2_regularization: float | None = None,
                       groups: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The recblocks ``model:`` section around a translated backbone, without ``task``.

    The task (label, ``loss_type`` / ``num_class`` / ``losses``, metrics) is the pipeline
    translation's: it reads ``data_config.label_fields`` and ``eval_config`` and adds the task
    to a RankModel section that has none, as for a backbone config.

    Args:
        blocks, output: the backbone's blocks and its ``concat_blocks``.
        output_width: the output's width when known; when it equals ``num_class`` a ``Dense``
            ``output`` block is appended, because EasyRec always applies its output layer and
            recblocks adds a head only when the widths differ. None: the graph already ends in logits.
        l2_regularization: the class message's value (default: read from it, 1e-4 as EasyRec's protos).
    """
    classes = num_class(model_config)
    if output_width is not None and output_width == classes:
        blocks = [*blocks, dense_block("output", [{"block_name": name} for name in output], classes)]
        output = ["output"]
    params = model_config.get(message) or {}
    l2 = l2_regularization if l2_regularization is not None else float(params.get("l2_regularization", 1e-4))
    section: dict[str, Any] = {
        "model_class": "RankModel",
        "model_name": model_config.get("model_name") or class_name,
        "feature_groups": groups if groups is not None else feature_groups(model_config, where),
        "backbone": {"blocks": blocks, "concat_blocks": output},
        "embedding_regularization": float(model_config.get("embedding_regularization", 0.0)),
        "model_params": {"l2_regularization": l2},
    }
    return section
