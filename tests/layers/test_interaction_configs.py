"""A backbone config using the interaction components plans and trains a few steps (and its Python blocks exist)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import recblocks.blocks.compose as compose
from recblocks.runs import plan_rows, train_run

CONFIG = """
data:
  synthetic: {num_rows: 160, num_dense: 1, vocab_sizes: [20, 30, 10], seed: 1}
features:
  - {name: I1, kind: dense}
  - {name: C1, kind: sparse, embedding_dim: 4}
  - {name: C2, kind: sparse, embedding_dim: 4}
  - {name: C3, kind: sparse, embedding_dim: 4}
model:
  feature_groups:
    - {group_name: ids, feature_names: [C1, C2, C3]}
  backbone:
    blocks:
      - {name: fields, inputs: [{feature_group_name: ids}], input_layer: {only_output_feature_list: true}}
      - name: fibinet
        inputs: [{block_name: fields}]
        component:
          class_name: FiBiNet
          fibinet: {senet: {reduction_ratio: 4}, bilinear: {type: each, num_output_units: 8}}
      - {name: cin, inputs: [{block_name: fields}], component: {class_name: CIN, cin: {hidden_feature_sizes: [4, 4]}}}
      - {name: autoint, inputs: [{block_name: fields}], component: {class_name: AutoInt, params: {out_type: concat}}}
      - {name: mix, inputs: [{block_name: fibinet}], component: {class_name: CrossNetMix, params: {low_rank: 2}}}
      - name: deep
        inputs: [{block_name: mix}, {block_name: cin}, {block_name: autoint}]
        component: {class_name: MLP, params: {hidden_units: [8]}}
    concat_blocks: [deep]
  task: {type: binary, label: label}
train: {epochs: 1, batch_size: 32, progress: false}
"""


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
def test_interaction_components_plan_and_train(tmp_path: Path) -> None:
    raw = yaml.safe_load(CONFIG)
    _, rows, _ = plan_rows(raw, fit_data=False)
    outputs = {r["block"]: r["output"] for r in rows}
    assert outputs["fibinet"] == "(B, 20)"  # SENet+ 3 x 4 concatenated + bilinear 8
    assert outputs["cin"] == "(B, 8)" and outputs["autoint"] == "(B, 12)" and outputs["mix"] == "(B, 20)"
    result = train_run(raw, tmp_path / "run")
    assert 0.0 <= result.valid_metrics["auc"] <= 1.0


def test_python_blocks_come_from_the_registrations() -> None:
    assert compose.CINBlock([4]).to_config() == {"class_name": "CIN", "params": {"layer_sizes": [4]}}
    assert compose.BiLinearBlock().merge == "list" and compose.TransformerBlockBlock(4, 2).merge == "concat"
