"""The helpers every ranking-class translation shares (model_classes/_common.py)."""

from __future__ import annotations

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec.model_classes._common import check_model_fields, expand_feature_name, mlp_params


def test_easyrec_range_shorthand_expands_by_its_own_rule() -> None:
    assert expand_feature_name("F[1-13]") == [f"F{i}" for i in range(1, 14)]  # a range, not a regex class
    assert expand_feature_name("user_id") == ["user_id"]


def test_a_dnn_message_is_easyrecs_dense_bn_activation_dropout_stack() -> None:
    assert mlp_params({"hidden_units": [4, 2]}, "dnn") == {
        "hidden_units": [4, 2], "activation": "tf.nn.relu", "use_bn": True, "use_final_bn": True,
        "final_activation": "tf.nn.relu", "use_bias": True, "use_final_bias": True, "initializer": "glorot_uniform"}
    linear_last = mlp_params({"hidden_units": [4, 1], "use_bn": False}, "dnn", last_linear=True)
    assert (linear_last["use_final_bn"], linear_last["final_activation"]) == (False, None)
    with pytest.raises(ConfigError, match=r"dnn\.dropout_ratio: .*expected 2 ratios \(or none\), got 1"):
        mlp_params({"hidden_units": [4, 2], "dropout_ratio": [0.5]}, "dnn")


def test_empty_messages_pass_and_others_are_named() -> None:
    check_model_fields({"model_class": "DCN", "dcn": {}, "ev_params": {}}, "dcn", "model_config")
    with pytest.raises(ConfigError, match=r"model_config\.restore_filters: not supported by the translation of 'DCN'"):
        check_model_fields({"model_class": "DCN", "dcn": {}, "restore_filters": ["a"]}, "dcn", "model_config")
