"""Configs using the sequence, multi-task and auxiliary-loss components plan and train (train_run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from recblocks.core.errors import ConfigError, ShapeError
from recblocks.runs import plan_rows, train_run

DATA = """
data:
  synthetic: {num_rows: 300, num_dense: 1, vocab_sizes: [20, 30], multi_valued: {name: tags, vocab: 30, max_len: 4},
              seed: 1}
features:
  - {name: I1, kind: dense}
  - {name: C1, kind: sparse, embedding_dim: 4}
  - {name: C2, kind: sparse, embedding_dim: 4}
  - {name: tags, kind: sequence, max_len: 4, embedding_dim: 4, separator: "|"}
train: {epochs: 1, batch_size: 64, progress: false}
"""

DIN = """
model:
  feature_groups:
    - {group_name: user, feature_names: [C1, I1]}
    - {group_name: seq, feature_names: [tags, C2]}
  backbone:
    blocks:
      - {name: seq_input, inputs: [{feature_group_name: seq}], input_layer: {output_seq_and_normal_feature: true}}
      - name: din
        inputs: [{block_name: seq_input}]
        component: {class_name: DIN, params: {attention_dnn: {hidden_units: [8, 1], activation: dice}}}
      - {name: user_in, inputs: [{feature_group_name: user}]}
    concat_blocks: [din, user_in]
    top_mlp: {hidden_units: [8]}
  task: {type: binary, label: label}
"""

MMOE = """
model:
  feature_groups:
    - {group_name: all, feature_names: [I1, C1, C2]}
  backbone:
    blocks:
      - name: mmoe
        inputs: [{feature_group_name: all}]
        component: {class_name: MMoE, params: {num_task: 2, num_expert: 3, expert_mlp: {hidden_units: [8]}}}
      - name: ctr_tower
        inputs: [{block_name: mmoe, input_slice: '[0]'}]
        component: {class_name: MLP, params: {hidden_units: [4]}}
    concat_blocks: [ctr_tower]
  task: {type: binary, label: label}
"""

CONTRASTIVE = """
model:
  feature_groups:
    - {group_name: all, feature_names: [I1, C1, C2]}
  backbone:
    blocks:
      - name: view1
        inputs: [{feature_group_name: all}]
        component: {class_name: MLP, params: {hidden_units: [8], dropout_ratio: [0.3]}}
      - name: view2
        inputs: [{feature_group_name: all}]
        component: {class_name: MLP, params: {hidden_units: [8], dropout_ratio: [0.3]}}
      - name: cl
        inputs: [{block_name: view1}, {block_name: view2}]
        merge_inputs_into_list: true
        component: {class_name: AuxiliaryLoss, params: {loss_type: info_nce, loss_weight: 0.1, temperature: 0.2}}
      - name: top
        inputs: [{block_name: view1}, {block_name: cl, ignore_input: true}]
        component: {class_name: MLP, params: {hidden_units: [4], add_to_outputs: true}}
    concat_blocks: [top]
  task: {type: binary, label: label}
"""

CL4SREC = """
model:
  feature_groups:
    - {group_name: seq, feature_names: [tags, C2]}  # C2: the target item of BST and DMR_U2I
  backbone:
    blocks:
      - {name: seq_input, inputs: [{feature_group_name: seq}], input_layer: {output_seq_and_normal_feature: true}}
      - {name: aug1, inputs: [{block_name: seq_input}], component: {class_name: SeqAugment}}
      - {name: aug2, inputs: [{block_name: seq_input}], component: {class_name: SeqAugment}}
      - name: view1
        inputs: [{block_name: aug1}]
        component: &encoder
          class_name: BST
          params: {hidden_size: 4, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 8,
                   output_all_token_embeddings: false}
      - {name: view2, inputs: [{block_name: aug2}], component: *encoder}
      - name: cl
        inputs: [{block_name: view1}, {block_name: view2}]
        merge_inputs_into_list: true
        component: {class_name: AuxiliaryLoss, params: {loss_type: nce_loss, temperature: 0.5}}
      - name: main
        inputs: [{block_name: seq_input}, {block_name: cl, ignore_input: true}]
        component: {class_name: DMR_U2I, params: {cmp_dim: 4}}
    concat_blocks: [main]
  task: {type: binary, label: label}
"""


def config(model: str) -> dict[str, Any]:
    return {**yaml.safe_load(DATA), **yaml.safe_load(model)}


def train_terms(raw: dict[str, Any], run: Path) -> dict[str, float]:
    result = train_run(raw, run)
    assert 0.0 <= result.valid_metrics["auc"] <= 1.0
    epochs = [json.loads(line) for line in (result.run_dir / "epochs.jsonl").read_text().splitlines()]
    return epochs[-1]["train_terms"]


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
def test_din_on_a_sequence_group_plans_and_trains(tmp_path: Path) -> None:
    raw = config(DIN)
    _, rows, _ = plan_rows(raw, fit_data=False)
    assert next(r for r in rows if r["block"] == "din")["output"] == "(B, 8)"
    assert list(train_terms(raw, tmp_path / "run")) == ["task/ctr", "regularization"]


def test_a_sequence_group_without_target_is_refused_by_din() -> None:
    raw = config(DIN)
    raw["model"]["feature_groups"][1]["feature_names"] = ["tags"]
    with pytest.raises(ShapeError, match=r"block 'din' \(model.backbone.blocks\[1\]\): DIN needs a target") as info:
        plan_rows(raw, fit_data=False)
    assert isinstance(info.value, ConfigError)  # a shape error is a config error (issue 11, acceptance 4)


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
def test_mmoe_task_outputs_are_picked_by_input_slice_and_train(tmp_path: Path) -> None:
    raw = config(MMOE)
    _, rows, _ = plan_rows(raw, fit_data=False)
    assert next(r for r in rows if r["block"] == "mmoe")["output"] == "[(B, 8), (B, 8)]"
    assert next(r for r in rows if r["block"] == "ctr_tower")["output"] == "(B, 4)"
    assert list(train_terms(raw, tmp_path / "run")) == ["task/ctr", "regularization"]


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
def test_auxiliary_loss_of_two_dropout_views_is_logged(tmp_path: Path) -> None:
    terms = train_terms(config(CONTRASTIVE), tmp_path / "run")
    assert list(terms) == ["task/ctr", "aux/cl_info_nce", "regularization"]
    assert terms["aux/cl_info_nce"] > 0


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
def test_two_augmented_views_of_a_sequence_train_with_a_contrastive_loss(tmp_path: Path) -> None:
    raw = config(CL4SREC)
    _, rows, _ = plan_rows(raw, fit_data=False)
    outputs = {r["block"]: r["output"] for r in rows}
    assert outputs["aug1"] == "((B, 4, 4), (B) long, (B, 4))" and outputs["view1"] == "(B, 4)"
    assert outputs["main"] == "(B, 4)"
    terms = train_terms(raw, tmp_path / "run")
    assert list(terms) == ["task/ctr", "aux/cl_nce_loss", "regularization"] and terms["aux/cl_nce_loss"] > 0
