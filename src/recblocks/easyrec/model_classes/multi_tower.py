"""EasyRec ``MultiTower``: per group batch norm and a DNN, towers concatenated, ``final_dnn``, the output layer.

EasyRec (``easy_rec/python/model/multi_tower.py``): each ``towers[i]`` reads the group named by
its ``input`` as one concatenated tensor, normalises it with ``tf.layers.batch_normalization``
and runs its ``dnn``; the tower outputs are concatenated, run through ``final_dnn`` and a dense
``output`` layer of ``num_class`` units. ``MultiTowerDIN`` / ``MultiTowerBST`` add their own
towers to the same list (:func:`tower_blocks` is shared with them).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes._common import (
    check_model_fields, class_message, dnn_is_empty, mlp_block, rank_model_section, require_group,
)
from recblocks.easyrec.model_classes._sequence import group_inputs

__all__ = ["final_blocks", "multi_tower", "tower_blocks"]


def tower_blocks(model_config: Mapping[str, Any], params: Mapping[str, Any], where: str,
                 taken: set[str], where_model: str) -> tuple[list[dict[str, Any]], list[str], list[int | None]]:
    """The plain towers: blocks, the name of each tower's last block and its width (None: a group's width).

    ``where`` is the path of the class message, ``where_model`` that of ``model_config``.
    """
    blocks: list[dict[str, Any]] = []
    outputs: list[str] = []
    widths: list[int | None] = []
    for i, tower in enumerate(params.get("towers", [])):
        path = join_path(where, "towers", i)
        group = tower.get("input")
        if not group:
            raise ConfigError(join_path(path, "input"), "a tower reads one feature group", "input: '<group>'",
                              "nothing")
        require_group(model_config, group, join_path(path, "input"), named_by_field=True)
        if group in taken:
            raise ConfigError(join_path(path, "input"), "two towers read the same group (EasyRec names the tower "
                              "variables after it)", "a group no other tower reads", repr(group))
        taken.add(group)
        seq_blocks, inputs = group_inputs(model_config, group, where_model)
        blocks += seq_blocks
        blocks.append({"name": f"{group}_fea_bn", "inputs": inputs,
                       "component": {"class_name": "BatchNormalization", "params": {}}})
        last = f"{group}_fea_bn"
        dnn = tower.get("dnn")
        if dnn_is_empty(dnn):
            widths.append(None)
        else:
            blocks.append(mlp_block(f"{group}_dnn", [{"block_name": last}], dnn, join_path(path, "dnn")))
            last = f"{group}_dnn"
            widths.append(int(dnn["hidden_units"][-1]))
        outputs.append(last)
    return blocks, outputs, widths


def final_blocks(params: Mapping[str, Any], outputs: list[str], widths: list[int | None],
                 where: str) -> tuple[list[dict[str, Any]], list[str], int | None]:
    """``final_dnn`` over the concatenated towers: blocks, output names and output width (None: unknown)."""
    if not outputs:
        raise ConfigError(join_path(where, "towers"), "a multi-tower model needs at least one tower",
                          "towers { input: '<group>' dnn {...} }", "none")
    final = params.get("final_dnn")
    if dnn_is_empty(final):
        width = None if any(w is None for w in widths) else sum(w for w in widths if w is not None)
        return [], outputs, width
    block = mlp_block("final_dnn", [{"block_name": name} for name in outputs], final, join_path(where, "final_dnn"))
    return [block], ["final_dnn"], int(final["hidden_units"][-1])


@EASYREC_MODELS.register("MultiTower", message="multi_tower")
def multi_tower(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """Per-group towers (batch norm, DNN) concatenated, then final_dnn and the output layer."""
    params = class_message(model_config, "multi_tower", where)
    check_model_fields(model_config, "multi_tower", where)
    path = join_path(where, "multi_tower")
    for extra, cls in (("din_towers", "MultiTowerDIN"), ("bst_towers", "MultiTowerBST")):
        if params.get(extra):  # EasyRec's MultiTower never reads them: the model trains without them
            warnings.warn(f"{join_path(path, extra)}: MultiTower ignores {extra}, as EasyRec does (model_class "
                          f"{cls} builds them)", stacklevel=2)
    blocks, outputs, widths = tower_blocks(model_config, params, path, set(), where)
    final, outputs, width = final_blocks(params, outputs, widths, path)
    return rank_model_section(model_config, "multi_tower", blocks + final, outputs, width, where,
                              class_name="MultiTower")
