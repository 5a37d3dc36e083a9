"""The committed descriptor set matches the .proto files and holds EasyRec's schema facts."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FieldDescriptor

from recblocks.core.errors import ConfigError
from recblocks.easyrec.compile import compile_descriptor_set, protoc_available
from recblocks.easyrec.schema import DESCRIPTOR_SET, PROTO_DIR, message_class, message_descriptor


def test_descriptor_set_is_not_stale():
    if not protoc_available():
        pytest.skip("grpcio-tools (protoc) is not installed; pip install -e '.[dev]' to check the descriptor set")
    fresh = compile_descriptor_set()
    committed = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    assert [f.name for f in committed.file] == [f.name for f in fresh.file]
    for old, new in zip(committed.file, fresh.file):
        assert old == new, f"{old.name} differs from {PROTO_DIR}: run `make protos` and commit the result"


def test_every_proto_file_is_in_the_set():
    committed = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    names = {f.name.rsplit("/", 1)[-1] for f in committed.file}
    assert {p.name for p in PROTO_DIR.glob("*.proto")} | {"struct.proto"} == names


def test_schema_facts():
    root = message_descriptor("EasyRecConfig")
    assert root.fields_by_name["model_config"].message_type.name == "EasyRecModel"
    assert [f.name for f in root.oneofs_by_name["train_path"].fields][:2] == ["train_input_path", "kafka_train_input"]
    model = message_descriptor("EasyRecModel")
    assert model.fields_by_name["loss_weight_strategy"].is_required
    assert model.fields_by_name["num_class"].default_value == 1
    assert len(model.oneofs_by_name["model"].fields) > 20
    hash_bucket = message_descriptor("FeatureConfig").fields_by_name["hash_bucket_size"]
    assert hash_bucket.type == FieldDescriptor.TYPE_UINT64 and hash_bucket.number == 6
    keras = message_descriptor("KerasLayer").fields_by_name["st_params"]
    assert keras.message_type.full_name == "google.protobuf.Struct"
    assert message_class("EasyRecConfig") is message_class("recblocks.easyrec.EasyRecConfig")


def test_unknown_message_name_suggests():
    with pytest.raises(ConfigError, match="did you mean 'EasyRecModel'"):
        message_descriptor("EasyRecModle")
