"""EasyRec seed case 7: an item_tower package called three times with shared parameters (two dropout
views for an InfoNCE AuxiliaryLoss, the third with ``reset_input``) trains; ``aux/...`` is logged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from recblocks.runs import train_run

CONFIG = """
data:
  synthetic: {num_rows: 300, num_dense: 1, vocab_sizes: [20, 30, 25], seed: 1}
features:
  - {name: I1, kind: dense}
  - {name: C1, kind: sparse, embedding_dim: 4}
  - {name: C2, kind: sparse, embedding_dim: 4}
  - {name: C3, kind: sparse, embedding_dim: 4}
model:
  model_name: ContrastiveLearning
  feature_groups:
    - {group_name: user, feature_names: [C1, I1]}
    - {group_name: item, feature_names: [C2, C3]}
  backbone:
    packages:
      - name: item_tower
        blocks:
          - {name: item, inputs: [{feature_group_name: item}], input_layer: {dropout_rate: 0.2}}
          - name: item_encoder
            inputs: [{block_name: item}]
            component: {class_name: MLP, params: {hidden_units: [16, 8]}}
    blocks:
      - name: user_tower
        inputs: [{feature_group_name: user}]
        component: {class_name: MLP, params: {hidden_units: [16, 8]}}
      - name: contrastive_learning
        inputs: [{package_name: item_tower}, {package_name: item_tower}]
        merge_inputs_into_list: true
        component: {class_name: AuxiliaryLoss, params: {loss_type: info_nce, loss_weight: 0.1, temperature: 0.2}}
      - name: top_mlp
        inputs:
          - {block_name: contrastive_learning, ignore_input: true}
          - {block_name: user_tower}
          - {package_name: item_tower, reset_input: {}}
        component: {class_name: MLP, params: {hidden_units: [8, 4]}}
    concat_blocks: [top_mlp]
  task: {type: binary, label: label}
  model_params: {l2_regularization: 1.0e-4}
  embedding_regularization: 1.0e-4
train: {epochs: 2, batch_size: 64, progress: false}
"""


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
def test_seed_case_7_trains_with_the_infonce_loss_logged(tmp_path: Path) -> None:
    result = train_run(yaml.safe_load(CONFIG), tmp_path / "run")
    epochs = [json.loads(line) for line in (result.run_dir / "epochs.jsonl").read_text().splitlines()]
    terms = epochs[-1]["train_terms"]
    assert list(terms) == ["task/ctr", "aux/contrastive_learning_info_nce", "regularization"] and terms["aux/contrastive_learning_info_nce"] > 0
    expected = terms["task/ctr"] + 0.1 * terms["aux/contrastive_learning_info_nce"] + terms["regularization"]
    assert epochs[-1]["train_loss"] == pytest.approx(expected, rel=1e-4)
    # one item_tower: its parameters are shared by the three calls
    names = [n for n, _ in result.model.named_parameters() if "item_encoder" in n]
    assert names and len(names) == len(set(names))
