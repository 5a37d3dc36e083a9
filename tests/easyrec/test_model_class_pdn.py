"""EasyRec PDN -> recblocks backbone: the shipped config plans, the path wiring, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import torch

from recblocks.blocks.backbone.expressions import compile_lambda
from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_model_config
from recblocks.easyrec.model_classes import EASYREC_MODELS

from ._features import SYNTHETIC_FEATURES, check_shipped, losses_fall, shipped, train_config

PDN = """
model_class: 'PDN'
feature_groups { group_name: 'u2i_seq' feature_names: 'ev' }
feature_groups { group_name: 'i_seq' feature_names: ['cat_seq', 'brand_seq'] }
feature_groups { group_name: 'i2i_seq' feature_names: 'rnk' }
feature_groups { group_name: 'user' feature_names: ['uid'] wide_deep: DEEP }
feature_groups { group_name: 'item' feature_names: ['iid'] wide_deep: DEEP }
feature_groups { group_name: 'bias' feature_names: ['uid'] }
pdn {
  user_dnn { hidden_units: [8] } item_dnn { hidden_units: [8] } u2i_dnn { hidden_units: [8] }
  trigger_dnn { hidden_units: [4, 1] } i2i_dnn { hidden_units: [8] } sim_dnn { hidden_units: [4, 1] }
  bias_dnn { hidden_units: [4, 1] }
}
"""


def translate(text: str) -> dict:
    return EASYREC_MODELS.get("PDN").translate(parse_model_config(text), {}, "model_config")


@pytest.mark.parametrize("path", shipped("PDN"), ids=lambda p: p.name)
def test_shipped_pdn_configs_plan(path: Path) -> None:
    rows = check_shipped(path, {})
    assert {"trigger_dnn", "sim_dnn", "paths", "bias_dnn", "logits"} <= {row["block"] for row in rows}
    assert rows[-1]["output"] == "(B, 1)"


def test_paths_are_wired_as_easyrec_builds_them() -> None:
    model = translate(PDN)
    blocks = {b["name"]: b for b in model["backbone"]["blocks"]}
    assert blocks["u2i_dnn"]["inputs"] == [{"block_name": "u2i_seq_input", "input_slice": "[0]"},
                                           {"block_name": "i_seq_input", "input_slice": "[0]"}]
    for name in ("trigger_dnn", "sim_dnn", "bias_dnn"):  # last layer linear, no batch norm
        params = blocks[name]["component"]["params"]
        assert params["final_activation"] is None and params["use_final_bn"] is False
    assert blocks["paths"]["inputs"][-1] == {"block_name": "u2i_seq_input", "input_slice": "[1]"}
    assert "softplus(x[1])" in blocks["logits"]["lambda"]["expression"]
    assert model["backbone"]["concat_blocks"] == ["logits"]
    assert model["model_params"] == {"l2_regularization": 1e-6}  # PDN's proto default
    no_bias = translate(PDN.replace("bias_dnn { hidden_units: [4, 1] }", ""))
    assert "bias_dnn" not in {b["name"] for b in no_bias["backbone"]["blocks"]}


def test_pdn_errors_name_their_place() -> None:
    with pytest.raises(ConfigError, match=r"model_config\.pdn\.sim_dnn\.hidden_units: .*last width of 1"):
        translate(PDN.replace("sim_dnn { hidden_units: [4, 1] }", "sim_dnn { hidden_units: [4, 2] }"))
    with pytest.raises(ConfigError, match=r"model_config\.pdn\.direct_user_dnn: .*not translated"):
        translate(PDN.replace("bias_dnn", "direct_user_dnn { hidden_units: [4] } direct_item_dnn "
                              "{ hidden_units: [4] } bias_dnn"))
    with pytest.raises(ConfigError, match=r"model_config\.feature_groups: .*'i2i_seq'"):
        translate(PDN.replace("group_name: 'i2i_seq'", "group_name: 'other'"))


def test_the_path_expressions_compute_easyrec_formula() -> None:
    """trigger * sim summed over the first ``len`` positions of u2i_seq, plus softplus(bias), as 1 - exp(-z)."""
    blocks = {b["name"]: b for b in translate(PDN)["backbone"]["blocks"]}
    run = {name: compile_lambda(blocks[name]["lambda"]["expression"], name) for name in ("sim_input", "paths", "logits")}
    torch.manual_seed(0)
    seq, item, rnk = torch.randn(3, 4, 8), torch.randn(3, 8), torch.randn(3, 4, 2)
    cross = seq * item[:, None, :]
    expected = torch.cat([cross, cross, rnk, item[:, None, :].expand(3, 4, 8)], dim=2)
    torch.testing.assert_close(run["sim_input"]([seq, item, rnk]), expected)
    trigger, sim, lengths = torch.randn(3, 4, 1), torch.randn(3, 4, 1), torch.tensor([4, 1, 0])
    paths = run["paths"]([trigger, sim, lengths])
    by_hand = torch.stack([sum((trigger[b, i] + sim[b, i]).exp() for i in range(int(n))) if n else torch.zeros(1)
                           for b, n in enumerate(lengths)])
    torch.testing.assert_close(paths, by_hand)
    bias = torch.randn(3, 1)
    z = paths + torch.nn.functional.softplus(bias)
    torch.testing.assert_close(run["logits"]([paths, bias]), torch.log((1 - torch.exp(-z)).clamp(1e-8, 1 - 1e-8)))


SEQUENCES = "".join(f"  features {{ input_names: 'tags' feature_name: '{name}' feature_type: SequenceFeature "
                    f"embedding_dim: {dim} hash_bucket_size: 40 }}\n" for name, dim in (("ev", 4), ("cat_seq", 8),
                                                                                      ("brand_seq", 4), ("rnk", 2)))
SMALL = (PDN.replace("feature_names: ['uid']", "feature_names: ['C1', 'I1']").replace("['iid']", "['C2', 'C3']")
         .replace("group_name: 'bias' feature_names: ['C1', 'I1']", "group_name: 'bias' feature_names: ['I2']"))


def test_a_pdn_run_trains(tmp_path: Path) -> None:
    raw = train_config(SYNTHETIC_FEATURES.rstrip().rstrip("}") + SEQUENCES + "}\nmodel_config {" + SMALL + "}",
                       num_rows=192)
    raw["data"]["synthetic"]["multi_valued"] = {"name": "tags", "vocab": 30, "max_len": 5}
    for feature in raw["features"]:
        if feature["kind"] == "sequence":  # four sequence features read the one synthetic list column
            feature.update(column="tags", separator="|")
    first, last = losses_fall(raw, tmp_path / "run")
    assert last < first
