"""run.json records what reproduces a run: versions, command line, working directory, git commit."""

import json
import platform
import subprocess
import sys

import torch

import recblocks
from recblocks.runs import RunDir
from recblocks.runs import provenance as provenance_module
from recblocks.runs.manifest import RunManifest


def test_a_new_run_records_versions_command_line_and_commit(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["recblocks", "train", "my config.yaml"])
    monkeypatch.chdir(tmp_path)
    with RunDir(tmp_path / "run", config={"a": 1}):
        pass
    data = json.loads((tmp_path / "run" / "run.json").read_text())
    env = data["environment"]
    assert env["recblocks"] == recblocks.__version__ and env["torch"] == torch.__version__
    assert env["python"] == platform.python_version() and env["executable"] == sys.executable
    assert data["argv"] == ["recblocks", "train", "my config.yaml"] and data["cwd"] == str(tmp_path)
    expected = subprocess.run(["git", "-C", str(provenance_module.__file__).rsplit("/", 1)[0], "rev-parse", "HEAD"],
                              capture_output=True, text=True, check=False)
    if expected.returncode == 0:  # recblocks runs from a git checkout here
        assert data["git"]["commit"] == expected.stdout.strip() and isinstance(data["git"]["dirty"], bool)
    else:
        assert data["git"] is None


def test_without_git_the_commit_is_unknown_not_an_error(tmp_path, monkeypatch):
    provenance_module.source_commit.cache_clear()
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable to find
    try:
        assert provenance_module.source_commit() is None
        with RunDir(tmp_path / "run", config={"a": 1}):
            pass
    finally:
        provenance_module.source_commit.cache_clear()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["git"] is None


def test_manifests_written_before_these_fields_still_read():
    old = RunManifest.model_validate({"format": "recblocks-run", "format_version": 1, "status": "complete"})
    assert old.environment is None and old.argv is None and old.git is None  # never today's versions
