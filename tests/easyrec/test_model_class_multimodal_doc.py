"""docs/easyrec-model-classes-multimodal.md: its example runs."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "easyrec-model-classes-multimodal.md"


def test_doc_example_runs() -> None:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- easyrec-multimodal-doc: translate -->\s*```pycon\n(.*?)```", text, re.S)
    assert match, "the translate example is missing"
    test = doctest.DocTestParser().get_doctest(match.group(1), {}, "translate", str(DOC), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.failures == 0 and runner.tries > 0, f"{runner.failures} of {runner.tries} examples failed"
