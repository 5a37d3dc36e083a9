"""A deliberately simple, test-only translation of EasyRec features and a planner for translated models.

IdFeature -> sparse (hashed when it has ``hash_bucket_size``), RawFeature -> dense, TagFeature ->
multi, SequenceFeature -> sequence, anything else -> sparse. The real feature translation lives
elsewhere; these helpers only give the model translations something to plan against.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recblocks.easyrec import parse_pipeline_config
from recblocks.easyrec.model_classes import EASYREC_MODELS
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
    return features


def shipped(model_class: str) -> list[Path]:
    """The shipped configs whose model_class is ``model_class`` (skips the test when they are absent)."""
    found = [path for path in need_shipped_configs()
             if f"model_class: '{model_class}'" in path.read_text(encoding="utf-8")
             or f'model_class: "{model_class}"' in path.read_text(encoding="utf-8")]
    return found


def translate(path: Path) -> dict[str, Any]:
    """The run config (features, model, synthetic data placeholder) for one shipped config."""
    pipeline = parse_pipeline_config(path, strict=False)
    model_config = pipeline["model_config"]
    features = easyrec_features(pipeline)
    entry = EASYREC_MODELS.get(model_config["model_class"], "model_config.model_class")
    model = entry.translate(model_config, features, "model_config")
    return {"features": list(features.values()), "model": model, "data": {"synthetic": {"num_rows": 8}},
            "train": {"memory_limit_gb": 0}}


def plan(run_config: dict[str, Any]) -> list[dict[str, Any]]:
    _, rows, _ = plan_rows(run_config, fit_data=False)
    return rows
