"""StreamingLoader at scale: lazy row-group reading, sharding, the bounded shuffle buffer, resuming."""

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import torch

from recblocks.core.errors import ConfigError
from recblocks.data import StreamingLoader
from recblocks.data.pieces import plan_pieces
from recblocks.data.readers import as_source
from recblocks.features.preprocess import Preprocessor


def write_parts(folder, sizes, row_group_size, csv=False):
    """Files with ids ``rid`` 0..N-1 in order; returns N."""
    start = 0
    for i, n in enumerate(sizes):
        rid = np.arange(start, start + n)
        table = pa.table({"rid": rid, "u": [f"u{r % 7}" for r in rid], "label": (rid % 3 == 0).astype(float)})
        if csv:
            pacsv.write_csv(table, folder / f"part-{i}.csv")
        else:
            pq.write_table(table, folder / f"part-{i}.parquet", row_group_size=row_group_size)
        start += n
    return start


def loader(path, **kwargs):
    pre = Preprocessor([{"name": "u", "kind": "sparse"}]).fit(pa.table({"u": [f"u{i}" for i in range(7)]}))
    options = {"batch_size": 10, "rows_per_chunk": 50, "seed": 1, **kwargs}
    return StreamingLoader(path, pre, labels={"label": "float"}, extras=["rid"], **options)


def rids(batches):
    return torch.cat([b.extras["rid"] for b in batches]).tolist()


def test_row_groups_are_read_lazily_one_at_a_time(tmp_path, monkeypatch):
    write_parts(tmp_path, [500], row_group_size=50)  # 10 row groups
    opened = []
    original = pq.ParquetFile.iter_batches

    def counting(self, *args, **kwargs):
        opened.append(kwargs.get("row_groups"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", counting)
    stream = iter(loader(tmp_path / "part-0.parquet", shuffle_buffer_rows=50))
    next(stream)
    assert len(opened) == 2 and all(len(groups) == 1 for groups in opened)  # the buffer's and the next
    rest = list(stream)
    assert len(opened) == 10 and sorted(g[0] for g in opened) == list(range(10))
    assert len(rest) == 49


def test_the_shuffle_buffer_holds_a_bounded_number_of_rows(tmp_path):
    total = write_parts(tmp_path, [2000], row_group_size=100)
    stream = loader(tmp_path / "part-0.parquet", shuffle_buffer_rows=200, rows_per_chunk=100)
    emitted, held = [], []
    for batch in stream:
        emitted.extend(batch.extras["rid"].tolist())
        held.append(stream.report_.rows - len(emitted))  # rows read but not yet yielded
    assert sorted(emitted) == list(range(total))
    assert max(held) <= 200 + 100 + 10  # buffer + one chunk + one batch: independent of the data size
    assert min(held[: len(held) - 25]) >= 200 - 10  # the buffer stays full until the reading ends
    first = np.array(emitted[:10])
    assert len(set((first // 100).tolist())) >= 2  # the first batch already mixes row groups


@pytest.mark.parametrize("num_shards", [1, 2, 3])
@pytest.mark.parametrize("layout", ["parquet", "csv"])
def test_shards_are_disjoint_and_complete(tmp_path, num_shards, layout):
    total = write_parts(tmp_path, [57, 80, 33], row_group_size=20, csv=layout == "csv")
    seen = []
    for index in range(num_shards):
        shard = loader(tmp_path, shard_index=index, num_shards=num_shards)
        seen.append(rids(shard))
        if layout == "parquet":
            assert shard.estimate_rows() == len(seen[-1])
    everything = sorted(r for part in seen for r in part)
    assert everything == list(range(total))  # complete, and no row twice: disjoint
    sizes = [len(part) for part in seen]
    assert max(sizes) - min(sizes) <= (1 if layout == "parquet" else 3)


def test_parquet_shards_read_only_their_row_groups(tmp_path):
    write_parts(tmp_path, [100, 100], row_group_size=25)  # 8 row groups
    pieces = [plan_pieces(as_source(tmp_path), i, 4) for i in range(4)]
    assert [[(p.path.name, p.row_group) for p in shard] for shard in pieces][:2] == [
        [("part-0.parquet", 0), ("part-0.parquet", 1)], [("part-0.parquet", 2), ("part-0.parquet", 3)]]
    pieces3 = plan_pieces(as_source(tmp_path), 1, 3)  # rows 66..133: a row range at each end
    assert [(p.row_group, p.start, p.stop) for p in pieces3] == [(2, 16, 25), (3, 0, 25), (0, 0, 25), (1, 0, 8)]
    with pytest.raises(ConfigError, match="shard_index"):
        plan_pieces(as_source(tmp_path), 3, 3)


def test_the_order_is_deterministic_per_seed_and_epoch(tmp_path):
    write_parts(tmp_path, [57, 80, 33], row_group_size=20)
    a, b = loader(tmp_path, shuffle_buffer_rows=30), loader(tmp_path, shuffle_buffer_rows=30)
    first, second = rids(a), rids(a)
    assert first == rids(b) and second == rids(b)
    assert first != second and sorted(first) == sorted(second)
    a.set_epoch(0)
    assert rids(a) == first
    assert rids(loader(tmp_path, shuffle_buffer_rows=30, seed=2)) != first
    assert rids(loader(tmp_path, shuffle=False)) == list(range(170))


def test_skip_batches_resumes_mid_epoch(tmp_path):
    write_parts(tmp_path, [57, 80, 33], row_group_size=20)
    full = [b.extras["rid"].tolist() for b in loader(tmp_path, shuffle_buffer_rows=30)]
    resumed = loader(tmp_path, shuffle_buffer_rows=30)
    resumed.skip_batches(5)
    assert [b.extras["rid"].tolist() for b in resumed] == full[5:]
    fresh = loader(tmp_path, shuffle_buffer_rows=30)
    fresh.set_epoch(1)
    assert rids(resumed) == rids(fresh)  # the skip applies to one epoch only
