"""Python blocks keep no defaults of their own: ``<Name>Block`` has exactly the defaults of the
component's registered params model, so ``MLPBlock([64])`` and the config spelling
``{class_name: MLP, params: {hidden_units: [64]}}`` are one thing (bias, batch norm... alike)."""

from __future__ import annotations

import inspect

import pytest

import recblocks.blocks.compose as compose
import recblocks.layers  # noqa: F401  (registration)
from recblocks.core.params import parse_params
from recblocks.core.registry import COMPONENTS


def test_mlp_block_is_the_config_spelling() -> None:
    block = compose.MLPBlock([64])
    assert block.to_config() == {"class_name": "MLP", "params": {"hidden_units": [64]}}
    from_config = parse_params(COMPONENTS.get("MLP", "test").params, {"hidden_units": [64]}, "test")
    assert block.typed_params == from_config
    assert (from_config.use_bias, from_config.use_bn, from_config.use_final_bn) == (False, True, True)


@pytest.mark.parametrize("name", COMPONENTS.names())
def test_every_python_block_has_the_components_defaults(name: str) -> None:
    cls = getattr(compose, f"{name}Block")
    entry = COMPONENTS.get(name, "test")
    fields = entry.params.model_fields
    signature = inspect.signature(cls)
    for param, field in fields.items():
        if param in signature.parameters and not field.is_required():
            assert signature.parameters[param].default == field.get_default(call_default_factory=True), param
    params, _ = entry.examples[0]
    block = cls(**params)
    assert block.typed_params == parse_params(entry.params, params, "test")  # nothing added, nothing dropped
    assert block.to_config()["class_name"] == entry.name
