"""Pictures (``validate --plot``, ``Model.plot``) and prepared datasets (``datasets prepare``)
never replace a file recblocks did not write; their own earlier files only with --overwrite.

Each case makes real files, runs the CLI, and checks the exit status, the one-line error naming
the path, and that every file in the folder kept its bytes.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from recblocks.viz.diagram import is_own_picture

FLAGS = "|".join(["0"] * 19)


def _movielens(folder: Path) -> Path:
    """A three-user ML-100K folder in GroupLens layout."""
    folder.mkdir(parents=True)
    (folder / "u.data").write_text("1\t10\t5\t100\n1\t20\t2\t300\n2\t10\t1\t200\n2\t20\t4\t50\n3\t10\t5\t400\n")
    (folder / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|32067\n")
    (folder / "u.item").write_text(f"10|Heat (1995)|01-Jan-1995||http://x|{FLAGS}\n"
                                   f"20|Up (2009)|01-Jan-2009||http://y|{FLAGS}\n")
    return folder


def _prepare(hostile, source: Path, output: Path, *extra: str):
    return hostile.cli(["datasets", "prepare", "movielens", "--source", str(source), "--output", str(output), *extra])


def _validate(hostile, picture: Path, *extra: str):
    config = hostile.root / "model.yaml"
    if not config.exists():
        hostile.write_config(hostile.config(), "model.yaml")
    return hostile.cli(["validate", str(config), "--plot", str(picture), *extra])


@pytest.fixture()
def hostile(hostile):
    """The suite's fixture with the model config (and its data) written before any snapshot."""
    hostile.write_config(hostile.config(), "model.yaml")
    return hostile


# ---------------------------------------------------------------------------- pictures
@pytest.mark.parametrize("suffix", [".png", ".svg", ".mmd"])
def test_plot_refuses_a_file_recblocks_did_not_draw(hostile, file_checksums, suffix: str) -> None:
    picture = hostile.root / "pictures" / f"mine{suffix}"
    picture.parent.mkdir()
    picture.write_bytes(b"a picture of my own")
    before = file_checksums(picture.parent)
    for extra in ((), ("--overwrite",)):
        hostile.expect_error(_validate(hostile, picture, *extra), "OutputPathError", f"mine{suffix}",
                             "did not write")
    assert file_checksums(picture.parent) == before


@pytest.mark.parametrize("suffix", [".png", ".svg", ".mmd"])
def test_plot_replaces_its_own_picture_only_with_overwrite(hostile, file_checksums, suffix: str) -> None:
    picture = hostile.root / f"graph{suffix}"
    assert _validate(hostile, picture).exit_code == 0
    assert is_own_picture(picture)
    before = file_checksums(hostile.root)
    hostile.expect_error(_validate(hostile, picture), "OutputPathError", f"graph{suffix}", "--overwrite")
    assert file_checksums(hostile.root) == before
    result = _validate(hostile, picture, "--overwrite")
    assert result.exit_code == 0, result.output


def test_plot_onto_a_folder_is_refused(hostile, file_checksums) -> None:
    folder = hostile.root / "graph.png"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    before = file_checksums(folder)
    hostile.expect_error(_validate(hostile, folder), "OutputPathError", "graph.png", "folder")
    assert file_checksums(folder) == before


def test_plot_through_a_symlink_to_a_user_file_is_refused(hostile, file_checksums) -> None:
    target = hostile.root / "photo.png"
    target.write_bytes(b"\x89PNG my holiday")
    link = hostile.root / "graph.png"
    link.symlink_to(target)
    before = file_checksums(hostile.root)
    hostile.expect_error(_validate(hostile, link, "--overwrite"), "OutputPathError", "photo.png")
    assert file_checksums(hostile.root) == before


def test_model_plot_in_python_refuses_a_user_file(hostile, file_checksums) -> None:
    from recblocks.core.files import OutputPathError
    from recblocks.runs import Model

    model = Model.from_config(hostile.config())
    user = hostile.root / "m.svg"
    user.write_text("<svg>mine</svg>")
    with pytest.raises(OutputPathError, match="m.svg"):
        model.plot(user)
    assert user.read_text() == "<svg>mine</svg>"
    model.plot(hostile.root / "new.svg")
    model.plot(hostile.root / "new.svg")  # its own picture: replaced in Python by default


# ---------------------------------------------------------------------------- prepared datasets
def test_prepare_refuses_an_existing_user_file(hostile, file_checksums) -> None:
    source = _movielens(hostile.root / "ml")
    out = hostile.root / "out"
    out.mkdir()
    user = out / "ml.parquet"
    user.write_bytes(b"PAR1 not recblocks")
    before = file_checksums(hostile.root)
    for extra in ((), ("--overwrite",)):
        hostile.expect_error(_prepare(hostile, source, user, *extra), "OutputPathError", "ml.parquet",
                             "did not write")
    assert file_checksums(hostile.root) == before


def test_prepare_split_refuses_when_one_part_is_a_user_file(hostile, file_checksums) -> None:
    source = _movielens(hostile.root / "ml")
    out = hostile.root / "split"
    out.mkdir()
    (out / "valid.parquet").write_text("mine")
    (out / "notes.md").write_text("keep me")
    before = file_checksums(hostile.root)
    result = _prepare(hostile, source, out, "--split", "random")
    hostile.expect_error(result, "OutputPathError", "valid.parquet")
    assert file_checksums(hostile.root) == before  # train.parquet was not written either


def test_prepare_replaces_its_own_files_only_with_overwrite_and_keeps_others(hostile, file_checksums) -> None:
    source = _movielens(hostile.root / "ml")
    out = hostile.root / "split"
    assert _prepare(hostile, source, out, "--split", "temporal").exit_code == 0
    (out / "notes.md").write_text("keep me")
    before = file_checksums(hostile.root)
    hostile.expect_error(_prepare(hostile, source, out, "--split", "temporal"), "OutputPathError", "--overwrite")
    assert file_checksums(hostile.root) == before
    result = _prepare(hostile, source, out, "--split", "temporal", "--overwrite")
    assert result.exit_code == 0, result.output
    assert (out / "notes.md").read_text() == "keep me"
    assert b"recblocks.dataset" in pq.read_schema(out / "train.parquet").metadata


def test_prepare_into_a_folder_path_without_split_is_refused(hostile, file_checksums) -> None:
    source = _movielens(hostile.root / "ml")
    out = hostile.root / "data"
    out.mkdir()
    (out / "x.csv").write_text("a,b\n")
    before = file_checksums(hostile.root)
    hostile.expect_error(_prepare(hostile, source, out), "OutputPathError", "folder")
    assert file_checksums(hostile.root) == before


def test_prepare_onto_its_own_source_file_is_refused(hostile, file_checksums) -> None:
    source = _movielens(hostile.root / "ml")
    before = file_checksums(hostile.root)
    hostile.expect_error(_prepare(hostile, source, source / "u.data", "--overwrite"), "OutputPathError", "u.data")
    assert file_checksums(hostile.root) == before
