"""Pieces shared by the multi-task and match translations: EasyRec ``DNN`` and task towers.

EasyRec's built-in classes build their MLPs with ``easy_rec/python/layers/dnn.py``: every layer
is ``dense (kernel Glorot-uniform, bias) -> batch norm (use_bn; tf's momentum 0.99, epsilon
1e-3) -> activation -> dropout``, the last layer included. :func:`dnn_params` writes that as
recblocks ``MLP`` params; with ``linear_last`` the last layer is a plain dense layer with bias
(DSSM / MIND towers pop it off the DNN). A ``DNN`` whose ``hidden_units`` is ``[0]`` is the
identity in EasyRec (``None`` here: no MLP).

:func:`task_tower` copies an EasyRec ``TaskTower`` / ``BayesTaskTower`` into recblocks' tower
fields (the same names) and refuses what has no equivalent, naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes._common import plain_sequence_features

__all__ = ["dnn_params", "feature_groups", "loss_entry", "input_block", "l2_regularization", "mlp_block",
           "multi_task_section", "check_model_fields", "no_backbone", "require_groups", "task_tower",
           "with_tower_labels", "without_idle_calibration"]

#: Momentum of ``tf.layers.batch_normalization`` (EasyRec's DNN).
TF_BN_MOMENTUM = 0.99

#: Tower fields copied as they are (recblocks' TaskTowerConfig spells them as EasyRec does).
_TOWER_FIELDS = ("tower_name", "label_name", "loss_type", "num_class", "weight", "metrics_set",
                 "relation_tower_names", "task_space_indicator_label", "in_task_space_weight",
                 "out_task_space_weight")
#: Fields of EasyRec's ``Loss`` message recblocks' ``losses`` entries take.
_LOSS_FIELDS = ("loss_type", "weight", "loss_name")


def dnn_params(dnn: Mapping[str, Any] | None, where: str, linear_last: bool = False) -> dict[str, Any] | None:
    """recblocks ``MLP`` params for an EasyRec ``DNN`` message; None for no layers (``[0]`` or unset).

    Example:
        >>> dnn_params({"hidden_units": [8, 4]}, "dnn")["use_final_bn"]
        True
        >>> dnn_params({"hidden_units": [8, 4]}, "dnn", linear_last=True)["final_activation"]
        'linear'
        >>> dnn_params({"hidden_units": [0]}, "dnn") is None
        True
    """
    if dnn is None:
        return None
    units = [int(u) for u in dnn.get("hidden_units", [])]
    if not units or units == [0]:
        if linear_last:
            raise ConfigError(join_path(where, "hidden_units"), "this tower's DNN ends in its output layer",
                              "at least one positive width", units)
        return None
    use_bn = bool(dnn.get("use_bn", True))
    activation = str(dnn.get("activation", "tf.nn.relu"))
    params: dict[str, Any] = {
        "hidden_units": units, "activation": activation, "use_bn": use_bn, "use_bias": not use_bn,
        "use_final_bn": use_bn and not linear_last, "final_activation": "linear" if linear_last else activation,
        "use_final_bias": linear_last or not use_bn, "initializer": "glorot_uniform", "bn_momentum": TF_BN_MOMENTUM,
    }
    ratios = [float(r) for r in dnn.get("dropout_ratio", [])]
    if ratios:
        if len(ratios) != len(units):
            raise ConfigError(join_path(where, "dropout_ratio"), "EasyRec's DNN reads one dropout ratio per layer",
                              f"{len(units)} values", ratios)
        params["dropout_ratio"] = ratios[:-1] + [0.0] if linear_last else ratios
    return params


def _map_towers(model: Mapping[str, Any], fn: Any) -> dict[str, Any]:
    """``model`` with ``fn(message_key, i, tower)`` applied to every ``task_towers`` entry of its messages."""
    out = dict(model)
    for key, message in model.items():
        if isinstance(message, Mapping) and isinstance(message.get("task_towers"), list):
            out[key] = {**message, "task_towers": [fn(key, i, t) for i, t in enumerate(message["task_towers"])]}
    return out


def with_tower_labels(model: Mapping[str, Any], labels: list[str], where: str, notes: list[str]) -> dict[str, Any]:
    """``model`` with each task tower that has no ``label_name`` given the label of its position.

    EasyRec's multi-task models take ``data_config.label_fields[i]`` for the i-th tower without a
    ``label_name``; a note lists each such tower. Towers past the last label stay without one
    (:func:`task_tower` then names them).

    Example:
        >>> with_tower_labels({"mmoe": {"task_towers": [{"tower_name": "ctr"}]}}, ["clk"], "m", [])
        {'mmoe': {'task_towers': [{'tower_name': 'ctr', 'label_name': 'clk'}]}}
    """

    def label(key: str, i: int, tower: Any) -> Any:
        if isinstance(tower, Mapping) and not tower.get("label_name") and i < len(labels):
            tower = {**tower, "label_name": labels[i]}
            notes.append(f"{join_path(where, key, 'task_towers', i)}.label_name: unset; EasyRec's label of the "
                         f"same position, {labels[i]!r}")
        return tower

    return _map_towers(model, label)


def without_idle_calibration(model: Mapping[str, Any], where: str, notes: list[str]) -> dict[str, Any]:
    """``model`` with each tower's ``ORDER_CALIBRATE_LOSS`` that EasyRec computes over no tower left out.

    EasyRec's order-calibration loss of a tower is ``weight * mean(relu(p_tower - p_r))`` summed
    over the tower's ``relation_tower_names`` ``r``: a tower without relation towers gets nothing
    from it (a note says so). With relation towers it is refused (recblocks has no cross-tower
    loss term).

    Example:
        >>> notes = []
        >>> towers = {"task_towers": [{"tower_name": "cvr", "losses": [
        ...     {"loss_type": "CLASSIFICATION"}, {"loss_type": "ORDER_CALIBRATE_LOSS"}]}]}
        >>> without_idle_calibration({"model_params": towers}, "m", notes)["model_params"]["task_towers"]
        [{'tower_name': 'cvr', 'losses': [{'loss_type': 'CLASSIFICATION'}]}]
    """

    def calibrate(key: str, i: int, tower: Any) -> Any:
        losses = tower.get("losses", []) if isinstance(tower, Mapping) else []
        idle = [j for j, loss in enumerate(losses) if loss.get("loss_type") == "ORDER_CALIBRATE_LOSS"]
        if idle and tower.get("relation_tower_names"):
            raise ConfigError(join_path(where, key, "task_towers", i, "losses", idle[0], "loss_type"),
                              "an order-calibration loss against relation towers is not supported",
                              "no relation_tower_names", tower["relation_tower_names"])
        if idle:
            tower = {**tower, "losses": [loss for j, loss in enumerate(losses) if j not in idle]}
            notes.append(f"{join_path(where, key, 'task_towers', i)}.losses[{idle[0]}]: ORDER_CALIBRATE_LOSS "
                         "compares the tower with its relation_tower_names; it has none, so EasyRec adds "
                         "nothing for it (left out)")
        return tower

    return _map_towers(model, calibrate)


def task_tower(tower: Mapping[str, Any], where: str) -> dict[str, Any]:
    """recblocks' task tower for an EasyRec ``TaskTower`` / ``BayesTaskTower``.

    ``label_name`` must be set: EasyRec matches towers without it to ``data_config.label_fields``
    by position, which the pipeline fills in first (:func:`with_tower_labels`).
    """
    if not tower.get("label_name"):
        raise ConfigError(join_path(where, "label_name"), "a tower without label_name (EasyRec takes the label "
                          "of the same position in data_config.label_fields) cannot be translated alone",
                          "label_name set", "unset")
    for field in ("task_space_indicator_name", "task_space_indicator_value"):
        if tower.get(field):
            raise ConfigError(join_path(where, field), "not supported; recblocks reads the task space from a "
                              "label column", "task_space_indicator_label", tower[field])
    out = {key: tower[key] for key in _TOWER_FIELDS if key in tower}
    for key in ("dnn", "relation_dnn"):
        if key in tower:
            params = dnn_params(tower[key], join_path(where, key))
            if params is not None:
                out[key] = params
    if tower.get("relation_tower_names") and "relation_dnn" not in out:
        raise ConfigError(join_path(where, "relation_dnn"), "a tower reading relation towers needs a relation_dnn "
                          "with layers", "relation_dnn {hidden_units: [...]}", "none")
    losses = [loss_entry(loss, join_path(where, "losses", i)) for i, loss in enumerate(tower.get("losses", []))]
    if losses:
        out["losses"] = losses
    return out


def loss_entry(loss: Mapping[str, Any], where: str) -> dict[str, Any]:
    """recblocks' ``losses`` entry for an EasyRec ``Loss``: ``loss_type``, ``weight``, ``loss_name``, and
    the ``f1_reweighted_loss`` parameters (``f1_beta_square``, ``label_smoothing``) and ``jrc_loss``
    ones (``session_name``, ``alpha``, ``same_label_loss``) flattened.

    Example:
        >>> loss_entry({"loss_type": "F1_REWEIGHTED_LOSS", "f1_reweighted_loss": {"f1_beta_square": 2.25}}, "l")
        {'loss_type': 'F1_REWEIGHTED_LOSS', 'f1_beta_square': 2.25}
    """
    out = {key: loss[key] for key in _LOSS_FIELDS if key in loss}
    for key, value in loss.items():
        if key in _LOSS_FIELDS:
            continue
        if key == "f1_reweighted_loss":
            out.update({k: float(v) for k, v in value.items() if k in ("f1_beta_square", "label_smoothing")})
        elif key == "jrc_loss":
            out.update(_jrc_params(value, join_path(where, key)))
        elif key == "ziln_loss":
            if value.get("return_log_pred_value"):
                raise ConfigError(join_path(where, key, "return_log_pred_value"), "recblocks predicts the value, not "
                                  "its log", "false", "true")
            out.update({k: float(v) for k, v in value.items() if k in _ZILN_FIELDS})
        elif key == "learn_loss_weight" and not value:
            continue
        else:
            raise ConfigError(join_path(where, key), "loss parameter not supported",
                              f"only {list(_LOSS_FIELDS)}, f1_reweighted_loss, jrc_loss and ziln_loss", key)
    return out


#: ``ziln_loss`` fields, the same names as recblocks' ziln task's (``recblocks.tasks.ziln``).
_ZILN_FIELDS = ("mu_regularization", "sigma_regularization", "max_log_clip_value", "max_sigma",
                "classification_weight", "regression_weight")


def _jrc_params(value: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``jrc_loss { session_name alpha same_label_loss loss_weight_strategy }`` -> the loss entry's fields.

    Only EasyRec's ``fixed`` weighting of the two terms is translated (``alpha``); its random and
    uncertainty strategies are refused.
    """
    strategy = value.get("loss_weight_strategy", "fixed")
    if strategy != "fixed":
        raise ConfigError(join_path(where, "loss_weight_strategy"), "only the fixed weighting (alpha) of JRC's "
                          "two terms is supported", "'fixed'", repr(strategy))
    out: dict[str, Any] = {"session_name": value["session_name"]} if value.get("session_name") else {}
    if "alpha" in value:
        out["alpha"] = float(value["alpha"])
    if "same_label_loss" in value:
        out["same_label_loss"] = bool(value["same_label_loss"])
    return out


def feature_groups(model_config: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    """The ``feature_groups`` as recblocks reads them (EasyRec's spelling, copied). A group's
    ``negative_sampler`` flag (its features come with the sampled negatives, a data matter) is
    dropped."""
    groups = []
    for i, raw in enumerate(model_config.get("feature_groups", [])):
        group = {key: value for key, value in raw.items() if key != "negative_sampler"}
        extra = sorted(set(group) - {"group_name", "feature_names", "wide_deep", "sequence_features"})
        if extra:
            raise ConfigError(join_path(where, "feature_groups", i, extra[0]), "feature group field not supported",
                              "group_name, feature_names, wide_deep, sequence_features", extra)
        if group.get("sequence_features"):  # the attention options become DIN blocks (attach_sequence_attention)
            group["sequence_features"] = plain_sequence_features(
                group["sequence_features"], join_path(where, "feature_groups", i, "sequence_features"))
        groups.append(dict(group))
    return groups


def require_groups(groups: list[dict[str, Any]], names: tuple[str, ...], model_class: str,
                   where: str) -> None:
    """EasyRec's built-in classes read fixed group names (``all``, ``user``, ``item``, ``hist``)."""
    have = [g.get("group_name") for g in groups]
    for name in names:
        if name not in have:
            raise ConfigError(join_path(where, "feature_groups"), f"{model_class} reads a feature group named "
                              f"'{name}'", f"groups {list(names)}", have, choices=[str(h) for h in have])


#: ``model_config`` fields every translation here reads (besides the class's own message).
_MODEL_FIELDS = ("model_class", "model_name", "feature_groups", "embedding_regularization")


def check_model_fields(model_config: Mapping[str, Any], message: str, where: str,
                       also: tuple[str, ...] = ()) -> None:
    """Refuse ``model_config`` fields the translation would drop (``variational_dropout``, ``kd`` ...)."""
    known = (*_MODEL_FIELDS, message, *also)
    for key in model_config:
        if key not in known:
            raise ConfigError(join_path(where, key), f"not supported with model_class {model_config.get('model_class')}",
                              f"only {list(known)}", key)


def no_backbone(model_config: Mapping[str, Any], model_class: str, where: str) -> None:
    """A built-in class with a ``backbone`` is not translated (spell it as a backbone model class)."""
    if "backbone" in model_config:
        raise ConfigError(join_path(where, "backbone"), f"a backbone under the built-in {model_class} is not "
                          "supported", "no backbone (or model_class MultiTaskModel / MatchModel)", "a backbone")


def l2_regularization(params: Mapping[str, Any], default: float = 1e-4) -> float:
    """The class's ``l2_regularization`` (EasyRec's default 1e-4 when unset)."""
    return float(params.get("l2_regularization", default))


def multi_task_section(model_name: str, model_config: Mapping[str, Any], params: Mapping[str, Any],
                       blocks: list[dict[str, Any]], towers: list[dict[str, Any]], where: str,
                       model_class: str = "MultiTaskModel") -> dict[str, Any]:
    """A recblocks model section: ``blocks`` over the ``all`` group, then ``towers``.

    A multi-task class's own ``loss_type`` / ``num_class`` are unread in EasyRec (each tower has
    its own), so they are accepted and dropped; other unread fields are refused.
    """
    check_model_fields(model_config, _message(model_config, params), where, also=("loss_type", "num_class"))
    section: dict[str, Any] = {
        "model_class": model_class, "model_name": model_name,
        "feature_groups": feature_groups(model_config, where), "backbone": {"blocks": blocks},
        "model_params": {"task_towers": towers, "l2_regularization": l2_regularization(params)},
    }
    if "embedding_regularization" in model_config:
        section["embedding_regularization"] = float(model_config["embedding_regularization"])
    return section


def input_block(group: str = "all") -> dict[str, Any]:
    """A block that outputs the group's features concatenated (EasyRec's ``_input_layer(features, group)``)."""
    return {"name": group, "inputs": [{"feature_group_name": group}], "input_layer": {}}


def mlp_block(name: str, inputs: list[str], params: dict[str, Any]) -> dict[str, Any]:
    """A block running an ``MLP`` over the named blocks."""
    return {"name": name, "inputs": [{"block_name": b} for b in inputs],
            "component": {"class_name": "MLP", "params": params}}


def _message(model_config: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    """The field of ``model_config`` holding ``params`` (the class's own message)."""
    return next((key for key, value in model_config.items() if value is params), "")
