"""parse_pipeline_config / parse_model_config: sources, snippet forms, strictness."""

from __future__ import annotations

import warnings

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import EasyRecTextError, parse_model_config, parse_pipeline_config

BODY = 'model_class: "RankModel"\nfeature_groups { group_name: "all"  feature_names: "a" }\n'


def test_text_and_paths(tmp_path):
    path = tmp_path / "x.config"
    path.write_text(f'model_dir: "m"\nmodel_config {{\n{BODY}}}\n', encoding="utf-8")
    from_path = parse_pipeline_config(path)
    assert from_path == parse_pipeline_config(str(path)) == parse_pipeline_config(path.read_text())
    assert from_path["model_dir"] == "m"
    with pytest.raises(ConfigError, match="config file not found"):
        parse_pipeline_config(tmp_path / "missing.config")
    (tmp_path / "bin.config").write_bytes(b"model_dir: \"\xff\"")
    with pytest.raises(ConfigError, match="not UTF-8"):
        parse_pipeline_config(tmp_path / "bin.config")


def test_model_config_forms_agree():
    body = parse_model_config(BODY)
    assert body == parse_model_config(f"model_config {{\n{BODY}}}") == parse_model_config(f"model_config: {{\n{BODY}}}")
    assert body["feature_groups"][0]["feature_names"] == ["a"]
    with pytest.raises(EasyRecTextError, match="train_config"):
        parse_model_config(f"model_config {{\n{BODY}}}\ntrain_config {{ num_steps: 1 }}")


def test_snippets_parse_as_partial_pipelines():
    assert parse_pipeline_config('feature_config { features { input_names: "a" } }') == {
        "feature_config": {"features": [{"input_names": ["a"]}]}}


def test_strict_false_reads_like_easyrec_with_a_warning():
    text = "train_config {\n  num_steps: 1\n  num_steps: 2\n}\n"
    with pytest.raises(EasyRecTextError, match="set twice"):
        parse_pipeline_config(text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert parse_pipeline_config(text, strict=False) == {"train_config": {"num_steps": 2}}
    assert "<text>:3:" in str(caught[0].message)
    with pytest.raises(EasyRecTextError, match="unknown field"):  # other errors stay errors
        parse_pipeline_config("train_config { num_step: 1 }", strict=False)
