"""docs/retrieval.md: its config, Python, next-item, training and command-line examples run as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pyarrow.parquet as pq
import yaml
from click.testing import CliRunner

from recblocks.cli.main import cli
from recblocks.runs import Model

DOC = Path(__file__).resolve().parents[1] / "docs" / "retrieval.md"


def _example(kind: str) -> str:
    match = re.search(rf"<!-- retrieval-example: {kind} -->\s*```\w+\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert match, f"docs/retrieval.md has no '{kind}' example"
    return match.group(1)


def test_the_config_example_round_trips_and_the_field_table_lists_every_param() -> None:
    raw = yaml.safe_load(_example("config"))
    model = Model.from_config(raw)
    assert model.to_config()["model"] == raw["model"]
    assert type(model.build()).__name__ == "MatchModel"
    table = DOC.read_text(encoding="utf-8")
    for field in type(model.config.model_params).model_fields:
        assert f"`{field}`" in table, field


def test_python_examples_run_then_the_cli_reads_their_run(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(_example("python"), "docs/retrieval.md", "exec"), scope)  # noqa: S102 - the doc's own example
    exec(compile(_example("next-item"), "docs/retrieval.md", "exec"), {})  # noqa: S102
    exec(compile(_example("train"), "docs/retrieval.md", "exec"), scope)  # noqa: S102 - uses the python example's model
    metrics = eval(capsys.readouterr().out.strip().splitlines()[-1])  # noqa: S307 - the printed metrics dict
    assert metrics["recall@10"] > 0.5, metrics  # 10 liked items of 50: chance is about 0.2
    for line in _example("cli").strip().splitlines():
        args = shlex.split(line)
        assert args[0] == "recblocks"
        result = CliRunner().invoke(cli, args[1:])
        assert result.exit_code == 0, (line, result.output)
    candidates = pq.read_table(tmp_path / "candidates.parquet")
    assert candidates.column_names == ["user_id", "candidates", "scores"] and candidates.num_rows == 60
    assert pq.read_table(tmp_path / "items.parquet").column_names == ["item_id", "embedding"]
