"""EasyRec ``MultiTowerDIN``: MultiTower's towers plus DIN towers over ``seq_att_groups``.

EasyRec (``easy_rec/python/model/multi_tower_din.py``): the ``multi_tower`` message's ``towers``
as in MultiTower; each ``din_towers[i]`` reads the ``seq_att_groups`` entry named by its
``input`` (behaviour sequences and their key features), scores ``[q, k, q - k, q * k]`` with its
``dnn`` (last layer linear, no batch norm; last width 1), pools the behaviours with a masked
softmax and appends the key embedding. All tower outputs are concatenated, then ``final_dnn``
and the dense ``output`` layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes._common import (
    check_model_fields, class_message, feature_groups, rank_model_section,
)
from recblocks.easyrec.model_classes._sequence import attention_group, din_blocks
from recblocks.easyrec.model_classes.multi_tower import final_blocks, tower_blocks

__all__ = ["attention_groups", "multi_tower_din", "sequence_towers_start"]


def attention_groups(model_config: Mapping[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """``seq_att_groups`` by name, each as a recblocks group (sequences, then keys)."""
    groups: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(model_config.get("seq_att_groups", [])):
        path = join_path(where, "seq_att_groups", i)
        if not entry.get("group_name"):
            raise ConfigError(join_path(path, "group_name"), "an attention group needs a name", "group_name: '...'",
                              "no name")
        groups[str(entry["group_name"])] = attention_group(entry, path)
    return groups


def sequence_tower_group(towers_of: str, tower: Mapping[str, Any], known: Mapping[str, Any], path: str) -> str:
    """The ``seq_att_groups`` entry a DIN/BST tower reads (a ConfigError with did-you-mean otherwise)."""
    name = tower.get("input")
    if name not in known:
        raise ConfigError(join_path(path, "input"), f"a {towers_of} tower reads a seq_att_groups entry",
                          f"one of {sorted(known)}", repr(name), choices=known)
    return str(name)


def sequence_towers_start(model_config: Mapping[str, Any], where: str, model: str, own: str,
                          other: str) -> tuple[dict[str, Any], str, dict[str, dict[str, Any]], list[Any], list[str],
                                             list[int]]:
    """What MultiTowerDIN and MultiTowerBST share first: the ``multi_tower`` message (checked; the
    other class's towers refused), the attention groups and MultiTower's plain towers.

    Returns ``(params, path, known groups, blocks, outputs, widths)``.
    """
    params = class_message(model_config, "multi_tower", where)
    check_model_fields(model_config, "multi_tower", where, allowed=["seq_att_groups"])
    path = join_path(where, "multi_tower")
    if params.get(other):
        raise ConfigError(join_path(path, other), f"{model} ignores {other}", own, other)
    known = attention_groups(model_config, where)
    blocks, outputs, widths = tower_blocks(model_config, params, path, set(), where)
    return params, path, known, blocks, outputs, widths


@EASYREC_MODELS.register("MultiTowerDIN", message="multi_tower")
def multi_tower_din(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """MultiTower towers plus DIN target-attention towers, concatenated, then final_dnn."""
    params, path, known, blocks, outputs, widths = sequence_towers_start(
        model_config, where, "MultiTowerDIN", "din_towers", "bst_towers")
    used: list[str] = []
    for i, tower in enumerate(params.get("din_towers", [])):
        tower_path = join_path(path, "din_towers", i)
        group = sequence_tower_group("DIN", tower, known, tower_path)
        entry = next(e for e in model_config["seq_att_groups"] if e["group_name"] == group)
        blocks += din_blocks(entry, tower.get("dnn"), f"{group}_dnn", join_path(tower_path, "dnn"))
        outputs.append(f"{group}_dnn")
        widths.append(None)
        used.append(group)
    final, outputs, width = final_blocks(params, outputs, widths, path)
    groups = feature_groups(model_config, where) + [known[name] for name in dict.fromkeys(used)]
    return rank_model_section(model_config, "multi_tower", blocks + final, outputs, width, where,
                              class_name="MultiTowerDIN", groups=groups)
