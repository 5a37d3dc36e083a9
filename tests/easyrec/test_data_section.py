"""EasyRec's input paths and data_config as recblocks' data section: RTP input, comma-joined paths."""

from __future__ import annotations

import random

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec.data_section import data_section
from recblocks.runs import Model, load_config_file

RTP_CONFIG = """
train_input_path: "rtp/part-0.txt,rtp/part-1.txt"
eval_input_path: "rtp/part-1.txt"
data_config {
  batch_size: 16
  label_fields: "clk"
  input_type: RTPInput
  separator: "\\002"
  selected_cols: "0,2"
  input_fields { input_name: "clk" input_type: INT32 default_val: "0" }
  input_fields { input_name: "user_id" }
  input_fields { input_name: "tags" }
  input_fields { input_name: "price" input_type: DOUBLE default_val: "0" }
}
feature_config {
  features { input_names: "user_id" feature_type: IdFeature embedding_dim: 4 hash_bucket_size: 50 }
  features { input_names: "tags" feature_type: TagFeature separator: "\\003" embedding_dim: 4 hash_bucket_size: 20 }
  features { input_names: "price" feature_type: RawFeature boundaries: [0.25, 0.5, 0.75] embedding_dim: 4 }
}
model_config {
  model_class: "DeepFM"
  feature_groups { group_name: "wide" feature_names: ["user_id", "tags"] wide_deep: WIDE }
  feature_groups { group_name: "deep" feature_names: ["user_id", "tags", "price"] wide_deep: DEEP }
  deepfm { dnn { hidden_units: [8] } final_dnn { hidden_units: [4] } }
}
train_config { optimizer_config { adam_optimizer { learning_rate { constant_learning_rate {
  learning_rate: 0.01 } } } } num_steps: 4 }
"""


def _rtp_lines(rng: random.Random, count: int) -> str:
    lines = []
    for _ in range(count):
        user = rng.randrange(8)
        tags = "\x03".join(f"t{rng.randrange(5)}" for _ in range(rng.randrange(1, 3)))
        lines.append(f"{int(user < 4)};ignored;u{user}\x02{tags}\x02{rng.random():.3f}")
    return "\n".join(lines) + "\n"


def test_rtp_input_translates_to_an_rtp_source():
    data = data_section({"train_input_path": "a.txt", "data_config": {
        "input_type": "RTPInput", "rtp_separator": "\t", "separator": "\x02", "selected_cols": "1,0,5",
        "label_fields": ["ctr", "cvr"], "input_fields": [{"input_name": "ctr"}, {"input_name": "cvr"},
                                                         {"input_name": "user"}, {"input_name": "item"}]}})
    assert data == {"train": {"path": "a.txt", "format": "rtp", "delimiter": "\t", "rtp": {
        "label_columns": [1, 0], "feature_column": 5, "label_names": ["ctr", "cvr"],
        "feature_names": ["user", "item"], "feature_separator": "\x02"}}}


def test_rtp_input_v2_translates_to_key_value_lines():
    data = data_section({"train_input_path": "a.txt", "data_config": {
        "input_type": "RTPInputV2", "label_fields": ["clk"], "input_fields": [{"input_name": "clk"},
                                                                            {"input_name": "user"}]}})
    assert data == {"train": {"path": "a.txt", "format": "rtp_kv", "column_names": ["clk", "user"]}}


@pytest.mark.parametrize("data_config, message", [
    ({"selected_cols": "0,x"}, r"^data_config\.selected_cols: RTPInput reads its label and feature columns by index"),
    ({"selected_cols": "0,1,3"}, r"^data_config\.selected_cols: .*expected 1 label indices and the feature column"),
    ({"selected_cols": "0,3", "rtp_separator": ";;"}, r"^data_config\.rtp_separator: .*one character"),
    ({"selected_cols": "0,3", "input_fields": [{"input_name": "clk"}]},
     r"^data_config\.input_fields: RTPInput reads the features .*fg_json_path"),
])
def test_bad_rtp_settings_name_the_field(data_config, message):
    base = {"input_type": "RTPInput", "label_fields": ["clk"],
            "input_fields": [{"input_name": "clk"}, {"input_name": "user"}]}
    with pytest.raises(ConfigError, match=message):
        data_section({"train_input_path": "a.txt", "data_config": {**base, **data_config}})


def test_comma_joined_paths_become_a_list_and_remote_parts_are_refused():
    data = data_section({"train_input_path": "a.csv, b.csv", "eval_input_path": "c.csv"})
    assert data["train"]["path"] == ["a.csv", "b.csv"] and data["valid"]["path"] == "c.csv"
    with pytest.raises(ConfigError, match=r"^train_input_path: remote tables .*got 'oss://b'"):
        data_section({"train_input_path": "a.csv,oss://b"})
    with pytest.raises(ConfigError, match=r"^train_input_path: an empty path"):
        data_section({"train_input_path": "a.csv,"})


def test_an_rtp_config_with_two_input_files_trains(tmp_path):
    rng = random.Random(0)
    (tmp_path / "rtp").mkdir()
    (tmp_path / "rtp" / "part-0.txt").write_text(_rtp_lines(rng, 40), encoding="utf-8")
    (tmp_path / "rtp" / "part-1.txt").write_text(_rtp_lines(rng, 24), encoding="utf-8")
    config = tmp_path / "deepfm_rtp.config"
    config.write_text(RTP_CONFIG, encoding="utf-8")
    model = Model.from_config(config)
    result = model.fit(output=tmp_path / "run")
    assert 0.0 <= result.valid_metrics["auc"] <= 1.0
    assert "88 rows read, 0 bad rows dropped" in result.data_report  # train 40 + 24 rows, valid 24
    assert load_config_file(config)["data"]["train"]["path"] == [str(tmp_path / "rtp" / "part-0.txt"),
                                                          str(tmp_path / "rtp" / "part-1.txt")]


TFRECORD_CONFIG = """
train_input_path: "train.tfrecord"
eval_input_path: "train.tfrecord"
data_config {
  batch_size: 16
  label_fields: "clk"
  input_type: TFRecordInput
  input_fields { input_name: "clk" input_type: INT64 }
  input_fields { input_name: "user_id" input_type: STRING }
  input_fields { input_name: "price" input_type: FLOAT default_val: "0" }
}
feature_config {
  features { input_names: "user_id" feature_type: IdFeature embedding_dim: 4 hash_bucket_size: 50 }
  features { input_names: "price" feature_type: RawFeature boundaries: [0.5] embedding_dim: 4 }
}
model_config {
  model_class: "DeepFM"
  feature_groups { group_name: "wide" feature_names: ["user_id", "price"] wide_deep: WIDE }
  feature_groups { group_name: "deep" feature_names: ["user_id", "price"] wide_deep: DEEP }
  deepfm { dnn { hidden_units: [8] } final_dnn { hidden_units: [4] } }
}
train_config { optimizer_config { adam_optimizer { learning_rate { constant_learning_rate {
  learning_rate: 0.01 } } } } num_steps: 4 }
"""


def test_tfrecord_inputs_translate_to_tfrecord_sources():
    fields = [{"input_name": "clk"}, {"input_name": "user"}]
    for input_type, record in (("TFRecordInput", "example"), ("BatchTFRecordInput", "sequence_example")):
        data = data_section({"train_input_path": "a.tfrecord", "data_config": {"input_type": input_type,
                                                                               "input_fields": fields}})
        assert data == {"train": {"path": "a.tfrecord", "format": "tfrecord", "record": record,
                                  "column_names": ["clk", "user"]}}


def test_a_tfrecord_config_trains(tmp_path):
    import io

    from tensorboard.summary.writer.record_writer import RecordWriter

    from recblocks.easyrec.schema import message_class

    rng = random.Random(2)
    buffer = io.BytesIO()
    writer = RecordWriter(buffer)
    for _ in range(48):
        example = message_class("Example")()
        user = rng.randrange(6)
        example.features.feature["clk"].int64_list.value.append(int(user < 3))
        example.features.feature["user_id"].bytes_list.value.append(f"u{user}".encode())
        example.features.feature["price"].float_list.value.append(rng.random())
        writer.write(example.SerializeToString())
    (tmp_path / "train.tfrecord").write_bytes(buffer.getvalue())
    config = tmp_path / "deepfm_tfrecord.config"
    config.write_text(TFRECORD_CONFIG, encoding="utf-8")
    result = Model.from_config(config).fit(output=tmp_path / "run")
    assert 0.0 <= result.valid_metrics["auc"] <= 1.0
    assert "96 rows read, 0 bad rows dropped" in result.data_report  # 48 train + 48 valid
