"""EasyRec's ``feature_config.features`` / ``feature_configs`` as recblocks' ``features:`` list.

One EasyRec feature -> one recblocks feature dict (kinds of :mod:`recblocks.features.schema`):

* ``IdFeature``: ``hash_bucket_size`` -> ``hashed``; ``num_buckets`` (EasyRec reads the value as
  the id itself), ``vocab_list`` or ``vocab_file`` -> ``sparse`` with a vocabulary fitted on the
  training data, capped at that many ids (``max_vocab_size``); ``ev_params`` (a dynamic
  embedding variable) -> ``sparse`` with ``min_count`` = ``filter_freq``.
* ``RawFeature``: ``boundaries`` -> ``bucketized``; otherwise ``dense`` (``embedding_dim`` kept,
  ``default_val`` of its input field -> ``fill_value``; ``min_val``/``max_val`` -> ``minmax``
  normalisation whose range is fitted on train instead of given). ``raw_input_dim: N`` > 1 ->
  ``dense`` with ``dim: N`` and the feature's ``separator`` (EasyRec default ``|``): a vector,
  projected with ``embedding_dim`` by EasyRec's weighted-sum rule (``x W``).
* ``TagFeature`` -> ``multi`` with its ``separator`` (EasyRec default ``|``), ``combiner`` sum/mean
  -> ``pooling`` (EasyRec default sum); ``kv_separator`` (``id<kv>weight`` elements) ->
  ``weight_separator``: the pooling weighs each id (:mod:`recblocks.features.weighted`).
* ``SequenceFeature`` -> ``sequence`` (``sequence_length`` or ``max_seq_len`` -> ``max_len``);
  ``sub_feature_type: RawFeature`` -> ``values: numbers``, with ``boundaries`` (or ``num_buckets``
  equal steps over ``[min_val, max_val]``) as bucket ids, else raw numbers (``raw_input_dim`` > 1:
  ``dim`` numbers per element joined by ``seq_multi_sep``), projected with ``embedding_dim``; with
  boundaries and ``seq_multi_sep`` each number of an element is bucketized and the element's
  embedding is the ``combiner`` of its buckets' (``element_len`` 8: the first 8 numbers); a
  ``sequence_combiner { text_cnn }`` or ``{ attention }`` becomes backbone blocks (:func:`text_cnn_combiners`,
  :mod:`recblocks.easyrec.sequence_combiner`).
* ``PassThroughFeature`` -> ``dense``.
* ``ComboFeature`` (a hashed cross of its ``input_names``, at least two) -> ``hashed`` with
  ``cross: {columns}``; with ``combo_input_seps`` (some input split into several values: the
  cartesian product) -> ``multi`` with ``cross.separators`` (an empty separator: null) and
  ``pooling`` from ``combiner``; ``combo_join_sep`` -> ``cross.join`` (unset: a join character
  that does not occur in values, as EasyRec's crossed column hashes the tuple). It needs
  ``hash_bucket_size`` (:mod:`recblocks.features.cross`).
* ``shared_names``: one more feature per name, reading that input with the same settings, appended
  after the others as EasyRec does (:func:`expand_shared_names`).
* ``embedding_dim`` (0 = unset: the model's default width), ``embedding_name`` (shared tables).

* ``LookupFeature`` (a key column and a map column) -> ``multi`` with ``lookup`` (the values of the
  map's entries for the row's key, at most ``lookup_max_sel_elem_num``), hashed, pooled by ``combiner``.
* ``ExprFeature`` -> ``dense`` with ``expression`` (the formula over its inputs, evaluated by an
  allow-list grammar at preprocessing, :mod:`recblocks.features.derived`).

Without an equivalent, each a ConfigError naming the field: ``kv_separator`` on a sequence, ``shared_names`` with a ``feature_name``, ``raw_input_dim`` > 1
with ``boundaries``/``num_buckets`` or a ``combiner`` other than sum,
``normalizer_fn``, ``sequence_combiner.multi_head_attention`` (EasyRec's input layer does not
build it either), a raw numeric sequence with ``seq_multi_sep`` but no ``raw_input_dim``, a
``combiner`` other than sum/mean, ``initializer``. :func:`translate_features` returns such
errors per feature rather than raising them, so a feature no feature group uses does not stop
the translation (:func:`recblocks.easyrec.translate.translate_pipeline` reports it as a note).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes._common import expand_feature_name

__all__ = ["translate_feature", "translate_features", "feature_name", "text_cnn_combiners", "expand_shared_names"]

_IGNORED = {"feature_name", "input_names", "feature_type", "embedding_dim", "embedding_name", "precision",
            "max_partitions", "lookup_max_sel_elem_num"}


#: numbers kept per element of a bucketized ``seq_multi_sep`` sequence (EasyRec keeps them all; recblocks
#: pads elements to a fixed width, so the first ones are kept)
ELEMENT_LEN = 8


def feature_name(feature: Mapping[str, Any]) -> str:
    """EasyRec's name of a feature: ``feature_name``, else its first input name."""
    names = feature.get("input_names") or [""]
    return str(feature.get("feature_name") or names[0])


def _refuse(where: str, key: str, problem: str, expected: str, got: Any) -> None:
    raise ConfigError(join_path(where, key), problem, expected, got)


def translate_feature(feature: Mapping[str, Any], where: str,
                      defaults: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One EasyRec feature -> a recblocks feature dict; ConfigError naming ``where`` when unmappable.

    ``defaults`` holds ``data_config.input_fields[].default_val`` by input name.

    Example:
        >>> translate_feature({"input_names": ["genres"], "feature_type": "TagFeature", "separator": "|",
        ...                    "embedding_dim": 16, "hash_bucket_size": 100}, "feature_config.features[5]")
        {'name': 'genres', 'kind': 'multi', 'separator': '|', 'hash_bucket_size': 100, 'pooling': 'sum', \
'embedding_dim': 16}
    """
    kind = feature.get("feature_type", "IdFeature")
    inputs = list(feature.get("input_names") or [])
    if kind == "ComboFeature":
        return _combo_feature(feature, where, inputs)
    if kind == "LookupFeature":
        return _lookup_feature(feature, where, inputs)
    if kind == "ExprFeature":
        return _expr_feature(feature, where, inputs)
    if len(inputs) != 1:
        raise ConfigError(join_path(where, "input_names"), f"a {kind} reads one input column",
                          "one input name", inputs)
    name = feature_name(feature)
    out: dict[str, Any] = {"name": name}
    if inputs[0] != name:
        out["column"] = inputs[0]
    for key, problem in (("shared_names", "a feature with both feature_name and shared_names would be copied under "
                                          "one name; declare each copy"),
                         ("initializer", "per-feature initializers are not supported (model.embedding_init_std "
                                         "sets the embedding initialisation)"),
                         ("normalizer_fn", "custom normalizer functions are not evaluated")):
        if feature.get(key):
            _refuse(where, key, problem, "the field left out", feature[key])
    if kind == "IdFeature":
        out.update(_id_feature(feature, where))
    elif kind in ("RawFeature", "PassThroughFeature"):
        out.update(_raw_feature(feature, where, (defaults or {}).get(inputs[0])))
    elif kind == "TagFeature":
        out.update(_list_feature(feature, where, "multi"))
    elif kind == "SequenceFeature":
        out.update(_list_feature(feature, where, "sequence"))
    else:
        raise ConfigError(join_path(where, "feature_type"), "unknown feature type", None, kind,
                          choices=["IdFeature", "RawFeature", "TagFeature", "SequenceFeature"])
    if feature.get("embedding_dim"):
        out["embedding_dim"] = int(feature["embedding_dim"])
    if feature.get("embedding_name"):
        out["embedding_name"] = feature["embedding_name"]
    return out


def _combo_feature(feature: Mapping[str, Any], where: str, inputs: list[str]) -> dict[str, Any]:
    """A ComboFeature: a hashed cross of its inputs (see the module docstring)."""
    if len(inputs) < 2:
        raise ConfigError(join_path(where, "input_names"), "a ComboFeature crosses several inputs",
                          "at least two input names", inputs)
    if not feature.get("hash_bucket_size"):
        raise ConfigError(join_path(where, "hash_bucket_size"), "a ComboFeature hashes its crossed values",
                          "hash_bucket_size > 0", feature.get("hash_bucket_size"))
    for key in ("initializer", "normalizer_fn", "shared_names"):
        if feature.get(key):
            _refuse(where, key, "not supported on a ComboFeature", "the field left out", feature[key])
    seps = list(feature.get("combo_input_seps") or [])
    if seps and len(seps) != len(inputs):
        raise ConfigError(join_path(where, "combo_input_seps"), "one separator per input (empty: a single value)",
                          f"{len(inputs)} separators", len(seps))
    cross: dict[str, Any] = {"columns": inputs}
    out: dict[str, Any] = {"name": feature_name(feature), "kind": "hashed",
                           "hash_bucket_size": int(feature["hash_bucket_size"])}
    if any(seps):
        cross["separators"] = [sep or None for sep in seps]
        combiner = feature.get("combiner", "sum")
        if combiner not in ("sum", "mean"):
            _refuse(where, "combiner", "unsupported combiner", "sum or mean", repr(combiner))
        out.update(kind="multi", pooling=combiner)
    if feature.get("combo_join_sep"):
        cross["join"] = feature["combo_join_sep"]
    out["cross"] = cross
    if feature.get("embedding_dim"):
        out["embedding_dim"] = int(feature["embedding_dim"])
    if feature.get("embedding_name"):
        out["embedding_name"] = feature["embedding_name"]
    return out


def _lookup_feature(feature: Mapping[str, Any], where: str, inputs: list[str]) -> dict[str, Any]:
    """A LookupFeature: the values the map column (second input) holds for the key column (first input),
    hashed and pooled by ``combiner`` (EasyRec's ``_lookup_preprocess`` and hashed categorical column)."""
    if len(inputs) != 2:
        raise ConfigError(join_path(where, "input_names"), "a LookupFeature reads a key column and a map column",
                          "two input names", inputs)
    if not feature.get("hash_bucket_size"):
        raise ConfigError(join_path(where, "hash_bucket_size"), "EasyRec hashes the looked-up values",
                          "hash_bucket_size > 0", feature.get("hash_bucket_size"))
    combiner = feature.get("combiner", "sum")
    if combiner not in ("sum", "mean"):
        _refuse(where, "combiner", "unsupported combiner", "sum or mean", repr(combiner))
    selected = int(feature.get("lookup_max_sel_elem_num", 10))
    out: dict[str, Any] = {
        "name": str(feature.get("feature_name") or inputs[0]), "kind": "multi", "column": inputs[1],
        "separator": feature.get("separator", "|"), "hash_bucket_size": int(feature["hash_bucket_size"]),
        "max_len": selected, "pooling": combiner,
        "lookup": {"key": inputs[0], "kv_separator": feature.get("kv_separator") or ":", "max_selected": selected}}
    if feature.get("embedding_dim"):
        out["embedding_dim"] = int(feature["embedding_dim"])
    if feature.get("embedding_name"):
        out["embedding_name"] = feature["embedding_name"]
    return out


def _expr_feature(feature: Mapping[str, Any], where: str, inputs: list[str]) -> dict[str, Any]:
    """An ExprFeature: a number per row from its ``expression`` over the inputs, a raw value in deep groups
    (EasyRec's numeric column; ``embedding_dim`` is not read)."""
    if not feature.get("expression"):
        raise ConfigError(join_path(where, "expression"), "an ExprFeature computes its value by a formula",
                          "expression: '...'", "unset")
    if not inputs:
        raise ConfigError(join_path(where, "input_names"), "the formula reads the input columns",
                          "at least one input name", inputs)
    name = str(feature.get("feature_name") or inputs[0])
    return {"name": name, "kind": "dense", "expression": {"formula": feature["expression"], "columns": inputs}}


def _ids(feature: Mapping[str, Any], where: str) -> dict[str, Any]:
    """How the ids of an id-like feature are made: hashed, or a fitted vocabulary (capped)."""
    if feature.get("hash_bucket_size"):
        return {"hash_bucket_size": int(feature["hash_bucket_size"])}
    out: dict[str, Any] = {}
    if feature.get("ev_params"):
        out["min_count"] = max(1, int(feature["ev_params"].get("filter_freq", 0)))
    return out


def _id_feature(feature: Mapping[str, Any], where: str) -> dict[str, Any]:
    ids = _ids(feature, where)
    if "hash_bucket_size" in ids:
        return {"kind": "hashed", **ids}
    out: dict[str, Any] = {"kind": "sparse", **ids}
    cap = feature.get("num_buckets") or len(feature.get("vocab_list") or []) or None
    if cap:
        out["max_vocab_size"] = int(cap)
    return out


def _raw_feature(feature: Mapping[str, Any], where: str, default_val: str | None) -> dict[str, Any]:
    width = int(feature.get("raw_input_dim", 1))
    fill = _number(default_val)
    if width > 1:
        if feature.get("boundaries") or int(feature.get("num_buckets", 0)) > 1:
            key = "boundaries" if feature.get("boundaries") else "num_buckets"
            _refuse(where, key, "bucketizing a vector-valued raw feature (raw_input_dim > 1) is not supported",
                    "no boundaries or num_buckets with raw_input_dim > 1", key)
        if feature.get("embedding_dim") and feature.get("combiner", "sum") != "sum":
            _refuse(where, "combiner", "a vector raw feature is projected by EasyRec's sum rule (x W) only",
                    "sum", repr(feature["combiner"]))
        out: dict[str, Any] = {"kind": "dense", "dim": width, "separator": feature.get("separator", "|")}
        if feature.get("max_val", 0.0) > feature.get("min_val", 0.0):
            out["normalization"] = "minmax"
        if fill is not None:
            out["fill_value"] = fill
        return out
    if feature.get("boundaries"):
        out: dict[str, Any] = {"kind": "bucketized", "boundaries": [float(b) for b in feature["boundaries"]]}
    else:
        out = {"kind": "dense"}
        low, high = feature.get("min_val", 0.0), feature.get("max_val", 0.0)
        if high > low:
            out["normalization"] = "minmax"
    if fill is not None:
        out["fill_value"] = fill
    return out


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def _list_feature(feature: Mapping[str, Any], where: str, kind: str) -> dict[str, Any]:
    if feature.get("kv_separator") and kind == "sequence":
        _refuse(where, "kv_separator", "weighted ids (id:weight pairs) are read by a TagFeature, not a sequence",
                "no kv_separator", repr(feature["kv_separator"]))
    if kind == "sequence":
        combiner = feature.get("sequence_combiner")
        chosen = next(iter(combiner), "?") if combiner else None
        if chosen not in (None, "text_cnn", "attention"):
            _refuse(where, f"sequence_combiner.{chosen}", "a per-feature sequence combiner other than text_cnn or "
                    "attention has no recblocks equivalent (EasyRec's input layer does not build it either): put "
                    "the feature in a sequence group and combine it with a backbone block",
                    "no sequence_combiner, text_cnn or attention", chosen)
    numeric = kind == "sequence" and feature.get("sub_feature_type", "IdFeature") == "RawFeature"
    out: dict[str, Any] = {"kind": kind, "separator": feature.get("separator", "|"),
                           **(_numbers(feature, where) if numeric else _ids(feature, where))}
    length = feature.get("sequence_length", 1) if kind == "sequence" else 1
    length = length if length > 1 else feature.get("max_seq_len")
    if length:
        out["max_len"] = int(length)
    combiner = feature.get("combiner", "sum")
    if combiner not in ("sum", "mean") or (numeric and combiner != "sum" and feature.get("embedding_dim")):
        _refuse(where, "combiner", "unsupported combiner", "sum" if numeric else "sum or mean", repr(combiner))
    out["pooling"] = combiner
    if feature.get("kv_separator"):  # EasyRec's weighted categorical column: sum w e, or / sum w for mean
        out["weight_separator"] = feature["kv_separator"]
    return out


def _numbers(feature: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A ``sub_feature_type: RawFeature`` sequence: bucketized by ``boundaries`` (or ``num_buckets`` equal
    steps over ``[min_val, max_val]``, EasyRec's normalise-then-bucketize), else raw numbers, several per
    element (``raw_input_dim``) joined by ``seq_multi_sep``."""
    width = int(feature.get("raw_input_dim", 1))
    sep = feature.get("seq_multi_sep")
    if feature.get("hash_bucket_size"):
        _refuse(where, "hash_bucket_size", "a numeric sequence is not hashed (EasyRec refuses it too)",
                "sub_feature_type IdFeature with hash_bucket_size", feature["hash_bucket_size"])
    buckets, low, high = int(feature.get("num_buckets", 0)), feature.get("min_val", 0.0), feature.get("max_val", 0.0)
    bounds = sorted(float(b) for b in feature.get("boundaries") or [])
    if not bounds and buckets > 1:
        if high <= low:
            _refuse(where, "num_buckets", "num_buckets on a numeric sequence reads the numbers as ids in EasyRec",
                    "min_val < max_val (equal steps) or boundaries", f"min_val {low}, max_val {high}")
        bounds = [low + (high - low) * i / buckets for i in range(buckets)]
    if sep is not None and width == 1 and not bounds:
        _refuse(where, "seq_multi_sep", "several raw numbers per sequence element are read as a vector of "
                "raw_input_dim numbers", "raw_input_dim > 1, or boundaries / num_buckets (bucket ids pooled per "
                "element), or no seq_multi_sep", repr(sep))
    if bounds:
        if width > 1:
            _refuse(where, "raw_input_dim", "bucketizing vectors of numbers is not supported", "1", width)
        if sep is not None:  # EasyRec bucketizes every number of its 3-D input; the lookup combines them
            return {"values": "numbers", "boundaries": bounds, "element_separator": sep,
                    "element_len": ELEMENT_LEN}
        return {"values": "numbers", "boundaries": bounds}
    out: dict[str, Any] = {"values": "numbers"}
    if width > 1:
        if sep is None:
            _refuse(where, "seq_multi_sep", "raw_input_dim > 1 needs the separator of the numbers of one element",
                    "seq_multi_sep set", "unset")
        out.update(dim=width, element_separator=sep)
    return out


def translate_features(pipeline: Mapping[str, Any],
                       defaults: Mapping[str, str] | None = None) -> list[tuple[str, dict[str, Any] | ConfigError]]:
    """``(name, feature dict or the ConfigError that refused it)`` for every EasyRec feature, in order."""
    if "feature_config" in pipeline:
        base, entries = "feature_config.features", pipeline["feature_config"].get("features", [])
    else:
        base, entries = "feature_configs", pipeline.get("feature_configs", [])
    out: list[tuple[str, dict[str, Any] | ConfigError]] = []
    for i, feature in enumerate(entries):
        where = join_path(base, i)
        try:
            out.append((feature_name(feature), translate_feature(feature, where, defaults)))
        except ConfigError as error:
            out.append((feature_name(feature), error))
    return out


def text_cnn_combiners(pipeline: Mapping[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Feature name -> (its config path, the combiner: ``text_cnn`` or ``attention``, its message), for every
    feature with such a ``sequence_combiner``."""
    if "feature_config" in pipeline:
        base, entries = "feature_config.features", pipeline["feature_config"].get("features", [])
    else:
        base, entries = "feature_configs", pipeline.get("feature_configs", [])
    out = {}
    for i, f in enumerate(entries):
        combiner = f.get("sequence_combiner") or {}
        kind = next((k for k in ("text_cnn", "attention") if k in combiner), None)
        if kind is not None:
            out[feature_name(f)] = (join_path(base, i), kind, dict(combiner[kind] or {}))
    return out


def expand_shared_names(pipeline: Mapping[str, Any], auto_expand: bool = False) -> dict[str, Any]:
    """``pipeline`` with each feature's ``shared_names`` made copies of it, appended (EasyRec's config_util).

    A copy reads one shared input (``prefix[a-b]`` expanded with ``auto_expand``, as
    ``data_config.auto_expand_input_fields`` does); the original loses its ``shared_names``. A feature
    that also has a ``feature_name`` keeps them (its translation refuses: the copies would share a name).

    Example:
        >>> out = expand_shared_names({"feature_configs": [{"input_names": ["a"], "shared_names": ["b"],
        ...                                                  "hash_bucket_size": 9}]})
        >>> out["feature_configs"]
        [{'input_names': ['a'], 'hash_bucket_size': 9}, {'input_names': ['b'], 'hash_bucket_size': 9}]
    """
    nested = "feature_config" in pipeline
    entries = pipeline["feature_config"].get("features", []) if nested else pipeline.get("feature_configs", [])
    if not any(f.get("shared_names") and not f.get("feature_name") for f in entries):
        return dict(pipeline)
    kept, copies = [], []
    for feature in entries:
        if not feature.get("shared_names") or feature.get("feature_name"):
            kept.append(feature)
            continue
        base = {k: v for k, v in feature.items() if k != "shared_names"}
        kept.append(base)
        for shared in feature["shared_names"]:
            names = expand_feature_name(shared) if auto_expand else [shared]
            copies += [{**base, "input_names": [name]} for name in names]
    if nested:
        return {**pipeline, "feature_config": {**pipeline["feature_config"], "features": kept + copies}}
    return {**pipeline, "feature_configs": kept + copies}

