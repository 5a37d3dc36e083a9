"""Twenty malformed EasyRec configs: each error is one line naming the line and the field."""

from __future__ import annotations

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import EasyRecTextError, parse_model_config, parse_pipeline_config

MODEL = 'model_config {\n  model_class: "RankModel"\n'

# id -> (config text, line, expected fragments of the message)
CASES = {
    "unknown top-level field": ('model_dir: "x"\nmodel_dri: "y"\n', 2,
                                ["model_dri", "unknown field of EasyRecConfig", "did you mean 'model_dir'?"]),
    "unknown nested field": (MODEL + '  feature_groups {\n    group_name: "a"\n    feature_name: "x"\n  }\n}\n', 5,
                             ["model_config.feature_groups[0].feature_name", "did you mean 'feature_names'?"]),
    "misspelled deep field": (MODEL + '  backbone {\n    blocks {\n      name: "d"\n      keras_layr {\n'
                              '        class_name: "MLP"\n      }\n    }\n  }\n}\n', 6,
                              ["model_config.backbone.blocks[0].keras_layr", "did you mean 'keras_layer'?"]),
    "unknown field without a near name": ('train_config {\n  colour: 3\n}\n', 2,
                                          ["train_config.colour", "unknown field of TrainConfig"]),
    "field of another message": ('eval_config {\n  num_steps: 3\n}\n', 2,
                                 ["eval_config.num_steps", "unknown field of EvalConfig"]),
    "bad enum value": (MODEL + '  feature_groups { group_name: "a" }\n  feature_groups {\n    wide_deep: DEPP\n  }\n}\n',
                       5, ["model_config.feature_groups[1].wide_deep", "WideOrDeep", "did you mean 'DEEP'?"]),
    "enum number out of range": (MODEL + '  loss_type: 77\n}\n', 3, ["model_config.loss_type", "LossType", "got 77"]),
    "string for an integer": ('train_config {\n  num_steps: "many"\n}\n', 2,
                              ["train_config.num_steps", "wrong value type", "integer (uint32)"]),
    "fraction for an integer": ('train_config {\n  num_steps: 1.5\n}\n', 2, ["train_config.num_steps", "got 1.5"]),
    "word for a bool": ('train_config {\n  sync_replicas: yes\n}\n', 2,
                        ["train_config.sync_replicas", "expected true or false, got yes"]),
    "unquoted string": (MODEL.replace('"RankModel"', "RankModel"), 2,
                        ["model_config.model_class", "expected a quoted string, got RankModel"]),
    "negative unsigned": (MODEL + '  num_class: -1\n}\n', 3, ["model_config.num_class", "value out of range"]),
    "bad item in a list": (MODEL + '  backbone {\n    blocks {\n      keras_layer {\n        mlp { hidden_units: [256, "x"] }\n'
                           '      }\n    }\n  }\n}\n', 6, ["model_config.backbone.blocks[0].keras_layer.mlp.hidden_units"]),
    "unterminated brace": (MODEL + '  feature_groups {\n    group_name: "a"\n  }\n', 5,
                           ["model_config", "the block opened at line 1 is never closed"]),
    "stray closing brace": ('train_config {\n  num_steps: 1\n}\n}\n', 4, ["'}' closes no open block"]),
    "duplicate scalar field": ('train_config {\n  num_steps: 1\n  num_steps: 2\n}\n', 3,
                               ["train_config.num_steps", "set twice", "got a second value 2"]),
    "duplicate message field": (MODEL + '}\nmodel_config {\n}\n', 4, ["model_config", "set twice", "a second block"]),
    "two members of a oneof": ('model_dir: "x"\ntrain_input_path: "a"\nkafka_train_input { server: "s" }\n', 3,
                               ["kafka_train_input", "oneof 'train_path'", "'train_input_path'"]),
    "scalar given to a message field": ('train_config: 5\n', 1, ["train_config", "needs a { ... } block", "got 5"]),
    "missing colon before a value": ('train_config {\n  num_steps 5\n}\n', 2,
                                     ["train_config.num_steps", "needs ':' and then its value"]),
    "misspelled Struct value": (MODEL + '  backbone {\n    blocks {\n      keras_layer {\n        st_params {\n'
                                '          fields { key: "a" value { number_val: 1 } }\n        }\n      }\n    }\n  }\n}\n',
                                7, ["keras_layer.st_params.fields[0].value.number_val", "did you mean 'number_value'?"]),
    "string missing its closing quote": ('model_dir: "abc\n', 1, ["model_dir", "closing quote"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_config_gives_one_line_with_line_and_field(name):
    text, line, fragments = CASES[name]
    with pytest.raises(EasyRecTextError) as caught:
        parse_pipeline_config(text, name="bad.config")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"bad.config:{line}:"), message
    assert caught.value.line == line
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert isinstance(caught.value, ConfigError)


def test_errors_from_a_file_name_the_file(tmp_path):
    path = tmp_path / "pipeline.config"
    path.write_text('model_dir: "x"\ntrain_config {\n  num_stpes: 10\n}\n', encoding="utf-8")
    with pytest.raises(EasyRecTextError, match=rf"^{path}:3:3: train_config.num_stpes: .*did you mean 'num_steps'\?$"):
        parse_pipeline_config(path)


def test_model_config_errors_count_lines_of_the_snippet():
    with pytest.raises(EasyRecTextError, match=r"^<text>:3:\d+: feature_groups\[0\].wide_deep: .*'DEEP'"):
        parse_model_config('model_class: "RankModel"\nfeature_groups {\n  wide_deep: deep\n}\n')


# Malformed in meaning rather than in syntax: seed case 3 with one edit each; the error names the
# group, block or feature (these arrive after the text parses, when the config is translated and planned).
SEMANTIC = {
    "group naming a missing feature": ("feature_names: 'year'", "feature_names: 'yeer'",
                                       ["yeer", "did you mean 'year'?"]),
    "unknown class_name": ("class_name: 'Cross'", "class_name: 'Crosss'",
                           ["model.backbone.blocks[1]", "Crosss", "did you mean 'Cross'?"]),
    "lambda reaching outside the allow-list": ("input_fn: 'lambda x: [x, x]'", "input_fn: 'lambda x: x.__class__'",
                                               ["model.backbone.blocks[1].inputs[0].input_fn", "block 'dcn'"]),
    "lambda that is not Python": ("input_fn: 'lambda x: [x, x]'", "input_fn: 'lambda x: [x, x'",
                                  ["model.backbone.blocks[1].inputs[0].input_fn", "block 'dcn'"]),
    "concat of an unknown block": ("concat_blocks: ['deep', 'dcn']", "concat_blocks: ['deep', 'dnc']",
                                   ["concat_blocks", "dnc", "did you mean 'dcn'?"]),
}


@pytest.mark.parametrize("name", list(SEMANTIC))
def test_semantic_errors_name_the_group_block_or_feature(name):
    from pathlib import Path

    from recblocks.core.errors import RecBlocksError
    from recblocks.easyrec.translate import translate_pipeline
    from recblocks.runs import plan_rows

    fixtures = Path(__file__).parent / "fixtures"
    text = (fixtures / "seed_case_3_pipeline.config").read_text(encoding="utf-8") + \
        (fixtures / "seed_case_3.config").read_text(encoding="utf-8")
    old, new, fragments = SEMANTIC[name]
    assert old in text
    with pytest.raises(RecBlocksError) as caught:
        run = translate_pipeline(parse_pipeline_config(text.replace(old, new, 1), name="case3.config"))
        run.pop("data", None)
        plan_rows(run, fit_data=False)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
