"""``train.embedding_backend: torchrec`` in the Trainer (one process; the trainer starts a gloo group of one).

The zoo DeepFM (configs/ml100k_ctr/deepfm.yaml, a 600-row slice of the CTR split) trains through the
unchanged training loop to the same losses and weights as the plain backend (SGD); the trainer's
model is the plain model again after ``fit``; a trainer checkpoint (plain weights, gathered
optimizer state) resumes to the weights of the uninterrupted run. Skipped, with the reason
printed, without the TorchRec extra.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from recblocks.core.errors import ConfigError
from recblocks.layers.embedding import EmbeddingCollection

HERE = Path(__file__).resolve().parent
SKIP_REASON = "the torchrec backend needs the TorchRec extra: run `make setup-torchrec` to install it"


def _zoo() -> Any:
    """The zoo helpers of test_torchrec_backend.py (one definition of the model and data)."""
    spec = importlib.util.spec_from_file_location("torchrec_zoo", HERE / "test_torchrec_backend.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture
def zoo() -> Any:
    module = _zoo()
    if not module.CTR.is_file():
        pytest.skip(f"{module.CTR} is absent")
    pytest.importorskip("torchrec", reason=SKIP_REASON)
    import torch.distributed as dist

    yield module
    if dist.is_initialized():
        dist.destroy_process_group()


def _fit(zoo: Any, train: dict[str, Any], callbacks: list[Any] = (), resume: Any = None) -> tuple[Any, Any]:
    from recblocks.data.loader import InMemoryLoader
    from recblocks.training.trainer import Trainer

    model, batches = zoo.zoo_deepfm(seed=0, embedding_regularization=0.0)
    trainer = Trainer(model, {"batch_size": 100, "epochs": 2, "progress": False, "tensorboard": False,
                              "log_every": 1, **train}, list(callbacks))
    history = trainer.fit(InMemoryLoader(batches["train"], 100, shuffle=True, seed=0), resume=resume)
    return trainer, history


def test_the_trainer_trains_like_the_plain_backend(zoo: Any) -> None:
    sgd = {"optimizer": {"name": "sgd", "lr": 0.1}}
    plain, plain_history = _fit(zoo, sgd)
    sharded, history = _fit(zoo, {**sgd, "embedding_backend": "torchrec"})
    assert [r.train_loss for r in history.epochs] == pytest.approx([r.train_loss for r in plain_history.epochs],
                                                                   abs=1e-6)
    model = sharded.model  # the plain model again, with the trained weights
    assert not hasattr(model, "dmp") and any(isinstance(m, EmbeddingCollection) for m in model.modules())
    expected = plain.model.state_dict()
    state = model.state_dict()
    assert list(state) == list(expected)
    for key, value in expected.items():
        assert (state[key] - value).abs().max().item() < 1e-5, key


def test_a_trainer_checkpoint_resumes_the_torchrec_run(zoo: Any) -> None:
    from recblocks.training.callbacks import Callback

    class Keep(Callback):
        state: Any = None

        def on_checkpoint(self, trainer: Any) -> None:
            self.state = trainer.training_state()

    train = {**zoo.TRAIN, "embedding_backend": "torchrec", "save_checkpoints_steps": 3}
    keep = Keep()
    uninterrupted, _ = _fit(zoo, train, [keep])
    assert keep.state.trainer["global_step"] == 6 and "torchrec" in keep.state.optimizer
    first = Keep()
    _fit(zoo, {**train, "max_steps": 3}, [first])  # stops after the checkpoint at step 3
    assert first.state.trainer["global_step"] == 3
    resumed, _ = _fit(zoo, train, resume=first.state)
    expected = uninterrupted.model.state_dict()
    for key, value in resumed.model.state_dict().items():
        assert (expected[key] - value).abs().max().item() < 1e-6, key


def test_the_doc_config_trains(zoo: Any) -> None:
    """docs/distributed/torchrec.md's config block, as written, drives a (short) torchrec run."""
    import re

    import yaml

    doc = (HERE.parents[1] / "docs" / "distributed" / "torchrec.md").read_text(encoding="utf-8")
    train = yaml.safe_load(re.search(r"```yaml\n(.*?)```", doc, re.S).group(1))["train"]  # type: ignore[union-attr]
    assert train["embedding_backend"] == "torchrec"
    trainer, history = _fit(zoo, {**train, "max_steps": 2})
    assert history.global_step == 2 and not hasattr(trainer.model, "dmp")


def test_recblocks_train_writes_a_plain_run_directory(zoo: Any, tmp_path: Path) -> None:
    """``recblocks train`` with the torchrec backend; ``recblocks evaluate`` scores the run unsharded alike."""
    import json

    import pyarrow.parquet as pq
    from click.testing import CliRunner

    from recblocks.cli.main import cli

    table = pq.read_table(zoo.CTR)
    for split, (start, rows) in {"train": (0, 400), "valid": (400, 100), "test": (500, 100)}.items():
        pq.write_table(table.slice(start, rows), tmp_path / f"{split}.parquet")
    run = tmp_path / "run"
    args = ["train", str(zoo.REPO / "configs" / "ml100k_ctr" / "deepfm.yaml"), "-o", str(run),
            *[f"--{s}={tmp_path / s}.parquet" for s in ("train", "valid", "test")],
            "--set", "train.epochs=1", "--set", "train.batch_size=100", "--set", "train.embedding_backend=torchrec",
            "--set", "train.embedding_optimizer={name: adagrad, lr: 0.05}", "--set", "train.save_checkpoints_steps=2",
            "--set", "train.progress=false", "--set", "train.tensorboard=false"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert (run / "model.safetensors").is_file() and any((run / "checkpoints").iterdir())
    test = json.loads((run / "metrics.json").read_text(encoding="utf-8"))["test"]
    evaluated = CliRunner().invoke(cli, ["evaluate", str(run), "--data", str(tmp_path / "test.parquet")])
    assert evaluated.exit_code == 0, evaluated.output
    assert f"auc={test['auc']:.4f}" in evaluated.output and f"logloss={test['logloss']:.4f}" in evaluated.output


def test_grad_clipping_is_refused(zoo: Any) -> None:
    with pytest.raises(ConfigError, match="^train.grad_clip_norm: "):
        _fit(zoo, {"optimizer": {"name": "sgd"}, "embedding_backend": "torchrec", "grad_clip_norm": 1.0})


def test_the_config_names_the_backends() -> None:
    from recblocks.training.config import TrainConfig

    assert TrainConfig().embedding_backend == "plain"
    with pytest.raises(Exception, match="torchrec"):
        TrainConfig.model_validate({"embedding_backend": "torchrek"})
