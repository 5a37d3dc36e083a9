"""train.device and train.mixed_precision on the CPU (the CUDA checks: test_devices_cuda.py)."""

import copy

import pytest
import torch
import yaml
from click.testing import CliRunner

from recblocks.cli.main import cli
from recblocks.core.errors import ConfigError
from recblocks.features.batch import Batch
from recblocks.runs import train_run
from recblocks.training.devices import float32_outputs, move_batch, resolve_device
from recblocks.training.train_state import read_training_state

CONFIG = """
data:
  synthetic: {num_rows: 800, num_dense: 2, vocab_sizes: [20, 40], seed: 3}
features:
  - {name: I1, kind: dense}
  - {name: I2, kind: dense}
  - {name: C1, kind: sparse, embedding_dim: 8}
  - {name: C2, kind: sparse, embedding_dim: 8}
model:
  feature_groups:
    - {group_name: all, feature_names: [I1, I2, C1, C2]}
  backbone:
    blocks:
      - {name: deep, inputs: [{feature_group_name: all}], component: {class_name: MLP, params: {hidden_units: [32, 16]}}}
    concat_blocks: [deep]
  task: {type: binary, label: label}
train: {epochs: 2, batch_size: 64, progress: false, tensorboard: false, seed: 1}
"""

cuda_missing = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")


def _raw(**train):
    raw = yaml.safe_load(CONFIG)
    raw["train"].update(train)
    return raw


@cuda_missing
def test_cuda_without_cuda_is_one_config_error_before_training(tmp_path):
    for name in ("cuda", "cuda:1"):
        with pytest.raises(ConfigError, match=r"^train\.device: CUDA was requested but torch sees no CUDA device"):
            train_run(_raw(device=name), tmp_path / name)
    result = CliRunner().invoke(cli, ["train", "--demo", "--device", "cuda", "-o", str(tmp_path / "cli")])
    assert result.exit_code != 0
    assert "--device: CUDA was requested" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "cli").exists()  # refused before the run directory was made
    resumed = CliRunner().invoke(cli, ["train", "--resume", str(tmp_path / "no-such-run"), "--device", "cuda"])
    assert resumed.exit_code != 0 and "--device: CUDA was requested" in resumed.output  # before the run is read
    assert resolve_device("auto").type == "cpu"


def test_unknown_device_and_fp16_on_cpu_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"^train\.device: unknown device 'gpu'.*did you mean 'cuda'"):
        train_run(_raw(device="gpu"), tmp_path / "a")
    with pytest.raises(ConfigError, match=r"^train\.mixed_precision: fp16 autocast with a loss scaler needs a CUDA"):
        train_run(_raw(device="cpu", mixed_precision="fp16"), tmp_path / "b")


def test_explicit_cpu_device_trains_and_checkpoints_are_cpu_tensors(tmp_path):
    result = train_run(_raw(device="cpu", save_checkpoints_steps=5, epochs=1), tmp_path / "run")
    assert next(result.model.parameters()).device.type == "cpu"
    state = read_training_state(sorted((tmp_path / "run" / "checkpoints").iterdir())[-1])
    tensors = list(state.model.values())
    for per_param in state.optimizer["optimizers"]["dense"]["state"].values():
        tensors += [v for v in per_param.values() if isinstance(v, torch.Tensor)]
    assert tensors and all(t.device.type == "cpu" for t in tensors)


def test_bf16_autocast_trains_close_to_float32_and_keeps_tables_float32(tmp_path):
    raw = _raw(device="cpu", epochs=1)
    raw["data"]["synthetic"]["num_rows"] = 400
    full = train_run(copy.deepcopy(raw), tmp_path / "fp32")
    raw["train"]["mixed_precision"] = "bf16"
    half = train_run(raw, tmp_path / "bf16")
    loss32, loss16 = full.history.epochs[-1].train_loss, half.history.epochs[-1].train_loss
    assert torch.isfinite(torch.tensor(loss16)) and abs(loss16 - loss32) < 0.02 * loss32, (loss16, loss32)
    assert abs(half.valid_metrics["auc"] - full.valid_metrics["auc"]) < 0.03
    assert all(p.dtype == torch.float32 for p in half.model.parameters())
    assert half.model.embeddings.fused["dim8"].table.weight.dtype == torch.float32
    assert loss16 != loss32  # autocast really ran the forward in bfloat16
    print(f"train loss fp32 {loss32:.5f} bf16 {loss16:.5f}; valid auc fp32 {full.valid_metrics['auc']:.4f} "
          f"bf16 {half.valid_metrics['auc']:.4f}")


def test_float32_outputs_casts_nested_half_tensors_only():
    from recblocks.models import ModelOutput

    out = ModelOutput({"ctr": torch.ones(2, dtype=torch.bfloat16)}, auxiliary={"a": (torch.ones((), dtype=torch.float16), 0.5)},
                      lookups=[torch.ones(2, 3, dtype=torch.bfloat16)], extra={"ids": torch.ones(2, dtype=torch.int64)})
    cast = float32_outputs(out)
    assert cast.logits["ctr"].dtype == torch.float32 and cast.auxiliary["a"][0].dtype == torch.float32
    assert cast.auxiliary["a"][1] == 0.5 and cast.lookups[0].dtype == torch.float32
    assert cast.extra["ids"].dtype == torch.int64


def test_move_batch_moves_every_column():
    batch = Batch({"x": torch.ones(3)}, {"y": torch.zeros(3)}, {"g": torch.arange(3)})
    moved = move_batch(batch, torch.device("meta"))
    assert {t.device.type for d in (moved.features, moved.labels, moved.extras) for t in d.values()} == {"meta"}


def test_predict_and_evaluate_take_a_device(tmp_path):
    raw = _raw(device="auto", mixed_precision="bf16")  # auto is the CPU here; scoring runs in float32
    train_run(copy.deepcopy(raw), tmp_path / "run")
    from recblocks.datasets.synthetic import make_synthetic

    import pyarrow.parquet as pq

    pq.write_table(make_synthetic(**raw["data"]["synthetic"]), tmp_path / "data.parquet")
    runner = CliRunner()
    out = runner.invoke(cli, ["evaluate", str(tmp_path / "run"), "--data", str(tmp_path / "data.parquet"),
                              "--device", "cpu"])
    assert out.exit_code == 0, out.output
    assert "auc=" in out.output
    if not torch.cuda.is_available():
        out = runner.invoke(cli, ["predict", str(tmp_path / "run"), "--data", str(tmp_path / "data.parquet"),
                                  "-o", str(tmp_path / "p.parquet"), "--device", "cuda"])
        assert out.exit_code != 0 and "--device: CUDA was requested" in out.output
        assert not (tmp_path / "p.parquet").exists()


def test_resume_on_another_device_setting(tmp_path):
    import json

    raw = _raw(save_checkpoints_steps=4, epochs=1)
    raw["data"]["synthetic"]["num_rows"] = 300
    train_run(raw, tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    manifest.update(status="failed", error="KeyboardInterrupt: interrupted")  # what Ctrl-C leaves
    (tmp_path / "run" / "run.json").write_text(json.dumps(manifest))
    config_before = (tmp_path / "run" / "config.yaml").read_text()
    result = CliRunner().invoke(cli, ["train", "--resume", str(tmp_path / "run"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "complete"
    assert (tmp_path / "run" / "config.yaml").read_text() == config_before  # the device is not the run's config
