"""EasyRec's ``model_config`` as recblocks' ``model:`` section.

``model_class`` RankModel, MultiTaskModel and MatchModel (backbone configs) pass through: recblocks'
model section reads EasyRec's own spellings (``feature_groups`` with ``wide_deep``, ``backbone``
blocks with ``keras_layer``/``module``, ``input_layer``, ``st_params``, ``model_params`` with
``task_towers``, ``embedding_regularization``); only what recblocks spells elsewhere is rewritten:

* RankModel: ``loss_type``/``num_class`` and the label (``label_name``, else the one
  ``data_config.label_fields``) -> ``task`` (CLASSIFICATION with ``num_class: 1`` -> binary, with
  ``num_class: C`` -> multiclass, ``L2_LOSS`` -> regression) with the ``eval_config`` metrics;
  ``losses`` -> the task's ``losses`` (EasyRec trains their weighted sum instead of ``loss_type``,
  which still sets the task type).
* MultiTaskModel: a tower's ``use_sample_weight: true`` -> ``weight_column`` =
  ``data_config.sample_weight``.
* MatchModel: ``eval_config``'s ``recall_at_topk`` cut-offs -> ``model_params.top_k``.
* A backbone ``keras_layer`` of class ``SENet`` gets ``mode: plus`` unless it names a mode:
  EasyRec's SENet is the FiBiNet++ form, recblocks' default is the classic one
  (:func:`easyrec_layer_modes`).
* A RankModel whose ``model_params`` has ``task_towers`` is read as a MultiTaskModel, with a
  note (:func:`towers_read_as_multi_task`): EasyRec's RankModel never reads towers, and its head
  fails on a backbone that ends in one output per task (MMoE's list); EasyRec's own backbone guide
  printed this config (its case 10) with RankModel and later corrected it to MultiTaskModel.

Any other ``model_class`` is one of EasyRec's built-in classes: its registered translation
(:data:`recblocks.easyrec.model_classes.EASYREC_MODELS`) writes the model section. For every
class, ``variational_dropout`` puts a ``VariationalDropout`` block behind each group the backbone
reads (:mod:`recblocks.easyrec.variational_dropout`). Constructs without an equivalent are a
ConfigError naming them: ``seq_att_groups``, ``kd`` (distillation),
``restore_filters``, a ``loss_weight_strategy`` other than Fixed. (``ev_params`` is read by
:func:`recblocks.easyrec.ev_params.apply_ev_params` before this section is written.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path
from recblocks.easyrec.model_classes import EASYREC_MODELS, FeatureFacts
from recblocks.easyrec.model_classes._sequence import attach_sequence_attention
from recblocks.easyrec.model_classes.towers import loss_entry
from recblocks.easyrec.variational_dropout import with_variational_dropout

__all__ = ["model_section", "towers_read_as_multi_task", "easyrec_layer_modes", "BACKBONE_CLASSES"]

#: ``model_class`` values whose graph is the config's own backbone.
BACKBONE_CLASSES = ("RankModel", "MultiTaskModel", "MatchModel")
_PASSED = ("model_class", "model_name", "feature_groups", "backbone", "model_params", "embedding_regularization")
_REFUSED = {
    "seq_att_groups": "sequence attention groups of the built-in DIN-style models; use a DIN block in the backbone",
    "kd": "knowledge distillation terms are not supported",
    "restore_filters": "checkpoint restore filters are not supported",
}
_RANK_TASKS = {"CLASSIFICATION": "binary", "L2_LOSS": "regression"}


def easyrec_layer_modes(value: Any) -> Any:
    """``value`` (a backbone, or any part of one) with every ``SENet`` keras layer in EasyRec's form.

    Example:
        >>> easyrec_layer_modes({"blocks": [{"repeat": {"keras_layer": {"class_name": "SENet", "senet": {}}}}]})
        {'blocks': [{'repeat': {'keras_layer': {'class_name': 'SENet', 'senet': {'mode': 'plus'}}}}]}
    """
    if isinstance(value, list):
        return [easyrec_layer_modes(item) for item in value]
    if not isinstance(value, Mapping):
        return value
    out = {key: easyrec_layer_modes(item) for key, item in value.items()}
    if out.get("class_name") == "SENet" and "st_params" not in out:
        out["senet"] = {"mode": "plus", **(out.get("senet") or {})}
    return out


def towers_read_as_multi_task(model: Mapping[str, Any], notes: list[str], where: str = "model_config") \
        -> Mapping[str, Any]:
    """``model`` with ``model_class: MultiTaskModel`` when it is a RankModel with ``task_towers``.

    EasyRec's RankModel puts one dense head on the backbone output and never reads
    ``model_params.task_towers``; on a backbone that ends in a per-task list (MMoE) it fails, so the
    towers are what such a config means. A note in ``notes`` says so.

    Example:
        >>> notes = []
        >>> towers_read_as_multi_task({"model_class": "RankModel", "model_params": {"task_towers": [{}]}},
        ...                           notes)["model_class"], len(notes)
        ('MultiTaskModel', 1)
    """
    towers = model.get("model_params", {}).get("task_towers", [])
    if model.get("model_class") != "RankModel" or not towers:
        return model
    notes.append(f"{join_path(where, 'model_class')}: RankModel with {len(towers)} model_params.task_towers is "
                 "read as MultiTaskModel (EasyRec's RankModel ignores task towers and cannot score a backbone "
                 "that ends in one output per task)")
    return {**model, "model_class": "MultiTaskModel"}


def _rank_task(model: Mapping[str, Any], labels: list[str], where: str, metrics: list[str]) -> dict[str, Any]:
    loss_type = model.get("loss_type", "CLASSIFICATION")
    losses = [loss_entry(loss, join_path(where, "losses", i)) for i, loss in enumerate(model.get("losses", []))]
    for i, loss in enumerate(losses):
        if "session_name" in loss:
            raise ConfigError(join_path(where, "losses", i, "jrc_loss", "session_name"), "a RankModel's task ranks "
                              "no sessions (session losses are read by the towers of a MultiTaskModel)",
                              "a task tower", repr(loss["session_name"]))
    if loss_type not in _RANK_TASKS:
        raise ConfigError(join_path(where, "loss_type"), "loss type without a RankModel task in recblocks",
                          f"one of {sorted(_RANK_TASKS)}", loss_type, choices=_RANK_TASKS)
    label = model.get("label_name") or (labels[0] if len(labels) == 1 else None)
    if label is None:
        raise ConfigError("data_config.label_fields", "a RankModel predicts one label", "one label field",
                          labels or "none")
    task: dict[str, Any] = {"type": _RANK_TASKS[loss_type], "label": label}
    num_class = int(model.get("num_class", 1))
    if any(loss.get("loss_type") == "ZILN_LOSS" for loss in losses):
        return _ziln_task(losses, label, num_class, metrics, where)
    if num_class > 1:
        if loss_type != "CLASSIFICATION":
            raise ConfigError(join_path(where, "num_class"), f"a {loss_type} task has one output", "1", num_class)
        task = {"type": "multiclass", "label": label, "num_classes": num_class}
    if metrics:
        task["metrics"] = metrics
    if losses and losses != [{"loss_type": loss_type}]:  # EasyRec trains the listed losses instead of loss_type
        task["losses"] = losses
    return task


def _ziln_task(losses: list[dict[str, Any]], label: str, num_class: int, metrics: list[str],
               where: str) -> dict[str, Any]:
    """A RankModel trained with EasyRec's ``ZILN_LOSS``: recblocks' ziln task (three logits; the
    expected value predicted; ``recblocks.tasks.ziln``)."""
    if len(losses) != 1:
        raise ConfigError(join_path(where, "losses"), "ZILN_LOSS is the task's whole loss in recblocks (its own task "
                          "type)", "one losses entry", f"{len(losses)} entries")
    if num_class != 3:
        raise ConfigError(join_path(where, "num_class"), "ZILN_LOSS reads three logits", "3", num_class)
    entry = dict(losses[0])
    entry.pop("loss_type")
    entry.pop("loss_name", None)
    weight = float(entry.pop("weight", 1.0))
    task: dict[str, Any] = {"type": "ziln", "label": label, **entry}
    if weight != 1.0:
        task["weight"] = weight
    if metrics:
        task["metrics"] = metrics
    return task


def _towers_with_weights(model_params: Mapping[str, Any], sample_weight: str | None, where: str) -> dict[str, Any]:
    params = dict(model_params)
    towers = []
    for i, tower in enumerate(params.get("task_towers", [])):
        tower = dict(tower)
        if tower.pop("use_sample_weight", False):
            if not sample_weight:
                raise ConfigError(join_path(where, "task_towers", i, "use_sample_weight"), "the tower uses sample "
                                  "weights but data_config.sample_weight names no column", "a sample_weight column",
                                  "none")
            tower["weight_column"] = sample_weight
        towers.append(tower)
    if towers:
        params["task_towers"] = towers
    return params


def model_section(model: Mapping[str, Any], features: FeatureFacts, *, labels: list[str], metrics: list[str],
                  top_k: list[int], sample_weight: str | None = None, where: str = "model_config") -> dict[str, Any]:
    """recblocks' ``model:`` mapping for EasyRec's ``model_config`` (see the module docstring).

    Args:
        model: the parsed ``model_config``.
        features: the translated features by name (for built-in classes).
        labels: ``data_config.label_fields``.
        metrics: ``eval_config`` metric names (a RankModel task's metrics).
        top_k: ``recall_at_topk`` cut-offs (a MatchModel's ``top_k``).
        sample_weight: ``data_config.sample_weight``.
        where: the config path of ``model``.
    """
    if "variational_dropout" in model:
        return with_variational_dropout(model, lambda rest: model_section(
            rest, features, labels=labels, metrics=metrics, top_k=top_k, sample_weight=sample_weight, where=where),
            where)
    model_class = model.get("model_class", "")
    if model_class not in BACKBONE_CLASSES:
        names = [*BACKBONE_CLASSES, *EASYREC_MODELS.names()]
        if model_class not in EASYREC_MODELS:
            raise ConfigError(join_path(where, "model_class"), "model class not translated (yet)",
                              f"one of {sorted(names)}", repr(model_class), choices=names)
        section = EASYREC_MODELS.get(model_class).translate(model, features, where)
        return _easyrec_l2_scope(attach_sequence_attention(section, model, features, where))
    for key, problem in _REFUSED.items():
        if model.get(key):
            raise ConfigError(join_path(where, key), problem, "the field left out", key)
    if model.get("loss_weight_strategy", "Fixed") != "Fixed":
        raise ConfigError(join_path(where, "loss_weight_strategy"), "learned loss weights are not supported",
                          "Fixed", model["loss_weight_strategy"])
    members = [key for key in model if key not in _PASSED and key not in (
        "loss_type", "num_class", "losses", "label_name", "loss_weight_strategy", *_REFUSED)]
    if members:
        raise ConfigError(join_path(where, members[0]), f"the {members[0]} parameters belong to a built-in model "
                          f"class, not to {model_class}", "model_params (or the class that reads them)", members[0])
    out = {key: model[key] for key in _PASSED if key in model}
    if "backbone" in out:
        out["backbone"] = easyrec_layer_modes(out["backbone"])
    if model_class == "RankModel":
        if sample_weight:
            raise ConfigError("data_config.sample_weight", "row weights are read by MultiTaskModel towers "
                              "(weight_column), not by a RankModel", "a MultiTaskModel tower with use_sample_weight",
                              sample_weight)
        if not model.get("model_params", {}).get("task_towers"):  # towers: refused downstream, naming them
            out["task"] = _rank_task(model, labels, where, metrics)
    else:
        for key in ("losses", "label_name"):
            if model.get(key):
                raise ConfigError(join_path(where, key), f"a {model_class} reads its losses and labels from "
                                  "model_params", "the field left out", key)
        if model_class == "MultiTaskModel" and "model_params" in out:
            out["model_params"] = _towers_with_weights(out["model_params"], sample_weight,
                                                       join_path(where, "model_params"))
        if model_class == "MatchModel" and top_k:
            params = dict(out.get("model_params", {}))
            params.setdefault("top_k", top_k)
            out["model_params"] = params
        if model_class == "MatchModel" and not (out.get("model_params") or {}).get("item_id"):
            item_id = _item_tower_id(out, features)
            if item_id is not None:
                out["model_params"] = {**dict(out.get("model_params") or {}), "item_id": item_id}
    return _easyrec_l2_scope(out)


def _easyrec_l2_scope(model: dict[str, Any]) -> dict[str, Any]:
    """``model_params.l2_scope: easyrec``: l2 reaches the kernels EasyRec regularises, no others."""
    return {**model, "model_params": {**dict(model.get("model_params") or {}), "l2_scope": "easyrec"}}


def _tower_groups(blocks: Mapping[str, Mapping[str, Any]], name: str) -> list[str]:
    """The feature groups block ``name`` reads, directly or through other blocks, in input order."""
    groups: list[str] = []
    todo, seen = [name], set()
    while todo:
        block = blocks.get(todo.pop(0), {})
        for edge in block.get("inputs", []) or []:
            if edge.get("feature_group_name") and edge["feature_group_name"] not in groups:
                groups.append(edge["feature_group_name"])
            source = edge.get("block_name")
            if source and source not in seen:
                seen.add(source)
                todo.append(source)
    return groups


def _item_tower_id(model: Mapping[str, Any], features: Mapping[str, Mapping[str, Any]]) -> str | None:
    """A backbone MatchModel without ``item_id``: the first id feature the item tower reads that the
    user tower does not (EasyRec needs none; recblocks' catalogue evaluation needs one)."""
    backbone = model.get("backbone") or {}
    outputs, params = list(backbone.get("output_blocks") or []), model.get("model_params") or {}
    user_at, item_at = params.get("user_tower_idx_in_output", 0), params.get("item_tower_idx_in_output", 1)
    if not all(isinstance(i, int) and 0 <= i < len(outputs) for i in (user_at, item_at)):
        return None  # refused downstream, naming the index
    blocks = {b.get("name"): b for b in backbone.get("blocks") or []}
    members = {g.get("group_name"): list(g.get("feature_names") or []) for g in model.get("feature_groups") or []}
    user = {f for g in _tower_groups(blocks, outputs[user_at]) for f in members.get(g, [])}
    for group in _tower_groups(blocks, outputs[item_at]):
        for name in members.get(group, []):
            if name not in user and (features.get(name) or {}).get("kind") in ("sparse", "hashed"):
                return name
    return None
