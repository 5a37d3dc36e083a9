"""EasyRec pipeline configs (protobuf text format) read with protobuf itself.

``protos/*.proto`` define EasyRec's public message schema in recblocks' own files (package
``recblocks.easyrec``; field names, numbers, types, defaults and enum values are EasyRec's).
:func:`parse_pipeline_config` / :func:`parse_model_config` parse a config with
``google.protobuf.text_format`` and return a plain nested dict with EasyRec's field names
(rules in :mod:`recblocks.easyrec.convert`); errors are one-line :class:`EasyRecTextError`
(a ``ConfigError``) with file, line, config path and a did-you-mean.

Why a descriptor set and not generated ``_pb2`` modules: the definitions are compiled once
(``make protos``) into ``protos/descriptor_set.binpb``, a serialized ``FileDescriptorSet``
that :mod:`recblocks.easyrec.schema` loads into a private ``DescriptorPool`` and turns into
message classes with ``message_factory.GetMessageClass``. Generated ``_pb2`` code embeds a
check of the protobuf runtime version against the protoc that wrote it (code from a newer
protoc refuses to import under an older runtime), and there would be 13 generated modules to
keep in step and review. A descriptor set is plain data that every runtime in the supported
range (``protobuf>=6.31,<8``) reads whatever protoc wrote it, so regenerating with a newer
grpcio-tools never forces a runtime upgrade on users (mlflow-skinny and tensorboard share the
runtime); the price is no static attribute names for the messages, which a dict-producing
reader does not need.

:func:`translate_pipeline` turns a parsed pipeline into recblocks' run config (plain dicts,
validated downstream; docs/migrating-from-easyrec.md); :func:`load_easyrec_file` parses and
translates a file, which is how ``recblocks train X.config`` reads it.

This package imports only ``recblocks.core`` and protobuf (grpcio-tools, which bundles
protoc, is a development dependency used by :mod:`recblocks.easyrec.compile`).
"""

from recblocks.easyrec.convert import message_to_dict
from recblocks.easyrec.schema import message_class, message_descriptor
from recblocks.easyrec.text import EasyRecTextError, parse_message, parse_model_config, parse_pipeline_config
from recblocks.easyrec.translate import translate_pipeline
from recblocks.easyrec.load import is_easyrec_file, load_easyrec_file

__all__ = [
    "EasyRecTextError",
    "is_easyrec_file",
    "load_easyrec_file",
    "message_class",
    "message_descriptor",
    "message_to_dict",
    "parse_message",
    "parse_model_config",
    "parse_pipeline_config",
    "translate_pipeline",
]
