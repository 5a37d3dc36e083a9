"""train.device: cuda and mixed precision on a real GPU (skipped without CUDA).

``RECBLOCKS_TEST_DEVICE=cpu`` runs the same checks on the CPU (fp16 left out): a dry run of this
file on a machine without a GPU.
"""

import os

import numpy as np
import pytest
import torch
import yaml

from recblocks.features.batch import Batch
from recblocks.runs import load_run, train_run
from recblocks.runs.scoring import predict_data
from recblocks.training.devices import move_batch
from recblocks.training.train_state import read_training_state

DEVICE = os.environ.get("RECBLOCKS_TEST_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA device")

CONFIG = """
data:
  synthetic: {num_rows: 3000, num_dense: 2, vocab_sizes: [50, 200], seed: 7}
features:
  - {name: I1, kind: dense}
  - {name: I2, kind: dense}
  - {name: C1, kind: sparse, embedding_dim: 8}
  - name: C2
    kind: sparse
    embedding_dim: 8
    vocabulary: {type: dynamic, max_rows: 128, admit_min_count: 2, evict_after: 30}
model:
  feature_groups:
    - {group_name: all, feature_names: [I1, I2, C1, C2]}
  backbone:
    blocks:
      - {name: deep, inputs: [{feature_group_name: all}], component: {class_name: MLP, params: {hidden_units: [64, 32]}}}
    concat_blocks: [deep]
  task: {type: binary, label: label}
train: {epochs: 2, batch_size: 128, progress: false, tensorboard: false, seed: 2, save_checkpoints_steps: 20,
        device: cuda}
"""


def _raw(**train):
    raw = yaml.safe_load(CONFIG)
    raw["train"].update({"device": DEVICE, **train})
    return raw


def test_batches_move_whole_to_the_gpu():
    batch = Batch({"x": torch.ones(3)}, {"y": torch.zeros(3)}, {"g": torch.arange(3)})
    moved = move_batch(batch, torch.device(DEVICE))
    assert {t.device.type for d in (moved.features, moved.labels, moved.extras) for t in d.values()} == {DEVICE}


@pytest.mark.parametrize("precision", ["none", "bf16", "fp16"])
def test_trains_on_cuda_and_the_run_scores_the_same_on_cpu(tmp_path, precision):
    if precision == "fp16" and DEVICE == "cpu":
        pytest.skip("fp16 needs CUDA")
    result = train_run(_raw(mixed_precision=precision), tmp_path / "run")
    assert next(result.model.parameters()).device.type == DEVICE
    assert all(p.dtype == torch.float32 for p in result.model.parameters())
    assert np.isfinite(result.history.epochs[-1].train_loss)
    print(f"{precision}: train loss {result.history.epochs[-1].train_loss:.5f} valid auc {result.valid_metrics['auc']:.4f}")
    state = read_training_state(sorted((tmp_path / "run" / "checkpoints").iterdir())[-1])
    assert all(t.device.type == "cpu" for t in state.model.values())
    if precision == "fp16":
        assert "grad_scaler" in state.trainer
    from recblocks.datasets.synthetic import make_synthetic

    table = make_synthetic(**_raw()["data"]["synthetic"]).slice(0, 500)
    loaded = load_run(tmp_path / "run")  # device-free files: the CPU reads what the GPU wrote
    on_gpu = predict_data(result.model, loaded.fitted_run_config, result.preprocessor, table, device=DEVICE)[0]
    assert next(loaded.module.parameters()).device.type == "cpu"
    on_cpu = loaded.predict(table)
    for name, values in on_cpu.items():
        assert np.allclose(values, on_gpu[name], atol=1e-5), name


def test_fp32_and_bf16_on_cuda_reach_close_losses(tmp_path):
    full = train_run(_raw(save_checkpoints_steps=None), tmp_path / "fp32")
    half = train_run(_raw(save_checkpoints_steps=None, mixed_precision="bf16"), tmp_path / "bf16")
    a, b = full.history.epochs[-1].train_loss, half.history.epochs[-1].train_loss
    print(f"{DEVICE} train loss fp32 {a:.5f} bf16 {b:.5f}")
    assert abs(a - b) < 0.03 * a
