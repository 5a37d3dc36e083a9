"""The README's YAML config and Python example actually run."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from recblocks.runs import plan_rows, train_run

README = Path(__file__).resolve().parents[1] / "README.md"


def _example(kind: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"<!-- readme-example: {kind} -->\s*```\w+\n(.*?)```", text, re.S)
    assert match, f"README has no '{kind}' example"
    return match.group(1)


def test_readme_config_is_about_20_lines_and_trains(tmp_path: Path) -> None:
    text = _example("config")
    assert len(text.strip().splitlines()) <= 24
    raw = yaml.safe_load(text)
    _, rows, _ = plan_rows(raw, fit_data=False)
    assert [r["block"] for r in rows if r["scope"] == "backbone"][-1] == "deep"
    result = train_run(raw, tmp_path / "run")
    assert result.test_metrics["auc"] > 0.6


def test_readme_python_example_runs_and_saves_a_trainable_config(capsys, tmp_path: Path, monkeypatch) -> None:
    code = _example("python")
    assert len(code.strip().splitlines()) <= 16
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - the README's own example
    assert float(capsys.readouterr().out.split()[-1]) > 0.7
    saved = yaml.safe_load((tmp_path / "dlrm.yaml").read_text())
    _, rows, _ = plan_rows(saved, fit_data=False)
    assert any(r["body"] == "DotInteraction" for r in rows)
