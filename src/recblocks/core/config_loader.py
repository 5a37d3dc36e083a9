"""Read YAML and JSON config text safely: bounded size, bounded alias expansion, no duplicate keys.

Every config file and every ``--set`` value goes through here. On top of ``yaml.safe_load``
(no object construction, so a config can never run code) the loader refuses, with a one-line
:class:`~recblocks.core.errors.ConfigError` naming ``file:line``:

* files larger than :data:`MAX_CONFIG_BYTES` (checked before reading), directories,
  unreadable files, and bytes that are not UTF-8;
* a key given twice in one mapping (YAML and ``json`` would silently keep the last one);
  merge keys (``<<: *base``) may still be overridden;
* aliases whose expansion would add more than :data:`ALIAS_VALUE_BUDGET` values or
  :data:`ALIAS_TEXT_BUDGET` characters to the document (a "billion laughs" bomb is refused
  after counting, in time linear in the file, never expanded), and aliases of a collection
  inside itself;
* nesting deeper than :data:`MAX_NESTING` levels, syntax errors, integers too long to read.

JSON files (``.json``) are read with :mod:`json` (its number and escape rules, not YAML's)
under the same size, nesting and duplicate-key checks. YAML is scanned by libyaml when it is
installed (PyYAML's pure-Python scanner otherwise); nodes are composed and checked in Python.

Example:
    >>> load_config_text("a: &x [1, 2]\\nb: *x\\n", "run.yaml")
    {'a': [1, 2], 'b': [1, 2]}
    >>> load_config_text("a: 1\\na: 2\\n", "run.yaml")
    Traceback (most recent call last):
    ...
    recblocks.core.errors.ConfigError: run.yaml:2: duplicate key 'a' (first given on line 1); expected each key once per mapping, got 'a' twice
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from recblocks.core.errors import ConfigError, shorten

__all__ = [
    "MAX_CONFIG_BYTES",
    "ALIAS_VALUE_BUDGET",
    "ALIAS_TEXT_BUDGET",
    "MAX_NESTING",
    "load_config_path",
    "load_config_text",
    "parse_override_value",
]

#: Largest config file read (16 MiB); real configs are a few KB.
MAX_CONFIG_BYTES = 16 * 2**20
#: Values (scalars and collections) that aliases may add to a document when expanded.
ALIAS_VALUE_BUDGET = 100_000
#: Characters of scalar text that aliases may add to a document when expanded.
ALIAS_TEXT_BUDGET = 1_000_000
#: Deepest nesting of mappings and lists.
MAX_NESTING = 100

_MERGE_TAG = "tag:yaml.org,2002:merge"


def _line_of(mark: Any) -> int | None:
    line = getattr(mark, "line", None)
    return None if line is None else int(line) + 1


def _at(source: str, line: int | None) -> str:
    return f"{source}:{line}" if line is not None else source


class _Checks:
    """Composer and constructor hooks shared by both YAML loaders (see module docstring)."""

    source: str
    anchors: dict[str, Node]

    def _setup_checks(self, source: str, lines: bool) -> None:
        self.source = source
        self.lines = lines
        self._depth = 0
        self._open_anchors: set[str] = set()
        self._sizes: dict[int, tuple[int, int, int]] = {}
        self._alias_values = 0
        self._alias_text = 0

    def _where(self, line: int | None) -> str:
        return _at(self.source, line if self.lines else None)

    # -- composer -------------------------------------------------------------------------
    def compose_node(self, parent: Node | None, index: Any) -> Node:
        event = self.peek_event()  # type: ignore[attr-defined]
        if isinstance(event, yaml.AliasEvent):
            line = _line_of(event.start_mark)
            if event.anchor in self._open_anchors:
                raise ConfigError(self._where(line), f"alias '*{event.anchor}' refers to a collection that "
                                  "contains it", "aliases of finished values", "an endless value")
            node = Composer.compose_node(self, parent, index)  # type: ignore[arg-type]
            self._charge_alias(node, event.anchor, line)
            return node
        self._depth += 1
        if self._depth > MAX_NESTING:
            raise ConfigError(self._where(_line_of(event.start_mark)), "the config is nested too deeply",
                              f"at most {MAX_NESTING} levels of mappings and lists", "deeper")
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open_anchors.add(anchor)
        try:
            return Composer.compose_node(self, parent, index)  # type: ignore[arg-type]
        finally:
            self._depth -= 1
            if anchor is not None:
                self._open_anchors.discard(anchor)

    def _expanded(self, node: Node) -> tuple[int, int, int]:
        """(values, scalar characters, depth) of ``node`` with every alias expanded; memoized per node."""
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        if isinstance(node, ScalarNode):
            size = (1, len(node.value), 0)
        else:
            children = node.value if isinstance(node, SequenceNode) else [n for pair in node.value for n in pair]
            values, text, depth = 1, 0, 0
            for child in children:
                v, t, d = self._expanded(child)
                values, text, depth = values + v, text + t, max(depth, d)
            size = (values, text, depth + 1)
        self._sizes[id(node)] = size
        return size

    def _charge_alias(self, node: Node, anchor: str, line: int | None) -> None:
        values, text, depth = self._expanded(node)
        if self._depth + depth > MAX_NESTING:
            raise ConfigError(self._where(line), f"alias '*{anchor}' nests the config too deeply",
                              f"at most {MAX_NESTING} levels of mappings and lists", "deeper")
        self._alias_values += values
        self._alias_text += text
        if self._alias_values > ALIAS_VALUE_BUDGET or self._alias_text > ALIAS_TEXT_BUDGET:
            raise ConfigError(
                self._where(line), f"alias '*{anchor}' expands the config beyond the alias budget",
                f"aliases that add at most {ALIAS_VALUE_BUDGET:,} values and {ALIAS_TEXT_BUDGET:,} characters",
                f"{self._alias_values:,} values and {self._alias_text:,} characters so far")

    # -- constructor ----------------------------------------------------------------------
    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: dict[Any, int | None] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG or not isinstance(key_node, ScalarNode):
                    continue
                key = self.construct_object(key_node)  # type: ignore[attr-defined]
                line = _line_of(key_node.start_mark)
                if key in seen:
                    first = f" (first given on line {seen[key]})" if seen[key] is not None else ""
                    raise ConfigError(self._where(line), f"duplicate key {shorten(repr(key))}{first}",
                                      "each key once per mapping", f"{shorten(repr(key))} twice")
                seen[key] = line
        return SafeConstructor.construct_mapping(self, node, deep=deep)  # type: ignore[arg-type]


class _PythonLoader(_Checks, yaml.SafeLoader):
    """PyYAML's pure-Python scanner and parser with the checks."""

    def __init__(self, stream: str, source: str, lines: bool) -> None:
        yaml.SafeLoader.__init__(self, stream)
        self._setup_checks(source, lines)


_LOADER: Callable[[str, str, bool], Any] = _PythonLoader
try:
    from yaml.cyaml import CParser as _CParser
except ImportError:  # PyYAML built without libyaml
    _CParser = None
if _CParser is not None:

    class _LibyamlLoader(_Checks, Composer, _CParser, SafeConstructor, Resolver):  # type: ignore[misc]
        """libyaml's scanner and parser (fast on large scalars), Python composition with the checks."""

        def __init__(self, stream: str, source: str, lines: bool) -> None:
            _CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self._setup_checks(source, lines)

    _LOADER = _LibyamlLoader


def _yaml_error(exc: yaml.YAMLError, text: str, source: str, lines: bool) -> ConfigError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = _line_of(mark)
    if line is None and isinstance(getattr(exc, "position", None), int):  # ReaderError: a bad character
        line = text.count("\n", 0, exc.position) + 1  # type: ignore[attr-defined]
    problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    detail = f"{context}: {problem}" if context and isinstance(context, str) else str(problem)
    return ConfigError(_at(source, line if lines else None), f"invalid YAML ({detail.strip()})")


def _load_yaml(text: str, source: str, lines: bool) -> Any:
    loader = None
    try:
        loader = _LOADER(text, source, lines)  # the pure-Python reader checks the characters here
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, source, lines) from None
    except ValueError as exc:  # e.g. an integer literal longer than Python reads (4,300 digits)
        raise ConfigError(source, f"invalid YAML value ({_first_clause(exc)})") from None
    finally:
        if loader is not None:
            loader.dispose()


def _first_clause(exc: BaseException) -> str:
    return shorten(str(exc).split(";")[0].strip() or type(exc).__name__, 120)


class _DuplicateKey(Exception):
    def __init__(self, key: str, index: int) -> None:
        super().__init__(key)
        self.key, self.index = key, index


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for index, (key, value) in enumerate(pairs):
        if key in out:
            raise _DuplicateKey(key, index)
        out[key] = value
    return out


class _JsonDecoder(json.JSONDecoder):
    """``json`` with duplicate keys refused and the line of each offending key known."""

    def __init__(self, source: str) -> None:
        super().__init__(object_pairs_hook=_refuse_duplicates)
        self.source = source
        self.depth = 0
        self.parse_object = self._parse_object  # type: ignore[assignment]
        self.parse_array = self._parse_array  # type: ignore[assignment]
        self.scan_once = json.scanner.py_make_scanner(self)

    def _nest(self, s: str, start: int) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ConfigError(_at(self.source, s.count("\n", 0, start) + 1), "the config is nested too deeply",
                              f"at most {MAX_NESTING} levels of objects and arrays", "deeper")

    def _parse_object(self, s_and_end: tuple[str, int], strict: bool, scan_once: Any, *args: Any) -> Any:
        s, start = s_and_end
        self._nest(s, start)
        starts: list[int] = []

        def scan_value(string: str, idx: int) -> Any:
            starts.append(idx)
            return scan_once(string, idx)

        try:
            return json.decoder.JSONObject(s_and_end, strict, scan_value, *args)
        except _DuplicateKey as dup:
            line = s.count("\n", 0, starts[dup.index]) + 1 if dup.index < len(starts) else None
            raise ConfigError(_at(self.source, line), f"duplicate key {shorten(repr(dup.key))}",
                              "each key once per object", f"{shorten(repr(dup.key))} twice") from None
        finally:
            self.depth -= 1

    def _parse_array(self, s_and_end: tuple[str, int], scan_once: Any, *args: Any) -> Any:
        self._nest(*s_and_end)
        try:
            return json.decoder.JSONArray(s_and_end, scan_once, *args)
        finally:
            self.depth -= 1


def _load_json(text: str, source: str) -> Any:
    try:
        return _JsonDecoder(source).decode(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}:{exc.lineno}", f"invalid JSON ({exc.msg}, column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:
        raise ConfigError(source, f"invalid JSON value ({_first_clause(exc)})") from None


def load_config_text(text: str, source: str, json_format: bool = False, lines: bool = True) -> Any:
    """Parse config ``text`` (YAML, or JSON when ``json_format``); errors name ``source:line``
    (``source`` alone when ``lines`` is False, as for one-line ``--set`` values)."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(source, "the config is too large", f"at most {MAX_CONFIG_BYTES:,} characters",
                          f"{len(text):,}")
    return _load_json(text, source) if json_format else _load_yaml(text, source, lines)


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, refusing directories, missing files and files over the size limit."""
    where = str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(where, "config file not found", "an existing YAML or JSON file", "no such file") from None
    except OSError as exc:
        raise ConfigError(where, f"cannot read the config file ({exc.strerror or type(exc).__name__})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(where, "the config path is a directory", "a YAML or JSON file", "a directory")
    if info.st_size > MAX_CONFIG_BYTES:
        raise ConfigError(where, "the config file is too large", f"at most {MAX_CONFIG_BYTES:,} bytes",
                          f"{info.st_size:,} bytes")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)  # bounded even when the size was not known (a device)
    except OSError as exc:
        raise ConfigError(where, f"cannot read the config file ({exc.strerror or type(exc).__name__})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(where, "the config file is too large", f"at most {MAX_CONFIG_BYTES:,} bytes",
                          f"more than {MAX_CONFIG_BYTES:,} bytes")
    return data


def _decode(data: bytes, where: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(where, "the config file is UTF-16 text", "UTF-8 text", "a UTF-16 byte order mark")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{where}:{line}", "the config file is not UTF-8 text", "UTF-8 text",
                          f"byte 0x{data[exc.start]:02x} at offset {exc.start:,}") from None


def load_config_path(path: str | Path) -> Any:
    """Read a YAML (or ``.json``) config file with every check of the module docstring."""
    p = Path(path)
    text = _decode(_read_bytes(p), str(p))
    return load_config_text(text, str(p), json_format=p.suffix.lower() == ".json")


def parse_override_value(text: str, where: str) -> Any:
    """A ``--set key=value`` value read as YAML (``3``, ``[8, 1]``, ``{a: 1}``, ``null``), with the same checks.

    Example:
        >>> parse_override_value("[8, 1]", "--set x=[8, 1]")
        [8, 1]
    """
    return load_config_text(text, where, lines=False)
