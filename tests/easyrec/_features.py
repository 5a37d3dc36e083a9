"""A deliberately simple, test-only translation of EasyRec features and a planner for translated models.

IdFeature -> sparse (hashed when it has ``hash_bucket_size``), RawFeature -> dense, TagFeature ->
multi, SequenceFeature -> sequence, anything else -> sparse. The real feature translation lives
elsewhere; these helpers only give the model translations something to plan against, and add
the task as the pipeline translation does for a RankModel (:func:`rank_task`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.easyrec import parse_pipeline_config
from recblocks.easyrec.model_classes import EASYREC_MODELS
from recblocks.easyrec.model_section import _rank_task
from recblocks.easyrec.variational_dropout import with_variational_dropout
from recblocks.runs import plan_rows

from .conftest import need_shipped_configs

_KINDS = {"RawFeature": "dense", "TagFeature": "multi", "SequenceFeature": "sequence"}


def easyrec_features(pipeline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Feature name -> recblocks feature dict, for every feature of a parsed pipeline config."""
    configs = list(pipeline.get("feature_configs", [])) + list(pipeline.get("feature_config", {}).get("features", []))
    features: dict[str, dict[str, Any]] = {}
    for config in configs:
        name = config.get("feature_name") or config["input_names"][0]
        kind = _KINDS.get(config.get("feature_type", "IdFeature"), "sparse")
        feature: dict[str, Any] = {"name": name, "kind": kind}
        if kind == "sparse" and config.get("hash_bucket_size"):
            feature["kind"] = "hashed"
        if feature["kind"] in ("hashed", "multi", "sequence") and config.get("hash_bucket_size"):
            feature["hash_bucket_size"] = min(int(config["hash_bucket_size"]), 1000)  # small tables: plan only
        if config.get("embedding_dim"):
            feature["embedding_dim"] = int(config["embedding_dim"])
        if kind == "sequence":
            feature["max_len"] = 8
        features[name] = feature
        for shared in config.get("shared_names", []):  # EasyRec: more inputs through the same table
            features[shared] = {**feature, "name": shared, "embedding_name": name}
            features[name]["embedding_name"] = name
    return features


def rank_task(pipeline: dict[str, Any]) -> dict[str, Any]:
    """The task a RankModel section gets from the pipeline translation (label ``label_name`` or the
    first label field; type from ``loss_type`` / ``num_class``; ``losses``), without metrics."""
    labels = list(pipeline.get("data_config", {}).get("label_fields") or ["label"])
    return _rank_task(pipeline["model_config"], labels[:1], "model_config", [])


def with_task(model: dict[str, Any], pipeline: dict[str, Any]) -> dict[str, Any]:
    """``model`` with the pipeline's task when it is a RankModel section without one."""
    if model.get("model_class", "RankModel") == "RankModel" and "task" not in model:
        return {**model, "task": rank_task(pipeline)}
    return model


def shipped(model_class: str) -> list[Path]:
    """The shipped configs whose model_class is ``model_class`` (skips the test when they are absent)."""
    found = [path for path in need_shipped_configs()
             if f"model_class: '{model_class}'" in path.read_text(encoding="utf-8")
             or f'model_class: "{model_class}"' in path.read_text(encoding="utf-8")]
    return found


def translate(path: Path) -> dict[str, Any]:
    """The run config (features, model, synthetic data placeholder) for one shipped config."""
    with warnings.catch_warnings():  # strict=False reads a doubled field as EasyRec does, with a warning
        warnings.simplefilter("ignore")
        pipeline = parse_pipeline_config(path, strict=False)
    # model-wide ev_params act on the features (translate_pipeline: recblocks.easyrec.ev_params), not the class
    model_config = {k: v for k, v in pipeline["model_config"].items() if k != "ev_params"}
    features = easyrec_features(pipeline)
    entry = EASYREC_MODELS.get(model_config["model_class"], "model_config.model_class")
    model = with_task(translate_model(entry.translate, model_config, features), pipeline)
    return {"features": list(features.values()), "model": model, "data": {"synthetic": {"num_rows": 8}},
            "train": {"memory_limit_gb": 0}}


def translate_model(translate_class: Any, model_config: dict[str, Any], features: dict[str, Any]) -> dict[str, Any]:
    """A built-in class's section with the options every class honours (``variational_dropout``), as the
    pipeline translation (``model_section``) writes it."""
    return with_variational_dropout(model_config, lambda rest: translate_class(rest, features, "model_config"),
                                    "model_config")


def plan(run_config: dict[str, Any]) -> list[dict[str, Any]]:
    _, rows, _ = plan_rows(run_config, fit_data=False)
    return rows


def check_shipped(path: Path, refused: dict[str, str]) -> list[dict[str, Any]]:
    """Translate and plan one shipped config: its plan rows, or the expected refusal (a ConfigError
    whose message matches ``refused[path.name]``); skips configs whose features live outside the file.

    The last row (the model's head, or the translation's own output layer) must give one logit per
    class, as EasyRec's output layer does.
    """
    import pytest

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline = parse_pipeline_config(path, strict=False)
    if not easyrec_features(pipeline):
        pytest.skip(f"{path.name}: its features come from an RTP feature-generation file, not the config")
    if path.name in refused:
        with pytest.raises(ConfigError, match=refused[path.name]):
            plan(translate(path))
        return []
    run_config = translate(path)
    rows = plan(run_config)
    classes = int(pipeline["model_config"].get("num_class", 1))
    assert rows[-1]["output"] == f"(B, {classes})", rows[-1]
    return rows


def train_config(easyrec_text: str, num_rows: int = 384) -> dict[str, Any]:
    """A run config: an EasyRec pipeline text over the synthetic columns (I1, I2, C1..C3), translated."""
    pipeline = parse_pipeline_config(easyrec_text, name="<test config>")
    model_config = pipeline["model_config"]
    features = easyrec_features(pipeline)
    model = translate_model(EASYREC_MODELS.get(model_config["model_class"]).translate, model_config, features)
    return {"data": {"synthetic": {"num_rows": num_rows, "num_dense": 2, "vocab_sizes": [20, 30, 10], "seed": 3}},
            "features": list(features.values()), "model": with_task(model, pipeline),
            "train": {"epochs": 3, "batch_size": 64, "progress": False, "optimizer": {"name": "adam", "lr": 0.01},
                      "seed": 0}}


#: EasyRec feature_config for the synthetic columns, shared by the training tests.
SYNTHETIC_FEATURES = """
feature_config {
  features { input_names: "I1" feature_type: RawFeature }
  features { input_names: "I2" feature_type: RawFeature }
  features { input_names: "C1" feature_type: IdFeature embedding_dim: 8 hash_bucket_size: 20 }
  features { input_names: "C2" feature_type: IdFeature embedding_dim: 8 hash_bucket_size: 30 }
  features { input_names: "C3" feature_type: IdFeature embedding_dim: 8 hash_bucket_size: 10 }
}
"""


def losses_fall(raw: dict[str, Any], run: Path) -> tuple[float, float]:
    """Train; the task loss of the first and the last epoch."""
    import json

    from recblocks.runs import train_run

    result = train_run(raw, run)
    epochs = [json.loads(line) for line in (result.run_dir / "epochs.jsonl").read_text().splitlines()]
    first, last = epochs[0]["train_terms"], epochs[-1]["train_terms"]
    key = next(k for k in first if k.startswith("task/"))
    return first[key], last[key]
