"""EasyRec's ``eval_config`` and ``export_config`` as recblocks metric names and ``train:`` settings.

``eval_config.metrics_set`` -> metric names of recblocks' ``METRICS`` (``recblocks components
--kind metric``): ``auc`` -> auc, ``gauc {uid_field}`` -> gauc with ``train.gauc_group`` =
``uid_field``, ``max_f1`` -> max_f1, ``accuracy`` -> accuracy, ``mean_absolute_error`` -> mae,
``mean_squared_error`` -> mse, ``root_mean_squared_error`` -> rmse, ``recall_at_topk {topk}`` ->
``recall@<topk>`` (a MatchModel's ``model_params.top_k``, a CoMetricLearningI2I's ``recall_top_k``),
``precision_at_topk {topk}`` -> CoMetricLearningI2I's in-batch ``map@<topk>`` (``map_top_k``: EasyRec
computes a MAP@K there; the pipeline translation refuses it for other classes). ``session_auc {session_id_field}`` is
EasyRec's gauc computation keyed by another column (both average per-key AUCs): -> gauc with
``train.gauc_group`` = ``session_id_field``, reported as ``gauc`` (a note says so); a gauc and a
session_auc over different columns are a ConfigError (one group column per run). ``recall`` and
``precision`` (at a threshold) have no recblocks metric: ConfigError. ``gauc`` with a
``reduction`` other than mean is a ConfigError too (recblocks weights groups by size).
``num_examples``, ``eval_interval_secs``, ``max_evals``, ``save_graph``, ``eval_online`` are
schedule options of TF's evaluator: recblocks evaluates after every epoch (or ``eval_steps``).

``export_config``: ``exporter_type: best`` with ``best_exporter_metric`` / ``metric_bigger`` ->
the run keeps the best checkpoint by that metric (``restore_best`` with an early-stopping
monitor); ``enable_early_stop`` -> ``early_stopping`` on that metric (patience 2 evaluations:
EasyRec counts ``max_check_steps`` in steps, recblocks in evaluations). The serving-signature
options (``batch_size``, ``multi_placeholder``, ``placeholder_named_by_input``,
``filter_inputs``, ``export_features``, ``export_rtp_outputs``, ``asset_files``,
``multi_value_fields``, ``auto_multi_value``, ``exports_to_keep``) describe TF SavedModels and
have no effect; ``early_stop_func`` (a Python function) is a ConfigError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path

__all__ = ["eval_metrics", "export_settings", "METRIC_NAMES"]

#: EasyRec metric message -> recblocks metric name.
METRIC_NAMES = {"auc": "auc", "gauc": "gauc", "max_f1": "max_f1", "accuracy": "accuracy",
                "mean_absolute_error": "mae", "mean_squared_error": "mse", "root_mean_squared_error": "rmse"}
_NO_METRIC = ("recall", "precision")
#: grouped-AUC messages -> their group-column field
_GROUPED = {"gauc": "uid_field", "session_auc": "session_id_field"}


def eval_metrics(metrics_set: list[Mapping[str, Any]], where: str, notes: list[str] | None = None,
                 precision_at: list[tuple[int, str]] | None = None) -> tuple[list[str], str | None, list[int]]:
    """``metrics_set`` -> (metric names, the gauc group column or None, recall@k cut-offs).

    ``precision_at``, when given, receives ``(topk, config path)`` of each ``precision_at_topk``
    (an in-batch MAP@K of CoMetricLearningI2I); without it that metric is a ConfigError.

    Example:
        >>> eval_metrics([{"auc": {}}, {"gauc": {"uid_field": "user_id"}}, {"max_f1": {}}], "eval_config.metrics_set")
        (['auc', 'gauc', 'max_f1'], 'user_id', [])
    """
    names: list[str] = []
    group: str | None = None
    top_k: list[int] = []
    for i, entry in enumerate(metrics_set):
        at = join_path(where, i)
        (kind, params), = entry.items() if len(entry) == 1 else (("?", {}),)
        params = params or {}
        if kind == "recall_at_topk":
            top_k.append(int(params.get("topk", 5)))
            continue
        if kind == "precision_at_topk" and precision_at is not None:
            precision_at.append((int(params.get("topk", 5)), join_path(at, kind)))
            continue
        known = [*METRIC_NAMES, "session_auc", "recall_at_topk"]
        known += ["precision_at_topk"] if precision_at is not None else []
        if kind not in METRIC_NAMES and kind != "session_auc":
            raise ConfigError(join_path(at, kind), "metric without a recblocks equivalent",
                              f"one of {sorted(known)}", kind, choices=known)
        if kind in _GROUPED:
            if params.get("reduction", "mean") not in ("mean", "mean_by_sample_num"):
                raise ConfigError(join_path(at, kind, "reduction"), f"unsupported {kind} reduction (recblocks weights "
                                  "each group by its size)", "mean_by_sample_num", params["reduction"])
            column = params.get(_GROUPED[kind])
            if group is not None and column != group:
                raise ConfigError(join_path(at, kind, _GROUPED[kind]), "one grouped-AUC column per run (gauc and "
                                  "session_auc share train.gauc_group)", repr(group), repr(column))
            group = column
            if kind == "session_auc" and notes is not None:
                notes.append(f"{join_path(at, kind)}: the AUC per {column!r} averaged is reported as gauc "
                             f"(train.gauc_group: {column})")
        if METRIC_NAMES.get(kind, "gauc") not in names:
            names.append(METRIC_NAMES.get(kind, "gauc"))
    return names, group, top_k


def export_settings(export_config: Mapping[str, Any], where: str = "export_config") -> dict[str, Any]:
    """``train:`` entries for ``export_config`` (see the module docstring).

    Example:
        >>> export_settings({"exporter_type": "best", "best_exporter_metric": "auc"})
        {'restore_best': True, 'early_stopping': {'metric': 'auc', 'mode': 'max', 'patience': 1000000}}
    """
    if export_config.get("early_stop_func"):
        raise ConfigError(join_path(where, "early_stop_func"), "custom early-stopping functions are not run by "
                          "recblocks", "enable_early_stop with best_exporter_metric", export_config["early_stop_func"])
    out: dict[str, Any] = {}
    metric = export_config.get("best_exporter_metric", "auc")
    mode = "max" if export_config.get("metric_bigger", True) else "min"
    if export_config.get("enable_early_stop"):
        out["early_stopping"] = {"metric": metric, "mode": mode, "patience": 2}
    elif export_config.get("exporter_type", "final") == "best":
        # keep the best evaluation's weights without stopping early: a patience no run reaches
        out["restore_best"] = True
        out["early_stopping"] = {"metric": metric, "mode": mode, "patience": 1_000_000}
    return out
