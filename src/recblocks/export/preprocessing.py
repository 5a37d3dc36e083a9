"""The preprocessing of an export as language-neutral JSON (``preprocess.json``; docs/export.md).

Everything another language needs to turn raw rows into the graph's inputs: per feature its
source columns, how it becomes numbers (vocabulary lookup, string hashing, list splitting and
padding, number parsing), the fitted state (vocabularies, normalisation constants, bucket
boundaries), the missing-value rules, and which of these run inside the graph.
"""

from __future__ import annotations

from typing import Any

from recblocks.export.graph import GraphInput
from recblocks.features.columns import HASH_KEY
from recblocks.features.preprocess import Preprocessor
from recblocks.features.vectors import is_vector

__all__ = ["SPEC_FORMAT", "SPEC_VERSION", "HASH_SPEC", "preprocessing_spec"]

SPEC_FORMAT = "recblocks.serving-preprocessing"
SPEC_VERSION = 1

#: how hashed ids are computed (``recblocks.features.columns.stable_hash``), written out in full
HASH_SPEC = {
    "function": "siphash-2-4 then splitmix64 finalizer",
    "key": HASH_KEY,
    "key_encoding": "utf-8 (16 bytes: SipHash k0 = little-endian uint64 of bytes 0..7, k1 of bytes 8..15)",
    "input": "the UTF-8 bytes of the (normalised) string; a null hashes like the empty string",
    "finalizer": ["h ^= h >> 30", "h *= 0xBF58476D1CE4E5B9", "h ^= h >> 27", "h *= 0x94D049BB133111EB",
                  "h ^= h >> 31"],
    "arithmetic": "unsigned 64-bit, wrapping",
    "id": "h % hash_bucket_size + 2 (null or empty string: 1)",
}

_IDS = {"padding": 0, "missing_or_unseen": 1, "first_value": 2}


def _encoding(feature: Any, graph_input: GraphInput | None) -> str:
    if graph_input is not None and graph_input.encoding.startswith("raw_"):
        return "number_in_graph" if graph_input.encoding == "raw_number" else "bucketize_in_graph"
    numbers = getattr(feature, "values", "ids") == "numbers"
    if feature.kind == "sequence" and numbers:
        return "bucketize_number_sequence" if feature.boundaries is not None else "number_sequence"
    if feature.kind == "dense":
        return "number_vector" if is_vector(feature) else "number"
    if feature.kind == "bucketized":
        return "bucketize"
    return "hash" if feature.kind == "hashed" or getattr(feature, "hash_bucket_size", None) else "vocabulary"


def _feature_spec(feature: Any, preprocessor: Preprocessor, graph_input: GraphInput | None) -> dict[str, Any]:
    encoding = _encoding(feature, graph_input)
    spec: dict[str, Any] = {"name": feature.name, "kind": feature.kind,
                            "source_columns": list(feature.source_columns), "encoding": encoding,
                            "graph_input": graph_input.to_dict() if graph_input is not None else None}
    if getattr(feature, "cross", None) is not None:
        spec["cross"] = feature.cross.model_dump(mode="json")
    if getattr(feature, "normalize", None) is not None:
        spec["text_normalize"] = feature.normalize.model_dump(mode="json")
    if feature.kind in ("multi", "sequence"):
        spec["list"] = {"separator": feature.separator, "max_len": feature.max_len,
                        "keep": "last" if feature.kind == "sequence" else "first",
                        "align": "left", "empty_row": "one missing element (id 1, or fill_value for numbers)"}
        if getattr(feature, "values", "ids") == "numbers" and feature.dim > 1:
            spec["list"]["element_separator"] = feature.element_separator
            spec["list"]["element_dim"] = feature.dim
    if encoding == "vocabulary":
        spec["vocabulary"] = feature.table_name
    elif encoding == "hash":
        spec["hash_bucket_size"] = int(feature.hash_bucket_size)
    if feature.kind in ("dense", "bucketized") or getattr(feature, "values", "ids") == "numbers":
        spec["fill_value"] = float(feature.fill_value)
        spec["missing"] = ("refuse the row" if feature.kind == "dense" and not feature.allow_missing
                           else "use fill_value")
    if feature.kind == "dense":
        spec["normalization"] = {"kind": feature.normalization, **preprocessor.dense_stats_.get(feature.name, {})}
        if is_vector(feature):
            spec["dim"] = feature.dim
            if feature.separator is not None:
                spec["separator"] = feature.separator
    if feature.name in preprocessor.boundaries_:
        spec["boundaries"] = [float(b) for b in preprocessor.boundaries_[feature.name]]
    return spec


def preprocessing_spec(preprocessor: Preprocessor, inputs: list[GraphInput]) -> dict[str, Any]:
    """The ``preprocess.json`` document for a fitted preprocessor and the graph's inputs."""
    by_name = {spec.name: spec for spec in inputs}
    features = [_feature_spec(f, preprocessor, by_name.get(f.name)) for f in preprocessor.schema]
    return {
        "format": SPEC_FORMAT,
        "version": SPEC_VERSION,
        "ids": dict(_IDS),
        "numbers": {"missing": "null, empty, unparseable, NaN, ±inf or |x| > 3.4028234663852886e38",
                    "in_graph": "send raw float64 values, NaN where missing: the graph fills and normalises"},
        "hash": dict(HASH_SPEC),
        "features": features,
        "vocabularies": {name: list(values) for name, values in preprocessor.vocabularies_.items()},
        "schema": preprocessor.schema.to_config(),
    }
