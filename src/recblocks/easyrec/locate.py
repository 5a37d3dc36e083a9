"""Where in the message tree a protobuf text-format error happened, for one-line error messages.

protobuf's ``text_format`` reports a line, a column and a sentence, but not the config path
(``model_config.feature_groups[1]``) nor, for a bad value, the field it was meant for. This
module finds both by walking the tokens *before* the error position (text that protobuf has
already accepted) with a stack of open messages. It never decides whether text is valid:
parsing is protobuf's alone.

Example:
    >>> from recblocks.easyrec.schema import message_descriptor
    >>> text = "model_config {\\n  feature_groups { group_name: 'a' }\\n  feature_groups { wide_deep: DEPP }\\n}"
    >>> spot = locate(text, message_descriptor("EasyRecConfig"), line=3, column=30)
    >>> spot.path, spot.field_name
    ('model_config.feature_groups[1]', 'wide_deep')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field as dataclass_field

from google.protobuf.descriptor import Descriptor, FieldDescriptor

__all__ = ["Spot", "locate", "tokens"]

_TOKEN = re.compile(
    r"(?P<skip>\s+|#[^\n]*)"
    r"|(?P<ident>[A-Za-z_][0-9A-Za-z_+-]*)"
    r"|(?P<number>(?:[0-9+-]|\.[0-9])[0-9A-Za-z_.+-]*)"
    r"|(?P<string>\"(?:[^\"\n\\]|\\.)*(?:\"|$)|'(?:[^'\n\\]|\\.)*(?:'|$))"
    r"|(?P<other>.)",
    re.MULTILINE,
)


def tokens(text: str):
    """Yield ``(kind, text, line, column)`` for each token (1-based positions; comments skipped)."""
    line, line_start = 1, 0
    for match in _TOKEN.finditer(text):
        kind, value = match.lastgroup, match.group()
        if kind != "skip":
            yield kind, value, line, match.start() - line_start + 1
        newlines = value.count("\n")
        if newlines:
            line += newlines
            line_start = match.start() + value.rindex("\n") + 1


@dataclass
class _Frame:
    descriptor: Descriptor | None
    path: str
    opened_line: int
    counts: dict[str, int] = dataclass_field(default_factory=dict)
    in_list: tuple[str, FieldDescriptor | None] | None = None  # inside ``name: [ ... ]`` of this message


@dataclass
class Spot:
    """The context of an error position.

    Attributes:
        path: dotted path of the innermost open message (``""`` at the top level).
        descriptor: that message's descriptor (None below an unknown field).
        field_name: the field whose value was being read there, if any.
        field: its descriptor, if it is a known field.
        opened_line: the line where the innermost open message's ``{`` stands (0 at the top).
    """

    path: str
    descriptor: Descriptor | None
    field_name: str | None
    field: FieldDescriptor | None
    opened_line: int

    def child(self, name: str | None) -> str:
        """``path.name`` (or the one that is not empty)."""
        if not name:
            return self.path
        return f"{self.path}.{name}" if self.path else name


def locate(text: str, root: Descriptor, line: int | None, column: int | None) -> Spot:
    """The context at ``(line, column)`` (1-based), or at the end of ``text`` when ``line`` is None."""
    stack = [_Frame(root, "", 0)]
    pending: tuple[str, FieldDescriptor | None] | None = None  # a field name waiting for its value
    for kind, value, tok_line, tok_column in tokens(text):
        if line is not None and (tok_line, tok_column) >= (line, column or 1):
            break
        top = stack[-1]
        if value in ("}", ">") and kind == "other":
            if len(stack) > 1:
                stack.pop()
            pending = None
        elif value in ("{", "<") and kind == "other":
            name, field = pending or top.in_list or ("?", None)
            stack.append(_Frame(_message_of(field), _child_path(top, name, field), tok_line))
            pending = None
        elif value == "[" and pending is not None:
            top.in_list, pending = pending, None
        elif value == "]":
            top.in_list = None
        elif value in (":", ",", ";"):
            continue
        elif kind == "ident" and pending is None and top.in_list is None:
            field = top.descriptor.fields_by_name.get(value) if top.descriptor is not None else None
            pending = (value, field)
        elif top.in_list is None:
            pending = None  # a value (enum name, number, string) ends the field
    top = stack[-1]
    name, field = pending or top.in_list or (None, None)
    return Spot(top.path, top.descriptor, name, field, top.opened_line)


def _message_of(field: FieldDescriptor | None) -> Descriptor | None:
    return field.message_type if field is not None else None


def _child_path(parent: _Frame, name: str, field: FieldDescriptor | None) -> str:
    base = f"{parent.path}.{name}" if parent.path else name
    if field is not None and not field.is_repeated:
        return base
    index = parent.counts.get(name, 0)
    parent.counts[name] = index + 1
    return f"{base}[{index}]"
