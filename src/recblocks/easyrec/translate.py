"""A parsed EasyRec pipeline config -> recblocks' run config (plain dicts, validated downstream).

:func:`translate_pipeline` takes what :func:`recblocks.easyrec.parse_pipeline_config` returns and
writes the ``data``, ``features``, ``model`` and ``train`` sections that
:func:`recblocks.runs.parse_run_config` and ``recblocks train`` read. Each section has its module:
:mod:`~recblocks.easyrec.data_section`, :mod:`~recblocks.easyrec.feature_section`,
:mod:`~recblocks.easyrec.model_section`, :mod:`~recblocks.easyrec.train_section` and
:mod:`~recblocks.easyrec.eval_section` (each docstring lists what maps to what).

Nothing is dropped silently: a construct without an equivalent is a ConfigError naming its config
path; settings accepted without effect (distribution, TF session and serving-signature options,
``model_dir``) and features no feature group uses that could not be translated are listed in
``notes`` when the caller passes a list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.data_section import NEGATIVE_SAMPLERS, data_section, expand_input_fields, input_defaults
from recblocks.easyrec.ev_params import apply_ev_params
from recblocks.easyrec.eval_section import eval_metrics, export_settings
from recblocks.easyrec.feature_section import (
    expand_shared_names,
    feature_name,
    text_cnn_combiners,
    translate_features,
)
from recblocks.easyrec.model_classes._common import expand_feature_name
from recblocks.easyrec.model_classes.co_metric_learning_i2i import with_metric_learning_eval
from recblocks.easyrec.model_classes.towers import with_tower_labels, without_idle_calibration
from recblocks.easyrec.model_section import BACKBONE_CLASSES, _rank_task, model_section, towers_read_as_multi_task
from recblocks.easyrec.sequence_combiner import apply_text_cnn, combiner_component
from recblocks.easyrec.train_section import IGNORED_TRAIN_KEYS, train_section

__all__ = ["translate_pipeline", "used_feature_names"]

_TOP_LEVEL = {"train_input_path", "eval_input_path", "parquet_train_input", "parquet_eval_input", "model_dir",
              "train_config", "eval_config", "data_config", "feature_configs", "feature_config", "model_config",
              "export_config", "kafka_train_input", "kafka_eval_input", "datahub_train_input", "datahub_eval_input",
              "hive_train_input", "hive_eval_input", "binary_train_input", "binary_eval_input", "fg_json_path"}


def used_feature_names(model: Mapping[str, Any]) -> set[str]:
    """Every feature name the model's feature groups (and their sequence parts) name.

    EasyRec's ``prefix[a-b]`` shorthand counts as the names it stands for.

    Example:
        >>> sorted(used_feature_names({"feature_groups": [{"feature_names": ["uid", "f[1-2]"]}]}))
        ['f1', 'f2', 'uid']
    """
    names: set[str] = set()
    for group in [*model.get("feature_groups", []), *model.get("seq_att_groups", [])]:
        names.update(group.get("feature_names", []))
        for sequence in group.get("sequence_features", []) + ([group] if "seq_att_map" in group else []):
            for mapping in sequence.get("seq_att_map", []):
                for key in ("key", "hist_seq", "aux_hist_seq"):
                    names.update(mapping.get(key, []))
    return {expanded for name in names for expanded in expand_feature_name(name)}


def _tower_metric(metric: str, model: Mapping[str, Any]) -> str:
    """EasyRec's multi-task metric name ``auc_ctr`` -> recblocks' ``ctr/auc`` (others unchanged).

    The same for the named heads of a RankModel with several tasks (RocketLaunching's ``auc_light``).
    """
    towers = [t.get("tower_name", "") for t in model.get("model_params", {}).get("task_towers", [])]
    towers += [str(t.get("name", "")) for t in model.get("tasks", [])]
    for tower in towers:
        match = re.fullmatch(rf"(\w+)_{re.escape(tower)}", metric) if tower else None
        if match:
            return f"{tower}/{match.group(1)}"
    return metric


def _sampled_negatives(data_config: Mapping[str, Any], model: dict[str, Any], where: str, notes: list[str],
                       data: dict[str, Any] | None = None) -> None:
    """EasyRec's random-negative sampler -> the MatchModel's ``SAMPLED_SOFTMAX`` with ``num_negatives``.

    EasyRec adds ``num_sample`` items drawn from an item table (``input_path``) to each batch's
    candidates; recblocks draws ``num_negatives`` items of the training data by frequency, with the
    logQ correction, besides the batch's own items. A hard negative sampler also adds, per row, its
    user's items of the edge table ``hard_neg_edge_input_path`` (at most ``num_hard_sample``):
    ``model_params.num_hard_negatives`` and ``data.hard_negatives`` (written into ``data``).
    """
    key = next((k for k in NEGATIVE_SAMPLERS if data_config.get(k)), None)
    if key is None:
        return
    if model.get("model_class") != "MatchModel":
        raise ConfigError(join_path(where, key), "sampled negatives train a list-wise retrieval model; this model "
                          "translates to a point-wise RankModel", "a two-tower model with loss_type "
                          "SOFTMAX_CROSS_ENTROPY, or no negative_sampler", model.get("model_class", "RankModel"))
    sampler = data_config[key]
    params = model.setdefault("model_params", {})
    params["loss_type"] = "SAMPLED_SOFTMAX"
    params["num_negatives"] = int(sampler.get("num_sample", 0))
    table = sampler.get("input_path") or sampler.get("item_input_path")
    notes.append(f"data_config.{key}: {params['num_negatives']} negatives per batch are drawn from the training "
                 f"data by item frequency (logQ-corrected), not from {table!r}")
    if key.startswith("hard_"):
        _hard_negatives(sampler, params, join_path(where, key), notes, data)


def _hard_negatives(sampler: Mapping[str, Any], params: dict[str, Any], where: str, notes: list[str],
                    data: dict[str, Any] | None) -> None:
    """The hard-negative edge table (graph-learn's ``src<TAB>dst<TAB>weight`` file with its typed header)."""
    if not params.get("user_id"):  # e.g. MIND has no user tower id: the sampler's user id field names it
        if not sampler.get("user_id_field"):
            raise ConfigError(join_path(where, "user_id_field"), "hard negatives are read per user", "the user id "
                              "feature's name", "none")
        params["user_id"] = sampler["user_id_field"]
    params["num_hard_negatives"] = int(sampler.get("num_hard_sample", 0))
    delimiter = sampler.get("field_delimiter") or "\t"
    if data is not None:
        data["hard_negatives"] = {
            "source": {"path": sampler["hard_neg_edge_input_path"], "format": "csv", "delimiter": delimiter,
                       "header": True, "column_names": ["src_id", "dst_id", "weight"]},
            "user_column": "src_id", "item_column": "dst_id"}
    line = (f"{where}: each row also scores its user's first {params['num_hard_negatives']} items of "
            f"{sampler['hard_neg_edge_input_path']!r} (data.hard_negatives); edge weights are not read")
    if sampler.get("pos_edge_input_path"):
        line += "; sampled negatives do not avoid the user's positive edges (only the row's own item)"
    notes.append(line)


def _raw_features(pipeline: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(name, EasyRec feature message) of every feature (either spelling of the feature list)."""
    if "feature_config" in pipeline:
        entries = pipeline["feature_config"].get("features", [])
    else:
        entries = pipeline.get("feature_configs", [])
    return [(feature_name(f), f) for f in entries]


def _combine_sequences(pipeline: Mapping[str, Any], model: Mapping[str, Any], features: Mapping[str, Any],
                       used: set[str], where: str) -> Mapping[str, Any]:
    """The model config with its TextCNN-combined sequence features as backbone blocks (sequence_combiner)."""
    combined = {name: found for name, found in text_cnn_combiners(pipeline).items() if name in used}
    if not combined:
        return model
    if model.get("model_class") not in BACKBONE_CLASSES or "backbone" not in model:
        name, (at, kind, _) = next(iter(combined.items()))
        raise ConfigError(join_path(at, f"sequence_combiner.{kind}"), "a per-feature sequence combiner is translated "
                          "for backbone models and built-in classes translated to one", "a backbone model",
                          model.get("model_name") or model.get("model_class"))
    components = {name: combiner_component(kind, message, features[name].get("max_len", 0))
                  for name, (_, kind, message) in combined.items()}
    return apply_text_cnn(model, components, where)


def translate_pipeline(pipeline: Mapping[str, Any], where: str = "", notes: list[str] | None = None) -> dict[str, Any]:
    """recblocks' run config for a parsed EasyRec pipeline config.

    Args:
        pipeline: what :func:`~recblocks.easyrec.parse_pipeline_config` returns.
        where: a prefix for error paths (e.g. the file name).
        notes: when given, receives one line per setting accepted without effect.

    Example:
        >>> from recblocks.easyrec import parse_pipeline_config
        >>> text = '''model_dir: "ckpt" train_input_path: "train.csv"
        ... data_config { input_type: CSVInput label_fields: "clk"
        ...   input_fields { input_name: "clk" input_type: INT32 } input_fields { input_name: "uid" } }
        ... feature_config { features { input_names: "uid" feature_type: IdFeature hash_bucket_size: 100 } }
        ... model_config { model_class: "RankModel" feature_groups { group_name: "all" feature_names: "uid" }
        ...   backbone { blocks { name: "mlp" inputs { feature_group_name: "all" }
        ...     keras_layer { class_name: "MLP" mlp { hidden_units: [8] } } } } }'''
        >>> run = translate_pipeline(parse_pipeline_config(text))
        >>> run["features"], run["model"]["task"]
        ([{'name': 'uid', 'kind': 'hashed', 'hash_bucket_size': 100}], {'type': 'binary', 'label': 'clk'})
    """
    notes = notes if notes is not None else []
    for key in pipeline:
        if key not in _TOP_LEVEL:
            raise ConfigError(join_path(where, key), "unsupported pipeline field", None, key, choices=_TOP_LEVEL)
    if "model_dir" in pipeline:
        notes.append(f"model_dir {pipeline['model_dir']!r}: the run directory is `recblocks train -o DIR` "
                     "(default runs/<config name>)")
    if "fg_json_path" in pipeline:
        notes.append("fg_json_path: feature generation is not run; the data must hold the features' columns")
    auto_expand = bool(pipeline.get("data_config", {}).get("auto_expand_input_fields"))
    pipeline = expand_shared_names(pipeline, auto_expand)
    if "data_config" in pipeline:
        pipeline = {**pipeline, "data_config": expand_input_fields(pipeline["data_config"])}
    data_config = pipeline.get("data_config", {})
    data = data_section(pipeline, where)
    defaults = input_defaults(data_config)
    model = pipeline.get("model_config", {})
    used = used_feature_names(model)
    features: list[dict[str, Any]] = []
    for name, result in translate_features(pipeline, defaults):
        if isinstance(result, ConfigError):
            if name in used:
                raise result
            notes.append(f"feature {name!r} left out (no feature group uses it): {result}")
        else:
            features.append(result)
    if "ev_params" in model:
        own = {name for name, raw in _raw_features(pipeline) if raw.get("ev_params")}
        features = apply_ev_params(features, model["ev_params"], join_path(where, "model_config.ev_params"), notes,
                                   own)
        model = {k: v for k, v in model.items() if k != "ev_params"}
    eval_config = pipeline.get("eval_config", {})
    precision_at: list[tuple[int, str]] = []
    metrics, group, top_k = eval_metrics(eval_config.get("metrics_set", []), join_path(where, "eval_config.metrics_set"),
                                       notes, precision_at)
    if precision_at and model.get("model_class") != "CoMetricLearningI2I":
        raise ConfigError(precision_at[0][1], "EasyRec's precision_at_topk is the in-batch MAP@K of "
                          "CoMetricLearningI2I", "model_class CoMetricLearningI2I", model.get("model_class"))
    labels = list(data_config.get("label_fields", []))
    model_where = join_path(where, "model_config")
    model = towers_read_as_multi_task(model, notes, model_where)
    model = with_tower_labels(model, labels, model_where, notes)
    model = without_idle_calibration(model, model_where, notes)
    by_name = {f["name"]: f for f in features}
    if model.get("model_class") in BACKBONE_CLASSES:
        model = _combine_sequences(pipeline, model, by_name, used, model_where)
    model_out = model_section(model, by_name, labels=labels, metrics=metrics, top_k=top_k,
                              sample_weight=data_config.get("sample_weight"), where=model_where)
    if model.get("model_class") not in BACKBONE_CLASSES:  # a built-in class: its translated backbone
        model_out = dict(_combine_sequences(pipeline, model_out, by_name, used, model_where))
    if model.get("model_class") not in BACKBONE_CLASSES and model_out.get("model_class", "RankModel") == "RankModel":
        if not (model_out.get("task") or model_out.get("tasks")):
            model_out["task"] = _rank_task(model, labels, model_where, metrics)
        elif model_out.get("tasks") and not any("label" in t for t in model_out["tasks"]):
            # a class with several heads on the one label (RocketLaunching): each named head is that task
            task = _rank_task(model, labels, model_where, metrics)
            model_out["tasks"] = [{**task, **head} for head in model_out["tasks"]]
    if model_out.get("model_class") == "CoMetricLearningI2I":  # in-batch metrics, the label beside the session
        model_out = with_metric_learning_eval(model_out, labels, top_k, [k for k, _ in precision_at], model_where)
    _sampled_negatives(data_config, model_out, join_path(where, "data_config"), notes, data)
    train = train_section(pipeline.get("train_config", {}), data_config, join_path(where, "train_config"), notes)
    if model.get("model_class") == "WideAndDeep" and "embedding_optimizer" in train:
        notes.append("train_config.optimizer_config[0]: EasyRec's WideAndDeep gives the first optimizer only the "
                     "wide group's embeddings; recblocks gives it every embedding table")
    ignored = sorted(k for k in pipeline.get("train_config", {}) if k in IGNORED_TRAIN_KEYS)
    if ignored:
        notes.append(f"train_config: {', '.join(ignored)} have no effect in a single-process PyTorch run")
    if data_config.get("eval_batch_size"):
        train["eval_batch_size"] = data_config["eval_batch_size"]
    elif model_out.get("model_class") == "CoMetricLearningI2I" and "batch_size" in train:
        # in-batch metrics: EasyRec evaluates batches of batch_size rows (recblocks' default is at least 4096)
        train["eval_batch_size"] = train["batch_size"]
    if group:
        train["gauc_group"] = group
    if "export_config" in pipeline:
        exported = export_settings(pipeline["export_config"], join_path(where, "export_config"))
        if "early_stopping" in exported:
            exported["early_stopping"]["metric"] = _tower_metric(exported["early_stopping"]["metric"], model_out)
        train.update(exported)
    out: dict[str, Any] = {}
    if data:
        out["data"] = data
    out["features"] = features
    out["model"] = model_out
    out["train"] = train
    return out
