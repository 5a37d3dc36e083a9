"""EasyRec's MIND onto a recblocks MatchModel with capsule routing: shipped configs, the graph, training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_pipeline_config
from recblocks.easyrec.model_classes import EASYREC_MODELS
from recblocks.runs import plan_rows, train_run
from tests.easyrec._features_mt import check_shipped, feature_dicts, shipped, translate

#: Shipped MIND configs recblocks refuses, and what the ConfigError names.
REFUSALS = {
}

TEXT = """
feature_config {
  features { input_names: "user_id" feature_type: IdFeature embedding_dim: 8 }
  features { input_names: "history" feature_type: SequenceFeature separator: "|" embedding_dim: 8 }
  features { input_names: "item_id" feature_type: IdFeature embedding_dim: 8 }
  features { input_names: "shelf" feature_type: IdFeature embedding_dim: 8 }
}
model_config {
  model_class: "MIND"
  feature_groups { group_name: "hist" feature_names: "history" }
  feature_groups { group_name: "user" feature_names: "user_id" wide_deep: DEEP }
  feature_groups { group_name: "item" feature_names: ["item_id", "shelf"] wide_deep: DEEP }
  loss_type: SOFTMAX_CROSS_ENTROPY
  mind {
    user_dnn { hidden_units: [16] }
    item_dnn { hidden_units: [16, 8] }
    concat_dnn { hidden_units: [16, 8] }
    capsule_config { max_k: 3 max_seq_len: 8 high_dim: 8 }
    item_id: "item_id"
    l2_regularization: 1e-6
  }
}
"""


def _model(text: str = TEXT) -> dict:
    pipeline = parse_pipeline_config(text)
    return EASYREC_MODELS.get("MIND").translate(pipeline["model_config"], feature_dicts(pipeline), "model_config")


@pytest.mark.parametrize("path", shipped("MIND"), ids=lambda p: p.name)
def test_shipped_mind_configs_plan_or_are_refused_by_name(path: Path) -> None:
    check_shipped(path, REFUSALS)


def test_mind_is_capsules_interests_and_label_aware_attention() -> None:
    model = _model()
    blocks = {b["name"]: b for b in model["backbone"]["blocks"]}
    assert blocks["capsules"]["component"] == {"class_name": "CapsuleRouting",
                                               "params": {"max_k": 3, "max_seq_len": 8, "high_dim": 8}}
    assert blocks["user_tower"]["component"] == {"class_name": "LabelAwareAttention",
                                                "params": {"simi_pow": 10.0, "max_interests_simi": 1.0}}
    # cosine: interests and item vectors are unit-normalised inside the backbone, then scored by inner product
    assert model["backbone"]["output_blocks"] == ["user_tower", "item_tower_unit", "user_interests"]
    params = model["model_params"]
    assert (params["simi_func"], params["temperature"], params["scale_simi"], params["item_id"],
            params["user_interests_idx_in_output"]) == ("INNER_PRODUCT", 1.0, True, "item_id", 2)
    assert blocks["interests"]["component"]["params"]["final_activation"] == "linear"


def test_a_pointwise_mind_scores_the_label_aware_user_vector() -> None:
    model = _model(TEXT.replace("loss_type: SOFTMAX_CROSS_ENTROPY", "loss_type: CLASSIFICATION"))
    assert model["model_class"] == "RankModel" and "tasks" not in model
    blocks = {b["name"]: b for b in model["backbone"]["blocks"]}
    assert blocks["similarity"]["inputs"] == [{"block_name": "user_tower"}, {"block_name": "item_tower_unit"}]
    assert "user_interests" not in blocks and model["backbone"]["concat_blocks"] == ["scaled_similarity"]


def test_sum_of_several_sequences_needs_one_width() -> None:
    text = TEXT.replace('feature_names: "history"', 'feature_names: ["history", "shelf"]').replace(
        'input_names: "shelf" feature_type: IdFeature embedding_dim: 8', 'input_names: "shelf" feature_type: '
        'SequenceFeature embedding_dim: 4')
    with pytest.raises(ConfigError, match=r"model_config\.mind\.user_seq_combine: SUM averages the behaviour"):
        _model(text)
    assert [b["name"] for b in _model(text.replace("mind {", "mind { user_seq_combine: CONCAT"))["backbone"][
        "blocks"]][:2] == ["hist_input", "capsules"]


def test_a_time_feature_weights_the_behaviours_by_its_softmax() -> None:
    timed = TEXT.replace('separator: "|" embedding_dim: 8 }', 'separator: "|" embedding_dim: 8 }\n'
                         '  features { input_names: "tag" feature_type: SequenceFeature separator: "|" embedding_dim: 8 }\n'
                         '  features { input_names: "t" feature_type: SequenceFeature separator: "|" embedding_dim: 1 }'
                         ).replace('feature_names: "history" }', 'feature_names: ["history", "t", "tag"] }')
    model = _model(timed.replace("mind {", 'mind { time_id_fea: "t"'))
    blocks = {b["name"]: b for b in model["backbone"]["blocks"]}
    assert blocks["hist_time"]["component"] == {"class_name": "TimeWeightedSequence", "params": {"time_index": 8}}
    assert blocks["hist_mean"]["inputs"] == [{"block_name": "hist_time"}]  # the two others averaged after
    assert "chunk(x[0], 2," in blocks["hist_mean"]["lambda"]["expression"]
    _, rows, _ = plan_rows(translate(timed.replace("mind {", 'mind { time_id_fea: "t"')), fit_data=False)
    time_row = next(r for r in rows if r["block"] == "hist_time")
    assert time_row["output"].startswith("((B, 8, 16)"), time_row
    with pytest.raises(ConfigError, match=r"model_config\.mind\.time_id_fea: the time feature's embedding is its "
                                          r"one logit per time bucket; expected embedding_dim: 1, got 8"):
        _model(timed.replace("mind {", 'mind { time_id_fea: "tag"'))
    with pytest.raises(ConfigError, match=r"model_config\.mind\.time_id_fea: the time feature must be in the hist"):
        _model(TEXT.replace("mind {", 'mind { time_id_fea: "t"'))


def test_unsupported_mind_options_name_their_field() -> None:
    with pytest.raises(ConfigError, match=r"model_config\.mind\.pre_capsule_dnn: a DNN before the capsules"):
        _model(TEXT.replace("mind {", "mind { pre_capsule_dnn { hidden_units: [4] }"))


def _rows(rows: int, seed: int, users: int = 40, items: int = 40, clusters: int = 5) -> pa.Table:
    """User ``u`` likes two clusters, ``u % 5`` and ``(u + 2) % 5`` (item ``i`` is in cluster ``i % 5``): the
    history holds items of both, the next item is from either."""
    rng = np.random.default_rng(seed)
    user = rng.integers(0, users, rows)
    per = items // clusters

    def pick(shape: tuple[int, ...]) -> np.ndarray:
        cluster = np.where(rng.random(shape) < 0.5, user.reshape(-1, *[1] * (len(shape) - 1)) % clusters,
                           (user.reshape(-1, *[1] * (len(shape) - 1)) + 2) % clusters)
        return rng.integers(0, per, shape) * clusters + cluster

    history, nxt = pick((rows, 6)), pick((rows,))
    return pa.table({"user_id": [f"u{u}" for u in user], "history": ["|".join(f"i{i}" for i in h) for h in history],
                     "item_id": [f"i{i}" for i in nxt], "shelf": [f"s{i % clusters}" for i in nxt]})


def test_a_translated_mind_trains_and_evaluates_by_the_best_interest(tmp_path: Path) -> None:
    paths = {}
    for name, rows, seed in (("train", 640, 1), ("valid", 100, 2), ("test", 100, 3)):
        paths[name] = str(tmp_path / f"{name}.parquet")
        pq.write_table(_rows(rows, seed), paths[name])
    train = {"epochs": 2, "batch_size": 64, "progress": False, "optimizer": {"lr": 0.01}, "seed": 0}
    result = train_run(translate(TEXT, data=paths, train=train), tmp_path / "run")
    losses = [epoch.train_loss for epoch in result.history.epochs]
    assert losses[-1] < losses[0], losses
    assert "recall@10" in result.valid_metrics
    assert result.model.params.user_interests_idx_in_output == 2
