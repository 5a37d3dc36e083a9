"""docs/easyrec-model-classes-ranking.md: its example runs and its table lists every registered ranking class."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

from recblocks.easyrec.model_classes import EASYREC_MODELS

DOC = Path(__file__).resolve().parents[2] / "docs" / "easyrec-model-classes-ranking.md"
RANKING = {"AutoInt", "DCN", "DLRM", "DeepFM", "DropoutNet", "FM", "MultiTower", "MultiTowerBST", "MultiTowerDIN", "PDN",
           "WideAndDeep"}


def test_doc_example_runs() -> None:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- easyrec-ranking-doc: translate -->\s*```pycon\n(.*?)```", text, re.S)
    assert match, "the translate example is missing"
    test = doctest.DocTestParser().get_doctest(match.group(1), {}, "translate", str(DOC), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.failures == 0 and runner.tries > 0, f"{runner.failures} of {runner.tries} examples failed"


def test_the_table_rows_are_the_registered_ranking_classes_with_their_messages() -> None:
    rows = re.findall(r"^\| `(\w+)` \(`(\w+)`\) \|", DOC.read_text(encoding="utf-8"), re.M)
    assert {name for name, _ in rows} == RANKING
    for name, message in rows:
        assert EASYREC_MODELS.get(name).message == message
