"""The error locator finds the config path and pending field at a text position."""

from __future__ import annotations

from recblocks.easyrec.locate import locate, tokens
from recblocks.easyrec.schema import message_descriptor

TEXT = """model_config {  # a comment with { braces }
  feature_groups { group_name: "a{" }
  feature_groups: [ { group_name: 'b' }, { group_name: "c" wide_deep: WIDE } ]
  backbone { blocks { name: "x" } blocks { keras_layer { mlp { hidden_units: [1, 2] } } } }
}
"""


def test_tokens_skip_comments_and_keep_positions():
    found = [(value, line, column) for _, value, line, column in tokens(TEXT)][:4]
    assert found == [("model_config", 1, 1), ("{", 1, 14), ("feature_groups", 2, 3), ("{", 2, 18)]


def test_paths_count_repeated_blocks_and_list_items():
    root = message_descriptor("EasyRecConfig")
    spot = locate(TEXT, root, 3, TEXT.split("\n")[2].index("WIDE") + 1)
    assert (spot.path, spot.field_name, spot.descriptor.name) == ("model_config.feature_groups[2]", "wide_deep",
                                                                  "FeatureGroupConfig")
    line4 = TEXT.split("\n")[3]
    spot = locate(TEXT, root, 4, line4.index("2]") + 1)
    assert spot.path == "model_config.backbone.blocks[1].keras_layer.mlp" and spot.field_name == "hidden_units"
    assert spot.opened_line == 4


def test_end_of_text_reports_open_blocks():
    spot = locate("model_config {\n  backbone {\n", message_descriptor("EasyRecConfig"), None, None)
    assert spot.path == "model_config.backbone" and spot.opened_line == 2
