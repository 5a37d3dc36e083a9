"""The multi-modal bottom shared by ``CMBF``, ``UNITER`` and DBMTL's ``bottom_cmbf`` / ``bottom_uniter``.

EasyRec's CMBF and UNITER layers (``easy_rec/python/layers/cmbf.py``, ``uniter.py``) read the
groups by fixed names: ``image`` (vector raw features, concatenated), ``general`` (embedded
fields of one width), ``text`` (sequence features, each kept apart with its own lengths) and
``other`` (concatenated; through ``other_feature_dnn`` when set). Here the image and general
groups are read as ``(B, F, D)`` stacks, each text feature through a group of its own
(``text__<feature>``, so every sequence keeps its own length), and the fusion component
(:class:`~recblocks.layers.cmbf.CMBF` / :class:`~recblocks.layers.uniter.UNITER`) receives them
as one list; the ``other`` group is concatenated after the fusion output.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import FeatureFacts
from recblocks.easyrec.model_classes._common import feature_groups, mlp_params

__all__ = ["MODAL_GROUPS", "multimodal_blocks"]

#: The group names EasyRec's multi-modal layers read.
MODAL_GROUPS = ("image", "general", "text", "other")


def _check_groups(groups: list[dict[str, Any]], features: FeatureFacts, where: str, class_name: str) -> None:
    names = [g["group_name"] for g in groups]
    if not any(name in MODAL_GROUPS for name in names):
        raise ConfigError(join_path(where, "feature_groups"), f"{class_name} reads the groups "
                          f"{list(MODAL_GROUPS)} by name", "at least one of them", names)
    for i, group in enumerate(groups):
        path = join_path(where, "feature_groups", i, "feature_names")
        if group["group_name"] not in MODAL_GROUPS:
            continue
        if len(set(group["feature_names"])) != len(group["feature_names"]):
            raise ConfigError(path, f"the {group['group_name']} group lists a feature twice", "distinct names",
                              group["feature_names"])
        if group["group_name"] == "text":
            kinds = {name: (features.get(name) or {}).get("kind") for name in group["feature_names"]}
            wrong = {name: kind for name, kind in kinds.items() if kind != "sequence"}
            if wrong:
                raise ConfigError(path, f"{class_name} reads every text feature as a sequence",
                                  "SequenceFeature entries", wrong)
        if group["group_name"] == "image":
            kinds = {name: (features.get(name) or {}).get("kind") for name in group["feature_names"]}
            wrong = {name: kind for name, kind in kinds.items() if kind != "dense"}
            if wrong:
                raise ConfigError(path, f"{class_name} reads image features as raw vectors (raw_input_dim)",
                                  "RawFeature entries", wrong)


def multimodal_blocks(model_config: Mapping[str, Any], tower: Mapping[str, Any], features: FeatureFacts,
                      where: str, path: str, *, class_name: str, component: str,
                      params: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]]]:
    """``(blocks, output block names, feature groups)`` of the multi-modal bottom.

    Args:
        model_config: the parsed ``model_config`` (its ``feature_groups``).
        tower: the ``CMBFTower`` / ``UniterTower`` message (its ``other_feature_dnn``).
        path: the config path of ``tower``.
        component, params: the fusion component and its params without ``has_image`` / ``has_general``.
    """
    groups = feature_groups(model_config, where)
    _check_groups(groups, features, where, class_name)
    names = [g["group_name"] for g in groups]
    out_groups = [g for g in groups if g["group_name"] != "text"]
    blocks: list[dict[str, Any]] = []
    inputs: list[dict[str, Any]] = []
    for name in ("image", "general"):
        if name in names:
            blocks.append({"name": f"{name}_input", "inputs": [{"feature_group_name": name}],
                           "input_layer": {"only_output_3d_tensor": True}})
            inputs.append({"block_name": f"{name}_input"})
    if "text" in names:
        text = next(g for g in groups if g["group_name"] == "text")
        for feature in text["feature_names"]:
            group = f"text__{feature}"
            out_groups.append({"group_name": group, "feature_names": [feature]})
            blocks.append({"name": f"{group}_input", "inputs": [{"feature_group_name": group}],
                           "input_layer": {"output_seq_and_normal_feature": True}})
            inputs.append({"block_name": f"{group}_input"})
    outputs = []
    if inputs:
        blocks.append({"name": component.lower(), "inputs": inputs, "merge_inputs_into_list": True,
                       "component": {"class_name": component, "params": {
                           **params, "has_image": "image" in names, "has_general": "general" in names}}})
        outputs.append(component.lower())
    if "other" in names:
        blocks.append({"name": "other_input", "inputs": [{"feature_group_name": "other"}], "input_layer": {}})
        other = "other_input"
        dnn = tower.get("other_feature_dnn")
        if dnn is not None:
            blocks.append({"name": "other_dnn", "inputs": [{"block_name": "other_input"}], "component": {
                "class_name": "MLP", "params": mlp_params(dnn, join_path(path, "other_feature_dnn"))}})
            other = "other_dnn"
        outputs.append(other)
    return blocks, outputs, out_groups
