"""EasyRec's ``model_config.variational_dropout`` applied to a translated model section.

EasyRec (``easy_rec/python/layers/input_layer.py``) applies its ``VariationalDropoutLayer`` inside
the input layer, to every feature group a model reads in combined mode, whatever the model
class: the group's feature outputs (plain features and pooled sequence features, not the
target-attention vectors of ``sequence_features`` / ``seq_att_groups``, which are appended
afterwards) are multiplied by learned per-feature keep rates, and each group adds its penalty to
the loss as ``variational_dropout_loss``. The layer's variable is made once per group.

The translation does the same on the backbone a model section holds: every read of a group of
``model_config.feature_groups`` through an input layer (an ``input_layer`` block, or a
``feature_group_name`` input of another block) is routed through a ``VariationalDropout`` block
over the group's feature list (``only_output_feature_list``), concatenated again where the
reader took the concatenation. Sequence inputs (``output_seq_and_normal_feature``), which
EasyRec's combined mode does not reach, are left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path

__all__ = ["apply_variational_dropout", "variational_dropout_params", "with_variational_dropout"]

#: ``input_layer`` options the rewrite keeps (others change the features after EasyRec's dropout).
_KEPT_OPTIONS = frozenset({"only_output_feature_list", "output_2d_tensor_and_feature_list", "wide_output_dim"})
#: Keys of a block that are not its body.
_NOT_BODY = frozenset({"name", "inputs", "merge_inputs_into_list", "input_concat_axis", "extra_input_fn"})


def variational_dropout_params(config: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``VariationalDropout`` params for EasyRec's ``VariationalDropoutLayer`` message (its defaults kept)."""
    extra = sorted(set(config) - {"regularization_lambda", "embedding_wise_variational_dropout"})
    if extra:
        raise ConfigError(join_path(where, extra[0]), "unknown variational_dropout field",
                          "regularization_lambda, embedding_wise_variational_dropout", extra[0])
    return {"regularization_lambda": float(config.get("regularization_lambda", 0.01)),
            "use_embedding_wise": bool(config.get("embedding_wise_variational_dropout", False))}


def apply_variational_dropout(section: dict[str, Any], config: Mapping[str, Any], groups: list[str],
                              where: str) -> dict[str, Any]:
    """``section`` with every combined read of the groups ``groups`` behind a ``VariationalDropout`` block.

    Args:
        section: a translated model section (its ``backbone`` is rewritten in place).
        config: EasyRec's ``variational_dropout`` message.
        groups: the names of ``model_config.feature_groups``.
        where: the config path of ``variational_dropout``.

    Raises:
        ConfigError: the section has no backbone reading a group, an input layer of a group sets an
            option EasyRec applies after its dropout, or a generated block name is taken.
    """
    params = variational_dropout_params(config, where)
    backbone = section.get("backbone") or {}
    blocks = list(backbone.get("blocks", []))
    taken = {str(b.get("name")) for b in blocks}
    added: dict[str, list[dict[str, Any]]] = {}
    out: list[dict[str, Any]] = []
    generated: set[str] = set()  # the blocks this rewrite adds
    renamed: dict[str, str] = {}  # input block -> the block that now gives its (dropped-out) output

    def fresh(name: str) -> str:
        generated.add(name)
        if name in taken:
            raise ConfigError(where, f"the translation needs a block named '{name}' and the backbone has one",
                              "no block of that name", name)
        taken.add(name)
        return name

    def dropout_block(name: str, source: str) -> dict[str, Any]:
        return {"name": name, "inputs": [{"block_name": source}],
                "component": {"class_name": "VariationalDropout", "params": dict(params)}}

    def concat_of_group(group: str) -> str:
        """The concatenated, dropped-out group shared by the blocks that read it as a plain input."""
        name = f"{group}_vd_concat"
        if group not in added:
            feats, vd = fresh(f"{group}_vd_features"), fresh(f"{group}_vd")
            added[group] = [{"name": feats, "inputs": [{"feature_group_name": group}],
                             "input_layer": {"only_output_feature_list": True}},
                            dropout_block(vd, feats),
                            {"name": fresh(name), "inputs": [{"block_name": vd}],
                             "component": {"class_name": "Concatenate", "params": {}}}]
        return name

    for block in blocks:
        inputs = list(block.get("inputs", []))
        body = sorted(set(block) - _NOT_BODY)
        group = inputs[0].get("feature_group_name") if len(inputs) == 1 else None
        if body == ["input_layer"] and group in groups:
            options = dict(block.get("input_layer") or {})
            if options.get("output_seq_and_normal_feature"):
                out.append(dict(block))
                continue
            extra = sorted(k for k, v in options.items() if k not in _KEPT_OPTIONS and v)
            if extra:
                raise ConfigError(where, f"block '{block['name']}' reads group '{group}' with the input_layer "
                                  f"option {extra[0]}, which EasyRec applies after its variational dropout",
                                  f"only {sorted(_KEPT_OPTIONS)}", extra[0])
            name = str(block["name"])
            as_list = {"only_output_feature_list": True}
            if options.get("wide_output_dim") is not None:
                as_list["wide_output_dim"] = options["wide_output_dim"]
            vd = fresh(f"{name}_vd")
            out += [{"name": name, "inputs": inputs, "input_layer": as_list}, dropout_block(vd, name)]
            if options.get("only_output_feature_list"):
                renamed[name] = vd
                continue
            concat = fresh(f"{name}_vd_concat")
            out.append({"name": concat, "inputs": [{"block_name": vd}],
                        "component": {"class_name": "Concatenate", "params": {}}})
            renamed[name] = concat
            if options.get("output_2d_tensor_and_feature_list"):  # (concat, feature list), as the option gives
                renamed[name] = fresh(f"{name}_vd_pair")
                out.append({"name": renamed[name], "inputs": [{"block_name": concat}, {"block_name": vd}],
                            "merge_inputs_into_list": True})
            continue
        new_inputs = []
        for edge in inputs:
            group = edge.get("feature_group_name")
            if group in groups:
                edge = {k: v for k, v in edge.items() if k != "feature_group_name"}
                edge["block_name"] = concat_of_group(str(group))
            new_inputs.append(edge)
        out.append({**block, "inputs": new_inputs} if inputs else dict(block))
    if not renamed and not added:
        raise ConfigError(where, "variational dropout acts on the feature groups a backbone reads; this "
                          "translation reads none through its backbone", "a model whose groups feed backbone "
                          "blocks", "no group read")
    for block in out:
        if block["name"] in generated or block["name"] in renamed:
            continue
        block["inputs"] = [{**e, "block_name": renamed[e["block_name"]]} if e.get("block_name") in renamed else e
                           for e in block.get("inputs", [])]
    new = {**backbone, "blocks": [b for bs in added.values() for b in bs] + out}
    for key in ("concat_blocks", "output_blocks"):
        if key in new:
            new[key] = [renamed.get(name, name) for name in new[key]]
    section["backbone"] = new
    return section


def with_variational_dropout(model_config: Mapping[str, Any], translate: Callable[[Mapping[str, Any]], dict[str, Any]],
                             where: str) -> dict[str, Any]:
    """``translate(model_config)``; with ``variational_dropout`` set, ``translate`` sees the config
    without it and the section it returns gets the dropout (:func:`apply_variational_dropout`).

    Args:
        model_config: EasyRec's ``model_config``.
        translate: the model translation (a built-in class's, or the backbone classes').
        where: the config path of ``model_config``.
    """
    if "variational_dropout" not in model_config:
        return translate(model_config)
    rest = {key: value for key, value in model_config.items() if key != "variational_dropout"}
    groups = [str(g.get("group_name", "")) for g in model_config.get("feature_groups", [])]
    return apply_variational_dropout(translate(rest), model_config["variational_dropout"], groups,
                                     join_path(where, "variational_dropout"))
