"""docs/easyrec-format.md: its examples run and show what they say."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "easyrec-format.md"


@pytest.mark.parametrize("name", ["parse", "errors"])
def test_doc_example_runs(name):
    match = re.search(rf"<!-- easyrec-doc: {name} -->\s*```pycon\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert match, f"docs/easyrec-format.md has no '{name}' example"
    test = doctest.DocTestParser().get_doctest(match.group(1), {}, name, str(DOC), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.failures == 0 and runner.tries > 0, f"{runner.failures} of {runner.tries} examples failed"
