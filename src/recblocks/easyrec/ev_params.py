"""EasyRec's model-wide ``model_config.ev_params`` (EmbeddingVariable) on the translated features.

In EasyRec (PAI-TF / DeepRec) ``ev_params`` turns every id feature's embedding table into an
EmbeddingVariable: a hash table that grows with the ids seen (``hash_bucket_size`` is then
ignored: EasyRec raises it to its maximum, so ids no longer collide), gives an id an embedding
only once it was seen ``filter_freq`` times (until then its lookup is the default value), and
drops ids not updated for ``steps_to_live`` steps. A feature's own ``ev_params`` overrides the
model-wide one.

The closest recblocks mapping is a vocabulary fitted on the training data: one row per id
(no collisions), with ``min_count`` = ``filter_freq`` (rarer ids share the out-of-vocabulary
row). So a hashed id feature (``hashed``, or ``multi`` / ``sequence`` with ``hash_bucket_size``)
becomes ``sparse`` (or the same kind without ``hash_bucket_size``) with that ``min_count``.
Differences, reported as notes: the vocabulary is fixed after fitting (ids first seen later are
out-of-vocabulary, where an EmbeddingVariable would add them), the rare ids' shared row is
trained (EmbeddingVariable's default value is not), ``steps_to_live`` eviction has no
equivalent, and crossed (ComboFeature) features stay hashed. ``use_cache``, ``init_capacity``
and ``max_capacity`` tune the table's storage only.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path

__all__ = ["apply_ev_params"]

_FIELDS = ("filter_freq", "steps_to_live", "use_cache", "init_capacity", "max_capacity")


def apply_ev_params(features: list[dict[str, Any]], ev_params: Any, where: str, notes: list[str],
                    own: Collection[str] = ()) -> list[dict[str, Any]]:
    """``features`` with the hashed id features read as fitted vocabularies (see the module doc).

    Args:
        features: translated recblocks feature dicts.
        ev_params: the ``model_config.ev_params`` message (a mapping).
        where: its config path, for errors and notes.
        notes: receives one line on the differences.
        own: names of features with their own ``ev_params`` (left as their translation made them).

    Example:
        >>> notes = []
        >>> apply_ev_params([{"name": "uid", "kind": "hashed", "hash_bucket_size": 100}], {"filter_freq": 5},
        ...                 "model_config.ev_params", notes)
        [{'name': 'uid', 'kind': 'sparse', 'min_count': 5}]
    """
    if not isinstance(ev_params, Mapping):
        raise ConfigError(where, "ev_params must be a message", "a mapping", type(ev_params).__name__)
    for key in ev_params:
        if key not in _FIELDS:
            raise ConfigError(join_path(where, key), "unknown ev_params field", None, repr(key), choices=_FIELDS)
    min_count = max(1, int(ev_params.get("filter_freq", 0)))
    out, changed, crossed = [], [], []
    for feature in features:
        hashed = feature.get("hash_bucket_size") is not None and feature.get("values") != "numbers"
        if feature["name"] in own or not hashed:
            out.append(feature)
            continue
        if feature.get("cross") is not None:
            crossed.append(feature["name"])
            out.append(feature)
            continue
        new = {k: v for k, v in feature.items() if k != "hash_bucket_size"}
        if new["kind"] == "hashed":
            new["kind"] = "sparse"
        if min_count > 1:
            new["min_count"] = min_count
        out.append(new)
        changed.append(feature["name"])
    line = (f"{where}: {len(changed)} hashed id features read as vocabularies fitted on the training data "
            f"(one row per id, min_count {min_count} = filter_freq; ids first seen after fitting are "
            "out-of-vocabulary)")
    if ev_params.get("steps_to_live"):
        line += f"; steps_to_live {ev_params['steps_to_live']} (eviction of stale ids) has no equivalent"
    if crossed:
        line += f"; crossed features stay hashed: {', '.join(crossed)}"
    notes.append(line)
    return out
