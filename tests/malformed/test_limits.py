"""Limits before work: size bounds of the params models, the memory plan, and expression budgets.

Each hostile config is refused with a one-line ConfigError naming the config path (or block
and expression), exit status 2, before anything large is allocated or any file is written.
The acceptance cases run a real process and read its peak memory from the operating system.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from recblocks.core.errors import ConfigError
from recblocks.core.limits import GB, machine_memory
from recblocks.features.schema import Schema
from recblocks.runs import Model, build_model, parse_run_config, plan_rows
from tests.malformed.conftest import Hostile, blocks, checksums

Edit = Callable[[dict[str, Any]], Any]


def _refused(hostile: Hostile, edit: Edit, *parts: str, command: str = "validate") -> str:
    """Run ``command`` on the edited BASE config; one-line ConfigError with ``parts``; no file changed."""
    path = hostile.write_config(hostile.config(edit))
    before = checksums(hostile.root)
    args = ["validate", str(path)] if command == "validate" else ["train", str(path), "-o", str(hostile.root / "run")]
    line = hostile.expect_error(hostile.cli(args), "ConfigError", *parts)
    assert checksums(hostile.root) == before
    assert not (hostile.root / "run").exists()
    return line


def _add_block(block: dict[str, Any]) -> Edit:
    return lambda c: blocks(c).append(block)


def _hashed(rows: int, limit_gb: float | None = None) -> Edit:
    """Feature 'user' hashed into ``rows`` buckets of width 4 (optionally with ``train.memory_limit_gb``)."""

    def edit(c: dict[str, Any]) -> None:
        c["features"][0].update(kind="hashed", hash_bucket_size=rows)
        if limit_gb is not None:
            c["train"]["memory_limit_gb"] = limit_gb

    return edit


# ----------------------------------------------------------------------------------- params bounds
BOUND_CASES: list[tuple[str, Edit, str, str]] = [
    ("hash_bucket_size over 2**40", _hashed(2**41), "features[0].hash_bucket_size", "1099511627776"),
    ("feature embedding_dim 1e7", lambda c: c["features"][1].update(embedding_dim=10**7),
     "features[1].embedding_dim", "65536"),
    ("model embedding_dim 1e7", lambda c: c["model"].update(embedding_dim=10**7), "model.embedding_dim", "65536"),
    ("max_len 1e9", lambda c: c["features"][2].update(max_len=10**9), "features[2].max_len", "65536"),
    ("max_vocab_size 1e15", lambda c: c["features"][0].update(max_vocab_size=10**15), "features[0].max_vocab_size",
     "1099511627776"),
    ("num_buckets 1e7", lambda c: c["features"].append({"name": "p2", "column": "price", "kind": "bucketized",
                                                         "num_buckets": 10**7}), "features[4].num_buckets", "1000000"),
    ("MLP width 1e7", lambda c: blocks(c)[2]["component"]["params"].update(hidden_units=[10**7, 1]),
     "blocks[2].component.params.hidden_units[0]", "1048576"),
    ("MLP with 2,000 layers", lambda c: blocks(c)[2]["component"]["params"].update(hidden_units=[2] * 2000),
     "blocks[2].component.params.hidden_units", "at most 1000"),
    ("Dense units 1e9", _add_block({"name": "wide", "inputs": [{"block_name": "deep"}],
                                    "component": {"class_name": "Dense", "params": {"units": 10**9}}}),
     "blocks[4].component.params.units", "1048576"),
    ("CrossNet 1e6 layers", _add_block({"name": "cross", "inputs": [{"block_name": "deep"}],
                                        "component": {"class_name": "CrossNet", "params": {"num_layers": 10**6}}}),
     "blocks[4].component.params.num_layers", "1000"),
    ("repeat num_repeat 1e6", _add_block({"name": "heads", "inputs": [{"block_name": "deep"}],
                                          "repeat": {"num_repeat": 10**6, "component": {"class_name": "MLP",
                                                                                        "params": {"hidden_units": [2]}}}}),
     "blocks[4].repeat.num_repeat", "1000"),
    ("recurrent num_steps 1e6", _add_block({"name": "chain", "inputs": [{"block_name": "deep"}],
                                            "recurrent": {"num_steps": 10**6, "component": {"class_name": "Dense",
                                                                                            "params": {"units": 1}}}}),
     "blocks[4].recurrent.num_steps", "1000"),
    ("wide_output_dim 1e7", lambda c: blocks(c)[0]["input_layer"].update(wide_output_dim=10**7),
     "blocks[0].input_layer.wide_output_dim", "65536"),
    ("num_threads 100000", lambda c: c["train"].update(num_threads=100_000), "train.num_threads", "1024"),
    ("epochs 1e9", lambda c: c["train"].update(epochs=10**9), "train.epochs", "1000000"),
    ("max_steps 1e15", lambda c: c["train"].update(max_steps=10**15), "train.max_steps", "1000000000000"),
    ("batch_size 1e9", lambda c: c["train"].update(batch_size=10**9), "train.batch_size", "16777216"),
    ("eval_batch_size 1e9", lambda c: c["train"].update(eval_batch_size=10**9), "train.eval_batch_size", "16777216"),
    ("seed 2**100", lambda c: c["train"].update(seed=2**100), "train.seed", "18446744073709551615"),
    ("negative seed", lambda c: c["train"].update(seed=-1), "train.seed", "greater than or equal to 0"),
    ("log_every 1e12", lambda c: c["train"].update(log_every=10**12), "train.log_every", "1000000000"),
    ("rows_per_chunk 1e12", lambda c: c["data"].update(rows_per_chunk=10**12), "data.rows_per_chunk", "67108864"),
    ("CSV block_size 1e12", lambda c: c["data"].update(train={"path": c["data"]["train"], "block_size": 10**12}),
     "data.train.block_size", "1073741824"),
    ("memory_limit_gb negative", lambda c: c["train"].update(memory_limit_gb=-1), "train.memory_limit_gb",
     "greater than or equal to 0"),
    ("synthetic num_rows 1e12", lambda c: c["data"].update(synthetic={"num_rows": 10**12}),
     "data.synthetic.num_rows", "100000000"),
    ("synthetic vocabulary 1e12", lambda c: c["data"].update(synthetic={"vocab_sizes": [10, 10**12]}),
     "data.synthetic.vocab_sizes[1]", "100000000"),
]


@pytest.mark.parametrize("name,edit,where,bound", BOUND_CASES, ids=[c[0] for c in BOUND_CASES])
def test_size_bound_names_the_config_path(hostile: Hostile, name: str, edit: Edit, where: str, bound: str) -> None:
    _refused(hostile, edit, where, bound)


def test_too_many_bucket_boundaries(hostile: Hostile) -> None:
    entry = {"name": "p", "kind": "bucketized", "boundaries": [float(i) for i in range(1_000_001)]}
    with pytest.raises(ConfigError, match=r"features\[0\].boundaries.*at most 999999"):
        Schema([entry])


def test_plan_with_too_many_steps_is_refused_before_building(hostile: Hostile) -> None:
    heads = [{"name": f"heads{i}", "inputs": [{"block_name": "deep"}],
              "repeat": {"num_repeat": 1000, "component": {"class_name": "MLP", "params": {"hidden_units": [2]}}}}
             for i in range(6)]
    started = time.perf_counter()
    _refused(hostile, lambda c: blocks(c).extend(heads), "model.backbone.blocks[8]", "too many steps", "5,000")
    assert time.perf_counter() - started < 30  # counted from the config, not built (hang guard)


# ----------------------------------------------------------------------------------- memory plan
def test_huge_hashed_table_is_refused_by_the_memory_plan(hostile: Hostile) -> None:
    line = _refused(hostile, _hashed(10**12), "model: the planned model needs more memory",
                    "embedding table 'user' 1,000,000,000,002 x 4 = 16,000.0 GB", "train.memory_limit_gb",
                    "SparseAdam state of the embedding tables")
    assert "half of this" in line


def test_train_refuses_before_reading_data_or_writing_the_run(hostile: Hostile) -> None:
    _refused(hostile, _hashed(10**12), "embedding table 'user'", command="train")


def test_huge_mlp_widths_name_the_block(hostile: Hostile) -> None:
    _refused(hostile, lambda c: blocks(c)[2]["component"]["params"].update(hidden_units=[2**20, 2**20, 1]),
             "weights of block 'deep'", "Adam state of the dense parameters")


def test_activations_of_one_batch_are_planned(hostile: Hostile) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["features"][2].update(max_len=65536)
        c["train"].update(batch_size=10**6)

    _refused(hostile, edit, "activations of one training batch of 1,000,000 rows")


def test_an_explicit_limit_refuses_a_small_model(hostile: Hostile) -> None:
    _refused(hostile, lambda c: c["train"].update(memory_limit_gb=1e-6), "at most 1.0 KB (train.memory_limit_gb = 1e-06)")


def test_limit_zero_turns_the_check_off(hostile: Hostile) -> None:
    path = hostile.write_config(hostile.config(lambda c: c["train"].update(memory_limit_gb=0)))
    result = hostile.cli(["validate", str(path)])
    assert result.exit_code == 0, result.output


def test_adagrad_state_is_one_accumulator(hostile: Hostile) -> None:
    def edit(c: dict[str, Any]) -> None:
        _hashed(10**9, limit_gb=10)(c)
        c["train"]["optimizer"] = {"name": "adagrad"}

    _refused(hostile, edit, "Adagrad state of the embedding tables (row-wise) = 16.0 GB",
             "embedding table 'user' 1,000,000,002 x 4 = 16.0 GB", "about 32.0 GB", "at most 10.0 GB")


def test_sgd_keeps_no_table_state(hostile: Hostile) -> None:
    def edit(c: dict[str, Any]) -> None:
        _hashed(10**9, limit_gb=10)(c)
        c["train"]["optimizer"] = {"name": "sgd"}

    line = _refused(hostile, edit, "about 16.0 GB")
    assert "state of the embedding tables" not in line


def test_synthetic_data_is_part_of_the_plan(hostile: Hostile) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["data"] = {"synthetic": {"num_rows": 100_000_000, "num_dense": 1000}}
        c["train"]["memory_limit_gb"] = 100

    _refused(hostile, edit, "synthetic data of 100,000,000 rows")


def test_evaluate_plans_an_evaluation_batch(hostile: Hostile) -> None:
    config, schema = parse_run_config(hostile.config(lambda c: c["train"].update(memory_limit_gb=1e-6)))
    with pytest.raises(ConfigError, match="activations of one evaluation batch of 8,192 rows|weights of"):
        build_model(config, schema, purpose="evaluate")


def test_model_build_checks_before_allocating(hostile: Hostile) -> None:
    model = Model.from_config(hostile.config(_hashed(10**12)))
    with pytest.raises(ConfigError, match=r"Model.build: .*Model.build\(memory_limit_gb=.*embedding table 'user'"):
        model.build()
    assert model.module is None
    small = Model.from_config(hostile.config())
    with pytest.raises(ConfigError, match="memory_limit_gb = 1e-06"):
        small.build(memory_limit_gb=1e-6)
    assert small.build(memory_limit_gb=0) is small.module


def test_model_fit_checks_before_training(hostile: Hostile) -> None:
    model = Model.from_config(hostile.config())
    with pytest.raises(ConfigError, match="train.memory_limit_gb"):
        model.fit(hostile.data(), epochs=1, memory_limit_gb=1e-6, progress=False)
    assert model.module is None


def test_plan_rows_checks_the_fitted_vocabulary(hostile: Hostile) -> None:
    config = hostile.config(lambda c: c["train"].update(memory_limit_gb=1e-6))
    with pytest.raises(ConfigError, match="needs more memory"):
        plan_rows(config, fit_data=True)


# ----------------------------------------------------------------------------------- expression budgets
def _lambda_block(expression: str) -> Edit:
    return _add_block({"name": "boom", "inputs": [{"block_name": "fields", "input_slice": "[0]"}],
                       "lambda": {"expression": expression}})


EXPRESSION_CASES = [
    ("5-D outer product", "lambda x: [y[:, :, None, None, None] * y[:, None, :, None, None] * y[:, None, None, :, None]"
                          " * y[:, None, None, None, :] for y in [tf.concat([x, x, x, x], axis=1)[:, :40]]][0]",
     "builds a tensor that is too large", "(3, 40, 40, 40, 40)"),
    ("power tower", "lambda x: [i ** i ** i for i in range(99)]", "integer power 5 ** 3125", "4,096 bits"),
    ("repeated squaring", "lambda x: [d * d for a in [3 ** 2000] for b in [a * a] for c in [b * b] for d in [c * c]]",
     "'*' builds an integer that is too large", "bits"),
    ("add_n of half a million terms", "lambda x: tf.add_n([x] * 500000)", "too many tensors", "10,000"),
    ("python sum of tensors", "lambda x: sum([x] * 20000)", "too many tensors", "10,000"),
    ("einsum over seven indices", "lambda x: tf.einsum('bi,bj,bk,bl,bm,bn,bo->b', x, x, x, x, x, x, x)[:, None]",
     "tensor work is too large ('tf.einsum')", "16,777,216"),
    ("work of many large steps", "lambda x: [(x[:, :, None, None, None] * x[:, None, :, None, None] * "
                                 "x[:, None, None, :, None] * x[:, None, None, None, :]).sum(dim=[1, 2, 3, 4]) "
                                 "for i in range(1000)][0]", "tensor work is too large", "per sample"),
    ("string repetition", "lambda x: 'ab' * 10 ** 9", "too many Python elements", "1,000,000"),
    ("list of a billion", "lambda x: list(range(10 ** 9))", "too many Python elements", "1,000,000"),
    ("indexing with a huge index list", "lambda x: x[[0] * 900000]", "builds a tensor that is too large", "900000"),
]


@pytest.mark.parametrize("name,expression,problem,detail", EXPRESSION_CASES, ids=[c[0] for c in EXPRESSION_CASES])
def test_expression_over_budget_names_block_and_expression(hostile: Hostile, name: str, expression: str,
                                                           problem: str, detail: str) -> None:
    started = time.perf_counter()
    line = _refused(hostile, _lambda_block(expression), "block 'boom'", "model.backbone.blocks[4].lambda",
                    "is too expensive", problem, detail)
    assert expression[:60] in line
    assert time.perf_counter() - started < 60  # hang guard: planned on meta tensors


def test_batch_quadratic_expression_is_refused_at_the_planned_batch_size(hostile: Hostile) -> None:
    expression = ("lambda x: (x[:, :, None, None, None] * x[:, None, :, None, None] * x[:, None, None, :, None]"
                  " * x[:, None, None, None, :] * x[:, None, None, None, None, :]).sum(dim=[1, 2, 3, 4, 5])")
    _refused(hostile, _lambda_block(expression), "block 'boom'", "builds a tensor that is too large", "(4096, 4096")


def test_input_fn_over_budget_names_the_edge(hostile: Hostile) -> None:
    _refused(hostile, lambda c: blocks(c)[2]["inputs"][1].update(input_fn="lambda x: tf.add_n([x] * 20000)"),
             "model.backbone.blocks[2].inputs[1].input_fn", "block 'deep'", "too many tensors")


def test_expressions_within_budget_still_plan(hostile: Hostile) -> None:
    edit = _lambda_block("lambda x: tf.reduce_sum(x[:, :, None] * x[:, None, :], axis=2) + tf.add_n([x] * 100)")
    model, rows, _ = plan_rows(hostile.config(edit), fit_data=False)
    assert any(r["block"] == "boom" and r["output"] == "(B, 12)" for r in rows)


# ----------------------------------------------------------------------------------- acceptance: real processes
#: Runs the command in ARGV[2:] with a timeout of ARGV[1] seconds and prints its ru_maxrss. A
#: small launcher process stands between pytest and the command: Linux carries the high-water
#: mark of the memory a process had when it called exec into ``ru_maxrss``, so a command
#: started straight from pytest (a large process after thousands of tests) would report
#: pytest's memory, not its own.
_LAUNCHER = """
import os, subprocess, sys, threading
proc = subprocess.Popen(sys.argv[2:])
timer = threading.Timer(float(sys.argv[1]), proc.kill)
timer.start()
_, status, usage = os.wait4(proc.pid, 0)
timer.cancel()
print("MAXRSS", usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def _run_measured(args: list[str], cwd: Path, timeout: float = 120) -> tuple[int, str, int, float]:
    """``recblocks ARGS`` as a real process: (exit status, output, peak RSS in bytes, seconds).

    The peak is the command's own ``ru_maxrss`` from ``os.wait4`` (the kernel's high-water mark
    of its resident memory), read by a small launcher process (see ``_LAUNCHER``); the launcher
    kills the command after ``timeout`` (hang guard).
    """
    out_path = cwd / "child-output.txt"
    with out_path.open("w") as out:
        started = time.perf_counter()
        report = subprocess.run([sys.executable, "-c", _LAUNCHER, str(timeout), sys.executable, "-m",
                                 "recblocks.cli.main", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=out,
                                text=True, timeout=timeout + 30)
        seconds = time.perf_counter() - started
    text = out_path.read_text()
    out_path.unlink()
    lines = report.stdout.splitlines()
    last = lines[-1].split() if lines else []
    assert len(last) == 3 and last[0] == "MAXRSS", report.stdout
    text = "\n".join(lines[:-1]) + ("\n" if lines[:-1] else "") + text
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return int(last[2]), text, int(last[1]) * scale, seconds


def _config_with_bomb(hostile: Hostile) -> Path:
    levels = ["  - &l0 [" + ", ".join(['"lol"'] * 9) + "]"]
    levels += [f"  - &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 9)]
    text = "bombs:\n" + "\n".join(levels) + "\n" + yaml.safe_dump(hostile.config(), sort_keys=False)
    return hostile.write_config(text.replace("epochs: 1", "epochs: *l8"), "bomb.yaml")


def _config_of_100_gb(hostile: Hostile) -> Path:
    rows = 100 * GB // (4 * 4)  # 6,250,000,000 rows of 4 floats: 100 GB of parameters alone
    return hostile.write_config(hostile.config(_hashed(rows)), "huge.yaml")


@pytest.mark.skipif(not hasattr(os, "wait4"), reason="needs os.wait4 for the child's peak memory")
@pytest.mark.parametrize("command", ["validate", "train"])
@pytest.mark.parametrize("case", ["alias bomb", "100 GB model"])
def test_refused_quickly_without_allocating_in_a_real_process(hostile: Hostile, case: str, command: str) -> None:
    if case == "100 GB model" and machine_memory()[0] // 2 > 400 * GB:
        pytest.skip("this machine's default memory limit would allow the model")
    path = _config_with_bomb(hostile) if case == "alias bomb" else _config_of_100_gb(hostile)
    args = ["validate", str(path)] if command == "validate" else ["train", str(path), "-o", str(hostile.root / "run")]
    before = checksums(hostile.root)
    code, text, peak, seconds = _run_measured(args, hostile.root)
    assert code == 2, text
    part = "alias '*l" if case == "alias bomb" else "embedding table 'user' 6,250,000,002 x 4 = 100.0 GB"
    lines = [line for line in text.splitlines() if line.startswith("error (ConfigError):")]
    assert len(lines) == 1 and part in lines[0] and "Traceback" not in text, text
    if case == "alias bomb":
        assert f"{path}:" in lines[0]
    assert peak < 2 * GB, f"peak resident memory {peak / GB:.2f} GB"
    assert seconds < 120
    assert checksums(hostile.root) == before and not (hostile.root / "run").exists()
