"""EasyRec's message schema at run time: the committed descriptor set, loaded into a private pool.

``protos/*.proto`` are recblocks' own definitions of EasyRec's public pipeline-config format
(package ``recblocks.easyrec``); ``make protos`` compiles them into ``protos/descriptor_set.binpb``
(a serialized ``FileDescriptorSet`` that also holds ``google/protobuf/struct.proto``). Nothing
here is generated Python: message classes are made from the descriptors on first use.

Example:
    >>> message_class("EasyRecConfig").DESCRIPTOR.fields_by_name["model_config"].message_type.name
    'EasyRecModel'
"""

from __future__ import annotations

import functools
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from recblocks.core.errors import ConfigError

__all__ = ["PACKAGE", "PROTO_DIR", "DESCRIPTOR_SET", "ROOT_PROTO", "ROOT_PROTOS", "pool", "message_class",
           "message_descriptor"]

#: The protobuf package of the definitions (message full names are ``recblocks.easyrec.<Name>``).
PACKAGE = "recblocks.easyrec"
#: The folder of the ``.proto`` files and of the compiled descriptor set.
PROTO_DIR = Path(__file__).resolve().parent / "protos"
#: The compiled, committed descriptor set that is loaded at run time.
DESCRIPTOR_SET = PROTO_DIR / "descriptor_set.binpb"
#: The file whose imports reach every other definition (the pipeline's root message).
ROOT_PROTO = "recblocks/easyrec/protos/pipeline.proto"
#: Every file compiled: the pipeline's root and the TFRecord record messages (``Example``,
#: ``SequenceExample``; read by :mod:`recblocks.data.tfrecord`).
ROOT_PROTOS = (ROOT_PROTO, "recblocks/easyrec/protos/example.proto")


@functools.lru_cache(maxsize=1)
def pool() -> descriptor_pool.DescriptorPool:
    """The descriptor pool holding every EasyRec message (built once, private to recblocks)."""
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    result = descriptor_pool.DescriptorPool()
    for file in files.file:  # protoc writes dependencies before the files that import them
        result.Add(file)
    return result


def message_descriptor(name: str) -> Descriptor:
    """The descriptor of message ``name`` (``EasyRecConfig``, ``EasyRecModel.LossWeightStrategy`` ...)."""
    full = name if name.startswith(PACKAGE + ".") else f"{PACKAGE}.{name}"
    try:
        return pool().FindMessageTypeByName(full)
    except KeyError:
        raise ConfigError("easyrec schema", "unknown message type", "a message of the EasyRec schema", name,
                          choices=_message_names()) from None


def message_class(name: str) -> type[Message]:
    """The message class of ``name`` made from the pool (one class per name, cached)."""
    return _message_class(message_descriptor(name).full_name)


@functools.lru_cache(maxsize=None)
def _message_class(full_name: str) -> type[Message]:
    return message_factory.GetMessageClass(pool().FindMessageTypeByName(full_name))


def _message_names() -> list[str]:
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    out: list[str] = []

    def walk(prefix: str, messages) -> None:
        for message in messages:
            out.append(prefix + message.name)
            walk(prefix + message.name + ".", message.nested_type)

    for file in files.file:
        if file.package == PACKAGE:
            walk("", file.message_type)
    return out
