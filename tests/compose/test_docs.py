"""Every composition block documents its shapes; every public name is exported."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import recblocks.blocks.compose as compose
from recblocks.blocks.compose import Block
from recblocks.blocks.compose import ranking

BLOCKS = sorted({obj for name in compose.__all__ if inspect.isclass(obj := getattr(compose, name))
                 and issubclass(obj, Block)} | {ranking.RankingBody}, key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", BLOCKS, ids=lambda c: c.__name__)
def test_block_docstring_has_a_shape_section(cls):
    doc = inspect.getdoc(cls) or ""
    assert doc.splitlines()[0].strip(), f"{cls.__name__} needs a summary line"
    assert re.search(r"^Shape:\s*$", doc, re.MULTILINE), f"{cls.__name__} needs a 'Shape:' section"


def test_public_names_are_exported():
    for module in (compose.base, compose.compile, compose.components, compose.containers, compose.inputs,
                   compose.wrappers, compose.config_block):
        public = {n for n, o in vars(module).items() if inspect.isclass(o) and o.__module__ == module.__name__
                  and not n.startswith("_")}
        assert public <= set(module.__all__), (module.__name__, public - set(module.__all__))
        assert set(module.__all__) <= set(compose.__all__) | {"check_block_name", "check_merge", "Value",
                                                               "describe_value"}


def test_docs_cited_by_the_code_exist():
    """Docstrings point at docs/backbone.md (our own words), never at a page that is not there."""
    root = Path(__file__).resolve().parents[2]
    cited = set()
    for path in (root / "src" / "recblocks").rglob("*.py"):
        cited |= set(re.findall(r"docs/[\w./-]+\.md", path.read_text(encoding="utf-8")))
    assert "docs/backbone.md" in cited
    missing = sorted(c for c in cited if not (root / c).is_file())
    assert not missing, missing
