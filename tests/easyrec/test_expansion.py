"""EasyRec's name shorthands: ``auto_expand_input_fields`` and a feature's ``shared_names``."""

from __future__ import annotations

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_pipeline_config
from recblocks.easyrec.translate import translate_pipeline
from recblocks.runs import parse_run_config

TEXT = """train_input_path: "train.csv"
data_config { input_type: CSVInput label_fields: "clk" %s
  input_fields { input_name: "clk" input_type: INT32 } input_fields { input_name: "%s" } }
feature_config {
  features { %s input_names: "field1" shared_names: "%s" hash_bucket_size: 50 embedding_dim: 4 }
}
model_config { model_class: "RankModel"
  feature_groups { group_name: "all" feature_names: "field[1-3]" wide_deep: DEEP }
  backbone { blocks { name: "mlp" inputs { feature_group_name: "all" }
    keras_layer { class_name: "MLP" mlp { hidden_units: [4] } } } } }
"""


def _run(expand: bool = True, fields: str = "field[1-3]", shared: str = "field[2-3]", name: str = "") -> dict:
    flag = "auto_expand_input_fields: true" if expand else ""
    return translate_pipeline(parse_pipeline_config(TEXT % (flag, fields, name, shared)))


def test_input_fields_and_shared_names_expand_as_easyrec_expands_them():
    run = _run()
    assert run["data"]["train"]["column_names"] == ["clk", "field1", "field2", "field3"]
    features = run["features"]
    assert [f["name"] for f in features] == ["field1", "field2", "field3"]
    assert all(f == {**features[0], "name": f["name"]} for f in features)  # same settings, own tables
    config, _ = parse_run_config(run)
    assert config.model.feature_groups


def test_without_auto_expand_names_stay_literal():
    run = _run(expand=False, fields="field1", shared="field2")
    assert run["data"]["train"]["column_names"] == ["clk", "field1"]
    assert [f["name"] for f in run["features"]] == ["field1", "field2"]


def test_shared_names_on_a_named_feature_are_refused():
    with pytest.raises(ConfigError, match=r"^feature_config\.features\[0\]\.shared_names: "):
        _run(name='feature_name: "field1"')
