"""RTP feature-generation files (EasyRec's RTPInput) read as columnar tables."""

import pytest

from recblocks.core.errors import ConfigError, DataError
from recblocks.data import load_batch, read_columns, read_table
from recblocks.data.readers import as_source, iter_tables
from recblocks.features.preprocess import Preprocessor

LAYOUT = {"label_columns": [0], "feature_column": 3, "label_names": ["clk"],
          "feature_names": ["user", "tags", "price"]}


def _write(path, lines):
    path.write_bytes(("\n".join(lines) + "\n").encode())
    return path


def _line(clk, user, tags, price):
    return f"{clk};x;y;{user}\x02{tags}\x02{price}"


def _source(path, **extra):
    return {"path": str(path), "format": "rtp", "rtp": {**LAYOUT, **extra}}


def test_labels_and_feature_cells_become_string_columns(tmp_path):
    path = _write(tmp_path / "part.txt", [_line(1, "u1", "a\x03b", "1.5"), _line(0, "u2", "", "2"),
                                          _line("", "u3", "c", "")])
    table = read_table(_source(path))
    assert table.to_pydict() == {"clk": ["1", "0", None], "user": ["u1", "u2", "u3"],
                                 "tags": ["a\x03b", None, "c"], "price": ["1.5", "2", None]}
    assert read_columns(_source(path)) == ["clk", "user", "tags", "price"]
    assert read_table(_source(path), ["price"]).column_names == ["price"]


def test_streaming_keeps_row_numbers_for_a_bad_feature_column(tmp_path):
    lines = [_line(1, f"u{i}", "t", "1") for i in range(5)]
    lines.insert(3, "1;x;y;u9\x02only-two")  # row 4: two cells, not three
    lines.append("0;x;y;u8")  # row 7: one cell
    path = _write(tmp_path / "part.txt", lines)
    with pytest.raises(DataError) as caught:
        read_table(_source(path))
    text = str(caught.value)
    assert text.startswith(f"{path}, row 4: the feature column (column 3) has 2 cells")
    assert "2 of 7 rows read are bad" in text and "expected 3 cells, one per feature" in text
    with pytest.raises(DataError, match=r", row 4: .*has 2 cells"):
        list(iter_tables(_source(path), rows_per_chunk=2))
    chunks = list(iter_tables(_source(_write(tmp_path / "ok.txt", [_line(1, "u", "t", "1")] * 5)),
                              ["clk", "user"], rows_per_chunk=2))
    assert [c.num_rows for c in chunks] == [2, 2, 1] and chunks[0].column_names == ["clk", "user"]


def test_ragged_lines_and_too_few_columns_name_the_file(tmp_path):
    ragged = _write(tmp_path / "ragged.txt", [_line(1, "u", "t", "1"), "1;x;" + "u\x02t\x021"])
    with pytest.raises(DataError, match=r"ragged.txt, row 2: the row has 3 columns but the first row has 4"):
        read_table(_source(ragged))
    narrow = _write(tmp_path / "narrow.txt", ["1;u\x02t\x021"])
    with pytest.raises(DataError, match=r"narrow.txt: the first line has 2 columns separated by ';'; expected at "
                       r"least 4 columns"):
        read_table(_source(narrow))


def test_layout_is_checked_when_the_source_is_read():
    with pytest.raises(ConfigError, match=r"^data\.rtp: .*label_names must name each of the 1 label_columns"):
        as_source({"path": "x", "format": "rtp", "rtp": {**LAYOUT, "label_names": []}})
    with pytest.raises(ConfigError, match=r"format 'rtp' and the rtp layout go together"):
        as_source({"path": "x", "format": "rtp"})


def test_a_list_of_paths_and_a_folder_of_rtp_files_read_as_one_source(tmp_path):
    (tmp_path / "a").mkdir()
    _write(tmp_path / "a" / "part-0", [_line(1, "u1", "t", "1")])
    b = _write(tmp_path / "b.txt", [_line(0, "u2", "t", "2"), _line(1, "u3", "t", "3")])
    table = read_table({**_source(b), "path": [str(tmp_path / "a"), str(b)]})
    assert table.column("user").to_pylist() == ["u1", "u2", "u3"]


def test_rtp_rows_train_through_the_preprocessor(tmp_path):
    path = _write(tmp_path / "train.txt", [_line(i % 2, f"u{i % 3}", "a\x03b" if i % 2 else "c", str(i))
                                           for i in range(6)])
    schema = [{"name": "user", "kind": "sparse"}, {"name": "tags", "kind": "multi", "separator": "\x03"},
              {"name": "price", "kind": "dense"}]
    pre = Preprocessor(schema).fit(read_table(_source(path)))
    batch, report = load_batch(_source(path), pre, {"clk": "binary"})
    assert report.rows == 6 and report.bad_rows == 0 and batch.labels["clk"].tolist() == [0, 1, 0, 1, 0, 1]
    assert batch.features["price"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert (batch.features["tags"] > 0).sum(dim=1).tolist() == [1, 2, 1, 2, 1, 2]


def test_key_value_lines_join_repeated_keys_and_leave_absent_ones_null(tmp_path):
    path = _write(tmp_path / "kv.txt", ["clk\x031\x02tags\x03a\x02tags\x03b\x02user\x03u1", "user\x03u2\x02clk\x030",
                                        "clk\x031"])
    source = {"path": str(path), "format": "rtp_kv", "column_names": ["clk", "user", "tags"]}
    assert read_table(source).to_pydict() == {"clk": ["1", "0", "1"], "user": ["u1", "u2", None],
                                              "tags": ["a,b", None, None]}
    assert [t.num_rows for t in iter_tables(source, ["tags"], rows_per_chunk=2)] == [2, 1]
    broken = _write(tmp_path / "broken.txt", ["clk\x031", "clk\x030\x02user-without-value"])
    with pytest.raises(DataError, match=r"broken.txt, row 2: a pair without the key/value separator"):
        read_table({**source, "path": str(broken)})
    with pytest.raises(ConfigError, match=r"format 'rtp_kv' reads the keys named by column_names"):
        as_source({"path": "x", "format": "rtp_kv"})
