"""The registry of EasyRec built-in model classes (entries come from one module per class)."""

import pytest

from recblocks.core.errors import ConfigError
from recblocks.easyrec.model_classes import EASYREC_MODELS


def test_a_registered_translation_is_found_with_its_facts() -> None:
    with EASYREC_MODELS.scoped() as models:
        @models.register("TinyModel", message="tiny_model")
        def tiny(model_config, features, where):
            """Maps nothing: a test entry."""
            return {"model_class": "RankModel"}

        entry = models.get("TinyModel")
        assert entry.translate({}, {}, "model_config") == {"model_class": "RankModel"}
        assert entry.describe() == {"name": "TinyModel", "aliases": [], "summary": "Maps nothing: a test entry.",
                                    "message": "tiny_model"}
        with pytest.raises(ConfigError, match="did you mean 'TinyModel'"):
            models.get("TinyModle", "model_config.model_class")
