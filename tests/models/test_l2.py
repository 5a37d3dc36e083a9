"""``model_params.l2_scope``: which kernels ``l2_regularization`` reaches (recblocks.models.l2)."""

from __future__ import annotations

import pytest

from recblocks.core.errors import ConfigError
from recblocks.models.config import parse_model_config
from recblocks.models.rank_model import RankModel
from tests.blocks.test_backbone import GROUPS, SCHEMA, VOCAB

BACKBONE = {"blocks": [{"name": "cross", "inputs": [{"feature_group_name": "all", "input_fn": "lambda x: [x, x]"}],
                        "recurrent": {"num_steps": 2, "fixed_input_index": 0, "keras_layer": {"class_name": "Cross"}}},
                       {"name": "deep", "inputs": [{"block_name": "cross"}],
                        "component": {"class_name": "MLP", "params": {"hidden_units": [8], "use_bn": False}}}]}


def _model(**params) -> RankModel:
    config = {"feature_groups": GROUPS, "backbone": BACKBONE, "task": {"type": "binary", "label": "label"},
              "model_params": {"l2_regularization": 0.1, **params}}
    return RankModel(SCHEMA, parse_model_config(config), VOCAB)


def test_easyrec_scope_reaches_the_mlp_only_and_all_kernels_everything():
    everything = _model()
    kernels = [n for n, p in everything.named_parameters() if any(p is k for k in everything._kernels)]
    assert any(".cross." in n for n in kernels) and any(".deep." in n for n in kernels)
    assert all(not n.startswith("embeddings.") for n in kernels)
    easyrec = _model(l2_scope="easyrec")
    picked = [n for n, p in easyrec.named_parameters() if any(p is k for k in easyrec._kernels)]
    assert picked and all(".deep." in n for n in picked), picked  # not Cross, not the output layer
    assert len(easyrec._kernels) < len(everything._kernels)
    head = [n for n, p in everything.named_parameters() if p.dim() >= 2 and ".deep." not in n and "cross" not in n]
    assert head, "the output layer is a kernel under all_kernels"


def test_an_unknown_scope_is_a_config_error():
    with pytest.raises(ConfigError, match="l2_scope"):
        _model(l2_scope="some")
