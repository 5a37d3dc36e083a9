"""Hostile output paths: recblocks never deletes or overwrites a file it did not write.

``train --output/--overwrite`` and ``predict -o/--overwrite`` are pointed at user folders,
inputs, run files, symlinks, ``..`` tricks, folders, files in the way, too-long paths, a full
disk and a file size limit. Each case asserts the error class, the place named, exit status
2, and (SHA-256 of every file before and after) that no user file changed.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import yaml

from recblocks.runs import RunDirExistsError


def _user_folder(root: Path) -> Path:
    """A folder of user files: data, notes, a nested folder, and a file named like a run file."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "notes.md").write_text("my notes\n")
    (root / "nested").mkdir()
    (root / "nested" / "thesis.tex").write_text("\\section{precious}\n")
    pq.write_table(pa.table({"x": [1, 2, 3]}), root / "mine.parquet")
    return root


def _train(hostile: Any, output: str | Path | None, *extra: str, config: Path | None = None) -> Any:
    config = config or hostile.write_config(hostile.config(), "cfg.yaml")
    args = ["train", str(config), *extra] + (["--output", str(output)] if output is not None else [])
    return hostile.cli(args)


# -- train: --overwrite and the output folder ------------------------------------------------------
def test_overwrite_on_a_folder_of_user_files_refuses_and_changes_nothing(hostile: Any, runs: Any) -> None:
    folder = _user_folder(hostile.root / "work")
    before = runs.checksums(folder)
    line = hostile.expect_error(_train(hostile, folder, "--overwrite"), "RunDirExistsError", str(folder),
                                "has no run.json", "deletes nothing", "notes.md")
    assert "mine.parquet" in line
    assert runs.checksums(folder) == before


def test_overwrite_on_a_folder_with_a_user_config_yaml_refuses(hostile: Any, runs: Any) -> None:
    """The reported data loss: one file named like a run file used to empty the whole folder."""
    folder = _user_folder(hostile.root / "repo")
    (folder / "config.yaml").write_text("my: own config\n")
    data = hostile.data("repo/train.parquet")  # the training data lives there too
    config = hostile.write_config(hostile.config(data=data), "repo/config.yaml")
    before = runs.checksums(folder)
    hostile.expect_error(_train(hostile, folder, "--overwrite", config=config), "RunDirExistsError", "repo",
                         "has no run.json")
    assert runs.checksums(folder) == before


def test_non_empty_user_folder_without_overwrite_refuses_naming_its_files(hostile: Any, runs: Any) -> None:
    folder = _user_folder(hostile.root / "work")
    before = runs.checksums(folder)
    hostile.expect_error(_train(hostile, folder), "RunDirExistsError", "not empty", "holds no recblocks run",
                         "nested", "notes.md")
    assert runs.checksums(folder) == before


def test_output_through_a_missing_folder_and_dotdot_is_checked_as_the_real_folder(hostile: Any, runs: Any) -> None:
    folder = _user_folder(hostile.root / "x")
    before = runs.checksums(folder)
    hostile.expect_error(_train(hostile, "x/missing/.."), "RunDirExistsError", "x/missing/..", str(folder),
                         "not empty")
    assert runs.checksums(folder) == before and not (folder / "missing").exists()


def test_symlink_to_a_user_folder_is_resolved_before_overwrite(hostile: Any, runs: Any) -> None:
    folder = _user_folder(hostile.root / "precious")
    (hostile.root / "link").symlink_to(folder, target_is_directory=True)
    before = runs.checksums(folder)
    hostile.expect_error(_train(hostile, hostile.root / "link", "--overwrite"), "RunDirExistsError", "link",
                         str(folder), "has no run.json")
    assert runs.checksums(folder) == before


@pytest.mark.parametrize("name", ["...yaml", "..yaml"])
def test_default_output_of_a_dot_named_config_stays_inside_runs(hostile: Any, runs: Any, name: str) -> None:
    """``runs/<stem>`` of ``...yaml`` used to be ``runs/..``: the current folder."""
    config = hostile.write_config(hostile.config(), name)
    (hostile.root / "config.yaml").write_text("user: file\n")
    before = runs.checksums(hostile.root)
    result = hostile.cli(["train", str(config)])
    assert result.exit_code == 0, result.output
    after = runs.checksums(hostile.root)
    assert {k: v for k, v in after.items() if not k.startswith("runs/")} == before
    assert json.loads((hostile.root / "runs" / "run" / "run.json").read_text())["status"] == "complete"


def test_output_dot_with_user_files_refuses(hostile: Any, runs: Any) -> None:
    _user_folder(hostile.root)
    config = hostile.write_config(hostile.config(), "cfg.yaml")
    before = runs.checksums(hostile.root)
    hostile.expect_error(hostile.cli(["train", str(config), "--output", ".", "--overwrite"]), "RunDirExistsError",
                         str(hostile.root), "has no run.json")
    assert runs.checksums(hostile.root) == before


def test_output_home_folder_is_expanded_and_refused(hostile: Any, runs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    home = _user_folder(hostile.root / "home")
    monkeypatch.setenv("HOME", str(home))
    before = runs.checksums(home)
    hostile.expect_error(_train(hostile, "~/", "--overwrite"), "RunDirExistsError", str(home), "has no run.json")
    assert runs.checksums(home) == before and not (hostile.root / "~").exists()


def test_output_below_a_file_names_the_file_in_the_way(hostile: Any, runs: Any) -> None:
    (hostile.root / "a").write_text("a file, not a folder\n")
    config = hostile.write_config(hostile.config(), "cfg.yaml")
    before = runs.checksums(hostile.root)
    hostile.expect_error(hostile.cli(["train", str(config), "--output", "a/b/run"]), "FileAccessError", "a/b/run",
                         "a file is in the way", f"the file {hostile.root / 'a'}")
    assert runs.checksums(hostile.root) == before


def test_output_path_too_long_is_a_one_line_error(hostile: Any, runs: Any) -> None:
    config = hostile.write_config(hostile.config(), "cfg.yaml")
    before = runs.checksums(hostile.root)
    hostile.expect_error(hostile.cli(["train", str(config), "--output", "r" * 300]), "FileAccessError",
                         "path too long", "a name of 300 bytes")
    assert runs.checksums(hostile.root) == before


def test_read_only_output_folder_is_a_one_line_error(hostile: Any, runs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """mkdir answers EACCES, as in a folder without write permission (simulated: tests may run as root)."""
    config = hostile.write_config(hostile.config(), "cfg.yaml")

    def refuse(self: Path, *args: Any, **kwargs: Any) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    before = runs.checksums(hostile.root)
    hostile.expect_error(hostile.cli(["train", str(config), "--output", "locked/run"]), "FileAccessError",
                         "locked/run", "permission denied", "EACCES")
    assert runs.checksums(hostile.root) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_really_read_only_output_folder(hostile: Any, runs: Any) -> None:
    locked = hostile.root / "locked"
    locked.mkdir()
    config = hostile.write_config(hostile.config(), "cfg.yaml")
    locked.chmod(0o500)
    try:
        hostile.expect_error(hostile.cli(["train", str(config), "--output", "locked/run"]), "FileAccessError",
                             "locked/run", "permission denied")
    finally:
        locked.chmod(0o700)


def test_the_run_folder_is_created_only_after_the_config_is_valid(hostile: Any, runs: Any) -> None:
    config = hostile.write_config(hostile.config(lambda c: c["train"].update(epoch=2)), "cfg.yaml")
    before = runs.checksums(hostile.root)
    hostile.expect_error(hostile.cli(["train", str(config), "--output", "new/run"]), "ConfigError", "train.epoch")
    assert not (hostile.root / "new").exists() and runs.checksums(hostile.root) == before


# -- train: --overwrite of a real run ------------------------------------------------------------------
def test_overwrite_replaces_a_run_and_merges_nothing_from_it(hostile: Any, runs: Any) -> None:
    run = runs.copy(hostile.root / "run")
    old = json.loads((run / "metrics.json").read_text())
    assert "valid" in old and old["valid"]
    config = hostile.write_config(hostile.config(valid=False), "cfg.yaml")  # the new run has no valid set
    result = hostile.cli(["train", str(config), "--output", str(run), "--overwrite"])
    assert result.exit_code == 0, result.output
    new = json.loads((run / "metrics.json").read_text())
    assert new["valid"] == {} and new["best_epoch"] is None  # nothing of the old summary survives
    manifest = json.loads((run / "run.json").read_text())
    assert sorted(p.name for p in run.iterdir()) == sorted([*manifest["files"], "run.json"])
    assert len((run / "epochs.jsonl").read_text().splitlines()) == 1


def test_overwrite_refuses_a_run_that_also_holds_a_user_file(hostile: Any, runs: Any) -> None:
    run = runs.copy(hostile.root / "run")
    (run / "my_analysis.ipynb").write_text("{}")
    before = runs.checksums(run)
    hostile.expect_error(_train(hostile, run, "--overwrite"), "RunDirExistsError", "did not write",
                         "my_analysis.ipynb")
    assert runs.checksums(run) == before


def test_overwrite_refuses_a_run_whose_config_the_user_edited(hostile: Any, runs: Any) -> None:
    run = runs.copy(hostile.root / "run")
    text = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(text.replace("epochs: 1", "epochs: 9"))  # same size, other bytes
    before = runs.checksums(run)
    hostile.expect_error(_train(hostile, run, "--overwrite"), "RunDirExistsError", "changed since recblocks wrote",
                         "config.yaml (its SHA-256 differs")
    assert runs.checksums(run) == before


def test_overwrite_refuses_a_run_with_a_corrupt_manifest(hostile: Any, runs: Any) -> None:
    run = runs.copy(hostile.root / "run")
    (run / "run.json").write_text("{not json")
    before = runs.checksums(run)
    hostile.expect_error(_train(hostile, run, "--overwrite"), "RunDirExistsError", "run.json is unreadable",
                         "corrupt")
    assert runs.checksums(run) == before


def test_overwrite_never_follows_a_manifest_entry_out_of_the_run(hostile: Any, runs: Any) -> None:
    """A forged manifest listing ``../victim.txt``: only names found in the folder are deleted."""
    run = runs.copy(hostile.root / "run")
    victim = hostile.root / "victim.txt"
    victim.write_text("keep me\n")
    manifest = json.loads((run / "run.json").read_text())
    manifest["files"]["../victim.txt"] = {"writer": "forged", "state": "writing"}
    (run / "run.json").write_text(json.dumps(manifest))
    result = _train(hostile, run, "--overwrite")
    assert result.exit_code == 0, result.output
    assert victim.read_text() == "keep me\n"


def test_overwrite_removes_leftover_temporary_files_of_the_run_only(hostile: Any, runs: Any) -> None:
    run = runs.copy(hostile.root / "run")
    (run / ".model.safetensors.0badc0de.tmp").write_bytes(b"half a file")  # a killed write
    result = _train(hostile, run, "--overwrite")
    assert result.exit_code == 0, result.output
    assert not (run / ".model.safetensors.0badc0de.tmp").exists()
    (run / ".my_hidden_notes").write_text("mine")
    before = runs.checksums(run)
    hostile.expect_error(_train(hostile, run, "--overwrite"), "RunDirExistsError", ".my_hidden_notes")
    assert runs.checksums(run) == before


def test_python_fit_with_overwrite_refuses_a_user_folder(hostile: Any, runs: Any) -> None:
    from recblocks.runs import Model

    folder = _user_folder(hostile.root / "work")
    before = runs.checksums(folder)
    config = hostile.config()
    model = Model.from_config({k: config[k] for k in ("features", "model")})
    with pytest.raises(RunDirExistsError, match="has no run.json"):
        model.fit(config["data"]["train"], output=folder, overwrite=True, epochs=1, progress=False)
    assert runs.checksums(folder) == before


# -- predict -o ----------------------------------------------------------------------------------------
def _predict(hostile: Any, run: Path, data: Path, output: str | Path, *extra: str) -> Any:
    return hostile.cli(["predict", str(run), "--data", str(data), "--output", str(output), *extra])


@pytest.fixture()
def scored(hostile: Any, runs: Any) -> tuple[Path, Path]:
    """(a copy of the finished run, a data file to score) in the test's folder."""
    return runs.copy(hostile.root / "run"), hostile.data("score.parquet")


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_predict_onto_its_input_refuses(hostile: Any, runs: Any, scored: tuple[Path, Path], suffix: str) -> None:
    run, _ = scored
    data = hostile.data(f"input{suffix}")
    before = runs.checksums(hostile.root)
    hostile.expect_error(_predict(hostile, run, data, data), "OutputPathError", f"input{suffix}",
                         "is an input of this prediction")
    assert runs.checksums(hostile.root) == before


@pytest.mark.parametrize("name", ["model.safetensors", "preprocess.json", "config.yaml", "run.json",
                                  "scores.parquet"])
def test_predict_into_the_run_directory_refuses(hostile: Any, runs: Any, scored: tuple[Path, Path], name: str) -> None:
    run, data = scored
    before = runs.checksums(hostile.root)
    hostile.expect_error(_predict(hostile, run, data, run / name, "--overwrite"), "OutputPathError", name,
                         "inside the run directory")
    assert runs.checksums(hostile.root) == before


def test_predict_into_another_run_directory_refuses(hostile: Any, runs: Any, scored: tuple[Path, Path]) -> None:
    run, data = scored
    other = runs.copy(hostile.root / "other")
    before = runs.checksums(hostile.root)
    hostile.expect_error(_predict(hostile, run, data, other / "sub" / "scores.parquet"), "OutputPathError",
                         "inside a recblocks run directory", str(other))
    assert runs.checksums(hostile.root) == before


def test_predict_onto_a_directory_refuses(hostile: Any, runs: Any, scored: tuple[Path, Path]) -> None:
    run, data = scored
    folder = _user_folder(hostile.root / "out.parquet")  # a folder, even with a file-like name
    before = runs.checksums(hostile.root)
    hostile.expect_error(_predict(hostile, run, data, folder, "--overwrite"), "OutputPathError", "out.parquet",
                         "existing folder")
    assert runs.checksums(hostile.root) == before


def test_predict_onto_an_existing_file_needs_overwrite(hostile: Any, runs: Any, scored: tuple[Path, Path]) -> None:
    run, data = scored
    target = hostile.root / "scores.parquet"
    pq.write_table(pa.table({"ctr": [0.5]}), target)
    before = runs.checksums(hostile.root)
    hostile.expect_error(_predict(hostile, run, data, target), "OutputPathError", "scores.parquet",
                         "exists; pass --overwrite")
    assert runs.checksums(hostile.root) == before


def test_predict_overwrite_refuses_a_parquet_file_it_did_not_write(hostile: Any, runs: Any,
                                                                   scored: tuple[Path, Path]) -> None:
    run, data = scored
    target = hostile.root / "scores.parquet"
    pq.write_table(pa.table({"ctr": [0.5]}), target)
    before = runs.checksums(hostile.root)
    hostile.expect_error(_predict(hostile, run, data, target, "--overwrite"), "OutputPathError",
                         "did not write", "recblocks.predictions")
    assert runs.checksums(hostile.root) == before


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_predict_never_overwrites_a_csv_or_tsv(hostile: Any, runs: Any, scored: tuple[Path, Path],
                                               suffix: str) -> None:
    run, data = scored
    first = _predict(hostile, run, data, hostile.root / f"scores{suffix}")
    assert first.exit_code == 0, first.output  # even recblocks' own CSV cannot be told apart
    before = runs.checksums(hostile.root)
    hostile.expect_error(_predict(hostile, run, data, hostile.root / f"scores{suffix}", "--overwrite"),
                         "OutputPathError", f"scores{suffix}", "CSV/TSV")
    assert runs.checksums(hostile.root) == before


def test_predict_overwrite_replaces_its_own_parquet_output(hostile: Any, runs: Any, scored: tuple[Path, Path]) -> None:
    run, data = scored
    target = hostile.root / "scores.parquet"
    assert _predict(hostile, run, data, target).exit_code == 0
    first = pq.read_table(target)
    result = _predict(hostile, run, data, target, "--overwrite", "--passthrough", "user")
    assert result.exit_code == 0, result.output
    second = pq.read_table(target)
    assert first.column_names == ["ctr"] and second.column_names == ["user", "ctr"]
    assert b"recblocks.predictions" in second.schema.metadata
    assert sorted(p.name for p in hostile.root.iterdir() if p.name.endswith(".tmp")) == []


@pytest.mark.parametrize("name", ["scores.txt", "scores.json", "scores"])
def test_predict_refuses_an_unknown_extension(hostile: Any, runs: Any, scored: tuple[Path, Path], name: str) -> None:
    run, data = scored
    before = runs.checksums(hostile.root)
    hostile.expect_error(_predict(hostile, run, data, hostile.root / name), "OutputPathError", name,
                         "unknown output format", ".parquet", ".csv", ".tsv")
    assert runs.checksums(hostile.root) == before


def test_predict_onto_a_symlink_to_its_input_refuses(hostile: Any, runs: Any, scored: tuple[Path, Path]) -> None:
    run, data = scored
    (hostile.root / "alias.parquet").symlink_to(data)
    before = runs.checksums(hostile.root)
    hostile.expect_error(_predict(hostile, run, data, hostile.root / "alias.parquet", "--overwrite"),
                         "OutputPathError", "alias.parquet", str(data), "is an input")
    assert runs.checksums(hostile.root) == before


def test_predict_onto_its_input_through_dotdot_refuses(hostile: Any, runs: Any, scored: tuple[Path, Path]) -> None:
    run, data = scored
    before = runs.checksums(hostile.root)
    hostile.expect_error(_predict(hostile, run, data, f"missing/../{data.name}"), "OutputPathError",
                         "missing/../score.parquet", "is an input")
    assert runs.checksums(hostile.root) == before and not (hostile.root / "missing").exists()


def test_predict_into_the_input_folder_refuses(hostile: Any, runs: Any, scored: tuple[Path, Path]) -> None:
    run, _ = scored
    shards = hostile.root / "shards"
    hostile.data("shards/part-0.parquet")
    hostile.data("shards/part-1.parquet")
    before = runs.checksums(hostile.root)
    hostile.expect_error(_predict(hostile, run, shards, shards / "part-2.parquet"), "OutputPathError",
                         "lies in an input folder", str(shards))
    assert runs.checksums(hostile.root) == before


def test_predict_onto_a_path_the_input_glob_matches_refuses(hostile: Any, runs: Any,
                                                           scored: tuple[Path, Path]) -> None:
    run, _ = scored
    hostile.data("parts/part-0.parquet")
    pattern = str(hostile.root / "parts" / "part-*.parquet")
    before = runs.checksums(hostile.root)
    hostile.expect_error(_predict(hostile, run, pattern, hostile.root / "parts" / "part-9.parquet"),
                         "OutputPathError", "matches the --data glob")
    assert runs.checksums(hostile.root) == before


def test_predict_passthrough_named_like_a_score_column_refuses(hostile: Any, runs: Any,
                                                              scored: tuple[Path, Path]) -> None:
    run, _ = scored
    data = hostile.data("with_ctr.parquet", runs.small_table().append_column("ctr", pa.array([0.1] * 64)))
    before = runs.checksums(hostile.root)
    hostile.expect_error(_predict(hostile, run, data, hostile.root / "out.parquet", "--passthrough", "ctr"),
                         "ConfigError", "--passthrough ctr", "score column 'ctr'")
    assert runs.checksums(hostile.root) == before and not (hostile.root / "out.parquet").exists()


def test_predict_below_a_file_names_the_file_in_the_way(hostile: Any, runs: Any, scored: tuple[Path, Path]) -> None:
    run, data = scored
    (hostile.root / "a").write_text("a file\n")
    before = runs.checksums(hostile.root)
    hostile.expect_error(_predict(hostile, run, data, "a/scores.parquet"), "FileAccessError", "a file is in the way",
                         f"the file {hostile.root / 'a'}")
    assert runs.checksums(hostile.root) == before


def test_predict_output_path_too_long(hostile: Any, runs: Any, scored: tuple[Path, Path]) -> None:
    run, data = scored
    before = runs.checksums(hostile.root)
    hostile.expect_error(_predict(hostile, run, data, "s" * 260 + ".parquet"), "FileAccessError", "path too long")
    assert runs.checksums(hostile.root) == before


def _full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer puts half a file down, then the device is full."""
    import recblocks.runs.predictions as predictions

    def write(path: Path, schema: pa.Schema, delimiter: str | None) -> None:
        path.write_bytes(b"PAR1" + b"\0" * 100)
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(predictions, "_open_writer", write)


def test_predict_disk_full_leaves_no_truncated_result(hostile: Any, runs: Any, scored: tuple[Path, Path],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    run, data = scored
    _full_disk(monkeypatch)
    before = runs.checksums(hostile.root)
    hostile.expect_error(_predict(hostile, run, data, "new/folder/scores.parquet"), "FileAccessError",
                         "scores.parquet", "no space left on the device", "ENOSPC")
    assert runs.checksums(hostile.root) == before and not (hostile.root / "new").exists()


def test_predict_disk_full_keeps_the_earlier_output(hostile: Any, runs: Any, scored: tuple[Path, Path],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    run, data = scored
    target = hostile.root / "scores.parquet"
    assert _predict(hostile, run, data, target).exit_code == 0
    _full_disk(monkeypatch)
    before = runs.checksums(hostile.root)
    hostile.expect_error(_predict(hostile, run, data, target, "--overwrite"), "FileAccessError", "no space left")
    assert runs.checksums(hostile.root) == before


def test_predict_permission_denied_on_write(hostile: Any, runs: Any, scored: tuple[Path, Path],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import recblocks.runs.predictions as predictions

    def write(path: Path, schema: pa.Schema, delimiter: str | None) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(predictions, "_open_writer", write)
    run, data = scored
    before = runs.checksums(hostile.root)
    hostile.expect_error(_predict(hostile, run, data, "scores.csv"), "FileAccessError", "scores.csv",
                         "permission denied")
    assert runs.checksums(hostile.root) == before


def _file_size_limit() -> None:  # runs in the child before exec
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))


def test_predict_at_the_file_size_limit_in_a_real_process(hostile: Any, runs: Any, scored: tuple[Path, Path]) -> None:
    """RLIMIT_FSIZE makes every write past 40 KB fail with EFBIG, as a full disk would: the CSV
    writer fails half-way through, and no truncated CSV that looks like a result remains."""
    run, _ = scored
    data = hostile.data("big.parquet", runs.small_table(20_000))
    before = runs.checksums(hostile.root)
    result = hostile.subprocess(["predict", str(run), "--data", str(data), "-o", "scores.csv",
                                 "--passthrough", "user"], timeout=120, preexec_fn=_file_size_limit)
    hostile.expect_error(result, "FileAccessError", "scores.csv", "file too large", "EFBIG")
    assert runs.checksums(hostile.root) == before


# -- the config file is never an output ----------------------------------------------------------------
def test_train_output_onto_its_own_config_refuses(hostile: Any, runs: Any) -> None:
    config = hostile.write_config(hostile.config(), "cfg.yaml")
    before = runs.checksums(hostile.root)
    hostile.expect_error(hostile.cli(["train", str(config), "--output", str(config), "--overwrite"]),
                         "RunDirExistsError", "cfg.yaml", "is a file")
    assert runs.checksums(hostile.root) == before
    assert yaml.safe_load(config.read_text())["train"]["epochs"] == 1


def test_csv_output_reads_back(hostile: Any, scored: tuple[Path, Path]) -> None:
    run, data = scored
    result = _predict(hostile, run, data, "out/scores.tsv", "--passthrough", "item")
    assert result.exit_code == 0, result.output
    table = pacsv.read_csv(hostile.root / "out" / "scores.tsv", parse_options=pacsv.ParseOptions(delimiter="\t"))
    assert table.column_names == ["item", "ctr"] and table.num_rows == 64
