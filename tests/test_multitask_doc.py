"""docs/multitask.md: every example on the page runs, and the errors it quotes are the real ones."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from recblocks.core.errors import ConfigError
from recblocks.models.towers import TaskTowerConfig
from recblocks.runs import train_run

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "multitask.md"


def _example(name: str) -> str:
    match = re.search(rf"<!-- multitask-doc: {name} -->\s*```\w+\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert match, f"docs/multitask.md has no '{name}' example"
    return match.group(1)


def _config() -> dict[str, Any]:
    return yaml.safe_load(_example("config"))


def test_the_config_trains_with_per_tower_metrics_and_stops_on_a_tower_metric(tmp_path: Path) -> None:
    result = train_run(_config(), tmp_path / "run")
    keys = set(result.valid_metrics)
    assert {"ctr/auc", "ctr/logloss", "ctr/loss", "cvr/auc", "cvr/logloss", "cvr/loss", "loss"} <= keys
    assert result.valid_metrics["loss"] == pytest.approx(result.valid_metrics["ctr/loss"]
                                                         + 2.0 * result.valid_metrics["cvr/loss"])
    assert result.valid_metrics["ctr/auc"] > 0.6  # chance is 0.5
    assert list(result.model.towers) == ["ctr", "cvr"] and result.model.towers["cvr"].relation_dnn.input_dim == 16 + 8
    import json

    epochs = [json.loads(line) for line in (result.run_dir / "epochs.jsonl").read_text().splitlines() if line]
    best = max(range(len(epochs)), key=lambda i: (epochs[i]["valid"]["cvr/auc"], -i))
    assert result.best_epoch == best + 1  # picked by cvr/auc, as the config says


def test_the_quoted_errors_are_the_real_ones(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    unknown = _config()
    unknown["model"]["model_params"]["task_towers"][1]["relation_tower_names"] = ["ctrr"]
    with pytest.raises(ConfigError) as info:
        train_run(unknown, tmp_path / "a")
    assert str(info.value) in text.replace("\n  ", " ")

    cycle = _config()
    cycle["model"]["model_params"]["task_towers"][0]["relation_tower_names"] = ["cvr"]
    with pytest.raises(ConfigError) as info:
        train_run(cycle, tmp_path / "b")
    quoted = re.search(r"\(`(the relation towers form a\s+cycle .*?)`\)", text, re.S).group(1)
    assert " ".join(quoted.split()) in str(info.value)

    misspelt = copy.deepcopy(_config())
    misspelt["train"]["early_stopping"]["metric"] = "ctx/auc"
    with pytest.raises(ConfigError) as info:
        train_run(misspelt, tmp_path / "c")
    message = str(info.value)
    assert message.startswith("train.early_stopping.metric: the metric is not reported; ")
    assert message.endswith("got 'ctx/auc'; did you mean 'ctr/auc'?")

    rank = _config()
    rank["model"]["model_class"] = "RankModel"
    with pytest.raises(ConfigError) as info:
        train_run(rank, tmp_path / "d")
    assert str(info.value) == _example("rankmodel-error").strip()


def test_the_losses_example_is_a_valid_tower() -> None:
    tower = TaskTowerConfig.model_validate(yaml.safe_load(_example("losses")))
    tower.check("tower")
    assert [loss.loss_type for loss in tower.losses] == ["classification", "pairwise_logistic_loss"]
    assert tower.weight_column == "I1"


def test_the_esmm_example_trains(tmp_path: Path) -> None:
    raw = _config()
    raw["model"] = yaml.safe_load(_example("esmm"))
    raw["train"] = {"epochs": 1, "batch_size": 256, "progress": False, "optimizer": {"lr": 0.01}}
    result = train_run(raw, tmp_path / "run")
    assert {"ctr/auc", "cvr/auc", "ctcvr/auc"} <= set(result.valid_metrics)


def test_the_python_example_runs_and_saves_a_trainable_config(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(_example("python"), "docs/multitask.md", "exec"), {})  # noqa: S102 - the page's own example
    out = capsys.readouterr().out
    assert out.startswith("['ctr', 'cvr'] ") and float(out.split()[-1]) > 0.6
    saved = yaml.safe_load((tmp_path / "mtl.yaml").read_text(encoding="utf-8"))
    assert saved["model"]["model_class"] == "MultiTaskModel"
    assert [t["tower_name"] for t in saved["model"]["model_params"]["task_towers"]] == ["ctr", "cvr"]


def test_the_readme_links_the_page() -> None:
    assert "(docs/multitask.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
