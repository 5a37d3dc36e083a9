"""Readers: CSV (header, header-less, TSV), parquet column pruning, shards, streaming, errors."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recblocks.core.errors import ConfigError, DataError
from recblocks.data import DataSource, iter_tables, list_files, read_columns, read_table


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_header_reads_only_requested_columns(tmp_path):
    path = write(tmp_path / "a.csv", "user,x,label\nu1,1.5,1\nu2,,0\n")
    table = read_table(path, columns=["label", "user"])
    assert table.column_names == ["label", "user"]
    assert table["user"].to_pylist() == ["u1", "u2"]
    assert read_table(str(path))["x"].to_pylist() == [1.5, None]


def test_csv_without_header_uses_column_names(tmp_path):
    path = write(tmp_path / "a.csv", "u1,1\nu2,0\n")
    table = read_table(DataSource(path=str(path), header=False, column_names=["user", "label"]))
    assert table.column_names == ["user", "label"]
    assert table.num_rows == 2
    generated = read_table({"path": str(path), "header": False})
    assert generated.column_names == ["f0", "f1"]


def test_header_plus_column_names_renames_and_skips_header(tmp_path):
    path = write(tmp_path / "a.csv", "a,b\n1,2\n")
    table = read_table({"path": str(path), "column_names": ["x", "y"]})
    assert table.to_pylist() == [{"x": 1, "y": 2}]


def test_tsv_is_tab_separated_by_suffix(tmp_path):
    path = write(tmp_path / "a.tsv", "user\tgenres\nu1\ta,b\n")
    assert read_table(path).to_pylist() == [{"user": "u1", "genres": "a,b"}]


def test_custom_delimiter_and_null_values(tmp_path):
    path = write(tmp_path / "a.txt", "u|x\na|?\nb|2\n")
    table = read_table({"path": str(path), "format": "csv", "delimiter": "|", "null_values": ["?"]})
    assert table["x"].to_pylist() == [None, 2]


def test_parquet_reads_only_needed_columns(tmp_path):
    pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"], "c": [0.5, 0.25]}), tmp_path / "t.parquet")
    table = read_table(tmp_path / "t.parquet", columns=["c", "a"])
    assert table.column_names == ["c", "a"]
    assert read_columns(tmp_path / "t.parquet") == ["a", "b", "c"]


def test_directory_and_glob_of_shards(tmp_path):
    for i in range(3):
        pq.write_table(pa.table({"k": [i * 10, i * 10 + 1]}), tmp_path / f"part-{i}.parquet")
    write(tmp_path / "_SUCCESS", "")
    assert read_table(tmp_path)["k"].to_pylist() == [0, 1, 10, 11, 20, 21]
    assert len(list_files({"path": str(tmp_path / "part-[01].parquet")})) == 2


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(DataError, match="nope.parquet: no such file"):
        read_table(tmp_path / "nope.parquet")
    with pytest.raises(DataError, match="glob matches no file"):
        read_table(str(tmp_path / "*.csv"))


def test_missing_column_suggests_nearest(tmp_path):
    path = write(tmp_path / "a.csv", "user_id,label\nu,1\n")
    with pytest.raises(DataError, match=r"column 'userid' is missing.*did you mean 'user_id'\?"):
        read_table(path, columns=["userid"])
    pq.write_table(pa.table({"user_id": ["u"]}), tmp_path / "t.parquet")
    with pytest.raises(DataError, match="did you mean 'user_id'"):
        read_table(tmp_path / "t.parquet", columns=["user_idd"])


def test_unknown_suffix_and_unknown_option(tmp_path):
    path = write(tmp_path / "a.json", "{}")
    with pytest.raises(DataError, match="cannot tell the file format"):
        read_table(path)
    with pytest.raises(ConfigError, match="did you mean 'delimiter'"):
        read_table({"path": str(path), "delimeter": ","})


def test_iter_tables_streams_parquet_shards_in_bounded_chunks(tmp_path):
    for i in range(2):
        pq.write_table(pa.table({"k": list(range(i * 100, i * 100 + 100))}), tmp_path / f"p{i}.parquet",
                       row_group_size=30)
    chunks = list(iter_tables(tmp_path, ["k"], rows_per_chunk=25))
    assert all(c.num_rows <= 25 for c in chunks)
    assert [v for c in chunks for v in c["k"].to_pylist()] == list(range(200))


def test_iter_tables_streams_csv_blocks(tmp_path):
    rows = "\n".join(f"u{i},{i}" for i in range(500))
    path = write(tmp_path / "a.csv", "user,k\n" + rows + "\n")
    chunks = list(iter_tables({"path": str(path), "block_size": 1024}, ["k"], rows_per_chunk=64))
    assert len(chunks) > 5 and all(c.num_rows <= 64 for c in chunks)
    assert [v for c in chunks for v in c["k"].to_pylist()] == list(range(500))


def test_string_columns_keep_csv_ids_verbatim(tmp_path):
    path = write(tmp_path / "a.csv", "zip,n\n007,1\n123,2\n")
    assert read_table(path)["zip"].to_pylist() == [7, 123]
    assert read_table(path, string_columns=["zip", "absent"])["zip"].to_pylist() == ["007", "123"]
