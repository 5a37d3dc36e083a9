"""The fbgemm embedding backend: the same updates as the plain backend, the plain checkpoint layout, clear errors.

The tests that run FBGEMM skip (with the reason printed by ``pytest -rs``) when the opt-in extra
is not installed (``make setup-torchrec``); the error tests run everywhere.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import torch

from recblocks.core.errors import ConfigError
from recblocks.core.params import parse_params
from recblocks.data.loader import InMemoryLoader
from recblocks.runs.experiment import Experiment, build_model
from recblocks.training import Trainer
from recblocks.training.config import TrainConfig

FBGEMM_REASON = "fbgemm-gpu-cpu is not installed (opt-in extra: `make setup-torchrec`)"
ROWS, BATCH = 240, 32


def _table(seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    user, item = rng.integers(0, 30, ROWS), rng.integers(0, 50, ROWS)
    tags = ["|".join(f"t{t}" for t in rng.integers(0, 12, rng.integers(1, 4))) for _ in range(ROWS)]
    hist = [[f"i{i}" for i in rng.integers(0, 50, rng.integers(0, 5))] for _ in range(ROWS)]
    price = rng.normal(size=ROWS)
    label = (rng.random(ROWS) < 1 / (1 + np.exp(-(user % 3 - 1 + price)))).astype(np.int64)
    return pa.table({"label": label, "user": [f"u{u}" for u in user], "item": [f"i{i}" for i in item],
                     "tags": tags, "hist_item": pa.array(hist, pa.list_(pa.string())), "price": price})


def _raw() -> dict[str, Any]:
    """Width-8 tables (one shared by ``item`` and the ``hist_item`` sequence), a multi-valued
    feature, a dense feature and width-1 wide tables (padded to FBGEMM's multiple of 4)."""
    return {
        "data": {"train": "unused.parquet"},
        "features": [
            {"name": "user", "kind": "sparse", "embedding_dim": 8},
            {"name": "item", "kind": "sparse", "embedding_dim": 8, "embedding_name": "item"},
            {"name": "tags", "kind": "multi", "separator": "|", "embedding_dim": 8},
            {"name": "hist_item", "kind": "sequence", "max_len": 4, "embedding_dim": 8, "embedding_name": "item"},
            {"name": "price", "kind": "dense"}],
        "model": {
            "feature_groups": [
                {"group_name": "wide", "feature_names": ["user", "item", "tags"], "wide_deep": "WIDE"},
                {"group_name": "deep", "feature_names": ["user", "tags", "price"]},
                {"group_name": "seq", "feature_names": ["hist_item", "item"]}],
            "backbone": {"blocks": [
                {"name": "wide_logit", "inputs": [{"feature_group_name": "wide"}], "input_layer": {"wide_output_dim": 1}},
                {"name": "seq_input", "inputs": [{"feature_group_name": "seq"}],
                 "input_layer": {"output_seq_and_normal_feature": True}},
                {"name": "din", "inputs": [{"block_name": "seq_input"}],
                 "component": {"class_name": "DIN", "params": {"attention_dnn": {"hidden_units": [4, 1]}}}},
                {"name": "deep_in", "inputs": [{"feature_group_name": "deep"}]}],
                "concat_blocks": ["wide_logit", "din", "deep_in"], "top_mlp": {"hidden_units": [8]}},
            "task": {"type": "binary", "label": "label"}},
        "train": {"progress": False},
    }


@pytest.fixture(scope="module")
def setup() -> tuple[Any, Any, Any]:
    experiment = Experiment.from_raw(_raw())
    experiment.tables = {"train": _table()}
    preprocessor = experiment.fit_preprocessor()
    return experiment, preprocessor, experiment.batch("train", preprocessor)


def _train(setup: tuple[Any, Any, Any], train: dict[str, Any], steps: int = 12) -> tuple[Any, Trainer]:
    experiment, preprocessor, batch = setup
    torch.manual_seed(0)
    model = build_model(experiment.config, experiment.schema, preprocessor)
    trainer = Trainer(model, {"progress": False, "epochs": 2, "max_steps": steps, "seed": 0, **train})
    trainer.fit(InMemoryLoader(batch, BATCH, shuffle=True, seed=3))
    return model, trainer


def _predict(trainer: Trainer, batch: Any) -> np.ndarray:
    scores = trainer.predict(InMemoryLoader(batch, 64, shuffle=False))
    return np.concatenate([scores[name].reshape(len(batch), -1) for name in sorted(scores)], axis=1)


@pytest.mark.parametrize("optimizer", [
    {"name": "sgd", "lr": 0.3},
    {"name": "rowwise_adagrad", "lr": 0.05, "initial_accumulator_value": 0.01},
    {"name": "adagrad", "lr": 0.05},
])
def test_fbgemm_updates_equal_the_plain_updates(setup: tuple[Any, Any, Any], optimizer: dict[str, Any]) -> None:
    pytest.importorskip("fbgemm_gpu", reason=FBGEMM_REASON)
    from recblocks.layers.embedding_fbgemm import FbgemmFusedTable

    # dense weights on SGD: Adam turns float noise in a near-zero gradient (a bias under a softmax)
    # into a full-size step, which would hide what is compared here, the embedding update
    train = {"optimizer": {"name": "sgd"}, "embedding_optimizer": optimizer,
             "lr_schedule": {"type": "exponential_decay", "decay_steps": 4, "decay_factor": 0.5,
                             "initial_learning_rate": 0.05}}
    plain, plain_trainer = _train(setup, train)
    fused, fused_trainer = _train(setup, {**train, "embedding_backend": "fbgemm"})
    tables = [m for m in fused.modules() if isinstance(m, FbgemmFusedTable)]
    assert sorted(t.dim for t in tables) == [1, 8] and not any(t.table.weight.requires_grad for t in tables)
    expected, got = plain.state_dict(), fused.state_dict()
    assert list(got) == list(expected)  # the plain layout, key for key
    moved = 0
    for name, value in expected.items():
        assert torch.allclose(got[name], value, atol=1e-5, rtol=0), name
        moved += "fused" in name
    assert moved == 2
    start = build_model(setup[0].config, setup[0].schema, setup[1])  # tables really moved from the initial ones
    assert not torch.allclose(start.state_dict()[next(k for k in expected if "dim8" in k)],
                              expected[next(k for k in expected if "dim8" in k)], atol=1e-3)
    batch = setup[2]
    np.testing.assert_allclose(_predict(fused_trainer, batch), _predict(plain_trainer, batch), atol=1e-5, rtol=0)


def test_fbgemm_state_round_trips_and_resumes_the_accumulators(setup: tuple[Any, Any, Any]) -> None:
    pytest.importorskip("fbgemm_gpu", reason=FBGEMM_REASON)
    train = {"optimizer": {"name": "adam"}, "embedding_optimizer": {"name": "rowwise_adagrad", "lr": 0.05}}
    plain, plain_trainer = _train(setup, train, steps=6)
    fused, fused_trainer = _train(setup, {**train, "embedding_backend": "fbgemm"}, steps=6)
    saved = fused_trainer.optimizer.state_dict()["optimizers"]["embedding_fused"]["state"]
    reference = plain_trainer.optimizer.optimizers["embedding"]
    for param in reference.param_groups[0]["params"]:
        key = next(n for n, p in plain.named_parameters() if p is param).removesuffix(".table.weight")
        torch.testing.assert_close(saved[key]["sum"], reference.state[param]["sum"], atol=1e-5, rtol=0)
    # a plain model loads the fbgemm checkpoint as it is
    fresh = build_model(setup[0].config, setup[0].schema, setup[1])
    fresh.load_state_dict(fused.state_dict())
    # loading into a fbgemm model reaches FBGEMM's weights and accumulators
    other, other_trainer = _train(setup, {**train, "embedding_backend": "fbgemm"}, steps=1)
    other.load_state_dict(fused.state_dict())
    other_trainer.optimizer.load_state_dict(fused_trainer.optimizer.state_dict())
    np.testing.assert_allclose(_predict(other_trainer, setup[2]), _predict(fused_trainer, setup[2]), atol=1e-6)
    again = other_trainer.optimizer.state_dict()["optimizers"]["embedding_fused"]["state"]
    for key, state in saved.items():
        assert torch.equal(again[key]["sum"], state["sum"])


def test_config_errors_name_the_place() -> None:
    with pytest.raises(ConfigError, match=r"^train.embedding_optimizer.name: the fbgemm backend fuses only these "
                                          r"optimizers .*expected one of \['adagrad', 'rowwise_adagrad', 'sgd'\], "
                                          r"got 'adam'"):
        parse_params(TrainConfig, {"embedding_backend": "fbgemm", "embedding_optimizer": {"name": "adam"}}, "train")
    with pytest.raises(ConfigError, match=r"^train.embedding_optimizer.name: .*\(no embedding_optimizer: the dense"):
        parse_params(TrainConfig, {"embedding_backend": "fbgemm"}, "train")
    with pytest.raises(ConfigError, match=r"^train.grad_clip_norm: the fbgemm backend updates the tables inside"):
        parse_params(TrainConfig, {"embedding_backend": "fbgemm", "grad_clip_norm": 1.0,
                                   "embedding_optimizer": {"name": "sgd"}}, "train")
    with pytest.raises(ConfigError, match=r"^train.embedding_backend: "):
        parse_params(TrainConfig, {"embedding_backend": "fbgem"}, "train")


def test_missing_fbgemm_or_torchrec_is_one_clear_line(setup: tuple[Any, Any, Any],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for module in [m for m in sys.modules if m.startswith("fbgemm_gpu")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "fbgemm_gpu", None)  # import fails as on a machine without the extra
    sgd = {"embedding_optimizer": {"name": "sgd"}}
    with pytest.raises(ConfigError, match=r"^train.embedding_backend: the fbgemm backend needs FBGEMM, which is not "
                                          r"installed .*`make setup-torchrec`") as caught:
        _train(setup, {**sgd, "embedding_backend": "fbgemm"}, steps=1)
    assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match=r"^train.embedding_backend: the torchrec backend needs the TorchRec "
                                          r"extra .*make setup-torchrec") as caught:
        _train(setup, {**sgd, "embedding_backend": "torchrec"}, steps=1)
    assert "\n" not in str(caught.value)


def test_core_never_imports_fbgemm(tmp_path: Path) -> None:
    import subprocess

    code = ("import sys, recblocks, recblocks.runs, recblocks.training, recblocks.layers.embedding_fbgemm; "
            "print(sorted(m for m in sys.modules if m.startswith(('fbgemm', 'torchrec'))))")
    src = Path(__file__).resolve().parents[2] / "src"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_resuming_a_fbgemm_checkpoint_continues_exactly(setup: tuple[Any, Any, Any]) -> None:
    pytest.importorskip("fbgemm_gpu", reason=FBGEMM_REASON)
    import copy

    from recblocks.training import Callback

    class Keep(Callback):
        def __init__(self) -> None:
            self.states: list[Any] = []

        def on_checkpoint(self, trainer: Trainer) -> None:
            self.states.append(copy.deepcopy(trainer.training_state()))

    experiment, preprocessor, batch = setup
    config = {"progress": False, "epochs": 2, "max_steps": 10, "seed": 0, "save_checkpoints_steps": 4,
              "embedding_backend": "fbgemm", "optimizer": {"name": "sgd", "lr": 0.05},
              "embedding_optimizer": {"name": "rowwise_adagrad", "lr": 0.05}}

    def run(resume: Any = None, keep: Keep | None = None) -> Any:
        torch.manual_seed(0)
        model = build_model(experiment.config, experiment.schema, preprocessor)
        Trainer(model, config, [keep] if keep else []).fit(InMemoryLoader(batch, BATCH, shuffle=True, seed=3),
                                                          resume=resume)
        return model.state_dict()

    keep = Keep()
    straight = run(keep=keep)
    assert len(keep.states) == 2  # steps 4 and 8 (the epoch has 8 batches: 4 is mid-epoch)
    resumed = run(resume=keep.states[0])
    for name, value in straight.items():
        torch.testing.assert_close(resumed[name], value, atol=1e-6, rtol=0, msg=name)


def test_fbgemm_is_refused_in_a_data_parallel_run(setup: tuple[Any, Any, Any],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from recblocks.training import distributed
    from recblocks.training.embedding_backend import apply_embedding_backend

    monkeypatch.setattr(distributed, "is_distributed", lambda: True)
    with pytest.raises(ConfigError, match=r"^train.embedding_backend: the fbgemm backend updates each process's "
                                          r"tables .*expected plain or torchrec under torchrun"):
        apply_embedding_backend(build_model(setup[0].config, setup[0].schema, setup[1]),
                                TrainConfig(embedding_backend="fbgemm", embedding_optimizer={"name": "sgd"}))
