"""docs/benchmarks.md, section "Retrieval": every benchmark command it shows parses, and its overrides give a valid model."""

from __future__ import annotations

import importlib.util
import shlex
from pathlib import Path

import pytest

from recblocks.models import MatchModel
from recblocks.runs import plan_rows

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"


def _benchmark():
    spec = importlib.util.spec_from_file_location("ml100k_retrieval", ROOT / "benchmarks" / "ml100k_retrieval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _commands() -> list[str]:
    text = DOC.read_text(encoding="utf-8").replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if "benchmarks/ml100k_retrieval.py" in line
            and line.strip().startswith(("nice ", "python "))]


def test_the_doc_shows_the_commands() -> None:
    commands = _commands()
    assert any("--select" in c for c in commands) and any("--select" not in c for c in commands)


@pytest.mark.parametrize("command", _commands())
def test_every_command_parses_into_a_match_model(command: str) -> None:
    module = _benchmark()
    argv = shlex.split(command)
    args = module.build_parser().parse_args(argv[argv.index("benchmarks/ml100k_retrieval.py") + 1:])
    model, rows, _ = plan_rows(module.run_config(args.overrides), fit_data=False)
    assert isinstance(model, MatchModel) and rows[-1]["block"] == "similarity"
