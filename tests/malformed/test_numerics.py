"""Hostile numerics: poisoned weights, non-finite scores, values float32 cannot hold, a last
batch of one row under batch norm, diverging runs and labels that do not fit their task.

Errors are asserted through the CLI (class, place, exit status 2, one line, no traceback) and
every input file is checked unchanged; library-level rules (loaders, trainer) are asserted
in-process where that is clearer.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import torch
from safetensors.torch import load_file, save_file

from recblocks.data.loader import InMemoryLoader, StreamingLoader, batch_bounds
from recblocks.features.batch import Batch
from recblocks.features.preprocess import Preprocessor
from recblocks.training.errors import NonFiniteLossError, NonFiniteWeightsError
from recblocks.runs import build_model, label_columns, parse_run_config
from recblocks.runs.run_callback import RunDirCallback
from recblocks.runs.run_dir import RunDir
from recblocks.training.trainer import Trainer
from tests.malformed.conftest import ROWS, Hostile, blocks, checksums, small_table

WEIGHTS = "model.safetensors"


def _with_bn(config: dict[str, Any]) -> None:
    blocks(config)[2]["component"]["params"]["use_bn"] = True


def _without_bn(config: dict[str, Any]) -> None:
    """Long runs skip batch norm: on a busy CPU its tiny per-step kernels dominate the test's time."""
    blocks(config)[2]["component"]["params"]["use_bn"] = False


def _poison(run: Path, edit: Any) -> None:
    """Rewrite the run's weights file with ``edit(state)`` applied, and record the new file in the
    run manifest, as if the run itself had saved those weights (so the finiteness check, not the
    manifest's changed-file check, is what refuses them)."""
    import hashlib
    import json

    state = load_file(run / WEIGHTS)
    edit(state)
    save_file(state, run / WEIGHTS, metadata={"format": "pt"})
    manifest = json.loads((run / "run.json").read_text())
    data = (run / WEIGHTS).read_bytes()
    manifest["files"][WEIGHTS].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    (run / "run.json").write_text(json.dumps(manifest))


def _fused_table(state: dict[str, torch.Tensor]) -> str:
    return next(k for k in state if k.startswith("embeddings.") and k.endswith(".weight"))


def _epochs(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "epochs.jsonl").read_text().splitlines() if line.strip()]


def _metrics(run: Path) -> dict[str, Any]:
    return json.loads((run / "metrics.json").read_text())


# -- 1. NaN/inf weights and scores ------------------------------------------------------------------

POISONS = {
    "nan in an embedding table": (lambda s: s[_fused_table(s)].__setitem__((3, 1), float("nan")), "embeddings."),
    "inf in a dense layer": (lambda s: s["backbone.blocks.deep.net.0.weight"].__setitem__((0, 0), float("inf")),
                             "backbone.blocks.deep.net.0.weight"),
    "-inf in a batch-norm running variance": (
        lambda s: s["backbone.blocks.deep.net.1.running_var"].__setitem__(2, float("-inf")),
        "backbone.blocks.deep.net.1.running_var"),
}


@pytest.mark.parametrize("name", list(POISONS))
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_poisoned_weights_are_refused_naming_file_and_tensor(hostile: Hostile, name: str, command: str) -> None:
    run = hostile.trained_run()
    edit, tensor = POISONS[name]
    _poison(run, edit)
    data = hostile.data("score.parquet")
    before = checksums(hostile.root)
    args = [command, str(run), "--data", str(data)] + (["-o", str(hostile.root / "scores.csv")]
                                                        if command == "predict" else [])
    result = hostile.cli(args)
    hostile.expect_error(result, "NonFiniteWeightsError", str(run / WEIGHTS), tensor, "NaN or inf")
    assert checksums(hostile.root) == before  # no score file, nothing rewritten


def test_huge_finite_weights_give_a_non_finite_scores_error_in_predict(hostile: Hostile) -> None:
    run = hostile.trained_run()
    _poison(run, lambda s: s.update({k: v * 1e30 for k, v in s.items() if v.is_floating_point()}))
    data = hostile.data("score.parquet")
    before = checksums(hostile.root)
    result = hostile.cli(["predict", str(run), "--data", str(data), "-o", str(hostile.root / "scores.parquet")])
    hostile.expect_error(result, "NonFiniteScoresError", f"prediction of {data}", "output 'ctr'",
                         f"{ROWS} of {ROWS} rows", "data row 1")
    assert checksums(hostile.root) == before


def test_nan_scores_for_some_rows_name_the_count_and_first_row_in_evaluate(hostile: Hostile) -> None:
    """One user's embedding row is finite but huge: FM's square overflows to inf, inf - inf is NaN,
    so only that user's rows (u3: data rows 4, 11, ...) score NaN."""
    run = hostile.trained_run()
    vocab = json.loads((run / "preprocess.json").read_text())["vocabularies"]["user"]
    row = vocab.index("u3") + 2  # ids 0 padding, 1 unseen; the user table comes first in the fused table
    _poison(run, lambda s: s[_fused_table(s)][row].fill_(3e38))
    data = hostile.data("score.parquet")
    before = checksums(hostile.root)
    result = hostile.cli(["evaluate", str(run), "--data", str(data)])
    expected = sum(1 for i in range(ROWS) if i % 7 == 3)
    hostile.expect_error(result, "NonFiniteScoresError", f"evaluation of {data}", f"{expected} of {ROWS} rows",
                         "first at data row 4")
    assert checksums(hostile.root) == before


def _fitted(hostile: Hostile, table: pa.Table | None = None,
            edit: Any = None) -> tuple[dict[str, Any], Any, Preprocessor, Batch]:
    raw = hostile.config(edit)
    config, schema = parse_run_config(raw)
    table = small_table() if table is None else table
    preprocessor = Preprocessor(schema).fit(table)
    batch, _ = preprocessor.transform(table, label_columns(config.model))
    torch.manual_seed(0)
    return raw, config, preprocessor, batch


def test_training_never_saves_non_finite_weights(hostile: Hostile) -> None:
    """A NaN row that no training row looks up keeps the loss finite; the checkpoint still refuses it."""
    raw, config, preprocessor, batch = _fitted(hostile)
    model = build_model(config, parse_run_config(raw)[1], preprocessor)
    name = _fused_table(model.state_dict())
    with torch.no_grad():
        model.state_dict()[name][1].fill_(float("nan"))  # the 'unseen user' row: never looked up in training
    run = RunDir(hostile.root / "run")
    trainer = Trainer(model, config.train, [RunDirCallback(run)])
    with pytest.raises(NonFiniteWeightsError) as info:
        trainer.fit(InMemoryLoader(batch, 16, seed=0), InMemoryLoader(batch, 64, shuffle=False))
    assert "model weights at train step 4" in str(info.value) and name in str(info.value)
    assert not (hostile.root / "run" / WEIGHTS).exists()


def test_a_non_finite_first_loss_names_the_feature_with_non_finite_inputs(hostile: Hostile) -> None:
    raw, config, preprocessor, batch = _fitted(hostile)
    price = batch.features["price"].clone()
    price[5] = float("inf")
    price[9] = float("nan")
    poisoned = Batch({**batch.features, "price": price}, batch.labels, batch.extras)
    model = build_model(config, parse_run_config(raw)[1], preprocessor)
    with pytest.raises(NonFiniteLossError) as info:
        Trainer(model, config.train).fit(InMemoryLoader(poisoned, ROWS, shuffle=False))
    message = str(info.value)
    assert "train step 1" in message and "feature 'price'" in message
    assert "2 rows of the batch, first at batch row 6" in message


# -- 4. values float32 cannot hold -----------------------------------------------------------------

def _price(values: list[float]) -> pa.Table:
    return small_table().set_column(4, "price", pa.array(values, pa.float64()))


def test_values_beyond_float32_are_missing_values_not_a_loss_error(hostile: Hostile) -> None:
    """1e307 is finite in float64 but inf in float32: counted per feature and filled, training works."""
    prices = [1.0] * ROWS
    prices[7], prices[20] = 1e307, -3.5e38
    data = hostile.data("big.parquet", _price(prices))
    config = hostile.write_config(hostile.config(lambda c: c["features"][3].update(normalization="standard"),
                                                 data=data))
    before = checksums(data)
    result = hostile.cli(["train", str(config), "--output", str(hostile.root / "run")])
    assert result.exit_code == 0, result.output
    assert "price: 4 missing values" in result.output and "4 of them inf or beyond float32 range" in result.output
    report = _metrics(hostile.root / "run")["data_report"]["features"]["price"]
    assert report["out_of_range"] == 4 and report["missing"] == 4  # train and valid read the same file
    stats = json.loads((hostile.root / "run" / "preprocess.json").read_text())["dense_stats"]["price"]
    assert stats == {"mean": 1.0, "std": 0.0}  # the fitted statistics ignore the unusable values
    assert checksums(data) == before


@pytest.mark.parametrize("value,text", [(1e307, "1e307"), (float("inf"), "inf"), (-3.5e38, "-3.5e38")])
def test_unusable_values_are_refused_when_allow_missing_is_false(hostile: Hostile, value: float, text: str) -> None:
    prices = [1.0] * ROWS
    prices[11] = value
    data = hostile.data("big.parquet", _price(prices))
    config = hostile.write_config(hostile.config(lambda c: c["features"][3].update(allow_missing=False), data=data))
    before = checksums(data)
    result = hostile.cli(["train", str(config), "--output", str(hostile.root / "run")])
    hostile.expect_error(result, "DataError", str(data), "feature 'price'", "first at data row 12",
                         "allow_missing is false")
    assert checksums(data) == before
    assert not (hostile.root / "run" / WEIGHTS).exists()


def test_csv_infinity_text_in_evaluate_is_refused_with_the_row(hostile: Hostile) -> None:
    run = hostile.trained_run(edit=lambda c: c["features"][3].update(allow_missing=False))
    rows = ["label,user,item,tags,price"] + [f"{i % 2},u{i % 7},i{i % 11},a,{'-inf' if i == 30 else 0.5}"
                                             for i in range(40)]
    data = hostile.root / "eval.csv"
    data.write_text("\n".join(rows) + "\n")
    before = checksums(hostile.root)
    result = hostile.cli(["evaluate", str(run), "--data", str(data)])
    hostile.expect_error(result, "DataError", str(data), "feature 'price'", "data row 31")
    assert checksums(hostile.root) == before


def test_the_float32_boundary_is_exact(hostile: Hostile) -> None:
    largest = float(np.finfo(np.float32).max)
    table = _price([largest, -largest, np.nextafter(largest, np.inf), 1e39] + [0.0] * (ROWS - 4))
    _, config, preprocessor, batch = _fitted(hostile, table)
    counts = preprocessor.report_.features["price"]
    assert counts.out_of_range == 2 and counts.missing == 2
    assert torch.isfinite(batch.features["price"]).all()
    assert batch.features["price"][:4].tolist() == [largest, -largest, 0.0, 0.0]


# -- 2. a last batch of one row --------------------------------------------------------------------

@pytest.mark.parametrize("streaming", [False, True], ids=["in-memory", "streaming"])
@pytest.mark.parametrize("rows,batch_size", [(65, 16), (33, 8)])
def test_a_last_batch_of_one_row_joins_the_previous_batch_under_batch_norm(
        hostile: Hostile, streaming: bool, rows: int, batch_size: int) -> None:
    data = hostile.data(f"rows{rows}.parquet", small_table(rows))
    config = hostile.config(lambda c: (_with_bn(c), c["train"].update(batch_size=batch_size, epochs=2),
                                       c["data"].update(streaming=streaming, rows_per_chunk=10)), data=data)
    before = checksums(data)
    result = hostile.cli(["train", str(hostile.write_config(config)), "--output", str(hostile.root / "run")])
    assert result.exit_code == 0, result.output
    for epoch in _epochs(hostile.root / "run"):
        assert epoch["samples"] == rows  # every row trained on, once per epoch
        assert epoch["steps"] == rows // batch_size  # the single last row joined the last batch
    assert (hostile.root / "run" / "metrics.json").is_file()
    assert checksums(data) == before


def test_a_training_set_of_one_row_with_batch_norm_is_a_data_error(hostile: Hostile) -> None:
    data = hostile.data("one.parquet", small_table(1))
    config = hostile.write_config(hostile.config(_with_bn, data=data))
    before = checksums(hostile.root)
    result = hostile.cli(["train", str(config), "--output", str(hostile.root / "run")])
    hostile.expect_error(result, "DataError", "training data", "batch norm", "1 row")
    assert not (hostile.root / "run" / WEIGHTS).exists()
    assert {k: v for k, v in checksums(hostile.root).items() if not k.startswith("run/")} == before


def test_batch_size_one_with_batch_norm_is_a_config_error(hostile: Hostile) -> None:
    config = hostile.write_config(hostile.config(lambda c: (_with_bn(c), c["train"].update(batch_size=1))))
    result = hostile.cli(["train", str(config), "--output", str(hostile.root / "run")])
    hostile.expect_error(result, "ConfigError", "train.batch_size", "batch norm", "got 1")
    assert not (hostile.root / "run" / WEIGHTS).exists()


@pytest.mark.parametrize("rows", [1, 2, 15, 16, 17, 33, 47, 48, 49])
def test_loaders_never_cut_a_single_row_batch(hostile: Hostile, rows: int) -> None:
    """In-memory and streaming (chunks of 5 rows, a buffer of 16) agree: all rows, once, no 1-row batch."""
    table = small_table(rows)
    raw, config, preprocessor, _ = _fitted(hostile, table)
    data = hostile.data(f"r{rows}.parquet", table)
    labels = label_columns(config.model)
    memory = [len(b) for b in InMemoryLoader(preprocessor.transform(table, labels)[0], 16, seed=1)]
    stream = [len(b) for b in StreamingLoader(data, preprocessor, labels, batch_size=16, rows_per_chunk=5, seed=1)]
    expected = [end - start for start, end in batch_bounds(rows, 16)]
    assert memory == expected and sum(stream) == rows and sorted(stream) == sorted(expected)
    assert rows == 1 or 1 not in memory + stream


# -- 3. divergence -----------------------------------------------------------------------------------

def test_a_diverging_run_warns_with_the_step_in_the_log_epochs_and_metrics(hostile: Hostile,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    """Adam with learning rate 1e3: the loss jumps to ~1e6; every epoch says so, and so does metrics.json."""
    config = hostile.write_config(hostile.config(lambda c: (_without_bn(c), c["train"].update(
        optimizer={"name": "adam", "lr": 1e3}, epochs=3, batch_size=4, log_every=8))))
    with caplog.at_level(logging.WARNING, logger="recblocks.training"):
        result = hostile.cli(["train", str(config), "--output", str(hostile.root / "run")])
    assert result.exit_code == 0, result.output
    warnings = _metrics(hostile.root / "run")["warnings"]
    assert [w["kind"] for w in warnings] == ["loss_divergence"] * 3
    assert [w["epoch"] for w in warnings] == [1, 2, 3]
    assert all(w["step"] % 8 == 0 and "diverging" in w["message"] for w in warnings)
    assert [len(e["warnings"]) for e in _epochs(hostile.root / "run")] == [1, 1, 1]
    logged = [r.getMessage() for r in caplog.records if "diverging" in r.getMessage()]
    assert len(logged) == 3 and f"step {warnings[0]['step']}" in logged[0]


def test_validation_auc_at_chance_after_enough_steps_warns(hostile: Hostile) -> None:
    """A model whose logits are zeroed by a slip in an input_fn scores every row alike: its AUC is
    exactly 0.5, and once past 100 steps the run says so."""

    def zero_inputs(c: dict[str, Any]) -> None:
        _without_bn(c)
        c["train"].update(epochs=7, batch_size=4)
        blocks(c)[3]["inputs"][0]["input_fn"] = "lambda x: x * 0.0"
        blocks(c)[3]["inputs"][1]["input_fn"] = "lambda x: x * 0.0"

    config = hostile.write_config(hostile.config(zero_inputs))
    result = hostile.cli(["train", str(config), "--output", str(hostile.root / "run")])
    assert result.exit_code == 0, result.output
    warnings = _metrics(hostile.root / "run")["warnings"]
    chance = [w for w in warnings if w["kind"] == "auc_at_chance"]
    assert [w["epoch"] for w in chance] == [7] and chance[0]["step"] == 112  # 16 steps per epoch; rule from 100
    assert "validation auc is 0.5000" in chance[0]["message"]


def test_healthy_runs_raise_no_divergence_warning(hostile: Hostile) -> None:
    """The suite's base config (batch norm on) synced every step for 104 steps, and the demo on a
    smaller planted synthetic set for 100 steps: past the AUC rule's 100 steps, no warning."""
    config = hostile.write_config(hostile.config(lambda c: c["train"].update(epochs=13, batch_size=8, log_every=1)),
                                  "a.yaml")
    result = hostile.cli(["train", str(config), "--output", str(hostile.root / "a")])
    assert result.exit_code == 0, result.output
    assert _metrics(hostile.root / "a")["warnings"] == []
    demo = hostile.cli(["train", "--demo", "--output", str(hostile.root / "demo"),
                        "--set", "data.synthetic.num_rows=8000", "--set", "train.batch_size=64",
                        "--set", "train.epochs=1", "--set", "train.log_every=5", "--set", "train.progress=false"])
    assert demo.exit_code == 0, demo.output
    metrics = _metrics(hostile.root / "demo")
    assert metrics["global_step"] >= 100 and metrics["warnings"] == []


ML100K = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ml-100k-ctr"


@pytest.mark.skipif(not (ML100K / "train.parquet").is_file(), reason=f"ML-100K CTR split absent ({ML100K})")
@pytest.mark.parametrize("model", ["deepfm", "dcn_v2"])
def test_zoo_configs_on_ml100k_raise_no_divergence_warning(hostile: Hostile, model: str) -> None:
    config = Path(__file__).resolve().parents[2] / "configs" / "ml100k_ctr" / f"{model}.yaml"
    result = hostile.cli(["train", str(config), "--output", str(hostile.root / "run"),
                          "--train", str(ML100K / "train.parquet"), "--valid", str(ML100K / "valid.parquet"),
                          "--set", "data.test=null", "--set", "train.max_steps=100", "--set", "train.batch_size=128",
                          "--set", "train.log_every=5", "--set", "train.progress=false"])
    assert result.exit_code == 0, result.output
    metrics = _metrics(hostile.root / "run")
    assert metrics["global_step"] == 100 and metrics["warnings"] == []


# -- 5. labels ---------------------------------------------------------------------------------------

def _labels(values: list[Any], type_: pa.DataType | None = None) -> pa.Table:
    return small_table().set_column(0, "label", pa.array(values, type_))


def test_fractional_labels_in_evaluate_are_refused_naming_column_count_and_row(hostile: Hostile) -> None:
    run = hostile.trained_run()
    values = [i % 2 for i in range(ROWS)]
    values[9], values[40] = 0.3, 0.75
    data = hostile.data("soft.parquet", _labels(values, pa.float64()))
    before = checksums(hostile.root)
    result = hostile.cli(["evaluate", str(run), "--data", str(data)])
    hostile.expect_error(result, "DataError", str(data), "label 'label'", "2 fractional binary labels",
                         "first at data row 10", "data.soft_labels")
    assert checksums(hostile.root) == before


def test_fractional_labels_in_training_are_refused(hostile: Hostile) -> None:
    data = hostile.data("soft.parquet", _labels([0.5] * ROWS))
    config = hostile.write_config(hostile.config(data=data))
    before = checksums(data)
    result = hostile.cli(["train", str(config), "--output", str(hostile.root / "run")])
    hostile.expect_error(result, "DataError", "label 'label'", f"{ROWS} fractional binary labels", "data row 1")
    assert checksums(data) == before


def test_soft_labels_are_trained_and_evaluated_when_asked_for_and_noted(hostile: Hostile) -> None:
    values = [[0.2, 0.9, 1.0, 0.0][i % 4] for i in range(ROWS)]
    data = hostile.data("soft.parquet", _labels(values))
    run = hostile.trained_run(edit=lambda c: (c["data"].update(soft_labels=True, train=str(data), valid=str(data))))
    result = hostile.cli(["evaluate", str(run), "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert f"label 'label': {ROWS // 2} fractional (soft) labels kept" in result.output


@pytest.mark.parametrize("values,type_,reasons", [
    ([2, -1] + [0, 1] * 31, pa.int64(), {"out_of_range": 2}),
    ([None, float("nan"), float("inf")] + [1.0] * 61, pa.float64(), {"missing": 2, "out_of_range": 1}),
    (["yes", "", "1", "0"] * 16, pa.string(), {"not_a_number": 16, "missing": 16}),
], ids=["outside-0-1", "null-nan-inf", "text"])
def test_bad_binary_labels_are_dropped_and_counted_alike_in_train_and_evaluate(
        hostile: Hostile, values: list[Any], type_: pa.DataType, reasons: dict[str, int]) -> None:
    data = hostile.data("labels.parquet", _labels(values, type_))
    before = checksums(data)
    config = hostile.write_config(hostile.config(data=data, valid=False))
    train = hostile.cli(["train", str(config), "--output", str(hostile.root / "run")])
    assert train.exit_code == 0, train.output
    dropped = sum(reasons.values())
    report = _metrics(hostile.root / "run")["data_report"]
    assert report["bad_rows"] == dropped and report["bad_labels"] == {"label": reasons}
    evaluate = hostile.cli(["evaluate", str(hostile.root / "run"), "--data", str(data)])
    assert evaluate.exit_code == 0, evaluate.output
    assert f"label 'label': {dropped} rows dropped for a bad label" in evaluate.output
    assert f"label 'label': {dropped} rows dropped for a bad label" in train.output
    assert checksums(data) == before


def test_labels_of_lists_are_refused_naming_the_label(hostile: Hostile) -> None:
    data = hostile.data("labels.parquet", _labels([[1]] * ROWS))
    config = hostile.write_config(hostile.config(data=data))
    before = checksums(data)
    result = hostile.cli(["train", str(config), "--output", str(hostile.root / "run")])
    hostile.expect_error(result, "DataError", str(data), "label 'label'", "one number per row")
    assert checksums(data) == before


def test_labels_with_no_number_at_all_are_refused_naming_the_label(hostile: Hostile) -> None:
    data = hostile.data("labels.parquet", _labels(["clicked", "skipped"] * (ROWS // 2)))
    run = hostile.trained_run()
    before = checksums(hostile.root)
    result = hostile.cli(["evaluate", str(run), "--data", str(data)])
    hostile.expect_error(result, "DataError", "label 'label'", "no value of the column is a number", "clicked")
    assert checksums(hostile.root) == before


def test_multiclass_ids_outside_the_classes_are_dropped_and_counted(hostile: Hostile) -> None:
    values = [i % 3 for i in range(ROWS)]
    values[4], values[5], values[6] = 3, -1, 1.5
    data = hostile.data("classes.parquet", _labels(values, pa.float64()))

    def multiclass(c: dict[str, Any]) -> None:
        c["model"]["task"] = {"type": "multiclass", "label": "label", "num_classes": 3}
        blocks(c)[2]["component"]["params"]["hidden_units"] = [8, 3]
        c["model"]["backbone"].update(blocks=[blocks(c)[0], blocks(c)[2]], concat_blocks=["deep"])

    config = hostile.write_config(hostile.config(multiclass, data=data, valid=False))
    result = hostile.cli(["train", str(config), "--output", str(hostile.root / "run")])
    assert result.exit_code == 0, result.output
    report = _metrics(hostile.root / "run")["data_report"]
    assert report["bad_labels"] == {"label": {"out_of_range": 2, "not_integer": 1}}
    assert "3 rows dropped for a bad label" in result.output


def test_every_label_bad_names_the_reasons(hostile: Hostile) -> None:
    data = hostile.data("labels.parquet", _labels([7] * (ROWS - 4) + [None] * 4, pa.int64()))
    config = hostile.write_config(hostile.config(data=data))
    before = checksums(data)
    result = hostile.cli(["train", str(config), "--output", str(hostile.root / "run")])
    hostile.expect_error(result, "DataError", str(data), "every row was dropped", "60 out of range", "4 missing",
                         f"{ROWS} bad rows of {ROWS}")
    assert checksums(data) == before


def test_an_unknown_label_kind_is_a_config_error() -> None:
    from recblocks.core.errors import ConfigError
    from recblocks.features.labels import parse_label_kind

    with pytest.raises(ConfigError) as info:
        parse_label_kind("classes:1", "labels.y")
    assert "labels.y" in str(info.value) and "classes:N" in str(info.value)
