"""Read EasyRec pipeline configs (protobuf text format) into plain dicts.

Parsing is protobuf's own ``text_format`` against recblocks' copy of EasyRec's message schema
(:mod:`recblocks.easyrec.schema`); the result is :func:`~recblocks.easyrec.convert.message_to_dict`
of the parsed message. Every problem becomes one line, an :class:`EasyRecTextError` (a
``ConfigError``) that names the file, the line and column, the config path and the field:

``x.config:12:5: model_config.feature_groups[1].wide_deeep: unknown field of FeatureGroupConfig;
expected a field of FeatureGroupConfig, got 'wide_deeep'; did you mean 'wide_deep'?``

``strict=True`` (the default) uses ``text_format.Parse``: a field that is not repeated may be
set once, and one member of a oneof at most. EasyRec itself reads with ``text_format.Merge``,
where the last value silently wins; ``strict=False`` reads that way (after a warning naming the
first such place). Required fields are not checked, as EasyRec's reader does not check them
either, so a bare ``model_config { ... }`` or ``feature_config { ... }`` snippet parses as a
partial pipeline.

Example:
    >>> config = parse_pipeline_config('''
    ... model_dir: "runs/x"
    ... model_config { model_class: "RankModel"  feature_groups { group_name: "all"  feature_names: "a" } }
    ... ''')
    >>> config["model_config"]["feature_groups"]
    [{'group_name': 'all', 'feature_names': ['a']}]
    >>> parse_model_config("model_class: 'DeepFM'  deepfm { wide_output_dim: 16 }")
    {'model_class': 'DeepFM', 'deepfm': {'wide_output_dim': 16}}
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

from google.protobuf import text_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from recblocks.core.errors import ConfigError
from recblocks.easyrec.convert import message_to_dict
from recblocks.easyrec.locate import locate, tokens
from recblocks.easyrec.schema import message_class, pool

__all__ = ["EasyRecTextError", "parse_pipeline_config", "parse_model_config", "parse_message", "CONFIG_SUFFIXES"]

#: A ``str`` source without a newline that ends with one of these is a file path, not config text.
CONFIG_SUFFIXES = (".config", ".prototxt", ".pbtxt", ".txtpb", ".textproto")

_LOCATION = re.compile(r"^\d+(?::\d+)? : ")
_NO_FIELD = re.compile(r'Message type "([\w.]+)" has no field named "([^"]*)"')
_TWICE = re.compile(r'Message type "([\w.]+)" should not have multiple "(\w+)" fields')
_ONEOF = re.compile(r'Field "(\w+)" is specified along with field "(\w+)", another member of oneof "(\w+)"')
_ENUM = re.compile(r'Enum type "([\w.]+)" has no value (?:named (.*?)|with number (-?\d+))\.?$')
_UNCLOSED = re.compile(r'Expected "([}>])"\.?$')
_KINDS = {
    FieldDescriptor.TYPE_DOUBLE: "a number", FieldDescriptor.TYPE_FLOAT: "a number",
    FieldDescriptor.TYPE_INT32: "an integer (int32)", FieldDescriptor.TYPE_SINT32: "an integer (int32)",
    FieldDescriptor.TYPE_SFIXED32: "an integer (int32)", FieldDescriptor.TYPE_INT64: "an integer (int64)",
    FieldDescriptor.TYPE_SINT64: "an integer (int64)", FieldDescriptor.TYPE_SFIXED64: "an integer (int64)",
    FieldDescriptor.TYPE_UINT32: "a non-negative integer (uint32)", FieldDescriptor.TYPE_FIXED32: "a non-negative integer (uint32)",
    FieldDescriptor.TYPE_UINT64: "a non-negative integer (uint64)", FieldDescriptor.TYPE_FIXED64: "a non-negative integer (uint64)",
    FieldDescriptor.TYPE_BOOL: "true or false", FieldDescriptor.TYPE_STRING: "a quoted string",
    FieldDescriptor.TYPE_BYTES: "a quoted string", FieldDescriptor.TYPE_ENUM: "an enum value name",
    FieldDescriptor.TYPE_MESSAGE: "a { ... } block", FieldDescriptor.TYPE_GROUP: "a { ... } block",
}


class EasyRecTextError(ConfigError):
    """A config text that protobuf could not read; the message is one line.

    Attributes (besides ``where``/``problem``/``expected``/``got``/``suggestion``):
        source: the file name, or ``<text>``.
        line, column: 1-based position (None when protobuf gave none).
        path: the dotted config path of the offending field or block.
    """

    def __init__(self, source: str, line: int | None, column: int | None, path: str, problem: str,
                 expected: object | None = None, got: object | None = None, choices=None) -> None:
        self.source, self.line, self.column, self.path = source, line, column, path
        place = source if line is None else f"{source}:{line}" + (f":{column}" if column else "")
        super().__init__(f"{place}: {path}" if path else place, problem, expected, got, choices)


def parse_pipeline_config(source: str | os.PathLike, *, strict: bool = True, name: str | None = None,
                          include_defaults: bool = False) -> dict[str, Any]:
    """Parse a pipeline config (message ``EasyRecConfig``) into a nested dict.

    Args:
        source: the config text, or a path (an ``os.PathLike``, or a one-line ``str`` ending in
            one of :data:`CONFIG_SUFFIXES`).
        strict: ``False`` reads as EasyRec does, where a repeated non-repeated field or a second
            oneof member replaces the earlier value (a warning names the first such place).
        name: how errors name text that did not come from a file (default ``<text>``).
        include_defaults: add the schema defaults of unset scalar fields of present messages.
    """
    text, label = _read(source, name)
    return parse_message(text, "EasyRecConfig", strict=strict, name=label, include_defaults=include_defaults)


def parse_model_config(source: str | os.PathLike, *, strict: bool = True, name: str | None = None,
                       include_defaults: bool = False) -> dict[str, Any]:
    """Parse a model section (message ``EasyRecModel``) into a nested dict.

    Accepts either the body of the section (``model_class: ... feature_groups { ... }``) or the
    whole block as it stands in a pipeline config (``model_config { ... }`` or ``model_config: {``);
    in the second form nothing else may stand beside the block, and error paths start with
    ``model_config``. Arguments as for :func:`parse_pipeline_config`.
    """
    text, label = _read(source, name)
    first = next((value for kind, value, _, _ in tokens(text)), None)
    if first != "model_config":
        return parse_message(text, "EasyRecModel", strict=strict, name=label, include_defaults=include_defaults)
    config = parse_message(text, "EasyRecConfig", strict=strict, name=label, include_defaults=include_defaults)
    others = sorted(key for key in config if key != "model_config"
                    and not (include_defaults and _is_default(key, config[key])))
    if others:
        raise EasyRecTextError(label, None, None, others[0], "only the model_config block may stand in a model "
                               "config; parse the whole text with parse_pipeline_config",
                               "model_config { ... } alone", ", ".join(others))
    return config.get("model_config", {})


def parse_message(text: str, message_name: str, *, strict: bool = True, name: str = "<text>",
                  include_defaults: bool = False) -> dict[str, Any]:
    """Parse ``text`` as message ``message_name`` of the EasyRec schema into a nested dict."""
    message = message_class(message_name)()
    try:
        text_format.Parse(text, message, descriptor_pool=pool())
    except text_format.ParseError as error:
        problem = _translate(error, text, message.DESCRIPTOR, name)
        if strict or not isinstance(problem, _Overwrite):
            raise problem.error from None
        warnings.warn(f"{problem.error}; reading on as EasyRec does (the last value wins)", stacklevel=2)
        message = message_class(message_name)()
        try:
            text_format.Merge(text, message, descriptor_pool=pool())
        except text_format.ParseError as error:
            raise _translate(error, text, message.DESCRIPTOR, name).error from None
    return message_to_dict(message, include_defaults)


def _read(source: str | os.PathLike, name: str | None) -> tuple[str, str]:
    is_path = isinstance(source, os.PathLike) or (
        isinstance(source, str) and "\n" not in source and source.strip().endswith(CONFIG_SUFFIXES))
    if not is_path:
        if not isinstance(source, str):
            raise ConfigError(name or "easyrec config", "cannot read this source", "config text or a path",
                              type(source).__name__)
        return source, name or "<text>"
    path = Path(os.fspath(source).strip())
    label = name or str(path)
    try:
        return path.read_text(encoding="utf-8"), label
    except FileNotFoundError:
        raise ConfigError(label, "config file not found", "an existing file", str(path)) from None
    except UnicodeDecodeError as error:
        raise ConfigError(label, "config file is not UTF-8 text", "UTF-8 text",
                          f"byte {error.object[error.start]:#04x} at offset {error.start}") from None
    except OSError as error:
        raise ConfigError(label, "cannot read the config file", "a readable file", error.strerror) from None


def _is_default(key: str, value: Any) -> bool:
    field = message_class("EasyRecConfig").DESCRIPTOR.fields_by_name[key]
    return field.message_type is None and not field.is_repeated and value == field.default_value


class _Problem:
    def __init__(self, error: EasyRecTextError) -> None:
        self.error = error


class _Overwrite(_Problem):
    """A second value for a non-repeated field or oneof: an error when strict, EasyRec's overwrite otherwise."""


def _translate(error: text_format.ParseError, text: str, root: Descriptor, source: str) -> _Problem:
    line, column = error.GetLine(), error.GetColumn()
    message = _clean(_LOCATION.sub("", str(error)), text, line)
    at = (source, line, column)

    if match := _NO_FIELD.search(message):
        spot = locate(text, root, line, column)
        owner = _descriptor(match.group(1)) or spot.descriptor
        kind = owner.name if owner is not None else "this message"
        fields = list(owner.fields_by_name) if owner is not None else []
        return _Problem(EasyRecTextError(*at, spot.child(match.group(2)), f"unknown field of {kind}",
                                         f"a field of {kind}", match.group(2), choices=fields))
    if match := _TWICE.search(message):
        spot = locate(text, root, line, column)
        return _Overwrite(EasyRecTextError(
            *at, spot.child(match.group(2)), "field set twice but it is not repeated (EasyRec's reader would "
            "keep the last value silently; strict=False reads that way)", "one value",
            "a second block" if _token_at(text, line, column) in ("{", "<") else
            f"a second value {_token_at(text, line, column)}"))
    if match := _ONEOF.search(message):
        spot = locate(text, root, line, column)
        field, other, oneof = match.groups()
        members = _oneof_members(spot.descriptor, oneof)
        return _Overwrite(EasyRecTextError(
            *at, spot.child(field), f"'{field}' and '{other}' are both set but belong to the oneof '{oneof}' "
            "(EasyRec's reader would keep the last one silently; strict=False reads that way)",
            f"one of {members}", f"'{other}' and then '{field}'"))
    if match := _ENUM.search(message):
        spot = locate(text, root, line, column)
        enum = pool().FindEnumTypeByName(match.group(1))
        got = match.group(2) if match.group(2) is not None else match.group(3)
        values = list(enum.values_by_name)
        return _Problem(EasyRecTextError(*at, spot.child(spot.field_name), f"unknown value of enum {enum.name}",
                                         "one of " + ", ".join(values), got, choices=values))
    if match := _UNCLOSED.search(message):
        spot = locate(text, root, None, None)
        if spot.opened_line:
            return _Problem(EasyRecTextError(
                *at, spot.path, f"the block opened at line {spot.opened_line} is never closed",
                f"'{match.group(1)}'", "the end of the text"))
    spot = locate(text, root, line, column)
    got = _token_at(text, line, column)
    if message.startswith("Expected identifier or number"):
        closes = " ('}' closes no open block)" if got in ("}", ">") else ""
        return _Problem(EasyRecTextError(*at, spot.path, f"a field name was expected{closes}", "a field name", got))
    if spot.field is not None:
        return _Problem(EasyRecTextError(*at, spot.child(spot.field_name), _value_problem(message),
                                         _KINDS.get(spot.field.type, "a value"), got))
    return _Problem(EasyRecTextError(*at, spot.child(spot.field_name), message))


def _value_problem(message: str) -> str:
    if message.startswith('Expected ":"'):
        return "a scalar field needs ':' and then its value"
    if message.startswith('Expected "{"'):
        return "a message field needs a { ... } block"
    if "out of range" in message:
        return "value out of range"
    if "missing ending quote" in message:
        return "string without its closing quote"
    if message.startswith(("Couldn't parse", 'Expected "true" or "false"', "Expected string")):
        return "wrong value type"
    return message


def _descriptor(full_name: str) -> Descriptor | None:
    try:
        return pool().FindMessageTypeByName(full_name)
    except KeyError:
        return None


def _oneof_members(descriptor: Descriptor | None, oneof: str) -> str:
    if descriptor is None or oneof not in descriptor.oneofs_by_name:
        return f"the oneof '{oneof}'"
    return ", ".join(f.name for f in descriptor.oneofs_by_name[oneof].fields)


def _token_at(text: str, line: int | None, column: int | None) -> str:
    if line is None:
        return "?"
    for _, value, tok_line, tok_column in tokens(text):
        if (tok_line, tok_column) >= (line, column or 1):
            return value
    return "the end of the text"


def _clean(message: str, text: str, line: int | None) -> str:
    """protobuf's sentence without the quoted source line it puts in front of some errors."""
    lines = text.split("\n")
    if line is not None and 0 < line <= len(lines) and message.startswith(f"'{lines[line - 1]}': "):
        message = message[len(lines[line - 1]) + 4:]
    return " ".join(message.split()).rstrip(".")
