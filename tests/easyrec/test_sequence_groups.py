"""EasyRec's sequence-group options through the whole pipeline: ``seq_multi_sep`` with boundaries,
``need_key_feature``, ``allow_key_transform`` and ``aux_hist_seq`` on a built-in class, trained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recblocks.core.errors import ConfigError
from recblocks.core.shapes import TensorSpec
from recblocks.easyrec.load import load_easyrec_file
from recblocks.layers.din import DIN
from recblocks.runs import train_run

CONFIG = """train_input_path: "train.csv" eval_input_path: "valid.csv"
train_config { optimizer_config { adam_optimizer { learning_rate { constant_learning_rate { learning_rate: 0.01 } } } }
  num_steps: 10 }
eval_config { metrics_set { auc {} } }
data_config { input_type: CSVInput label_fields: ["clk", "buy"] batch_size: 32
  input_fields { input_name: "clk" input_type: INT32 } input_fields { input_name: "buy" input_type: INT32 }
  input_fields { input_name: "uid" } input_fields { input_name: "brand" }
  input_fields { input_name: "brand_hist" } input_fields { input_name: "price_hist" } }
feature_configs { input_names: "uid" feature_type: IdFeature hash_bucket_size: 100 embedding_dim: 8 }
feature_configs { input_names: "brand" feature_type: IdFeature hash_bucket_size: 50 embedding_dim: 8 }
feature_configs { input_names: "brand_hist" feature_type: SequenceFeature sub_feature_type: RawFeature
  sequence_length: 5 separator: "|" seq_multi_sep: ";" boundaries: [10, 20, 30] embedding_dim: 16 }
feature_configs { input_names: "price_hist" feature_type: SequenceFeature sub_feature_type: RawFeature
  sequence_length: 5 separator: "|" boundaries: [1, 2] embedding_dim: 4 }
model_config { model_class: "DBMTL"
  feature_groups { group_name: "all" feature_names: ["uid", "brand"] wide_deep: DEEP
    sequence_features { group_name: "seq_fea" %s
      seq_att_map { key: "brand" hist_seq: "brand_hist" aux_hist_seq: "price_hist" } } }
  dbmtl { bottom_dnn { hidden_units: [16] }
    task_towers { tower_name: "ctr" label_name: "clk" loss_type: CLASSIFICATION dnn { hidden_units: [8] } }
    task_towers { tower_name: "cvr" label_name: "buy" loss_type: CLASSIFICATION dnn { hidden_units: [8] } } } }
"""


def _write_data(folder: Path) -> None:
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(160):
        hist = "|".join(";".join(str(v) for v in rng.integers(0, 40, size=rng.integers(1, 4)))
                        for _ in range(rng.integers(1, 7)))
        prices = "|".join(f"{x:.1f}" for x in rng.uniform(0, 3, size=5))
        lines.append(f"{rng.integers(0, 2)},{rng.integers(0, 2)},{rng.integers(0, 20)},{rng.integers(0, 9)},"
                     f"{hist},{prices}")
    (folder / "train.csv").write_text("\n".join(lines[:120]) + "\n")
    (folder / "valid.csv").write_text("\n".join(lines[120:]) + "\n")


@pytest.mark.parametrize("options, transform, width", [
    ("allow_key_transform: true", "pad", 16 + 4 + 16),
    ("allow_key_transform: true transform_dnn: true", "dense", 16 + 4 + 16),
    ("need_key_feature: false allow_key_transform: true", "pad", 16 + 4)])
def test_sequence_group_options_translate_to_din_and_train(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           options: str, transform: str, width: int) -> None:
    _write_data(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.config").write_text(CONFIG % options)
    raw = load_easyrec_file(tmp_path / "p.config")
    features = {f["name"]: f for f in raw["features"]}
    assert (features["brand_hist"]["element_separator"], features["brand_hist"]["boundaries"]) == (";", [10, 20, 30])
    blocks = {b["name"]: b for b in raw["model"]["backbone"]["blocks"]}
    din = blocks["seq_dnnseq_fea"]["component"]["params"]
    assert din["aux_dim"] == 4 and din["allow_key_transform"] is True
    assert blocks["all_with_seq_fea"]["inputs"] == [{"feature_group_name": "all"}, {"block_name": "seq_dnnseq_fea"}]
    result = train_run(raw, tmp_path / "run")
    assert 0.0 <= result.valid_metrics["ctr/auc"] <= 1.0
    # EasyRec's attention output: pooled behaviours (16), pooled auxiliary prices (4), the key (8) padded
    # or projected to the behaviours' width 16 unless need_key_feature is false
    (din_module,) = [m for m in result.model.modules() if isinstance(m, DIN)]
    assert din_module.transform == transform
    spec = (TensorSpec((5, 20)), TensorSpec((), "long"), TensorSpec((8,)))
    assert din_module.output_spec(spec).shape == (width,)


def test_sequence_features_on_a_negative_sampler_group_are_refused_by_name(tmp_path: Path) -> None:
    text = (CONFIG % "").replace('wide_deep: DEEP\n', 'wide_deep: DEEP negative_sampler: true\n', 1)
    (tmp_path / "p.config").write_text(text)
    with pytest.raises(ConfigError, match=r"model_config\.feature_groups\[0\]\.negative_sampler: EasyRec attends"):
        load_easyrec_file(tmp_path / "p.config")
