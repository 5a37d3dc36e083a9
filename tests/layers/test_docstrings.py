"""Every registered component is documented the same way, and its examples run.

Sections required in the class docstring: a one-line summary, ``Args:`` (unless the params
model has no fields; then every field must be described there), ``Shape:`` and ``Example:``
with doctest lines. pytest collects doctests under ``tests`` only, so the examples of the
library modules are run here with :mod:`doctest`.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import re

import pytest

import recblocks.layers
from recblocks.core import COMPONENTS

ENTRIES = COMPONENTS.entries()
#: modules whose doctests run here: every module defining a component, plus helpers
MODULES = sorted(
    {e.cls.__module__ for e in ENTRIES}
    | {"recblocks.layers.activations", "recblocks.layers.base", "recblocks.layers.sequence", "recblocks.testing"}
)
SECTION = re.compile(r"^    (\w[\w ]*):\s*$", re.MULTILINE)


def _sections(doc: str) -> dict[str, str]:
    """Section title -> body (the docstring is expected indented by 4 spaces, Google style)."""
    marks = list(SECTION.finditer(doc))
    return {m.group(1): doc[m.end(): marks[i + 1].start() if i + 1 < len(marks) else len(doc)]
            for i, m in enumerate(marks)}


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_component_docstring_sections(entry) -> None:
    doc = entry.cls.__doc__ or ""
    name = entry.name
    lines = doc.strip().splitlines()
    assert lines and lines[0].strip(), f"{name}: the docstring needs a summary line"
    assert lines[0].rstrip().endswith("."), f"{name}: the summary line should be a sentence ending with '.'"
    assert len(lines) < 2 or not lines[1].strip(), f"{name}: the summary must be one line followed by a blank line"
    sections = _sections(doc)
    fields = list(entry.params.model_fields)
    if fields:
        assert "Args" in sections, f"{name}: has parameters {fields} but no 'Args:' section"
        undocumented = [f for f in fields if not re.search(rf"^\s+{f}:", sections["Args"], re.MULTILINE)]
        assert not undocumented, f"{name}: parameters missing from 'Args:': {undocumented}"
    assert "Shape" in sections, f"{name}: no 'Shape:' section"
    assert re.search(r"\bB\b", sections["Shape"]), f"{name}: 'Shape:' should use the dimension letters (B, F, D...)"
    assert "Example" in sections and ">>>" in sections["Example"], f"{name}: no 'Example:' with doctest lines"


@pytest.mark.parametrize("module_name", MODULES)
def test_module_doctests_run(module_name: str) -> None:
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    tests = finder.find(module, module_name, globs=vars(module).copy())
    for test in tests:
        runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_component_example_is_collected(entry) -> None:
    module = inspect.getmodule(entry.cls)
    tests = doctest.DocTestFinder().find(entry.cls, entry.cls.__qualname__, module=module, globs=vars(module))
    assert any(t.examples for t in tests if t.name == entry.cls.__qualname__), f"{entry.name}: no runnable example"


def test_layers_package_exports() -> None:
    exported = set(recblocks.layers.__all__)
    for entry in ENTRIES:
        if entry.cls.__module__.startswith("recblocks.layers."):
            assert entry.cls.__name__ in exported, f"{entry.cls.__name__} is not in recblocks.layers.__all__"
            assert entry.params.__name__ in exported, f"{entry.params.__name__} is not in recblocks.layers.__all__"
    missing = [n for n in exported if not hasattr(recblocks.layers, n)]
    assert not missing, f"recblocks.layers.__all__ names missing attributes: {missing}"
