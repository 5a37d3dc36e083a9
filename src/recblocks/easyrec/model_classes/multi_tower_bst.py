"""EasyRec ``MultiTowerBST``: MultiTower's towers plus behaviour-sequence-transformer towers.

EasyRec (``easy_rec/python/model/multi_tower_bst.py``): each ``bst_towers[i]`` reads the
``seq_att_groups`` entry named by its ``input``; the behaviours (cut or padded to ``seq_len - 1``)
and the key as the last token form ``seq_len`` tokens of width ``D``; one layer of
``multi_head_size`` attention heads (per-head Q/K/V dense layers, unscaled scores, masked
softmax), a dense merge to ``D``, add & LayerNorm, a one-layer linear feed-forward of width
``D``, add & LayerNorm; every token is flattened (``seq_len * D``). Mapped onto recblocks'
``BST`` (one post-LN block, ``hidden_size = intermediate_size = D``, linear feed-forward, no
position embeddings, no dropout, the behaviours padded to ``seq_len - 1`` and the target
appended at the tail, every token out); the differences are
listed in docs/easyrec-model-classes-ranking.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes._common import (
    feature_groups, rank_model_section,
)
from recblocks.easyrec.model_classes.multi_tower import final_blocks
from recblocks.easyrec.model_classes.multi_tower_din import sequence_tower_group, sequence_towers_start

__all__ = ["multi_tower_bst"]


def _sequence_width(entry: Mapping[str, Any], features: FeatureFacts, where: str) -> int:
    hist = [name for att in entry.get("seq_att_map", []) for name in att.get("hist_seq", [])]
    dims = [(features.get(name) or {}).get("embedding_dim") for name in hist]
    if not dims or any(d is None for d in dims):
        raise ConfigError(where, "the BST tower's width is the sequences' embedding width", "hist_seq features "
                          "with embedding_dim", dict(zip(hist, dims, strict=True)))
    return int(sum(dims))


@EASYREC_MODELS.register("MultiTowerBST", message="multi_tower")
def multi_tower_bst(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """MultiTower towers plus BST towers (a transformer layer over behaviours and target), then final_dnn."""
    params, path, known, blocks, outputs, widths = sequence_towers_start(
        model_config, where, "MultiTowerBST", "bst_towers", "din_towers")
    used: list[str] = []
    for i, tower in enumerate(params.get("bst_towers", [])):
        tower_path = join_path(path, "bst_towers", i)
        group = sequence_tower_group("BST", tower, known, tower_path)
        entry = next(e for e in model_config["seq_att_groups"] if e["group_name"] == group)
        width = _sequence_width(entry, features, join_path(tower_path, "input"))
        heads = int(tower.get("multi_head_size", 4))
        seq_len = int(tower.get("seq_len", 5))
        if seq_len < 2:
            raise ConfigError(join_path(tower_path, "seq_len"), "the tokens are seq_len - 1 behaviours and the target",
                              "at least 2", seq_len)
        if width % heads:
            raise ConfigError(join_path(tower_path, "multi_head_size"), "recblocks' BST splits the width into equal "
                              f"heads (EasyRec lets the last head be narrower); the width is {width}",
                              f"a divisor of {width}", heads)
        blocks += [
            {"name": f"{group}_seq_input", "inputs": [{"feature_group_name": group}],
             "input_layer": {"output_seq_and_normal_feature": True}},
            {"name": f"{group}_bst", "inputs": [{"block_name": f"{group}_seq_input"}],
             "component": {"class_name": "BST", "params": {
                 "hidden_size": width, "num_hidden_layers": 1, "num_attention_heads": heads,
                 "intermediate_size": width, "hidden_act": "linear", "hidden_dropout_prob": 0.0,
                 "attention_probs_dropout_prob": 0.0, "max_position_embeddings": seq_len - 1,
                 "use_position_embeddings": False, "output_all_token_embeddings": True,
                 "target_item_position": "tail"}}},
        ]
        outputs.append(f"{group}_bst")
        widths.append(seq_len * width)
        used.append(group)
    final, outputs, width_out = final_blocks(params, outputs, widths, path)
    groups = feature_groups(model_config, where) + [known[name] for name in dict.fromkeys(used)]
    return rank_model_section(model_config, "multi_tower", blocks + final, outputs, width_out, where,
                              class_name="MultiTowerBST", groups=groups)
