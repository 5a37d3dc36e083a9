"""Every name the config looks up in a registry fails the same way from the command line: exit
code 2, ``<config path>: unknown <kind>; expected one of [...], got '<name>'; did you mean '<nearest>'?``,
and no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from recblocks.cli.main import cli

CONFIG = {
    "features": [{"name": "user", "kind": "sparse", "embedding_dim": 4}],
    "model": {
        "feature_groups": [{"group_name": "all", "feature_names": ["user"]}],
        "backbone": {"blocks": [{"name": "deep", "inputs": [{"feature_group_name": "all"}],
                                 "component": {"class_name": "MLP", "params": {"hidden_units": [4]}}}]},
        "task": {"type": "binary", "label": "label"},
    },
    "train": {"optimizer": {"name": "adam"}, "lr_schedule": {"type": "constant"}},
}

CASES = [
    ("model.backbone.blocks[0].component.class_name=MPL", "model.backbone.blocks[0].component.class_name",
     "unknown component", "MLP"),
    ("model.task.type=regresion", "model.tasks[0].type", "unknown task type", "regression"),
    ("model.model_class=RankModl", "model.model_class", "unknown model class", "RankModel"),
    ("model.task.metrics=[acu]", "model.tasks[0].metrics[0]", "unknown metric", "auc"),
    ("train.optimizer.name=adagard", "train.optimizer.name", "unknown optimizer", "adagrad"),
    ("train.lr_schedule.type=constnt", "train.lr_schedule.type", "unknown learning-rate schedule", "constant"),
]


@pytest.mark.parametrize(("override", "where", "problem", "suggestion"), CASES, ids=[c[2] for c in CASES])
def test_unknown_registry_names_from_the_cli(tmp_path: Path, override: str, where: str, problem: str,
                                             suggestion: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    result = CliRunner().invoke(cli, ["validate", str(path), "--no-data", "--set", override])
    assert result.exit_code == 2, result.output
    assert f"{where}: {problem}; expected one of [" in result.output
    assert f"did you mean '{suggestion}'?" in result.output
    assert "Traceback" not in result.output


def test_the_base_config_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    result = CliRunner().invoke(cli, ["validate", str(path), "--no-data"])
    assert result.exit_code == 0, result.output
