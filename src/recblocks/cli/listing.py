"""What ``recblocks components`` prints: registry listings, one entry in full, the Markdown reference.

``docs/components.md`` is the output of :func:`components_markdown` (``recblocks components
--markdown``); a test regenerates it and compares, so the reference always says what the
registry holds. Each component's text comes from its registration (name, aliases, input kind,
Python block, params with types, defaults and ranges) and from its class docstring (formula,
paper, ``Shape:``, example), split into sections by :func:`docstring_sections`.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

__all__ = ["REGISTRY_KINDS", "registry", "fact_lines", "docstring_sections", "entry_details",
           "components_markdown"]

#: The registries ``recblocks components --kind`` lists.
REGISTRY_KINDS = ("component", "block_kind", "task", "metric", "optimizer", "schedule", "model_class", "loss")

_SECTION = re.compile(r"^(Args|Arguments|Parameters|Shape|Shapes|Example|Examples|Returns|Raises|Note|Notes"
                      r"|References?|Attributes):\s*$")


def registry(kind: str) -> Any:
    """The registry listed by ``recblocks components --kind``; importing its package fills it."""
    if kind == "component":
        import recblocks.layers  # noqa: F401  (registration)
        from recblocks.core.registry import COMPONENTS

        return COMPONENTS
    if kind == "block_kind":
        from recblocks.blocks.backbone import BLOCK_KINDS

        return BLOCK_KINDS
    if kind == "task":
        from recblocks.tasks import TASKS

        return TASKS
    if kind == "loss":
        from recblocks.tasks import LOSSES

        return LOSSES
    if kind == "metric":
        from recblocks.metrics import METRICS

        return METRICS
    if kind in ("optimizer", "schedule"):
        from recblocks.training import OPTIMIZERS, SCHEDULES

        return OPTIMIZERS if kind == "optimizer" else SCHEDULES
    from recblocks.models import MODEL_CLASSES

    return MODEL_CLASSES


def _param_line(param: dict[str, Any]) -> str:
    notes = "; ".join(n for n in (param.get("range"), param.get("description")) if n)
    return f"      {param['name']}: {param['type']} = {param['default']}" + (f"  ({notes})" if notes else "")


def fact_lines(kind: str, row: dict[str, Any]) -> list[str]:
    """The facts of one entry, a few short lines (components: input kind, Python block, params)."""
    lines = []
    if row["aliases"]:
        lines.append(f"    aliases: {', '.join(row['aliases'])}")
    if kind == "component":
        from recblocks.core.registry import INPUT_KINDS

        lines.append(f"    input: {row['input_kind']} ({INPUT_KINDS[row['input_kind']].description})")
        context = "; uses the per-forward context" if row["uses_context"] else ""
        lines.append(f"    python: {_python_block(row)}{context}")
    for key, value in row.items():
        if key in ("name", "aliases", "summary", "params", "input_kind", "positional", "uses_context", "examples"):
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        lines.append(f"    {key.replace('_', ' ')}: {shown if shown != '' else '-'}")
    if row.get("params"):
        lines.append("    params:")
        lines.extend(_param_line(p) for p in row["params"])
    return lines


def _python_block(row: dict[str, Any]) -> str:
    return f"{row['name']}Block({', '.join([*row['positional'], '...'])})"


def docstring_sections(doc: str | None) -> dict[str, str]:
    """A Google-style docstring split into ``{"": description, "Shape": ..., "Example": ...}``.

    Section bodies are dedented; the description is everything before the first section header.

    Example:
        >>> docstring_sections("Sum.\\n\\n    Adds.\\n\\n    Shape:\\n        - Input: (B, D).\\n")
        {'': 'Sum.\\n\\nAdds.', 'Shape': '- Input: (B, D).'}
    """
    sections: dict[str, list[str]] = {"": []}
    current = ""
    for line in inspect.cleandoc(doc or "").splitlines():
        match = _SECTION.match(line.strip()) if not line.startswith(" ") else None
        if match:
            current = match.group(1)
            sections[current] = []
            continue
        sections[current].append(line)
    return {name: inspect.cleandoc("\n".join(lines)) for name, lines in sections.items()
            if "\n".join(lines).strip() or name == ""}


def _arg_descriptions(text: str) -> dict[str, str]:
    """``name: text`` entries of an ``Args:`` section (continuation lines joined)."""
    found: dict[str, str] = {}
    name = None
    for line in text.splitlines():
        match = re.match(r"^(\w+)(?:\s*\([^)]*\))?:\s*(.*)$", line)
        if match and not line.startswith(" "):
            name = match.group(1)
            found[name] = match.group(2).strip()
        elif name and line.strip():
            found[name] = f"{found[name]} {line.strip()}".strip()
    return found


def _entry(name: str) -> Any:
    """The component registered as ``name`` or an alias; ConfigError with a suggestion otherwise."""
    components = registry("component")
    folded = [n for n in components.names() if n.lower() == name.lower()]
    return components.get(folded[0] if len(folded) == 1 and name not in components else name, "components --details")


def _params_with_docs(entry: Any, sections: dict[str, str]) -> list[dict[str, Any]]:
    """The registry's params rows, with descriptions from the docstring's ``Args:`` where the field has none."""
    args = _arg_descriptions(sections.get("Args", ""))
    return [{**row, "description": row["description"] or args.get(row["name"], "")}
            for row in entry.describe()["params"]]


def entry_details(name: str) -> str:
    """Everything about one component as plain text (``recblocks components --details NAME``)."""
    entry = _entry(name)
    row = entry.describe()
    sections = docstring_sections(entry.cls.__doc__)
    lines = [f"{row['name']} - {row['summary']}" if row["summary"] else row["name"]]
    lines.extend(line for line in fact_lines("component", {**row, "params": []}))
    lines.append(f"    module: {entry.cls.__module__}")
    description = sections[""].split("\n", 1)[1].strip() if "\n" in sections[""] else ""
    if description:
        lines += ["", description]
    params = _params_with_docs(entry, sections)
    if params:
        lines += ["", "Params:"] + ["  " + _param_line(p).strip() for p in params]
    for title in ("Shape", "Shapes", "Example", "Examples", "Note", "Notes", "References", "Reference"):
        if title in sections:
            lines += ["", f"{title}:"] + ["  " + line if line else "" for line in sections[title].splitlines()]
    return "\n".join(lines)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _markdown_entry(entry: Any) -> list[str]:
    from recblocks.core.registry import INPUT_KINDS

    row = entry.describe()
    sections = docstring_sections(entry.cls.__doc__)
    lines = [f"### {row['name']}", "", row["summary"] or "(no summary)", ""]
    if row["aliases"]:
        lines.append(f"- Aliases: {', '.join(f'`{a}`' for a in row['aliases'])}")
    lines.append(f"- Input: `{row['input_kind']}` ({INPUT_KINDS[row['input_kind']].description})")
    context = " (uses the per-forward context)" if row["uses_context"] else ""
    lines.append(f"- Python: `{_python_block(row)}`{context}")
    lines.append(f"- Module: `{entry.cls.__module__}`")
    description = sections[""].split("\n", 1)[1].strip() if "\n" in sections[""] else ""
    if description:
        lines += ["", description]
    params = _params_with_docs(entry, sections)
    if params:
        lines += ["", "| param | type | default | range | description |", "|---|---|---|---|---|"]
        lines += [f"| `{p['name']}` | `{_cell(p['type'])}` | `{_cell(p['default'])}` | {_cell(p['range'])} | "
                  f"{_cell(p['description'])} |" for p in params]
    for title in ("Shape", "Shapes"):
        if title in sections:
            lines += ["", "Shape:", "", *sections[title].splitlines()]
    for title in ("Example", "Examples"):
        if title in sections:
            lines += ["", "Example:", "", "```python", *sections[title].splitlines(), "```"]
    return [*lines, ""]


def components_markdown() -> str:
    """The component reference, ``docs/components.md``: every registered component in name order."""
    comp = registry("component")
    entries = sorted(comp.entries(), key=lambda e: e.name.lower())
    lines = ["# Component reference", "",
             "Generated from the component registry by `recblocks components --markdown > docs/components.md`;",
             "do not edit by hand (`tests/cli/test_components_reference.py` fails when it is stale).",
             "`recblocks components --details NAME` prints one entry on the terminal.", "",
             "Names are EasyRec's and the catalogue's (aliases list the other spellings). Keras class",
             "names that EasyRec configs use (`Dense`, `Dropout`, `BatchNormalization`, `Reshape`, ...) are",
             "components with Keras argument names; any other Keras class name (`GRU`, `Conv2D`, `Lambda`)",
             "is not imported or guessed: a config naming it gets a one-line `ConfigError` at the block's",
             "config path listing the registered names. Monolith's NAS layers are not included: their",
             "semantics are not public.", "",
             f"{len(entries)} components:", "",
             ", ".join(f"[{e.name}](#{e.name.lower()})" for e in entries), ""]
    for entry in entries:
        lines.extend(_markdown_entry(entry))
    return "\n".join(lines).rstrip() + "\n"
