"""EasyRec's train_config optimizers: ftrl, momentumw, adam_async and two optimizer_config entries."""

from __future__ import annotations

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_pipeline_config
from recblocks.easyrec.train_section import train_section
from recblocks.easyrec.translate import translate_pipeline
from recblocks.runs import parse_run_config
from recblocks.runs.experiment import build_model
from recblocks.training import build_optimizer
from recblocks.training.ftrl import Ftrl

PIPELINE = '''train_input_path: "train.csv"
train_config { %s num_steps: 10 }
data_config { input_type: CSVInput label_fields: "clk" batch_size: 8
  input_fields { input_name: "clk" input_type: INT32 } input_fields { input_name: "uid" }
  input_fields { input_name: "price" input_type: DOUBLE } }
feature_config { features { input_names: "uid" feature_type: IdFeature hash_bucket_size: 100 embedding_dim: 4 }
  features { input_names: "price" feature_type: RawFeature } }
model_config { model_class: "DeepFM" feature_groups { group_name: "wide" feature_names: ["uid", "price"] wide_deep: WIDE }
  feature_groups { group_name: "deep" feature_names: ["uid"] wide_deep: DEEP }
  deepfm { dnn { hidden_units: [4] } final_dnn { hidden_units: [2] } } }
'''

FTRL = 'optimizer_config { ftrl_optimizer { l1_reg: 10 learning_rate { constant_learning_rate { learning_rate: 0.05 } } } }'
ADAM = ('optimizer_config { adam_optimizer { learning_rate { exponential_decay_learning_rate { '
        'initial_learning_rate: 0.001 decay_steps: 5 decay_factor: 0.5 } } } }')


def _train(optimizers: str, notes: list[str] | None = None) -> dict:
    pipeline = parse_pipeline_config(PIPELINE % optimizers)
    return train_section(pipeline["train_config"], pipeline["data_config"], notes=notes)


def test_single_optimizers_map_with_easyrec_defaults():
    assert _train(FTRL)["optimizer"] == {"name": "ftrl", "lr_power": -0.5, "initial_accumulator_value": 0.1,
                                         "l1": 10.0, "l2": 0.0, "l2_shrinkage": 0.0}
    momentumw = 'optimizer_config { momentumw_optimizer { weight_decay: 1e-5 } }'
    assert _train(momentumw)["optimizer"] == {"name": "sgdw", "weight_decay": 1e-5, "momentum": 0.9}
    assert _train(ADAM.replace("adam_optimizer", "adam_async_optimizer"))["optimizer"] == {"name": "adam"}


def test_two_optimizers_are_the_embedding_and_the_dense_optimizer_and_build():
    notes: list[str] = []
    train = _train(FTRL + " " + ADAM, notes)
    assert train["embedding_optimizer"]["name"] == "ftrl" and train["embedding_optimizer"]["lr"] == 0.05
    assert train["optimizer"] == {"name": "adam"}
    assert "exponential_decay_learning_rate" in train["lr_schedule"]
    assert any("[0]: ftrl (lr 0.05) updates the embedding tables" in n for n in notes)
    assert any("constant_learning_rate schedule is replaced" in n for n in notes)
    config, schema = parse_run_config(translate_pipeline(parse_pipeline_config(PIPELINE % (FTRL + " " + ADAM))))
    optimizer = build_optimizer(build_model(config, schema), config.train)
    assert isinstance(optimizer.optimizers["embedding"], Ftrl)
    assert optimizer.learning_rates() == {"dense": 0.001, "embedding": 0.05}
    notes.clear()
    momentum = _train('optimizer_config { momentumw_optimizer { } } ' + ADAM, notes)
    assert momentum["embedding_optimizer"] == {"name": "sgdw", "lr": 0.002}  # row-wise: no momentum, no decay
    assert "momentum and weight_decay of [0] dropped" in notes[0]


def test_three_optimizers_and_unknown_ones_name_their_place():
    with pytest.raises(ConfigError, match=r"^train_config.optimizer_config: at most two optimizer_config"):
        _train(" ".join([FTRL, ADAM, ADAM]))
    with pytest.raises(ConfigError, match=r"^train_config.optimizer_config\[0\]: unsupported or missing optimizer.*"
                                          r"got 'rms_prop_optimizer'"):
        _train('optimizer_config { rms_prop_optimizer { } }')
