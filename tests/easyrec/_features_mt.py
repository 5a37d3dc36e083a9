"""A SIMPLE test-only translation of EasyRec features, for the multi-task / match model tests.

:func:`translate` also does what the pipeline translation does for a RankModel section (the
point-wise match classes): it adds the task of ``data_config.label_fields[0]``.

IdFeature -> ``hashed`` (``hash_bucket_size``) or ``sparse``; RawFeature -> ``dense``;
TagFeature -> ``multi``; SequenceFeature -> ``sequence``. The real feature translation lives
elsewhere; these tests only need a schema the model sections plan against.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from recblocks.core.errors import RecBlocksError
from recblocks.easyrec import parse_pipeline_config
from recblocks.easyrec.model_classes import EASYREC_MODELS
from recblocks.easyrec.model_classes._sequence import attach_sequence_attention
from recblocks.easyrec.model_classes.towers import with_tower_labels
from recblocks.easyrec.translate import _sampled_negatives
from recblocks.easyrec.variational_dropout import with_variational_dropout
from recblocks.runs import plan_rows
from tests.easyrec.conftest import shipped_configs

_KINDS = {"IdFeature": "sparse", "RawFeature": "dense", "TagFeature": "multi", "SequenceFeature": "sequence",
          "ComboFeature": "hashed", "LookupFeature": "dense", "SequenceIdFeature": "sequence"}


def feature_dicts(pipeline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """recblocks feature dicts by feature name for the pipeline's ``feature_config``."""
    configs = pipeline.get("feature_config", {}).get("features", []) or pipeline.get("feature_configs", [])
    out: dict[str, dict[str, Any]] = {}
    for config in configs:
        name = config.get("feature_name") or config["input_names"][0]
        kind = _KINDS.get(config.get("feature_type", "IdFeature"), "sparse")
        feature: dict[str, Any] = {"name": name, "kind": kind}
        if kind == "dense":
            dim = int(config.get("raw_input_dim", 1))
            if dim != 1 or config.get("boundaries"):
                feature = {"name": name, "kind": "dense"}
            if config.get("embedding_dim"):
                feature["embedding_dim"] = int(config["embedding_dim"])
        else:
            if config.get("hash_bucket_size"):
                feature["hash_bucket_size"] = int(config["hash_bucket_size"])
                if kind == "sparse":
                    feature["kind"] = "hashed"
            feature["embedding_dim"] = int(config.get("embedding_dim", 16))
            if kind in ("multi", "sequence"):
                feature["separator"] = config.get("separator", "|")
                feature["max_len"] = 8
        out[name] = feature
        for shared in config.get("shared_names", []):  # one more input of the same table
            out[shared] = {**feature, "name": shared, "embedding_name": name}
    return out


def translate(path_or_text: Path | str, data: dict[str, Any] | None = None,
              train: dict[str, Any] | None = None) -> dict[str, Any]:
    """A run config (``data``, default a placeholder; the features; the translated model; ``train``)
    for an EasyRec config file or text."""
    pipeline = parse_pipeline_config(str(path_or_text), strict=False)
    features = feature_dicts(pipeline)
    # towers without label_name get the label of their position, as translate_pipeline gives them
    model_config = with_tower_labels(pipeline["model_config"], list(pipeline.get("data_config", {})
                                                                     .get("label_fields", [])), "model_config", [])
    entry = EASYREC_MODELS.get(model_config["model_class"], "model_config.model_class")
    model = with_variational_dropout(model_config, lambda rest: attach_sequence_attention(
        entry.translate(rest, features, "model_config"), rest, features, "model_config"), "model_config")
    if model["model_class"] == "RankModel" and "tasks" not in model:
        # what the pipeline translation adds to a RankModel: the task of data_config.label_fields[0]
        kind = "regression" if model_config.get("loss_type") == "L2_LOSS" else "binary"
        model["tasks"] = [{"type": kind, "label": pipeline["data_config"]["label_fields"][0]}]
    if model["model_class"] == "MatchModel":  # the pipeline's negative sampler -> SAMPLED_SOFTMAX, num_negatives
        _sampled_negatives(pipeline.get("data_config", {}), model, "data_config", [])
    used = {n for g in model["feature_groups"] for n in g["feature_names"]}
    used |= {n for g in model["feature_groups"] for s in g.get("sequence_features", [])
             for m in s.get("seq_att_map", [])
             for n in [*_list(m.get("key")), *_list(m.get("hist_seq")), *_list(m.get("aux_hist_seq"))]}
    return {"data": data or {"train": "train.parquet"}, "features": [f for n, f in features.items() if n in used],
            "model": model, "train": train or {"epochs": 1, "batch_size": 32, "progress": False}}


def shipped(model_class: str) -> list[Path]:
    """EasyRec's shipped configs whose ``model_class`` is ``model_class``."""
    pattern = re.compile(r"model_class:\s*['\"]%s['\"]" % re.escape(model_class))
    return [p for p in shipped_configs() if pattern.search(p.read_text(encoding="utf-8", errors="replace"))]


def check_shipped(path: Path, refusals: dict[str, str]) -> None:
    """The config plans (``plan_rows`` without data), or is refused with the ConfigError ``refusals`` expects."""
    import warnings

    expected = refusals.get(path.name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # EasyRec's reader quirks (a field set twice) are reported elsewhere
        if expected is None:
            plan_rows(translate(path), fit_data=False)
            return
        with pytest.raises(RecBlocksError) as error:
            plan_rows(translate(path), fit_data=False)
    assert expected in str(error.value), str(error.value)


def _list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])
