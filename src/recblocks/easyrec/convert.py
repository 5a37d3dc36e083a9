"""A parsed EasyRec message as a plain nested dict with EasyRec's own field names.

The rules, chosen for a translator that reads the dict later:

- only fields the text set appear (``include_defaults=True`` adds every unset scalar field of
  each message that is present, with its schema default; unset messages, lists and oneof
  members stay absent), so a oneof shows which member was chosen by its key alone;
- message -> dict, repeated field -> list, enum -> its value's name (``"DEEP"``);
- every integer field (int32, uint32, int64, uint64, ...) -> ``int`` (``MessageToDict`` would
  give strings for 64-bit ones);
- ``float`` (32-bit) fields -> the shortest decimal that is the same 32-bit value
  (``1e-4`` stays ``0.0001``, not ``9.999999747378752e-05``); ``double`` fields unchanged;
- ``google.protobuf.Struct`` (``st_params``) -> a plain dict of JSON-like values, keys sorted (a
  Struct is a map: protobuf keeps no order, and its iteration order varies between runs). Struct holds
  only doubles, so the rule for numbers is: a finite number with no fractional part and at most
  2**53 in magnitude (where doubles are exact integers) -> ``int``, any other number -> ``float``.
  ``16`` and ``16.0`` are therefore both ``16``; a layer parameter that needs a float accepts it.

Example:
    >>> from recblocks.easyrec.schema import message_class
    >>> group = message_class("FeatureGroupConfig")(group_name="deep", feature_names=["a", "b"], wide_deep="WIDE")
    >>> message_to_dict(group)
    {'group_name': 'deep', 'feature_names': ['a', 'b'], 'wide_deep': 'WIDE'}
"""

from __future__ import annotations

import math
import struct
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

__all__ = ["message_to_dict", "float32_shortest", "struct_number"]

_STRUCT = "google.protobuf.Struct"
_VALUE = "google.protobuf.Value"
_LIST = "google.protobuf.ListValue"
_EXACT_INT_LIMIT = 2 ** 53


def float32_shortest(value: float) -> float:
    """The shortest decimal that rounds to the same 32-bit float as ``value``.

    Example:
        >>> float32_shortest(9.999999747378752e-05)
        0.0001
    """
    if not math.isfinite(value):
        return value
    as_32 = struct.unpack("<f", struct.pack("<f", value))[0]
    for digits in range(1, 10):
        candidate = float(f"{as_32:.{digits}g}")
        if struct.unpack("<f", struct.pack("<f", candidate))[0] == as_32:
            return candidate
    return as_32


def struct_number(value: float) -> int | float:
    """A Struct number as ``int`` when it is integral and exact (|x| <= 2**53), else ``float``.

    Example:
        >>> struct_number(16.0), struct_number(0.005), struct_number(1e300)
        (16, 0.005, 1e+300)
    """
    if math.isfinite(value) and value.is_integer() and abs(value) <= _EXACT_INT_LIMIT:
        return int(value)
    return value


def message_to_dict(message: Message, include_defaults: bool = False) -> dict[str, Any]:
    """``message`` as a nested dict keyed by field names (see the module docstring for the rules)."""
    name = message.DESCRIPTOR.full_name
    if name == _STRUCT:
        # sorted: a Struct is a protobuf map, whose iteration order varies from run to run
        return {key: _value_to_python(message.fields[key]) for key in sorted(message.fields)}
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        if field.is_repeated and field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            out[field.name] = {key: _single(value_field, item, include_defaults) for key, item in value.items()}
        elif field.is_repeated:
            out[field.name] = [_single(field, item, include_defaults) for item in value]
        else:
            out[field.name] = _single(field, value, include_defaults)
    if include_defaults:
        for field in message.DESCRIPTOR.fields:
            if (field.name in out or field.is_repeated or field.message_type is not None
                    or field.containing_oneof is not None):
                continue
            out[field.name] = _single(field, field.default_value, include_defaults)
    return out


def _single(field: FieldDescriptor, value: Any, include_defaults: bool) -> Any:
    if field.message_type is not None:
        if field.message_type.full_name == _VALUE:
            return _value_to_python(value)
        if field.message_type.full_name == _LIST:
            return [_value_to_python(item) for item in value.values]
        return message_to_dict(value, include_defaults)
    if field.type == FieldDescriptor.TYPE_ENUM:
        known = field.enum_type.values_by_number.get(value)
        return known.name if known is not None else value
    if field.type == FieldDescriptor.TYPE_FLOAT:
        return float32_shortest(value)
    return value


def _value_to_python(value: Message) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        return struct_number(value.number_value)
    if kind == "struct_value":
        return message_to_dict(value.struct_value)
    if kind == "list_value":
        return [_value_to_python(item) for item in value.list_value.values]
    if kind in ("string_value", "bool_value"):
        return getattr(value, kind)
    return None  # null_value, or a Value with nothing set
