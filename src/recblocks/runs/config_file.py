"""Read run configs from YAML/JSON and apply ``--set a.b[0].c=value`` overrides.

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

__all__ = ["load_config_file", "apply_overrides", "parse_override_path"]

_TOKEN = re.compile(r"([^.\[\]]+)|\[([^\[\]]*)\]|(\.)")


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Load a YAML (or ``.json``) run config; errors name the file and the line."""
    data = load_config_path(path)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else type(data).__name__
        raise ConfigError(str(path), "a config must be a mapping at the top level", "a mapping", got)
    return data


def parse_override_path(key: str, where: str) -> list[str | int]:
    """``a.b[0].c`` -> ``['a', 'b', 0, 'c']``; ConfigError naming ``where`` for anything else.

    Example:
        >>> parse_override_path("model.backbone.blocks[2].name", "--set")
        ['model', 'backbone', 'blocks', 2, 'name']
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


def _step(node: Any, part: str | int, path: str, where: str, create: Any) -> Any:
    """``node[part]``; a missing mapping entry is created as ``create()`` when given."""
    if isinstance(part, int):
        if not isinstance(node, list):
            raise ConfigError(where, f"'{path}' is {_describe(node)}, not a list; cannot index it with [{part}]",
                              "a list", _describe(node).split(" (")[0])
        if part >= len(node):
            raise ConfigError(where, f"list index out of range for '{path}'",
                              f"an index below {len(node)}" if node else "an existing index (the list is empty)", part)
        return node[part]
    if not isinstance(node, dict):
        raise ConfigError(where, f"'{path}' is {_describe(node)}, not a mapping; cannot set '{part}' inside it",
                          "a mapping", _describe(node).split(" (")[0])
    if create is not None and node.get(part) is None:
        node[part] = create()
    return node.get(part)


def apply_overrides(config: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``config`` with ``a.b[0].c=value`` overrides applied (values read as YAML).

    Missing mapping entries along the path are created; list indexes must exist.
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
        walked = ""
        for depth, part in enumerate(path[:-1]):
            nxt = path[depth + 1]
            node = _step(node, part, walked or "the config", where, list if isinstance(nxt, int) else dict)
            walked += f"[{part}]" if isinstance(part, int) else (f".{part}" if walked else part)
        last = path[-1]
        parent = walked or "the config"
        if isinstance(last, int):
            _step(node, last, parent, where, None)
        elif not isinstance(node, dict):
            _step(node, last, parent, where, None)
        node[last] = value
    return result
