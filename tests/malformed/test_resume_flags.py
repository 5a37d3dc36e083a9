"""Hostile uses of ``train --resume``, ``--init-from`` and the checkpoint / step-evaluation settings.

Each case asserts the error class, the place named, exit status 2 and, where a folder is
involved, that nothing in it changed (a refused resume leaves the run as it was).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.malformed.conftest import checksums, small_table


def _failed_run(hostile: Any, edit: Any = None) -> tuple[Path, Path]:
    """A run marked failed (what Ctrl-C leaves), with checkpoints every 2 steps; and its config."""
    def frequent(config: dict[str, Any]) -> None:
        config["train"].update(save_checkpoints_steps=2)
        if edit is not None:
            edit(config)

    run = hostile.trained_run("run", frequent)
    manifest = json.loads((run / "run.json").read_text())
    manifest.update(status="failed", error="KeyboardInterrupt: interrupted")
    (run / "run.json").write_text(json.dumps(manifest))
    return run, hostile.root / "run.yaml"


def test_resume_of_a_folder_that_is_not_a_run(hostile: Any) -> None:
    folder = hostile.root / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    before = checksums(hostile.root)
    hostile.expect_error(hostile.cli(["train", "--resume", str(folder)]), "ResumeError", str(folder),
                         "not a recblocks run", "no run.json")
    assert checksums(hostile.root) == before


def test_resume_of_a_missing_folder(hostile: Any) -> None:
    hostile.expect_error(hostile.cli(["train", "--resume", str(hostile.root / "nowhere")]), "DataError",
                         "nowhere", "run directory not found")


def test_resume_of_a_complete_run(hostile: Any) -> None:
    run = hostile.trained_run()
    before = checksums(hostile.root)
    hostile.expect_error(hostile.cli(["train", "--resume", str(run)]), "ResumeError", str(run),
                         "the run is complete", "--init-from", "got status complete")
    assert checksums(hostile.root) == before


def test_resume_with_a_changed_config_names_the_difference_and_changes_nothing(hostile: Any) -> None:
    run, _ = _failed_run(hostile)
    changed = hostile.write_config(hostile.config(lambda c: c["train"].update(save_checkpoints_steps=2,
                                                                                batch_size=8)), "changed.yaml")
    before = checksums(hostile.root)
    hostile.expect_error(hostile.cli(["train", str(changed), "--resume", str(run)]), "ResumeError",
                         "train.batch_size", "16 (the run's config.yaml)", "got 8")
    assert checksums(hostile.root) == before  # still failed, nothing rewritten


def test_resume_with_the_same_config_is_accepted(hostile: Any) -> None:
    run, config = _failed_run(hostile)
    result = hostile.cli(["train", str(config), "--resume", str(run)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["status"] == "complete" and manifest["resumes"][0]["checkpoint"] is not None


def test_resume_with_changed_training_data(hostile: Any) -> None:
    run, _ = _failed_run(hostile)
    hostile.data("train.parquet", small_table(seed=0).slice(0, 40))  # the file the config names, now other rows
    hostile.expect_error(hostile.cli(["train", "--resume", str(run)]), "ResumeError", "data.train",
                         "the training data changed")
    assert json.loads((run / "run.json").read_text())["status"] == "failed"


@pytest.mark.parametrize("flag", [["--output", "elsewhere"], ["--overwrite"], ["--init-from", "other"]])
def test_resume_refuses_flags_of_a_new_run(hostile: Any, flag: list[str]) -> None:
    run, _ = _failed_run(hostile)
    hostile.expect_error(hostile.cli(["train", "--resume", str(run), *flag]), "ResumeError", flag[0])


def test_resume_with_a_damaged_checkpoint_names_the_file(hostile: Any) -> None:
    run, _ = _failed_run(hostile)
    manifest = json.loads((run / "run.json").read_text())
    newest = max(manifest["checkpoints"], key=lambda n: manifest["checkpoints"][n]["step"])
    (run / "checkpoints" / newest / "trainer.pt").write_bytes(b"garbage")
    hostile.expect_error(hostile.cli(["train", "--resume", str(run)]), "DataError",
                         f"{newest}/trainer.pt", "changed since it was written")


def test_init_from_a_damaged_run(hostile: Any) -> None:
    source = hostile.trained_run("source")
    (source / "model.safetensors").write_bytes(b"\0" * 10)
    config = hostile.write_config(hostile.config(), "new.yaml")
    hostile.expect_error(hostile.cli(["train", str(config), "--output", "new", "--init-from", str(source)]),
                         "DataError", "model.safetensors", "changed after the run finished")


def test_init_from_an_unfinished_run(hostile: Any) -> None:
    source, _ = _failed_run(hostile)
    config = hostile.write_config(hostile.config(), "new.yaml")
    hostile.expect_error(hostile.cli(["train", str(config), "--output", "new", "--init-from", str(source)]),
                         "UnfinishedRunError", "the run is unfinished")


@pytest.mark.parametrize("value", [0, -1])
def test_keep_checkpoint_max_below_one(hostile: Any, value: int) -> None:
    config = hostile.write_config(hostile.config(lambda c: c["train"].update(keep_checkpoint_max=value)))
    hostile.expect_error(hostile.cli(["train", str(config)]), "ConfigError", "train.keep_checkpoint_max")


def test_eval_steps_without_validation_data(hostile: Any) -> None:
    config = hostile.write_config(hostile.config(lambda c: c["train"].update(eval_steps=2), valid=False))
    hostile.expect_error(hostile.cli(["train", str(config)]), "ConfigError", "train.eval_steps",
                         "needs validation data")
    assert not (hostile.root / "runs").exists()  # refused before any run directory is made


def test_overwrite_refuses_a_foreign_file_among_checkpoints(hostile: Any) -> None:
    run, config = _failed_run(hostile)
    newest = sorted((run / "checkpoints").iterdir())[-1]
    (newest / "mine.txt").write_text("mine")
    before = checksums(hostile.root)
    hostile.expect_error(hostile.cli(["train", str(config), "--output", str(run), "--overwrite"]),
                         "RunDirExistsError", "mine.txt", "did not write")
    assert checksums(hostile.root) == before
