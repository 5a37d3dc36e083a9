"""Loaders: in-memory epochs, streaming coverage, load_batch and bad-row accounting."""

import logging

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from recblocks.core.errors import DataError
from recblocks.data import InMemoryLoader, StreamingLoader, check_bad_rows, id_columns, load_batch, log_report
from recblocks.features import Batch, Preprocessor, TransformReport


def order(loader):
    return torch.cat([b.features["x"] for b in loader]).tolist()


def test_in_memory_len_and_no_shuffle_slices():
    data = Batch({"x": torch.arange(10)}, {"y": torch.zeros(10)})
    loader = InMemoryLoader(data, batch_size=4, shuffle=False)
    assert len(loader) == 3
    assert [len(b) for b in loader] == [4, 4, 2]
    assert order(loader) == list(range(10))
    assert len(InMemoryLoader(data, batch_size=4, drop_last=True)) == 2
    assert sum(len(b) for b in InMemoryLoader(data, batch_size=4, drop_last=True)) == 8


def test_in_memory_shuffle_is_seeded_and_changes_per_epoch():
    data = Batch({"x": torch.arange(100)})
    a = InMemoryLoader(data, batch_size=7, seed=3)
    b = InMemoryLoader(data, batch_size=7, seed=3)
    a0, a1 = order(a), order(a)
    assert a0 == order(b) and a1 == order(b)
    assert a0 != a1
    assert sorted(a0) == list(range(100)) and sorted(a1) == list(range(100))
    a.set_epoch(0)
    assert order(a) == a0
    assert order(InMemoryLoader(data, batch_size=7, seed=4)) != a0


@pytest.fixture
def shards(tmp_path):
    rng = np.random.default_rng(0)
    start = 0
    for i, n in enumerate((57, 80, 33)):
        rid = np.arange(start, start + n)
        label = (rng.random(n) < 0.5).astype(float)
        label[rid % 25 == 3] = np.nan  # bad rows
        pq.write_table(pa.table({"rid": rid, "u": [f"u{r % 7}" for r in rid], "label": label}),
                       tmp_path / f"part-{i}.parquet", row_group_size=20)
        start += n
    return tmp_path, start


def fitted(path):
    return Preprocessor([{"name": "u", "kind": "sparse"}]).fit(pq.read_table(path / "part-0.parquet"))


def test_streaming_yields_every_kept_row_once_per_epoch(shards):
    path, total = shards
    expected = [r for r in range(total) if r % 25 != 3]
    loader = StreamingLoader(path, fitted(path), labels={"label": "float"}, extras=["rid"], batch_size=8,
                             rows_per_chunk=17, shuffle_buffer_rows=40, seed=1)
    epochs = []
    for _ in range(2):
        batches = list(loader)
        assert all(len(b) == 8 for b in batches[:-1])
        rids = torch.cat([b.extras["rid"] for b in batches]).tolist()
        assert sorted(rids) == expected
        epochs.append(rids)
        assert loader.report_.rows == total and loader.report_.bad_rows == total - len(expected)
    assert epochs[0] != epochs[1]
    with pytest.raises(TypeError):
        len(loader)
    assert loader.estimate_rows() == total


def test_streaming_without_shuffle_keeps_file_order_and_drop_last(shards):
    path, total = shards
    loader = StreamingLoader(path, fitted(path), labels={"label": "float"}, extras=["rid"], batch_size=8,
                             rows_per_chunk=17, shuffle=False, drop_last=True)
    rids = torch.cat([b.extras["rid"] for b in loader]).tolist()
    kept = [r for r in range(total) if r % 25 != 3]
    assert rids == kept[:len(kept) // 8 * 8]


def test_streaming_is_seed_deterministic(shards):
    path, _ = shards
    make = lambda: StreamingLoader(path, fitted(path), labels={"label": "float"}, extras=["rid"],  # noqa: E731
                                   batch_size=8, rows_per_chunk=17, shuffle_buffer_rows=40, seed=5)
    a, b = make(), make()
    assert [x.extras["rid"].tolist() for x in a] == [x.extras["rid"].tolist() for x in b]


def test_load_batch_reads_needed_columns_and_reports(shards):
    path, total = shards
    batch, report = load_batch(path, fitted(path), labels={"label": "float"}, extras=["rid"])
    assert len(batch) == report.kept_rows == sum(1 for r in range(total) if r % 25 != 3)
    assert report.bad_rows_by_label == {"label": total - len(batch)}
    with pytest.raises(DataError, match="too many rows dropped"):
        load_batch(path, fitted(path), labels={"label": "float"}, max_bad_fraction=0.01)


def test_every_row_bad_is_an_error(tmp_path):
    pq.write_table(pa.table({"u": ["a", "b"], "label": [None, None]}, schema=pa.schema(
        [("u", pa.string()), ("label", pa.float64())])), tmp_path / "t.parquet")
    p = Preprocessor([{"name": "u", "kind": "sparse"}]).fit(pa.table({"u": ["a"]}))
    with pytest.raises(DataError, match="t.parquet: every row was dropped"):
        load_batch(tmp_path / "t.parquet", p, labels={"label": "float"})


def test_check_bad_rows_and_log_report(caplog):
    report = TransformReport(rows=100, bad_rows=5, bad_rows_by_label={"label": 5})
    check_bad_rows(report, max_bad_fraction=0.1)
    with pytest.raises(DataError, match="at most 1.00% bad rows"):
        check_bad_rows(report, max_bad_fraction=0.01, where="train")
    with caplog.at_level(logging.INFO, logger="recblocks.data"):
        lines = log_report(report, title="train")
    assert lines[0] == "100 rows read, 5 bad rows dropped (5.00%)"
    assert "train:" in caplog.text and "5 bad rows dropped" in caplog.text


def test_load_batch_reads_csv_ids_as_text(tmp_path):
    (tmp_path / "train.csv").write_text("zip,label\n007,1\n7,0\n")
    p = Preprocessor([{"name": "zip", "kind": "sparse"}]).fit(pa.table({"zip": ["007"]}))
    assert load_batch(tmp_path / "train.csv", p, labels=["label"])[0].features["zip"].tolist() == [1, 1]
    batch, _ = load_batch(tmp_path / "train.csv", p, labels=["label"], string_columns=id_columns(p))
    assert batch.features["zip"].tolist() == [2, 1]
    assert batch.labels["label"].tolist() == [1.0, 0.0]
