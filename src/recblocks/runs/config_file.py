"""Read run configs from YAML/JSON and apply ``--set a.b[0].c=value`` overrides.

An EasyRec pipeline config (``.config``) is translated first
(:mod:`recblocks.easyrec.translate`). Relative data paths of a file resolve against its folder
(:mod:`recblocks.runs.config_paths`). A list element is named ``[0]`` or ``.0``.

Files are read with :func:`recblocks.core.config_loader.load_config_path` (no object
construction, bounded size and alias expansion, duplicate keys refused); override values are
YAML read with the same checks. Every problem is a one-line ConfigError naming the file (and
line) or the override.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from recblocks.core.config_loader import load_config_path, parse_override_value
from recblocks.core.errors import ConfigError, shorten
from recblocks.easyrec.load import is_easyrec_file, load_easyrec_file
from recblocks.runs.config_paths import resolve_data_paths

__all__ = ["load_config_file", "apply_overrides", "parse_override_path"]

_TOKEN = re.compile(r"([^.\[\]]+)|\[([^\[\]]*)\]|(\.)")


def load_config_file(path: str | Path, resolve_data: bool = True) -> dict[str, Any]:
    """Load a YAML (or ``.json``) run config, or an EasyRec pipeline config (``.config``,
    ``.prototxt``, or recognised by its content) translated into one; errors name the file and the line.

    With ``resolve_data`` the relative data paths (``data.train``/``valid``/``test``) are made
    absolute against the file's folder (:func:`~recblocks.runs.config_paths.resolve_data_paths`).
    """
    data = load_easyrec_file(path) if is_easyrec_file(path) else load_config_path(path)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else type(data).__name__
        raise ConfigError(str(path), "a config must be a mapping at the top level", "a mapping", got)
    return resolve_data_paths(data, path) if resolve_data else data


def parse_override_path(key: str, where: str) -> list[str | int]:
    """``a.b[0].c`` -> ``['a', 'b', 0, 'c']``; ConfigError naming ``where`` for anything else.

    A dotted number (``a.b.0.c``) stays a name here: :func:`apply_overrides` reads it as an
    index where the config holds a list there, as a key where it holds a mapping.

    Example:
        >>> parse_override_path("model.backbone.blocks[2].name", "--set")
        ['model', 'backbone', 'blocks', 2, 'name']
        >>> parse_override_path("model.backbone.blocks.2.name", "--set")
        ['model', 'backbone', 'blocks', '2', 'name']
    """
    if not key:
        raise ConfigError(where, "the override has no key", "key.path=value", "an empty key")
    parts: list[str | int] = []
    pos, expect_name = 0, True  # a name must start the path and follow every '.'
    while pos < len(key):
        match = _TOKEN.match(key, pos)
        if match is None:
            problem = "unterminated '['" if key[pos] == "[" and "]" not in key[pos:] else f"unexpected '{key[pos]}'"
            raise ConfigError(where, f"{problem} in the key at character {pos + 1}", "a path like a.b[0].c", key)
        name, index, dot = match.groups()
        if dot is not None:
            if expect_name:
                raise ConfigError(where, f"empty name in the key at character {pos + 1}", "a path like a.b[0].c", key)
            expect_name = True
        elif name is not None:
            if not expect_name:
                raise ConfigError(where, f"a name must follow '.' at character {pos + 1}", "a path like a.b[0].c", key)
            parts.append(name.strip())
            expect_name = False
        else:
            if expect_name:
                raise ConfigError(where, f"an index needs a name or index before it at character {pos + 1}",
                                  "a path like a.b[0].c", key)
            text = index.strip()
            if not text.isdigit():
                problem = "negative indexes are not supported" if text.startswith("-") else "a list index must be an integer"
                raise ConfigError(where, problem, "an index like [0]", f"[{index}]")
            parts.append(int(text))
        pos = match.end()
    if expect_name:
        raise ConfigError(where, "the key ends with '.'", "a path like a.b[0].c", key)
    if any(part == "" for part in parts):
        raise ConfigError(where, "empty name in the key", "a path like a.b[0].c", key)
    return parts


_KINDS = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a mapping"}


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    kind = _KINDS.get(type(value), f"a {type(value).__name__}")
    return kind if isinstance(value, (list, dict)) else f"{kind} ({shorten(repr(value), 40)})"


def _list_index(node: list[Any], part: str | int, path: str, where: str) -> int:
    """The existing index of ``node`` that ``part`` (``[3]`` or ``.3``) names."""
    if isinstance(part, str):
        if part.startswith("-") and part[1:].isdigit():
            raise ConfigError(where, "negative indexes are not supported", "an index like [0] or .0", part)
        if not part.isdigit():
            raise ConfigError(where, f"'{path}' is a list, not a mapping; cannot set '{part}' inside it",
                              f"an index like {path}[0] or {path}.0", repr(part))
        part = int(part)
    if part >= len(node):
        raise ConfigError(where, f"list index out of range for '{path}'",
                          f"an index below {len(node)}" if node else "an existing index (the list is empty)", part)
    return part


def _key(node: dict[Any, Any], part: str | int) -> Any:
    """The mapping key ``part`` names: ``.3`` also finds a key read by YAML as the integer 3."""
    if isinstance(part, str) and part.isdigit() and part not in node and int(part) in node:
        return int(part)
    return part


def _step(node: Any, part: str | int, path: str, where: str, create: Any, in_list: bool) -> tuple[Any, Any]:
    """``(container key, node[part])``; a missing mapping entry is created as ``create()`` when
    given, except inside a list element (there a typo would add a field: it is refused)."""
    if isinstance(node, list):
        index = _list_index(node, part, path, where)
        return index, node[index]
    if isinstance(part, int):
        raise ConfigError(where, f"'{path}' is {_describe(node)}, not a list; cannot index it with [{part}]",
                          "a list", _describe(node).split(" (")[0])
    if not isinstance(node, dict):
        raise ConfigError(where, f"'{path}' is {_describe(node)}, not a mapping; cannot set '{part}' inside it",
                          "a mapping", _describe(node).split(" (")[0])
    key = _key(node, part)
    if create is not None and key not in node and in_list:
        keys = sorted(str(k) for k in node)
        raise ConfigError(where, f"'{path}' has no key '{part}' (inside a list element only existing keys are "
                          "walked into, so a typo cannot add a field)", f"one of {keys}", repr(part), choices=keys)
    if create is not None and node.get(key) is None:
        node[key] = create()
    return key, node.get(key)


def _walked(path: str, part: str | int, container: Any) -> str:
    if isinstance(container, list):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else str(part)


def apply_overrides(config: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``config`` with ``a.b[0].c=value`` overrides applied (values read as YAML).

    A list element is named ``[3]`` or ``.3`` (``model.backbone.blocks[3].name`` and
    ``model.backbone.blocks.3.name`` are the same). Missing mapping entries along the path are
    created, except inside a list element; list indexes must exist.
    """
    result = copy.deepcopy(config)
    for item in overrides:
        where = f"--set {item}"
        if "=" not in item:
            raise ConfigError(where, "an override must look like key.path=value", "key=value", item)
        key, raw = item.split("=", 1)
        path = parse_override_path(key.strip(), where)
        value = parse_override_value(raw, where)
        node: Any = result
        walked, in_list = "", False
        for depth, part in enumerate(path[:-1]):
            nxt = path[depth + 1]
            container = node
            _, node = _step(node, part, walked or "the config", where, list if isinstance(nxt, int) else dict,
                            in_list)
            in_list = in_list or isinstance(container, list)
            walked = _walked(walked, part, container)
        last = path[-1]
        parent = walked or "the config"
        if isinstance(node, list):
            node[_list_index(node, last, parent, where)] = value
        else:
            _step(node, last, parent, where, None, in_list)
            node[_key(node, last)] = value
    return result
