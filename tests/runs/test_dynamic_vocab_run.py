"""A run with a dynamic-vocabulary feature: trains, keeps its mapping in the run, predicts with it."""

import numpy as np
import pyarrow as pa
import torch
import yaml

from recblocks.runs import load_run, train_run
from recblocks.training.checkpoint import load_state_dict

CONFIG = """
data:
  synthetic: {num_rows: 1000, num_dense: 1, vocab_sizes: [300, 20], seed: 5}
features:
  - {name: I1, kind: dense}
  - name: C1
    kind: sparse
    embedding_dim: 4
    vocabulary: {type: dynamic, max_rows: 64, admit_min_count: 2, evict_after: 20}
  - {name: C2, kind: sparse, embedding_dim: 4}
model:
  feature_groups:
    - {group_name: all, feature_names: [I1, C1, C2]}
  backbone:
    blocks:
      - {name: deep, inputs: [{feature_group_name: all}], component: {class_name: MLP, params: {hidden_units: [8]}}}
    concat_blocks: [deep]
  task: {type: binary, label: label}
train: {epochs: 2, batch_size: 50, progress: false, tensorboard: false,
        optimizer: {name: adagrad, lr: 0.05}}
"""


def test_dynamic_vocabulary_trains_bounded_and_predicts_from_the_run(tmp_path):
    raw = yaml.safe_load(CONFIG)
    result = train_run(raw, tmp_path / "run")
    vocab = result.model.embeddings.vocabularies["deep__C1"]
    summary = vocab.state_summary()
    assert 0 < summary["step"] <= result.history.global_step  # one mapping step per training batch
    assert 0 < summary["rows_used"] <= 62  # 300 values, 62 id rows: admitted, evicted, bounded
    assert result.model.embeddings.fused["dim4"].table.weight.shape[0] == 64 + 22  # C1's 64 rows + C2's
    saved = load_state_dict(tmp_path / "run" / "model.safetensors")
    assert {"embeddings.vocabularies.deep__C1.row_ids", "embeddings.vocabularies.deep__C1.step"} <= set(saved)
    loaded = load_run(tmp_path / "run")
    held = loaded.module.embeddings.vocabularies["deep__C1"]
    assert held.state_summary() == summary  # restore_best: the best weights and their own mapping
    from recblocks.datasets.synthetic import make_synthetic

    table = make_synthetic(**raw["data"]["synthetic"]).slice(0, 200)
    def scores(data):
        return next(iter(loaded.predict(data).values()))

    first = scores(table)
    assert np.array_equal(first, scores(table))  # predicting changes no mapping
    assert held.state_summary() == summary
    unseen = table.set_column(table.column_names.index("C1"), "C1", pa.array(["never-seen"] * 200))
    ids_unknown = loaded.preprocessor.transform(unseen)[0].features["C1"]
    assert torch.equal(held(ids_unknown), torch.ones(200, dtype=torch.int64))  # unknown ids -> the unknown row
    assert not np.allclose(scores(unseen), first)


def test_export_refuses_a_dynamic_vocabulary_in_one_line(tmp_path):
    import pytest

    from recblocks.export.errors import ExportError
    from recblocks.export.package import export_model

    raw = yaml.safe_load(CONFIG)
    raw["data"]["synthetic"]["num_rows"] = 200
    raw["train"]["epochs"] = 1
    result = train_run(raw, tmp_path / "run")
    with pytest.raises(ExportError, match=r"^feature 'C1': cannot be exported to onnx: its dynamic vocabulary"):
        export_model(result.model, result.preprocessor, "onnx", tmp_path / "export")


def test_a_resumed_run_continues_with_the_checkpointed_mapping_bit_identically():
    import copy

    from recblocks.runs.experiment import Experiment, build_model
    from recblocks.training import Callback
    from recblocks.training.trainer import Trainer, seed_everything

    raw = yaml.safe_load(CONFIG)
    raw["data"]["synthetic"]["num_rows"] = 400
    raw["train"].update(save_checkpoints_steps=5, restore_best=False, epochs=2)
    experiment = Experiment.from_raw(raw)
    experiment.plan()
    preprocessor = experiment.fit_preprocessor()
    loader = experiment._train_loader(preprocessor)

    class Grab(Callback):
        state = None

        def on_checkpoint(self, trainer):
            if trainer.global_step == 10:  # mid-epoch 2 (7 batches an epoch)
                self.state = copy.deepcopy(trainer.training_state())

    def fresh():
        seed_everything(0)
        return build_model(experiment.config, experiment.schema, preprocessor)

    grab = Grab()
    whole = Trainer(fresh(), experiment.config.train, [grab])
    whole.fit(loader)
    assert grab.state is not None and "embeddings.vocabularies.deep__C1.row_ids" in grab.state.model
    resumed = Trainer(fresh(), experiment.config.train)
    resumed.fit(loader, resume=grab.state)
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    assert whole.model.embeddings.vocabularies["deep__C1"].step.item() == whole.global_step == 14


def test_dynamic_vocabulary_is_refused_where_rows_would_go_wrong(tmp_path, monkeypatch):
    """Another embedding backend keeps its own weights; data-parallel processes would map ids apart."""
    import pytest

    from recblocks.core.errors import ConfigError
    from recblocks.training import distributed
    from recblocks.training.embedding_backend import _check_dynamic_vocabularies

    raw = yaml.safe_load(CONFIG)
    raw["train"]["embedding_backend"] = "fbgemm"
    with pytest.raises(ConfigError, match=r"^features\.C1\.vocabulary: a dynamic vocabulary resets the rows .*"
                                          r"the fbgemm backend keeps its own copy") as caught:
        train_run(raw, tmp_path / "fbgemm")
    assert "\n" not in str(caught.value)
    raw = yaml.safe_load(CONFIG)
    raw["train"]["epochs"] = 1
    model = train_run(raw, tmp_path / "one").model
    monkeypatch.setattr(distributed, "is_distributed", lambda: True)  # the check the trainer makes on its first step
    with pytest.raises(ConfigError, match=r"^features\.C1\.vocabulary: each data-parallel process would map a new id"):
        _check_dynamic_vocabularies(model, "plain")
