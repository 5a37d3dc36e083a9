"""EasyRec's per-feature TextCNN sequence combiner rewritten as backbone blocks: graph, layouts, training."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner

from recblocks.cli.main import cli
from recblocks.core.errors import ConfigError, ShapeError
from recblocks.easyrec import parse_pipeline_config
from recblocks.easyrec.translate import translate_pipeline
from recblocks.runs import plan_rows

TEXT = """train_input_path: "train.tsv" eval_input_path: "valid.tsv"
train_config { optimizer_config { adam_optimizer { learning_rate { constant_learning_rate { learning_rate: 0.01 } } } }
  num_steps: 60 }
eval_config { metrics_set { auc {} } }
data_config { input_type: CSVInput separator: "\\t" label_fields: "clk" batch_size: 64
  input_fields { input_name: "clk" input_type: INT32 } input_fields { input_name: "uid" }
  input_fields { input_name: "title" } }
feature_config {
  features { input_names: "uid" feature_type: IdFeature embedding_dim: 8 hash_bucket_size: 100 }
  features { input_names: "title" feature_type: SequenceFeature separator: " " embedding_dim: 8
    hash_bucket_size: 100 sequence_length: 10
    sequence_combiner { text_cnn { filter_sizes: [2, 3] num_filters: [4, 2] } } }
}
model_config { model_class: "RankModel"
  feature_groups { group_name: "all" feature_names: ["uid", "title"] wide_deep: DEEP }
  backbone { %s }
}
"""
DIRECT = 'blocks { name: "mlp" inputs { feature_group_name: "all" } keras_layer { class_name: "MLP" mlp { hidden_units: [8] } } }'
BOTH = ('blocks { name: "all" inputs { feature_group_name: "all" } input_layer { output_2d_tensor_and_feature_list: true } } '
        'blocks { name: "deep" inputs { block_name: "all" input_slice: "[0]" } '
        'keras_layer { class_name: "MLP" mlp { hidden_units: [8] } } } concat_blocks: "deep"')


def _run(backbone: str = DIRECT) -> dict:
    return translate_pipeline(parse_pipeline_config(TEXT % backbone))


def test_the_feature_leaves_its_group_for_a_text_cnn_block():
    model = _run()["model"]
    groups = {g["group_name"]: g["feature_names"] for g in model["feature_groups"]}
    assert groups == {"all": ["uid"], "all__text_cnn_title": ["title"]}
    blocks = {b["name"]: b for b in model["backbone"]["blocks"]}
    assert blocks["mlp__input__title_cnn"]["component"] == {
        "class_name": "TextCNN", "params": {"filter_sizes": [2, 3], "num_filters": [4, 2], "pad_sequence_length": 10}}
    assert blocks["mlp"]["inputs"] == [{"block_name": "mlp__input"}]
    _, rows, _ = plan_rows(_run(), fit_data=False)
    merged = next(r for r in rows if r["block"] == "mlp__input")
    assert "14" in str(merged["output"])  # uid (8) + TextCNN (4 + 2)


def test_a_block_named_after_the_group_keeps_its_readers_and_layout():
    model = _run(BOTH)["model"]
    names = [b["name"] for b in model["backbone"]["blocks"]]
    assert "all__merged" in names and "all__rest" in names
    deep = next(b for b in model["backbone"]["blocks"] if b["name"] == "deep")
    assert deep["inputs"][0]["block_name"] == "all__merged"
    _, rows, _ = plan_rows(_run(BOTH), fit_data=False)
    assert any(r["block"] == "deep" for r in rows)


def test_refusals_name_the_place():
    three_d = DIRECT.replace('keras_layer { class_name: "MLP" mlp { hidden_units: [8] } }', "") \
        .replace('name: "mlp" inputs { feature_group_name: "all" }',
                 'name: "x" inputs { feature_group_name: "all" } input_layer { only_output_3d_tensor: true }')
    with pytest.raises(ConfigError, match=r"^model_config\.backbone\.blocks\[0\]\.input_layer\.only_output_3d_tensor"):
        _run(three_d)


def test_a_built_in_class_gets_the_text_cnn_in_its_translated_backbone():
    # EasyRec's deepfm_on_movielens: a DeepFM whose deep group holds a TextCNN-combined title
    builtin = (TEXT % DIRECT).replace('model_class: "RankModel"', 'model_class: "DeepFM" deepfm { dnn { hidden_units: [8] } }')
    builtin = re.sub(r"backbone \{.*?\n\}\n", "}\n", builtin, flags=re.S).replace(
        'group_name: "all"', 'group_name: "wide" feature_names: "uid" wide_deep: WIDE } feature_groups { group_name: "deep"')
    model = translate_pipeline(parse_pipeline_config(builtin))["model"]
    groups = {g["group_name"]: g["feature_names"] for g in model["feature_groups"]}
    assert groups["deep"] == ["uid"] and groups["deep__text_cnn_title"] == ["title"]
    cnn = [b for b in model["backbone"]["blocks"] if b.get("component", {}).get("class_name") == "TextCNN"]
    assert [b["component"]["params"]["num_filters"] for b in cnn] == [[4, 2]]
    # as in EasyRec, DeepFM's FM over the deep group needs every field as wide as the others: the
    # TextCNN's 4 + 2 = 6 beside uid's 8 is refused at build, 4 + 4 = 8 plans
    with pytest.raises(ShapeError, match=r"block 'fm_feature' .*all embedding dims must be equal.*\[8, 6\]"):
        plan_rows(translate_pipeline(parse_pipeline_config(builtin)), fit_data=False)
    plan_rows(translate_pipeline(parse_pipeline_config(builtin.replace("num_filters: [4, 2]", "num_filters: [4, 4]"))), fit_data=False)


def _write(path, rows: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(rows):
        words = rng.choice(30, rng.integers(2, 9))
        clk = int(rng.random() < (0.8 if 3 in words else 0.2))  # the word w3 carries the signal
        lines.append(f"{clk}\tu{rng.integers(0, 20)}\t{' '.join(f'w{w}' for w in words)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_text_cnn_config_trains(tmp_path):
    _write(tmp_path / "train.tsv", 1500, 0)
    _write(tmp_path / "valid.tsv", 500, 1)
    config = tmp_path / "text_cnn.config"
    config.write_text(TEXT % DIRECT, encoding="utf-8")
    result = CliRunner().invoke(cli, ["train", str(config), "-o", str(tmp_path / "run"), "--set",
                                      "train.progress=false", "--set", "train.tensorboard=false"])
    assert result.exit_code == 0, result.output
    auc = float(re.search(r"valid: .*?auc=([0-9.]+)", result.output).group(1))
    assert auc > 0.6, result.output


def test_seed_case_2_plans_and_its_fm_sees_the_text_cnn_width_as_easyrec_does():
    from pathlib import Path

    fixtures = Path(__file__).resolve().parent / "fixtures"
    text = (fixtures / "seed_case_2_pipeline.config").read_text(encoding="utf-8") \
        + (fixtures / "seed_case_2.config").read_text(encoding="utf-8")
    # EasyRec's MovieLens feature config: title's TextCNN gives 8 + 4 + 4 = 16, as wide as the other fields
    assert "num_filters: [8, 4, 4]" in text
    run = translate_pipeline(parse_pipeline_config(text))
    run.pop("data")
    plan_rows(run, fit_data=False)
    # a 16 + 8 + 8 = 32 wide title beside 16-wide fields: EasyRec's FM layer raises "all embedding dim
    # must be equal in FM layer" on that feature list, and so does recblocks' FM
    run = translate_pipeline(parse_pipeline_config(text.replace("num_filters: [8, 4, 4]", "num_filters: [16, 8, 8]")))
    run.pop("data")
    with pytest.raises(ShapeError, match=r"block 'fm' .*all embedding dims must be equal.*32"):
        plan_rows(run, fit_data=False)
