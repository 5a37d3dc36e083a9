import json

import pytest
import torch
from torch import nn

from recblocks.core import ConfigError, DataError
from recblocks.runs import RunDir, RunDirExistsError
from recblocks.training import TrainConfig, build_optimizer, load_state_dict, save_state_dict


def test_refuses_a_non_empty_directory_without_overwrite(tmp_path):
    root = tmp_path / "run"
    with RunDir(root, config={"a": 1}) as run:
        run.save_weights({"w": torch.ones(2)})
    with pytest.raises(RunDirExistsError) as err:
        RunDir(root)
    assert isinstance(err.value, ConfigError)
    assert "--overwrite" in str(err.value) and "status complete" in str(err.value)
    with RunDir(root, overwrite=True) as run:  # only the files the manifest lists are removed
        assert sorted(p.name for p in run.path.iterdir()) == ["run.json"]


def test_overwrite_never_empties_a_directory_without_run_files(tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(RunDirExistsError, match="has no run.json"):
        RunDir(tmp_path, overwrite=True)
    assert (tmp_path / "thesis.tex").read_text() == "precious"
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirExistsError, match="is a file"):
        RunDir(tmp_path / "file")


def test_overwrite_refuses_a_run_that_also_holds_a_user_file(tmp_path):
    with RunDir(tmp_path / "run", config={"a": 1}) as run:
        pass
    (run.path / "notes.txt").write_text("mine")
    with pytest.raises(RunDirExistsError, match="did not write.*notes.txt"):
        RunDir(run.path, overwrite=True)
    assert (run.path / "notes.txt").read_text() == "mine" and run.config_path.is_file()


def test_empty_existing_directory_is_fine_and_open_needs_a_directory(tmp_path):
    run = RunDir(tmp_path)
    assert run.path == tmp_path
    run.finish()
    with pytest.raises(DataError, match="run directory not found"):
        RunDir.open(tmp_path / "missing")
    with pytest.raises(DataError, match="model weights not found"):
        RunDir.open(tmp_path).load_state_dict()


def test_config_epochs_and_metrics_files(tmp_path):
    run = RunDir(tmp_path / "r", config=TrainConfig(epochs=2))
    assert run.read_config()["epochs"] == 2
    run.append_epoch({"epoch": 0, "valid": {"auc": 0.7, "gauc": float("nan")}})
    run.append_epoch({"epoch": 1, "valid": {"auc": torch.tensor(0.75)}})
    assert [e["epoch"] for e in run.read_epochs()] == [0, 1]
    assert run.read_epochs()[0]["valid"]["gauc"] is None  # NaN is not JSON
    run.write_metrics({"best_epoch": 1, "valid": {"auc": 0.75}})
    run.write_metrics({"test": {"auc": 0.74}, "data": {"rows": 10}})
    assert run.read_metrics() == {"best_epoch": 1, "valid": {"auc": 0.75}, "test": {"auc": 0.74}, "data": {"rows": 10}}
    json.loads(run.metrics_path.read_text())
    run.finish()
    assert RunDir.open(run.path).read_metrics()["best_epoch"] == 1


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(5, 3)
        self.out = nn.Linear(3, 5, bias=False)
        self.out.weight = self.embedding.weight  # tied
        self.register_buffer("steps", torch.tensor(7))


def test_safetensors_round_trip_with_shared_and_strided_tensors(tmp_path):
    model = Tied()
    base = torch.arange(12.0).reshape(3, 4)
    state = {**model.state_dict(), "transposed": base.t(), "row": base[1], "whole": base}
    path = save_state_dict(tmp_path / "w.safetensors", state)
    loaded = load_state_dict(path)
    assert set(loaded) == set(state)
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    fresh = Tied()
    fresh.load_state_dict({k: loaded[k] for k in fresh.state_dict()})
    assert torch.equal(fresh.out.weight, model.embedding.weight)


def test_weights_and_optimizer_round_trip(tmp_path, fake):
    torch.manual_seed(0)
    model = fake.Model()
    opt = build_optimizer(model, TrainConfig())
    features = {"user": torch.tensor([1, 2]), "x1": torch.ones(2), "x2": torch.ones(2)}
    model(features).logits["ctr"].sum().backward()
    opt.step()
    with RunDir(tmp_path / "r") as run:
        run.save_weights(model)
        run.save_optimizer(opt)
    other = RunDir.open(run.path).load_weights(fake.Model())
    assert all(torch.equal(other.state_dict()[k], v) for k, v in model.state_dict().items())
    fresh_opt = build_optimizer(other, TrainConfig())
    run.load_optimizer(fresh_opt)
    assert torch.equal(fresh_opt.optimizers["dense"].state_dict()["state"][0]["exp_avg"],
                       opt.optimizers["dense"].state_dict()["state"][0]["exp_avg"])
    with pytest.raises(DataError, match="do not fit this model"):
        run.load_weights(fake.Model(dim=8))
    with pytest.raises(DataError, match="unexpected"):
        run.load_weights(nn.Linear(2, 2))
