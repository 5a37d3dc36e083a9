"""TFRecord files of tf.Example / tf.SequenceExample records (EasyRec's TFRecordInput, BatchTFRecordInput)."""

import io

import pytest
from tensorboard.summary.writer.record_writer import RecordWriter  # TensorFlow's framing, CRCs included

from recblocks.core.errors import DataError
from recblocks.data import read_columns, read_table
from recblocks.data.readers import iter_tables
from recblocks.easyrec.schema import message_class


def _example(**features):
    example = message_class("Example")()
    for name, value in features.items():
        _fill(example.features.feature[name], value)
    return example.SerializeToString()


def _fill(feature, value):
    if isinstance(value, str):
        feature.bytes_list.value.append(value.encode())
    elif isinstance(value, float):
        feature.float_list.value.append(value)
    else:
        feature.int64_list.value.append(value)


def _write(path, payloads):
    buffer = io.BytesIO()
    writer = RecordWriter(buffer)
    for payload in payloads:
        writer.write(payload)
    path.write_bytes(buffer.getvalue())
    return path


def test_the_example_message_has_tensorflows_wire_format():
    # Example{features{feature{key: "a" value{int64_list{value: [5]}}}}}, encoded by hand from the wire format:
    # Int64List packed 0a 01 05; Feature.int64_list (3) 1a 03 ..; map entry key (1) 0a 01 61, value (2) 12 05 ..;
    # Features.feature (1) 0a 0a ..; Example.features (1) 0a 0c ..
    assert _example(a=5) == bytes.fromhex("0a0c0a0a0a0161120" "51a030a0105")


def test_examples_become_typed_columns_and_absent_features_null(tmp_path):
    path = _write(tmp_path / "part-0.tfrecord", [_example(clk=1, user="u1", price=1.5),
                                                 _example(clk=0, user="u2"), _example(clk=1, price=2.0)])
    source = {"path": str(path), "format": "tfrecord"}
    assert read_columns(source) == ["clk", "price", "user"]  # the first record's features, sorted
    table = read_table(source, ["clk", "user", "price"])
    assert table.to_pydict() == {"clk": [1, 0, 1], "user": ["u1", "u2", None], "price": [1.5, None, 2.0]}
    chunks = list(iter_tables(source, ["user", "clk"], rows_per_chunk=2))
    assert [c.num_rows for c in chunks] == [2, 1] and chunks[1].column("user").to_pylist() == [None]


def test_sequence_examples_hold_several_samples(tmp_path):
    record = message_class("SequenceExample")()
    for clk, user in ((1, "u1"), (0, "u2"), (1, "u3")):
        _fill(record.feature_lists.feature_list["clk"].feature.add(), clk)
        _fill(record.feature_lists.feature_list["user"].feature.add(), user)
    path = _write(tmp_path / "batch.tfrecord", [record.SerializeToString()] * 2)
    table = read_table({"path": str(path), "format": "tfrecord", "record": "sequence_example"})
    assert table.to_pydict() == {"clk": [1, 0, 1] * 2, "user": ["u1", "u2", "u3"] * 2}


def test_truncated_files_and_bad_records_name_the_record(tmp_path):
    whole = _write(tmp_path / "a.tfrecord", [_example(clk=1), _example(clk=0)]).read_bytes()  # 2 x (12 + 16 + 4)
    cut = tmp_path / "cut.tfrecord"
    cut.write_bytes(whole[:-3])
    with pytest.raises(DataError, match=r"cut.tfrecord, record 2: the file ends inside a record \(at byte 32\).*got 29 trailing bytes"):
        read_table({"path": str(cut), "format": "tfrecord"}, ["clk"])
    junk = _write(tmp_path / "junk.tfrecord", [_example(clk=1), b"\xff\xff\xff"])
    with pytest.raises(DataError, match=r"junk.tfrecord, record 2: the record is not a tf.Example"):
        read_table({"path": str(junk), "format": "tfrecord"}, ["clk"])
    two = message_class("Example")()
    two.features.feature["clk"].int64_list.value.extend([1, 2])
    many = _write(tmp_path / "many.tfrecord", [two.SerializeToString()])
    with pytest.raises(DataError, match=r"record 1, feature 'clk': a feature holds one value per sample"):
        read_table({"path": str(many), "format": "tfrecord"}, ["clk"])
