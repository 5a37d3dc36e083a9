"""Hostile data files (train, valid, test, ``evaluate --data``, ``predict --data``) and hostile
``datasets prepare movielens`` options.

Every case goes through the CLI and asserts the error class, the place named (file, column,
row, feature, option), exit status 2 with one line and no traceback, and that no input file
changed; files that are merely odd but usable are asserted to work and to be reported.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from recblocks.features.preprocess import Preprocessor
from tests.malformed.conftest import ROWS, Hostile, checksums, small_table

HEADER = "label,user,item,tags,price"


def _csv_lines(rows: int = ROWS) -> list[str]:
    return [HEADER] + [f"{i % 2},u{i % 7},i{i % 11},a|b,{0.5 + i}" for i in range(rows)]


def _write_lines(hostile: Hostile, name: str, lines: list[str]) -> Path:
    path = hostile.root / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _train(hostile: Hostile, data: Path, edit: Any = None, valid: bool = True) -> Any:
    config = hostile.write_config(hostile.config(edit, data=data, valid=valid), "hostile.yaml")
    return hostile.cli(["train", str(config), "--output", str(hostile.root / "run")])


def _train_checked(hostile: Hostile, data: Path, error: str, *parts: str, edit: Any = None) -> str:
    """Train on ``data``: the error is ``error`` naming ``parts``, and no input file changed."""
    before = checksums(data)
    line = hostile.expect_error(_train(hostile, data, edit), error, *parts)
    assert checksums(data) == before
    assert not (hostile.root / "run" / "model.safetensors").exists()
    return line


def _score_checked(hostile: Hostile, command: str, data: Path, error: str, *parts: str) -> str:
    """``evaluate``/``predict`` a trained run on ``data``: ``error`` naming ``parts``; nothing changed."""
    run = hostile.trained_run()
    before = checksums(hostile.root)
    args = [command, str(run), "--data", str(data)]
    if command == "predict":
        args += ["-o", str(hostile.root / "scores.parquet")]
    line = hostile.expect_error(hostile.cli(args), error, *parts)
    assert checksums(hostile.root) == before
    return line


def _report(hostile: Hostile) -> dict[str, Any]:
    return json.loads((hostile.root / "run" / "metrics.json").read_text())["data_report"]


# -- unreadable files ---------------------------------------------------------------------------------

def test_csv_header_naming_a_column_twice(hostile: Hostile) -> None:
    lines = [HEADER + ",user"] + [line + f",x{i}" for i, line in enumerate(_csv_lines()[1:])]
    data = _write_lines(hostile, "dup.csv", lines)
    _train_checked(hostile, data, "DataError", str(data), "column 'user' appears more than once", "2 columns")


def test_csv_header_naming_a_column_twice_in_predict(hostile: Hostile) -> None:
    data = _write_lines(hostile, "dup.csv", [HEADER + ",price"] + [line + ",9" for line in _csv_lines()[1:]])
    _score_checked(hostile, "predict", data, "DataError", str(data), "column 'price' appears more than once")


def test_parquet_naming_a_column_twice(hostile: Hostile) -> None:
    table = small_table()
    twice = pa.Table.from_arrays([*table.columns, table.column("item")], names=[*table.column_names, "item"])
    data = hostile.data("dup.parquet", twice)
    _train_checked(hostile, data, "DataError", str(data), "column 'item' appears more than once")


@pytest.mark.parametrize("name", ["empty.csv", "empty.parquet"])
def test_an_empty_file(hostile: Hostile, name: str) -> None:
    data = hostile.root / name
    data.write_bytes(b"")
    _train_checked(hostile, data, "DataError", str(data), "the file is empty", "0 bytes")


def test_a_header_only_csv_for_training(hostile: Hostile) -> None:
    data = _write_lines(hostile, "header.csv", [HEADER])
    _train_checked(hostile, data, "DataError", str(data), "no rows", "header-only")


@pytest.mark.parametrize("command,problem", [("evaluate", "the data has no rows"), ("predict", "no rows to score")])
def test_a_header_only_csv_for_scoring(hostile: Hostile, command: str, problem: str) -> None:
    data = _write_lines(hostile, "header.csv", [HEADER])
    _score_checked(hostile, command, data, "DataError", str(data), problem)


def test_a_header_only_valid_file(hostile: Hostile) -> None:
    valid = _write_lines(hostile, "valid.csv", [HEADER])
    _train_checked(hostile, hostile.data(), "DataError", str(valid), "the data has no rows",
                   edit=lambda c: c["data"].update(valid=str(valid)))


def test_garbage_bytes_with_a_parquet_suffix(hostile: Hostile) -> None:
    data = hostile.root / "garbage.parquet"
    data.write_bytes(bytes(range(256)) * 8)
    _train_checked(hostile, data, "DataError", str(data), "not a Parquet file, or a truncated one")


def test_a_truncated_parquet_file_for_evaluate(hostile: Hostile) -> None:
    whole = hostile.data("whole.parquet").read_bytes()
    data = hostile.root / "cut.parquet"
    data.write_bytes(whole[: len(whole) * 2 // 3])
    _score_checked(hostile, "evaluate", data, "DataError", str(data), "not a Parquet file, or a truncated one")


@pytest.mark.parametrize("edit,fields", [(lambda line: line + ",extra", 6), (lambda line: "1,u1", 2)],
                         ids=["too-many-fields", "too-few-fields"])
@pytest.mark.parametrize("streaming", [False, True], ids=["in-memory", "streaming"])
def test_a_ragged_csv_row_is_named_by_its_line(hostile: Hostile, edit: Any, fields: int, streaming: bool) -> None:
    lines = _csv_lines()
    lines[20] = edit(lines[20])
    data = _write_lines(hostile, "ragged.csv", lines)
    _train_checked(hostile, data, "DataError", f"{data}, row 21", f"the row has {fields} fields",
                   "the first row has 5", edit=lambda c: c["data"].update(streaming=streaming))


def test_an_unterminated_quote_in_predict_data(hostile: Hostile) -> None:
    lines = _csv_lines()
    lines[-1] = '1,"u1,i1,a,0.5'
    data = _write_lines(hostile, "quote.csv", lines)
    _score_checked(hostile, "predict", data, "DataError", f"{data}, row {len(lines)}", "fields")


def test_invalid_utf8_in_an_id_column_names_the_column(hostile: Hostile) -> None:
    data = hostile.root / "latin1.csv"
    lines = _csv_lines()
    lines[5] = "1,caf\xe9,i1,a,0.5"
    data.write_bytes("\n".join(lines).encode("latin-1") + b"\n")
    _train_checked(hostile, data, "DataError", f"{data}, feature 'user'", "not valid UTF-8", "caf\\xe9")


# -- columns of the wrong shape or type ----------------------------------------------------------------

def test_mixed_types_in_a_csv_column_are_counted_not_fatal(hostile: Hostile) -> None:
    lines = _csv_lines()
    lines[9] = "1,u1,i1,a,not-a-price"
    data = _write_lines(hostile, "mixed.csv", lines)
    result = _train(hostile, data, valid=False)
    assert result.exit_code == 0, result.output
    assert "price: 1 missing values (1.56%, 1 of them not numbers)" in result.output
    assert _report(hostile)["features"]["price"]["unparseable"] == 1


def test_mixed_types_across_streamed_csv_blocks_name_the_column(hostile: Hostile) -> None:
    lines = _csv_lines()
    lines[50] = "1,u1,i1,a,not-a-price"
    data = _write_lines(hostile, "mixed.csv", lines)
    _train_checked(hostile, data, "DataError", f"{data}, column 'price'", "invalid value 'not-a-price'",
                   "block_size", edit=lambda c: c["data"].update(train={"path": str(data), "block_size": 400},
                                                                 streaming=True, valid=None))


@pytest.mark.parametrize("column,type_,kind", [("price", pa.float64(), "dense"), ("user", pa.string(), "sparse"),
                                               ("tags", pa.string(), "multi")])
def test_an_all_null_feature_column_trains_and_is_reported(hostile: Hostile, column: str, type_: pa.DataType,
                                                           kind: str) -> None:
    table = small_table()
    data = hostile.data("nulls.parquet", table.set_column(table.column_names.index(column), column,
                                                          pa.nulls(ROWS, type_)))
    before = checksums(data)
    result = _train(hostile, data, valid=False)
    assert result.exit_code == 0, result.output
    assert _report(hostile)["features"][column]["missing"] == ROWS
    assert f"{column}: {ROWS} missing values (100.00%" in result.output
    assert checksums(data) == before


def test_an_all_empty_csv_list_column(hostile: Hostile) -> None:
    """Arrow types a CSV column with no value at all as null; a list feature reads it as all missing."""
    data = _write_lines(hostile, "notags.csv", [HEADER] + [f"{i % 2},u{i % 7},i{i},,1.0" for i in range(ROWS)])
    result = _train(hostile, data, valid=False)
    assert result.exit_code == 0, result.output
    assert _report(hostile)["features"]["tags"]["missing"] == ROWS


@pytest.mark.parametrize("column,values,problem", [
    ("user", [["u1", "u2"]] * ROWS, "cannot be read as ids"),
    ("price", [{"amount": 1.0}] * ROWS, "cannot be read as numbers"),
    ("price", ["cheap", "dear"] * (ROWS // 2), "no value of the column is a number"),
    ("tags", [{"a": 1}] * ROWS, "cannot be read as a list of ids"),
], ids=["list-for-an-id", "struct-for-a-number", "strings-for-a-number", "struct-for-a-list"])
def test_a_parquet_column_of_the_wrong_type(hostile: Hostile, column: str, values: list[Any], problem: str) -> None:
    table = small_table()
    data = hostile.data("typed.parquet", table.set_column(table.column_names.index(column), column,
                                                          pa.array(values)))
    _train_checked(hostile, data, "DataError", str(data), f"feature '{column}'", problem)


def test_a_huge_non_numeric_string_is_cut_in_the_message(hostile: Hostile) -> None:
    table = small_table()
    data = hostile.data("huge.parquet", table.set_column(4, "price", pa.array(["x" * 5_000_000] * ROWS)))
    line = _train_checked(hostile, data, "DataError", "feature 'price'", "5000002 characters")
    assert len(line) < 1000


def test_huge_strings_in_an_id_column_are_ids(hostile: Hostile) -> None:
    users = [("u" * 1_000_000) + str(i % 3) for i in range(ROWS)]
    table = small_table()
    data = hostile.data("huge.parquet", table.set_column(1, "user", pa.array(users)))
    run = hostile.trained_run(edit=lambda c: c["data"].update(train=str(data), valid=str(data)))
    result = hostile.cli(["evaluate", str(run), "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert "unseen ids" not in result.output  # every huge id was learnt and found again


def test_ids_with_nul_bytes_and_odd_unicode_round_trip(hostile: Hostile) -> None:
    users = [f"u\x00{i % 5}\u202e\U0001F600\ufeff" for i in range(ROWS)]
    table = small_table()
    data = hostile.data("odd.parquet", table.set_column(1, "user", pa.array(users)))
    run = hostile.trained_run(edit=lambda c: c["data"].update(train=str(data), valid=str(data)))
    assert sorted(Preprocessor.load(run / "preprocess.json").vocabulary("user")) == sorted(set(users))
    before = checksums(data)
    result = hostile.cli(["predict", str(run), "--data", str(data), "-o", str(hostile.root / "scores.csv")])
    assert result.exit_code == 0 and "unseen ids" not in result.output, result.output
    assert checksums(data) == before


def test_negative_numbers_in_a_bucketized_feature_fall_in_the_first_bucket(hostile: Hostile) -> None:
    table = small_table().set_column(4, "price", pa.array([-5.0, -0.5, 0.5, 2.0] * (ROWS // 4)))
    data = hostile.data("neg.parquet", table)
    result = _train(hostile, data, edit=lambda c: c["features"][3].update(kind="bucketized", boundaries=[0.0, 1.0],
                                                                          embedding_dim=4), valid=False)
    assert result.exit_code == 0, result.output
    preprocessor = Preprocessor.load(hostile.root / "run" / "preprocess.json")
    batch, _ = preprocessor.transform(table.slice(0, 4))
    assert batch.features["price"].tolist() == [2, 2, 3, 4]  # below the first boundary: the first bucket


def test_an_empty_separator_is_a_config_error_naming_the_feature(hostile: Hostile) -> None:
    _train_checked(hostile, hostile.data(), "ConfigError", "features[2].separator", "feature 'tags'",
                   edit=lambda c: c["features"][2].update(separator=""))


def test_lists_longer_than_max_len_are_truncated_and_counted(hostile: Hostile) -> None:
    tags = ["a|b|c|d|e", "a", "b|c|d|a", ""] * (ROWS // 4)
    data = hostile.data("long.parquet", small_table().set_column(3, "tags", pa.array(tags)))
    result = _train(hostile, data, valid=False)  # max_len 3
    assert result.exit_code == 0, result.output
    assert _report(hostile)["features"]["tags"]["truncated"] == ROWS // 2
    assert f"tags: {ROWS // 2} rows longer than max_len, truncated (50.00%)" in result.output


# -- splits that disagree with train, and rows that cannot be used -------------------------------------

def test_a_valid_file_whose_column_type_differs_from_train(hostile: Hostile) -> None:
    valid = hostile.data("valid.parquet", small_table().set_column(4, "price", pa.array([[1.0]] * ROWS)))
    _train_checked(hostile, hostile.data(), "DataError", f"{valid}, feature 'price'", "cannot be read as numbers",
                   edit=lambda c: c["data"].update(valid=str(valid)))


def test_a_test_file_missing_a_feature_column(hostile: Hostile) -> None:
    test = hostile.data("test.parquet", small_table().drop_columns(["item"]))
    _train_checked(hostile, hostile.data(), "DataError", "feature 'item'", f"missing from {test}",
                   edit=lambda c: c["data"].update(test=str(test)))


def test_an_evaluate_file_with_a_renamed_label(hostile: Hostile) -> None:
    data = hostile.data("renamed.parquet", small_table().rename_columns(["clicked", "user", "item", "tags", "price"]))
    _score_checked(hostile, "evaluate", data, "DataError", "label 'label'", f"missing from {data}")


def test_zero_rows_left_after_dropping_bad_labels(hostile: Hostile) -> None:
    data = hostile.data("nolabels.parquet", small_table().set_column(0, "label", pa.nulls(ROWS, pa.float64())))
    _train_checked(hostile, data, "DataError", str(data), "every row was dropped", f"{ROWS} missing",
                   f"{ROWS} bad rows of {ROWS}")


def test_max_bad_fraction_exceeded_names_the_count_and_fraction(hostile: Hostile) -> None:
    labels = [None] * 10 + [1.0, 0.0] * 27
    data = hostile.data("some.parquet", small_table().set_column(0, "label", pa.array(labels, pa.float64())))
    _train_checked(hostile, data, "DataError", str(data), "too many rows dropped", "10 of 64 (15.62%)",
                   "at most 5.00%", edit=lambda c: c["data"].update(max_bad_fraction=0.05))


def test_max_bad_fraction_exceeded_while_streaming(hostile: Hostile) -> None:
    labels = [None] * 10 + [1.0, 0.0] * 27
    data = hostile.data("some.parquet", small_table().set_column(0, "label", pa.array(labels, pa.float64())))
    _train_checked(hostile, data, "DataError", str(data), "too many rows dropped", "10 of 64 (15.62%)",
                   edit=lambda c: c["data"].update(max_bad_fraction=0.05, streaming=True, rows_per_chunk=16,
                                                   valid=None))


def test_a_gzipped_csv_trains_like_the_plain_one(hostile: Hostile) -> None:
    plain = hostile.data("plain.csv")
    data = hostile.root / "packed.csv.gz"
    data.write_bytes(gzip.compress(plain.read_bytes()))
    result = _train(hostile, data, valid=False)
    assert result.exit_code == 0, result.output
    assert _report(hostile)["rows"] == ROWS


def test_a_gzip_file_posing_as_plain_csv(hostile: Hostile) -> None:
    data = hostile.root / "packed.csv"
    data.write_bytes(gzip.compress(hostile.data("plain.csv").read_bytes()))
    _train_checked(hostile, data, "DataError", str(data), "gzip-compressed", ".csv.gz")


# -- datasets prepare movielens ------------------------------------------------------------------------

def _movielens(hostile: Hostile) -> Path:
    """A tiny ML-100K layout (3 users, 3 movies, 6 ratings)."""
    folder = hostile.root / "ml-100k"
    folder.mkdir()
    (folder / "u.data").write_text("".join(f"{u}\t{m}\t{r}\t{880000000 + i}\n" for i, (u, m, r) in
                                           enumerate([(1, 1, 5), (1, 2, 3), (2, 1, 1), (2, 3, 4), (3, 2, 2),
                                                      (3, 3, 5)])))
    (folder / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|32067\n")
    flags = "|".join(["0"] * 18 + ["1"])
    (folder / "u.item").write_bytes("".join(f"{m}|Movie {m} (1995)|01-Jan-1995||http://x|{flags}\n"
                                            for m in (1, 2, 3)).encode("latin-1"))
    return folder


@pytest.mark.parametrize("label,problem", [("threshold:abc", "must be a number"), ("threshold:", "must be a number"),
                                           ("threshold:nan", "must be a number"),
                                           ("thresh:4", "unknown label protocol")])
def test_prepare_movielens_rejects_a_bad_label_option(hostile: Hostile, label: str, problem: str) -> None:
    source = _movielens(hostile)
    before = checksums(hostile.root)
    result = hostile.cli(["datasets", "prepare", "movielens", "--source", str(source), "--output",
                          str(hostile.root / "out.parquet"), "--label", label])
    hostile.expect_error(result, "ConfigError", "--label", problem)
    assert checksums(hostile.root) == before


def test_prepare_movielens_threshold_label_works(hostile: Hostile) -> None:
    source = _movielens(hostile)
    result = hostile.cli(["datasets", "prepare", "movielens", "--source", str(source), "--output",
                          str(hostile.root / "out.parquet"), "--label", "threshold:4"])
    assert result.exit_code == 0, result.output
    assert "all:" in result.output and "6 rows" in result.output


def test_prepare_movielens_from_a_folder_that_is_not_movielens(hostile: Hostile) -> None:
    folder = hostile.root / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("my notes")
    pacsv.write_csv(small_table(), folder / "ratings.csv")
    before = checksums(hostile.root)
    result = hostile.cli(["datasets", "prepare", "movielens", "--source", str(folder), "--output",
                          str(hostile.root / "out.parquet")])
    hostile.expect_error(result, "DataError", str(folder), "not a MovieLens directory", "readme.txt")
    assert checksums(hostile.root) == before


def test_prepare_movielens_with_a_corrupt_ratings_file(hostile: Hostile) -> None:
    source = _movielens(hostile)
    (source / "u.data").write_text("1\t1\tfive\t880000000\n")
    before = checksums(hostile.root)
    result = hostile.cli(["datasets", "prepare", "movielens", "--source", str(source), "--output",
                          str(hostile.root / "out.parquet")])
    hostile.expect_error(result, "DataError", str(source / "u.data"), "cannot parse the file")
    assert checksums(hostile.root) == before
