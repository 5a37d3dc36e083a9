"""EasyRec-style header-less files: the writer and MovieLens in the ML-1M example layout."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from recblocks.core.errors import ConfigError, DataError
from recblocks.datasets.easyrec_files import (
    ML1M_EXAMPLE_COLUMNS,
    movielens_example_layout,
    prepare_movielens_example_files,
    write_header_less,
)

ML100K = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ml-100k"


def test_header_less_text_in_the_given_column_order(tmp_path):
    table = pa.table({"a": [1, None], "b": ["x y", "z"], "c": [0.5, 1.0]})
    path = write_header_less(table, tmp_path / "part", ["c", "a", "b"], "\t")
    assert path.read_text(encoding="utf-8") == "0.5\t1\tx y\n1\t\tz\n"
    with pytest.raises(DataError, match=r"^b: a value holds the field separator"):
        write_header_less(table, tmp_path / "bad.csv", separator=" ")
    with pytest.raises(ConfigError, match=r"^columns: not columns of the table"):
        write_header_less(table, tmp_path / "x.csv", ["a", "d"])


def test_movielens_rows_take_the_ml1m_example_encodings():
    table = pa.table({"label": [1, 0], "user_id": ["7", "8"], "movie_id": ["3", "4"], "rating": [5, 1],
                      "gender": ["F", "M"], "age": ["17", "56"], "job_id": ["writer", "artist"],
                      "zip_id": ["02139", "9"], "title": ["Heat (1995)", "Nosferatu (Nosferatu, eine Symphonie des Grauens) (1922)"],
                      "genres": ["Action|Crime", "Horror"], "year": ["1995", "unknown"], "timestamp": [0, 1]})
    rows = movielens_example_layout(table).to_pylist()
    assert list(rows[0]) == list(ML1M_EXAMPLE_COLUMNS)
    assert [(r["gender"], r["age"], r["job_id"], r["year"]) for r in rows] == [(0, 0, 1, 1995), (1, 6, 0, None)]
    assert rows[1]["title"] == "Nosferatu (Nosferatu, eine Symphonie des Grauens)"


def test_movielens_100k_as_easyrec_train_and_test_files(tmp_path):
    if not ML100K.is_dir():
        pytest.skip(f"MovieLens-100K is absent: expected the GroupLens files under {ML100K}")
    files = prepare_movielens_example_files(ML100K, tmp_path, test_fraction=0.25, num_rows=400)
    train = files["train"].read_text(encoding="utf-8").splitlines()
    test = files["test"].read_text(encoding="utf-8").splitlines()
    assert (len(train), len(test)) == (300, 100)
    fields = train[0].split("\t")
    assert len(fields) == 11 and fields[0] in ("0", "1") and fields[3] in ("1", "2", "4", "5")  # rating 3 dropped


def test_the_cli_writes_the_example_files_and_never_replaces_them(tmp_path):
    from click.testing import CliRunner

    from recblocks.cli.main import cli

    if not ML100K.is_dir():
        pytest.skip(f"MovieLens-100K is absent: expected the GroupLens files under {ML100K}")
    args = ["datasets", "prepare", "movielens", "--source", str(ML100K), "--output", str(tmp_path / "ml"),
            "--format", "easyrec-example"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ml" / "movies_train_data").is_file() and (tmp_path / "ml" / "movies_test_data").is_file()
    again = CliRunner().invoke(cli, args)  # a header-less file carries no mark: refused, even with --overwrite
    assert again.exit_code != 0 and "refusing to overwrite" in again.output and "Traceback" not in again.output
    mixed = CliRunner().invoke(cli, [*args[:6], str(tmp_path / "other"), "--format", "easyrec-example", "--like"])
    assert mixed.exit_code != 0 and "--format easyrec-example" in mixed.output
