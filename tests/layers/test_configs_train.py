"""Configs using the components of issue 10 plan and train a few steps through ``train_run``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recblocks.runs import train_run

BASE: dict[str, Any] = {
    "data": {"synthetic": {"num_rows": 160, "num_dense": 2, "vocab_sizes": [20, 30], "seed": 1}},
    "features": [
        {"name": "I1", "kind": "dense"},
        {"name": "I2", "kind": "dense"},
        {"name": "C1", "kind": "sparse", "embedding_dim": 4},
        {"name": "C2", "kind": "sparse", "embedding_dim": 4},
    ],
    "train": {"epochs": 1, "batch_size": 64, "progress": False},
}
GROUPS = [{"group_name": "ids", "feature_names": ["C1", "C2"]}, {"group_name": "dense", "feature_names": ["I1", "I2"]}]
IDS = {"feature_group_name": "ids"}
DENSE = {"feature_group_name": "dense"}

BACKBONES: dict[str, list[dict[str, Any]]] = {
    "highway_gate": [
        {"name": "hw", "inputs": [IDS], "component": {"class_name": "Highway", "params": {"emb_size": 4}}},
        {"name": "weights", "inputs": [DENSE],
         "component": {"class_name": "Dense", "params": {"units": 2, "activation": "softmax"}}},
        {"name": "other", "inputs": [IDS], "component": {"class_name": "Dense", "params": {"units": 4}}},
        {"name": "gated", "inputs": [{"block_name": "weights"}, {"block_name": "hw"}, {"block_name": "other"}],
         "merge_inputs_into_list": True,
         "component": {"class_name": "WeightedGate"}},
        {"name": "normed", "inputs": [{"block_name": "gated"}], "component": {"class_name": "L2Norm"}},
    ],
    "masknet": [
        {"name": "mask", "inputs": [IDS], "input_layer": {"only_output_feature_list": True}},
        {"name": "masknet", "inputs": [{"block_name": "mask"}], "keras_layer": {"class_name": "MaskNet", "masknet": {
            "mask_blocks": [{"aggregation_size": 8, "output_size": 4}] * 2, "mlp": {"hidden_units": [4]}}}},
        {"name": "block", "inputs": [IDS, DENSE], "merge_inputs_into_list": True,
         "component": {"class_name": "MaskBlock", "params": {"reduction_factor": 2, "output_size": 3}}},
        {"name": "top", "inputs": [{"block_name": "masknet"}, {"block_name": "block"}],
         "component": {"class_name": "MLP", "params": {"hidden_units": [4]}}},
    ],
    "ppnet_poso": [
        {"name": "ppnet", "inputs": [IDS, DENSE], "merge_inputs_into_list": True, "keras_layer": {
            "class_name": "PPNet", "ppnet": {"mlp": {"hidden_units": [8, 4]}, "gate_params": {"output_dim": 8},
                                             "full_gate_input": False}}},
        {"name": "poso", "inputs": [{"block_name": "ppnet"}, DENSE], "merge_inputs_into_list": True,
         "component": {"class_name": "POSOMLP", "params": {"dims": [4, 2]}}},
    ],
    "embedding_layer": [
        {"name": "shared", "inputs": [IDS], "embedding_layer": {"embedding_dim": 3, "combiner": "mean"}},
        {"name": "top", "inputs": [{"block_name": "shared"}], "component": {"class_name": "MLP", "params": {
            "hidden_units": [4]}}},
    ],
    "keras_shapes": [
        {"name": "fields", "inputs": [IDS], "input_layer": {"only_output_3d_tensor": True}},
        {"name": "moved", "inputs": [{"block_name": "fields"}],
         "layers": [{"keras_layer": {"class_name": "Permute", "st_params": {"dims": [2, 1]}}},
                    {"keras_layer": {"class_name": "Reshape", "st_params": {"target_shape": [-1]}}},
                    {"keras_layer": {"class_name": "Dense", "st_params": {"units": 4, "kernel_regularizer": "l2"}}}]},
    ],
    "numeric_embeddings": [
        {"name": "periodic", "inputs": [DENSE], "keras_layer": {"class_name": "PeriodicEmbedding", "periodic_embedding": {
            "embedding_dim": 4, "sigma": 0.005, "output_tensor_list": True}}},
        {"name": "autodis", "inputs": [DENSE],
         "component": {"class_name": "AutoDisEmbedding", "params": {"embedding_dim": 3, "num_bins": 4, "temperature": 1}}},
        {"name": "nary", "inputs": [DENSE],
         "component": {"class_name": "NaryDisEmbedding", "params": {"embedding_dim": 2, "multiplier": 10}}},
        {"name": "top", "inputs": [{"block_name": "periodic", "input_slice": "[0]"}, {"block_name": "autodis"},
                                   {"block_name": "nary"}],
         "component": {"class_name": "MLP", "params": {"hidden_units": [4]}}},
    ],
}


def test_textcnn_config_trains(tmp_path: Path) -> None:
    base = {**BASE, "data": {"synthetic": {"num_rows": 160, "num_dense": 2, "vocab_sizes": [20], "seed": 1,
                                           "multi_valued": {"name": "tags", "vocab": 30, "max_len": 5}}}}
    base["features"] = [*BASE["features"][:3], {"name": "tags", "kind": "sequence", "max_len": 5, "embedding_dim": 4,
                                                  "separator": "|"}]
    blocks = [
        {"name": "text_seq", "inputs": [{"feature_group_name": "seq"}], "input_layer": {"output_seq_and_normal_feature": True}},
        {"name": "textcnn", "inputs": [{"block_name": "text_seq"}], "keras_layer": {"class_name": "TextCNN", "text_cnn": {
            "filter_sizes": [2, 3], "num_filters": [4, 2], "pad_sequence_length": 4, "mlp": {"hidden_units": [4]}}}},
    ]
    raw = {**base, "model": {"feature_groups": [{"group_name": "seq", "feature_names": ["C1", "tags"]}],
                             "backbone": {"blocks": blocks, "concat_blocks": ["textcnn"]},
                             "task": {"type": "binary", "label": "label"}}}
    result = train_run(raw, tmp_path / "run")
    assert 0.0 <= result.valid_metrics["auc"] <= 1.0


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_config_trains(name: str, tmp_path: Path) -> None:
    blocks = BACKBONES[name]
    raw = {**BASE, "model": {"feature_groups": GROUPS, "backbone": {"blocks": blocks, "concat_blocks": [blocks[-1]["name"]]},
                             "task": {"type": "binary", "label": "label"}}}
    result = train_run(raw, tmp_path / "run")
    assert 0.0 <= result.valid_metrics["auc"] <= 1.0


def test_python_blocks_come_from_the_registrations() -> None:
    import recblocks.blocks.compose as compose

    assert compose.HighwayBlock(4).to_config() == {"class_name": "Highway", "params": {"emb_size": 4}}
    assert compose.PPNetBlock({"hidden_units": [4]}).merge == "list"
    assert compose.POSOFCBlock(3).to_config() == {"class_name": "POSOFC", "params": {"output_dim": 3}}
    assert compose.MaskNetBlock([{"aggregation_size": 4}]).merge == "concat"
    assert compose.PeriodicEmbeddingBlock(4, 0.1).to_config()["params"] == {"embedding_dim": 4, "sigma": 0.1}


def test_text_match_config_trains(tmp_path: Path) -> None:
    """EditDistance and OverlapFeature on two text features of a table made here, through ``train_run``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    words = ["Red", "ｓｈｏｅ", "blue", "bag", "golf", "tube", "high", "Quality"]
    rows = 160
    query = [" ".join(rng.choice(words, rng.integers(1, 4))) for _ in range(rows)]
    title = [" ".join(rng.choice(words, rng.integers(2, 6))) for _ in range(rows)]
    label = [int(q.split()[0].lower() in t.lower()) for q, t in zip(query, title)]
    table = pa.table({"query": query, "title": title, "user": rng.integers(0, 5, rows).astype(str), "label": label})
    for name, part in (("train", table.slice(0, 120)), ("valid", table.slice(120))):
        pq.write_table(part, tmp_path / f"{name}.parquet")
    text = {"kind": "sequence", "separator": " ", "max_len": 6, "embedding_name": "words",
            "normalize": {"lowercase": True, "full_to_half_width": True}}
    blocks = [
        {"name": "text", "inputs": [{"feature_group_name": "text"}], "raw_input": {}},
        {"name": "dist", "inputs": [{"block_name": "text"}],
         "component": {"class_name": "EditDistance", "params": {"embedding_size": 8, "embedding_dim": 3}}},
        {"name": "overlap", "inputs": [{"block_name": "text"}], "keras_layer": {"class_name": "OverlapFeature", "overlap": {
            "methods": ["query_common_ratio", "title_common_ratio", "is_contain"]}}},
        {"name": "top", "inputs": [{"feature_group_name": "user"}, {"block_name": "dist"}, {"block_name": "overlap"}],
         "component": {"class_name": "MLP", "params": {"hidden_units": [4]}}},
    ]
    raw = {"data": {"train": str(tmp_path / "train.parquet"), "valid": str(tmp_path / "valid.parquet")},
           "features": [{"name": "query", **text}, {"name": "title", **text},
                        {"name": "user", "kind": "sparse", "embedding_dim": 3}],
           "model": {"feature_groups": [{"group_name": "text", "feature_names": ["query", "title"]},
                                        {"group_name": "user", "feature_names": ["user"]}],
                     "backbone": {"blocks": blocks, "concat_blocks": ["top"]},
                     "task": {"type": "binary", "label": "label"}},
           "train": {"epochs": 2, "batch_size": 32, "progress": False}}
    result = train_run(raw, tmp_path / "run")
    assert 0.0 <= result.valid_metrics["auc"] <= 1.0
