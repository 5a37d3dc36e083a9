"""Read run configs from YAML and apply ``--set a.b=v`` overrides.

YAML is parsed with ``yaml.safe_load`` (no object construction: a config can never run code).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from recblocks.core.errors import ConfigError

__all__ = ["load_config_file", "apply_overrides"]


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Load a YAML (or JSON) run config; errors name the file and the line."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(str(p), "config file not found", "an existing YAML file", str(p))
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
        raise ConfigError(where, f"invalid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise ConfigError(str(p), "a config must be a mapping at the top level", "a mapping", type(data).__name__)
    return data


def _parse_path(key: str) -> list[str | int]:
    parts: list[str | int] = []
    for token in key.split("."):
        while "[" in token:
            head, rest = token.split("[", 1)
            if head:
                parts.append(head)
            index, token = rest.split("]", 1)
            parts.append(int(index))
        if token:
            parts.append(token)
    return parts


def apply_overrides(config: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``config`` with ``a.b[0].c=value`` overrides applied (values parsed as YAML)."""
    result = copy.deepcopy(config)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item}", "an override must look like key.path=value", "key=value", item)
        key, raw = item.split("=", 1)
        try:
            path = _parse_path(key.strip())
            value = yaml.safe_load(raw)
        except (ValueError, yaml.YAMLError):
            raise ConfigError(f"--set {item}", "cannot parse the override", "key.path=value", item) from None
        node: Any = result
        for depth, part in enumerate(path[:-1]):
            nxt = path[depth + 1]
            if isinstance(part, int):
                if not isinstance(node, list) or part >= len(node):
                    raise ConfigError(f"--set {item}", "list index out of range", f"< {len(node)}", part)
                node = node[part]
            else:
                if part not in node or node[part] is None:
                    node[part] = [] if isinstance(nxt, int) else {}
                node = node[part]
        last = path[-1]
        if isinstance(last, int):
            if not isinstance(node, list) or last >= len(node):
                raise ConfigError(f"--set {item}", "list index out of range", "an existing index", last)
        node[last] = value
    return result
