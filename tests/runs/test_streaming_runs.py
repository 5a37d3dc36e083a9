"""Streaming in a run: predict streams chunk by chunk with the same scores, and the
out-of-memory preprocessing fits train end to end."""

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from recblocks.core.errors import DataError
from recblocks.datasets import make_synthetic
from recblocks.runs import predict_run
from recblocks.runs.experiment import train_run
from recblocks.runs.scoring import data_batch, open_run, predict_batch, predict_chunks, predict_data

CONFIG = {
    "features": [
        {"name": "I1", "kind": "dense", "normalization": "standard"},
        {"name": "I2", "kind": "bucketized", "num_buckets": 4},
        {"name": "C1", "kind": "sparse", "embedding_dim": 4},
        {"name": "C2", "kind": "sparse", "embedding_dim": 4},
    ],
    "model": {
        "feature_groups": [{"group_name": "all", "feature_names": ["I1", "I2", "C1", "C2"]}],
        "backbone": {"blocks": [{"name": "deep", "inputs": [{"feature_group_name": "all"}],
                                 "component": {"class_name": "MLP", "params": {"hidden_units": [8]}}}]},
        "task": {"type": "binary", "label": "label"},
    },
    "train": {"epochs": 1, "batch_size": 128, "progress": False, "tensorboard": False},
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    table = make_synthetic(num_rows=1500, num_dense=2, vocab_sizes=[20, 50], seed=4).drop(["true_prob"])
    pq.write_table(table.slice(0, 1000), root / "train.parquet", row_group_size=200)
    pq.write_table(table.slice(1000), root / "test.parquet", row_group_size=128)
    pacsv.write_csv(table.slice(1000), root / "test.csv")
    return root


@pytest.fixture(scope="module")
def run(files):
    data = {"train": str(files / "train.parquet"), "streaming": True, "rows_per_chunk": 300,
            "shuffle_buffer_rows": 256}
    train_run({**CONFIG, "data": data}, files / "run")
    return files / "run"


def test_streaming_predict_equals_the_in_memory_scores(files, run):
    _, config, _, preprocessor, model = open_run(run)
    for name in ("test.parquet", "test.csv"):
        batch, _, _ = data_batch(str(files / name), preprocessor, {}, [])
        whole = predict_batch(model, config.train, batch, "whole")["ctr"]
        chunks = list(predict_chunks(model, config, preprocessor, str(files / name), rows_per_chunk=64,
                                     keep=["C1"]))
        assert len(chunks) == 8
        np.testing.assert_allclose(np.concatenate([c[1]["ctr"] for c in chunks]), whole, rtol=1e-6, atol=1e-7)
        assert pa.concat_tables([c[0] for c in chunks])["C1"].to_pylist() == pa.concat_tables(
            [pq.read_table(files / "test.parquet")])["C1"].to_pylist()
        scores, table, _ = predict_data(model, config, preprocessor, str(files / name), keep=["C1"])
        np.testing.assert_allclose(scores["ctr"], whole, rtol=1e-6, atol=1e-7)  # float32 rounding
        assert table.column_names == ["C1"] and table.num_rows == 500


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_predict_run_writes_chunk_by_chunk(files, run, suffix, monkeypatch):
    import recblocks.runs.scoring as scoring

    _, config, _, preprocessor, model = open_run(run)
    expected = predict_data(model, config, preprocessor, str(files / "test.parquet"))[0]["ctr"]
    original = scoring.predict_chunks
    monkeypatch.setattr(scoring, "predict_chunks", lambda *a, **k: original(*a, **k, rows_per_chunk=100))
    out = files / f"scores{suffix}"
    rows, _ = predict_run(run, str(files / "test.parquet"), out, passthrough=["C2"])
    written = pq.read_table(out) if suffix == ".parquet" else pacsv.read_csv(out)
    assert rows == 500 and written.column_names == ["C2", "ctr"]
    if suffix == ".parquet":
        assert pq.ParquetFile(out).metadata.num_row_groups == 5  # one per chunk: never the whole output at once
        assert b"recblocks.predictions" in pq.read_schema(out).metadata
    np.testing.assert_allclose(written["ctr"].to_numpy(), expected, rtol=1e-6)
    assert written["C2"].to_pylist() == pq.read_table(files / "test.parquet")["C2"].to_pylist()


def test_predict_on_empty_data_writes_nothing(files, run):
    pacsv.write_csv(pq.read_table(files / "test.parquet").slice(0, 0), files / "empty.csv")
    with pytest.raises(DataError, match="no rows to score"):
        predict_run(run, str(files / "empty.csv"), files / "none" / "scores.parquet")
    assert not (files / "none").exists()


@pytest.mark.parametrize("mode", ["streaming", "sample"])
def test_out_of_memory_fits_give_the_in_memory_preprocessing(files, run, mode, tmp_path):
    data = {"train": str(files / "train.parquet"), "streaming": True, "rows_per_chunk": 300,
            "fit_preprocessing": mode, "fit_sample_rows": 5000}
    result = train_run({**CONFIG, "data": data}, tmp_path / "run")
    memory = open_run(run)[3].state_dict()
    fitted = result.preprocessor.state_dict()
    assert fitted["vocabularies"] == memory["vocabularies"] and fitted["boundaries"] == memory["boundaries"]
    np.testing.assert_allclose(fitted["dense_stats"]["I1"]["mean"], memory["dense_stats"]["I1"]["mean"], rtol=1e-10)
    if mode == "sample":  # 100 of 1000 rows: a smaller vocabulary of the same values
        small = train_run({**CONFIG, "data": {**data, "fit_sample_rows": 100}}, tmp_path / "small").preprocessor
        assert set(small.vocabulary("C2")) < set(memory["vocabularies"]["C2"])


def test_streaming_runs_evaluate_valid_test_and_evaluate_piece_by_piece(files, tmp_path, monkeypatch):
    """A data.streaming run reads valid and test through the streaming loader (in file order), and
    `recblocks evaluate` on it does too: the metrics equal an in-memory evaluation of the same file."""
    import json

    from recblocks.data import loader as loader_module
    from recblocks.runs import evaluate_run
    from recblocks.runs.scoring import evaluate_batch

    data = {"train": str(files / "train.parquet"), "valid": str(files / "test.parquet"),
            "test": str(files / "test.csv"), "streaming": True, "rows_per_chunk": 300}
    streamed = []
    real = loader_module.StreamingLoader.__iter__

    def spy(self):
        streamed.append((self.source.name.rsplit("/", 1)[-1], self.shuffle))
        return real(self)

    monkeypatch.setattr(loader_module.StreamingLoader, "__iter__", spy)
    raw = {**CONFIG, "data": data, "train": {**CONFIG["train"], "eval_batch_size": 100}}
    train_run(raw, tmp_path / "run")
    assert ("test.parquet", False) in streamed and ("test.csv", False) in streamed
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    _, config, _, preprocessor, model = open_run(tmp_path / "run")
    batch, _, _ = data_batch(str(files / "test.csv"), preprocessor, {"label": "float"}, [])
    whole = evaluate_batch(model, config.train, batch, "whole")
    for key in ("auc", "logloss"):
        assert metrics["test"][key] == pytest.approx(whole[key], rel=1e-6)
        assert metrics["valid"][key] == pytest.approx(whole[key], rel=1e-6)  # the same rows as Parquet
    streamed.clear()
    evaluated, _ = evaluate_run(tmp_path / "run", str(files / "test.parquet"))
    assert streamed == [("test.parquet", False)]
    assert evaluated["auc"] == pytest.approx(whole["auc"], rel=1e-6)
    empty = files.parent / "empty_eval.parquet"
    pq.write_table(pq.read_table(files / "test.parquet").slice(0, 0), empty)
    with pytest.raises(DataError, match=r"empty_eval.parquet: the data has no rows"):
        evaluate_run(tmp_path / "run", str(empty))


def test_a_streamed_test_file_that_cannot_be_read_fails_before_training(files, tmp_path):
    pq.write_table(pq.read_table(files / "test.parquet").slice(0, 0), tmp_path / "empty.parquet")
    data = {"train": str(files / "train.parquet"), "test": str(tmp_path / "empty.parquet"), "streaming": True,
            "rows_per_chunk": 300}
    with pytest.raises(DataError, match=r"empty.parquet: the data has no rows"):
        train_run({**CONFIG, "data": data}, tmp_path / "run")
    assert not (tmp_path / "run" / "epochs.jsonl").exists()  # no epoch was trained
