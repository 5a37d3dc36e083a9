"""Feature groups with EasyRec's ``sequence_features``: the group they define, aux sequences, refusals."""

from __future__ import annotations

import pytest

from recblocks.core.errors import ConfigError, SchemaError
from recblocks.features.groups import FeatureGroups
from recblocks.features.schema import Schema

SCHEMA = Schema([{"name": "item", "kind": "hashed", "hash_bucket_size": 9},
                 {"name": "cate", "kind": "hashed", "hash_bucket_size": 9},
                 {"name": "item_hist", "kind": "sequence", "separator": "|", "hash_bucket_size": 9},
                 {"name": "cate_hist", "kind": "sequence", "separator": "|", "hash_bucket_size": 9},
                 {"name": "price_hist", "kind": "sequence", "separator": "|", "values": "numbers"}])


def _groups(entry: dict) -> FeatureGroups:
    return FeatureGroups([{"group_name": "all", "feature_names": ["item"], "sequence_features": [entry]}], SCHEMA)


def test_a_sequence_entry_defines_a_group_of_sequences_aux_sequences_then_keys() -> None:
    groups = _groups({"group_name": "seq", "seq_att_map": {"key": "item", "hist_seq": ["item_hist", "cate_hist"],
                                                          "aux_hist_seq": "price_hist"}})
    # one key for two concatenated sequences: EasyRec only needs the widths to agree (or allow_key_transform)
    assert groups["seq"].feature_names == ["item_hist", "cate_hist", "price_hist", "item"]
    assert groups.to_config()[0]["sequence_features"][0]["seq_att_map"][0]["aux_hist_seq"] == ["price_hist"]
    with pytest.raises(SchemaError, match="aux_hist_seq 'cate' is not a sequence feature"):
        _groups({"group_name": "seq", "seq_att_map": {"key": "item", "hist_seq": "item_hist", "aux_hist_seq": "cate"}})


@pytest.mark.parametrize("option, din", [("need_key_feature", "need_target_feature"),
                                         ("allow_key_transform", "allow_key_transform")])
def test_attention_options_on_a_group_point_at_the_din_block(option: str, din: str) -> None:
    with pytest.raises(ConfigError, match=rf"sequence_features\[0\]: .*{option} is an option of the attention over "
                                          rf"the group, not of the group: set the DIN block's {din}"):
        _groups({"group_name": "seq", option: True, "seq_att_map": {"key": "item", "hist_seq": "item_hist"}})
