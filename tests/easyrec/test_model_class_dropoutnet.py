"""EasyRec DropoutNet -> recblocks backbone: shipped configs plan, towers and cosine, a run trains."""

from __future__ import annotations

from pathlib import Path

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_model_config
from recblocks.easyrec.model_classes import EASYREC_MODELS

from ._features import SYNTHETIC_FEATURES, check_shipped, losses_fall, plan, shipped, train_config

DROPOUTNET = """
model_class: 'DropoutNet'
feature_groups { group_name: 'user_content' feature_names: ['C1', 'I1'] }
feature_groups { group_name: 'user_preference' feature_names: ['C2'] }
feature_groups { group_name: 'item_content' feature_names: ['C3', 'I2'] }
losses { loss_type: CLASSIFICATION }
losses { loss_type: PAIR_WISE_LOSS weight: 0.5 }
dropoutnet {
  user_content { hidden_units: [16] }
  user_preference { hidden_units: [16] }
  item_content { hidden_units: [16] }
  item_preference { hidden_units: [16] }
  user_tower { hidden_units: [16, 8] use_bn: false }
  item_tower { hidden_units: [8] }
  user_dropout_rate: 0.25
}
"""


def translate(text: str) -> dict:
    return EASYREC_MODELS.get("DropoutNet").translate(parse_model_config(text), {}, "model_config")


@pytest.mark.parametrize("path", shipped("DropoutNet"), ids=lambda p: p.name)
def test_shipped_dropoutnet_configs_plan(path: Path) -> None:
    rows = check_shipped(path, {})
    assert [r["block"] for r in rows if r["body"] == "Dropout"] == ["user_preference_dropout",
                                                                     "item_preference_dropout"]


def test_the_towers_the_row_dropout_and_the_cosine() -> None:
    model = translate(DROPOUTNET)
    blocks = {b["name"]: b for b in model["backbone"]["blocks"]}
    # no item_preference group: the item tower reads its content only; item_dropout_rate is unused
    assert list(blocks) == ["user_content", "user_content_dnn", "user_preference", "user_preference_dropout",
                            "user_preference_dnn", "user_tower", "user_emb", "item_content", "item_content_dnn",
                            "item_tower", "item_emb", "similarity"]
    assert blocks["user_preference_dropout"]["component"]["params"] == {"rate": 0.25, "noise_shape": [None, 1]}
    assert blocks["user_tower"]["inputs"] == [{"block_name": "user_content_dnn"}, {"block_name": "user_preference_dnn"}]
    tower = blocks["user_tower"]["component"]["params"]
    assert (tower["hidden_units"], tower["final_activation"], tower["use_bn"]) == ([16, 8], "linear", False)
    assert blocks["item_tower"]["component"]["params"]["hidden_units"] == [8]  # only the dense output layer
    assert model["backbone"]["concat_blocks"] == ["similarity"] and "output" not in blocks
    assert model["model_params"] == {"l2_regularization": 0.0}  # the proto default


def test_the_cosine_is_the_logit_and_the_losses_are_the_task_losses() -> None:
    raw = train_config(SYNTHETIC_FEATURES + "model_config {" + DROPOUTNET + "}")
    assert raw["model"]["task"]["losses"] == [{"loss_type": "CLASSIFICATION"},
                                              {"loss_type": "PAIR_WISE_LOSS", "weight": 0.5}]
    rows = plan(raw)
    assert [(r["block"], r["output"]) for r in rows if r["block"] in ("user_emb", "item_emb", "similarity")] == [
        ("user_emb", "(B, 8)"), ("item_emb", "(B, 8)"), ("similarity", "(B, 1)")]


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.replace("item_tower { hidden_units: [8] }", "item_tower { hidden_units: [4] }"),
     r"model_config\.dropoutnet\.item_tower\.hidden_units: .*one width; expected a last width of 8"),
    (lambda t: t.replace("'item_content'", "'item_contents'"),
     r"model_config\.feature_groups: DropoutNet's item tower reads the group item_content or item_preference"),
    (lambda t: t.replace("user_dropout_rate: 0.25", "softmax_loss { num_negative_samples: 4 }"),
     r"model_config\.dropoutnet\.softmax_loss: the softmax loss with negative mining has no recblocks loss"),
])
def test_what_cannot_be_translated_is_named(change, message) -> None:
    with pytest.raises(ConfigError, match=message):
        translate(change(DROPOUTNET))


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
def test_a_translated_dropoutnet_trains(tmp_path: Path) -> None:
    raw = train_config(SYNTHETIC_FEATURES + "model_config {" + DROPOUTNET + "}")
    first, last = losses_fall(raw, tmp_path / "run")
    assert last < first
