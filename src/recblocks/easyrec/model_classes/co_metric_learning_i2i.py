"""EasyRec's ``CoMetricLearningI2I`` (collaborative metric learning, item to item) as recblocks' model class.

EasyRec (``easy_rec/python/model/collaborative_metric_learning.py``) learns one embedding per
row: the ``input`` group's features concatenated, after them each ``highway`` tower's output
(its group batch-normalised, then a highway layer of width ``emb_size`` with GELU), through the
``dnn`` whose last layer is a plain dense layer (no batch norm, no activation); with a
``backbone`` the backbone's output is the embedding instead. Rows of a batch with the same
session (``session_id``, a label field popped from the labels) and the same label (the first
other label field) are positives of each other, every other pair a negative, for the
``circle_loss`` or ``multi_similarity_loss`` that ``loss_type`` names (the two must agree). The
evaluation ranks each evaluation batch's rows against each other: ``recall_at_topk`` is an
in-batch recall@K, ``precision_at_topk`` an in-batch MAP@K.

recblocks' ``model_class: CoMetricLearningI2I`` (:mod:`recblocks.models.metric_learning`) does
the same on a backbone: ``model_params`` hold ``session_id`` (read as an extra column of int64
ids), ``loss_type`` with the loss's parameters, ``output_l2_normalized_emb`` and
``l2_regularization`` (EasyRec's default 1e-4); the pipeline translation adds ``label`` and the
metric cut-offs (:func:`with_metric_learning_eval`). The highway layers are EasyRec's
``highway(x, emb_size, activation=gelu)`` call, which reads only ``input`` and ``emb_size`` of
the ``HighWayTower`` message: one layer, gate bias starting at -1, no dropout (the message's
other fields are ignored, as in EasyRec); the input is projected to ``emb_size`` only when the
widths differ (EasyRec projects always). ``item_id`` is unread in EasyRec and here;
``sample_id`` (EasyRec copies that feature into the predictions) has no effect: ``recblocks
predict --passthrough COLUMN`` copies a column next to the embeddings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes.towers import (check_model_fields, dnn_params, feature_groups,
                                                    l2_regularization, mlp_block)

__all__ = ["co_metric_learning_i2i", "with_metric_learning_eval"]

#: ``loss_type`` -> the field of the ``metric_learning`` message holding its parameters, with their defaults.
LOSS_MESSAGES = {"CIRCLE_LOSS": ("circle_loss", {"margin": 0.25, "gamma": 32.0}),
                 "MULTI_SIMILARITY_LOSS": ("multi_similarity_loss", {"alpha": 2.0, "beta": 50.0, "lamb": 1.0})}
#: Keras/TF batch normalisation EasyRec puts before each highway tower (``tf.layers.batch_normalization``).
_HIGHWAY_BN = {"momentum": 0.99, "epsilon": 1e-3}


def _loss(model_config: Mapping[str, Any], params: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``loss_type`` and its parameters (EasyRec asserts the message's loss is the ``loss_type``'s)."""
    loss_type = model_config.get("loss_type", "CLASSIFICATION")
    if loss_type not in LOSS_MESSAGES:
        raise ConfigError(join_path(where, "loss_type"), "CoMetricLearningI2I trains a metric-learning loss",
                          f"one of {sorted(LOSS_MESSAGES)}", loss_type, choices=list(LOSS_MESSAGES))
    message, defaults = LOSS_MESSAGES[loss_type]
    given = [key for key, (field, _) in LOSS_MESSAGES.items() if field in params]
    if given != [loss_type]:
        raise ConfigError(join_path(where, "metric_learning", message), f"loss_type {loss_type} reads its "
                          "parameters from this message (EasyRec asserts the two agree)", f"{message} {{...}}",
                          [LOSS_MESSAGES[g][0] for g in given] or "none")
    values = params[message] or {}
    return {"loss_type": loss_type, **{key: float(values.get(key, default)) for key, default in defaults.items()}}


def _highways(params: Mapping[str, Any], groups: list[str], path: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The batch norm + highway blocks of each ``highway`` tower, and their output block names."""
    blocks: list[dict[str, Any]] = []
    outputs: list[str] = []
    for i, tower in enumerate(params.get("highway", [])):
        at = join_path(path, "highway", i)
        group = tower.get("input")
        if group not in groups:
            raise ConfigError(join_path(at, "input"), "unknown feature group", "a group of feature_groups",
                              repr(group), choices=groups)
        if not tower.get("emb_size"):
            raise ConfigError(join_path(at, "emb_size"), "the highway tower's width is required", "a positive width",
                              tower.get("emb_size"))
        blocks.append({"name": f"highway_{i}_bn", "inputs": [{"feature_group_name": group}],
                       "component": {"class_name": "BatchNormalization", "params": dict(_HIGHWAY_BN)}})
        blocks.append({"name": f"highway_{i}", "inputs": [{"block_name": f"highway_{i}_bn"}],
                       "component": {"class_name": "Highway", "params": {
                           "emb_size": int(tower["emb_size"]), "activation": "gelu", "init_gate_bias": -1.0,
                           "num_layers": 1, "dropout_rate": 0.0}}})
        outputs.append(f"highway_{i}")
    return blocks, outputs


@EASYREC_MODELS.register("CoMetricLearningI2I", message="metric_learning")
def co_metric_learning_i2i(model_config: Mapping[str, Any], features: FeatureFacts, where: str) -> dict[str, Any]:
    """Collaborative metric learning: an item embedding trained by a circle / multi-similarity loss over
    same-session pairs of the batch (Hsieh et al., WWW 2017; losses of Sun et al. 2020 and Wang et al. 2019)."""
    check_model_fields(model_config, "metric_learning", where, also=("loss_type", "backbone"))
    path = join_path(where, "metric_learning")
    params = model_config.get("metric_learning")
    if params is None:
        raise ConfigError(path, "CoMetricLearningI2I reads its parameters from this message",
                          "metric_learning { dnn {...} circle_loss {...} }", "missing")
    groups = feature_groups(model_config, where)
    names = [str(g.get("group_name")) for g in groups]
    model_params: dict[str, Any] = {
        **_loss(model_config, params, where),
        "output_l2_normalized_emb": bool(params.get("output_l2_normalized_emb", True)),
        "l2_regularization": l2_regularization(params)}
    if params.get("session_id"):
        model_params["session_id"] = params["session_id"]
    section: dict[str, Any] = {"model_class": "CoMetricLearningI2I", "model_name": "CoMetricLearningI2I",
                               "feature_groups": groups, "model_params": model_params}
    if "backbone" in model_config:  # EasyRec: the backbone's output is the embedding, highway/input/dnn unread
        from recblocks.easyrec.model_section import easyrec_layer_modes  # (model_section imports this package)

        section["backbone"] = easyrec_layer_modes(model_config["backbone"])
    else:
        blocks: list[dict[str, Any]] = []
        sources: list[str] = []
        if params.get("input"):
            if params["input"] not in names:
                raise ConfigError(join_path(path, "input"), "unknown feature group", "a group of feature_groups",
                                  repr(params["input"]), choices=names)
            blocks.append({"name": "input", "inputs": [{"feature_group_name": params["input"]}], "input_layer": {}})
            sources.append("input")
        highway_blocks, highway_outputs = _highways(params, names, path)
        blocks += highway_blocks
        sources += highway_outputs
        if not sources:
            raise ConfigError(join_path(path, "input"), "the embedding reads no features", "an input group or "
                              "highway towers", "neither")
        if "dnn" not in params:
            raise ConfigError(join_path(path, "dnn"), "the DNN is required (its last layer is the embedding)",
                              "dnn { hidden_units: [...] }", "missing")
        mlp = dnn_params(params["dnn"], join_path(path, "dnn"), linear_last=True)
        blocks.append(mlp_block("dnn", sources, mlp))  # type: ignore[arg-type]
        section["backbone"] = {"blocks": blocks, "concat_blocks": ["dnn"]}
    if "embedding_regularization" in model_config:
        section["embedding_regularization"] = float(model_config["embedding_regularization"])
    return section


def with_metric_learning_eval(model: Mapping[str, Any], labels: list[str], recall_top_k: list[int],
                              map_top_k: list[int], where: str) -> dict[str, Any]:
    """A translated ``CoMetricLearningI2I`` section with its label and evaluation cut-offs.

    The label is the first ``data_config.label_fields`` entry that is not the session id
    (EasyRec pops the session id from the labels and takes the first remaining one); the session
    id must be a label field, as EasyRec reads it from the labels. ``recall_top_k`` and
    ``map_top_k`` come from ``eval_config``'s ``recall_at_topk`` and ``precision_at_topk``.

    Example:
        >>> section = {"model_class": "CoMetricLearningI2I", "model_params": {"session_id": "user_id"}}
        >>> with_metric_learning_eval(section, ["clk", "user_id"], [10, 5], [10], "m")["model_params"]
        {'session_id': 'user_id', 'label': 'clk', 'recall_top_k': [10, 5], 'map_top_k': [10]}
    """
    params = dict(model.get("model_params") or {})
    session = params.get("session_id")
    if session and session not in labels:
        raise ConfigError(join_path(where, "metric_learning", "session_id"), "EasyRec reads the session id from "
                          "the labels", f"one of data_config.label_fields {labels}", repr(session), choices=labels)
    rest = [label for label in labels if label != session]
    if not rest:
        raise ConfigError("data_config.label_fields", "CoMetricLearningI2I pairs rows by a label besides the "
                          "session id", "a label field other than the session id", labels)
    params.update(label=rest[0], recall_top_k=list(dict.fromkeys(recall_top_k)),
                  map_top_k=list(dict.fromkeys(map_top_k)))
    return {**model, "model_params": params}
