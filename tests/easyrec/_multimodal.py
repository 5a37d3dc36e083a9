"""Shared by the CMBF / Uniter / DBMTL-bottom tests: shipped configs through the whole pipeline translation."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from recblocks.easyrec import parse_pipeline_config
from recblocks.easyrec.translate import translate_pipeline
from recblocks.runs import plan_rows

from ._features import SYNTHETIC_FEATURES, train_config


def pipeline_rows(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The translated run config (data dropped) of a shipped config and its plan rows, as ``validate --no-data``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = translate_pipeline(parse_pipeline_config(path, strict=False))
    run.pop("data", None)
    _, rows, _ = plan_rows(run, fit_data=False)
    return run, rows


#: The synthetic columns plus the multi-valued ``tags`` column read as a text sequence.
TEXT_FEATURES = SYNTHETIC_FEATURES.rstrip().rstrip("}") + (
    "  features { input_names: 'tags' feature_type: SequenceFeature embedding_dim: 8 hash_bucket_size: 40 }\n}\n")


def multimodal_train_config(model_text: str) -> dict[str, Any]:
    """A small run: image = the dense columns I1, I2; general = C1, C2; text = tags; other = C3."""
    raw = train_config(TEXT_FEATURES + "model_config {" + model_text + "}", num_rows=192)
    raw["data"]["synthetic"]["multi_valued"] = {"name": "tags", "vocab": 30, "max_len": 5}
    for feature in raw["features"]:
        if feature["name"] == "tags":
            feature["separator"] = "|"
    raw["train"]["epochs"] = 2
    return raw
