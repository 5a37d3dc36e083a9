"""EasyRec's built-in model classes (``model_class: 'DeepFM'`` ...), each translated onto a backbone.

One module per class registers a translation function in :data:`EASYREC_MODELS` under the
``model_class`` name EasyRec uses (aliases for other spellings). A translation receives the
parsed ``model_config`` (a plain dict with EasyRec's field names, as
:func:`recblocks.easyrec.parse_pipeline_config` returns it, including the class's own parameter
message such as ``deepfm {...}``), the translated features by name (recblocks feature dicts:
``kind``, ``embedding_dim``, ...) and the config path for messages; it returns recblocks'
``model:`` section as plain data (``model_class`` RankModel / MultiTaskModel / MatchModel with
``feature_groups``, ``backbone``, ``model_params``, ...), which the ordinary config path then
validates and builds. A construct without an equivalent raises a ConfigError naming it.

This package, like the rest of :mod:`recblocks.easyrec`, imports only :mod:`recblocks.core`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from recblocks.core.registry import Registry, RegistryEntry, first_line

__all__ = ["EASYREC_MODELS", "EasyRecModelEntry", "FeatureFacts", "ModelTranslation"]

FeatureFacts = Mapping[str, Mapping[str, Any]]
"""Translated recblocks feature dicts by feature name."""

ModelTranslation = Callable[[Mapping[str, Any], FeatureFacts, str], dict[str, Any]]
"""``(model_config, features, where) -> model section``."""


@dataclass(frozen=True, kw_only=True)
class EasyRecModelEntry(RegistryEntry):
    """One built-in EasyRec model class and how it maps onto a recblocks model.

    Attributes:
        translate: the translation function.
        message: the ``model_config`` field holding the class's parameters (e.g. ``deepfm``);
            empty when the class has none.
    """

    target: ClassVar[str] = "translate"

    translate: ModelTranslation
    message: str = ""

    def __post_init__(self) -> None:
        if not self.summary:
            object.__setattr__(self, "summary", first_line(self.translate.__doc__))

    def facts(self) -> dict[str, Any]:
        return {"message": self.message}


EASYREC_MODELS: Registry[EasyRecModelEntry] = Registry("EasyRec model class", EasyRecModelEntry)

# One module per built-in class; each registers itself in EASYREC_MODELS on import.
from recblocks.easyrec.model_classes import (  # noqa: E402,F401  (registrations)
    autoint,
    cmbf,
    co_metric_learning_i2i,
    dat,
    dbmtl,
    dcn,
    deepfm,
    dlrm,
    dropoutnet,
    dssm,
    esmm,
    fm,
    mind,
    mmoe,
    multi_tower,
    multi_tower_bst,
    multi_tower_din,
    multi_tower_recall,
    pdn,
    ple,
    rocket_launching,
    simple_multi_task,
    uniter,
    wide_and_deep,
)
