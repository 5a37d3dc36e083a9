"""The contract test: every registered component passes ``recblocks.testing.check_component``.

The cases are the ``examples`` on each registration (``@COMPONENTS.register(..., examples=[...])``):
registering a component enrols it here, and a component registered without examples fails, so
no component can skip the contract.
"""

from __future__ import annotations

import pytest

import recblocks.layers  # noqa: F401  (registers the component library)
from recblocks.core import COMPONENTS
from recblocks.core.errors import ConfigError
from recblocks.core.registry import INPUT_KINDS
from recblocks.testing import check_component


def _cases() -> list:
    params = []
    for entry in COMPONENTS.entries():
        if not entry.examples:
            params.append(pytest.param(entry.name, None, None, id=f"{entry.name}-missing"))
            continue
        for i, (component_params, spec) in enumerate(entry.examples):
            params.append(pytest.param(entry.name, component_params, spec, id=f"{entry.name}-{i}"))
    return params


@pytest.mark.parametrize(("name", "params", "input_spec"), _cases())
def test_component_contract(name: str, params: dict | None, input_spec: object) -> None:
    if params is None:
        pytest.fail(f"registered component '{name}' has no examples: add examples=[(params, input_spec), ...] "
                    "to its @COMPONENTS.register(...)")
    if COMPONENTS.get(name).refused:  # an EasyRec name whose job is elsewhere: it must say where
        with pytest.raises(ConfigError, match=f"case_{name}: {name} is"):
            check_component(name, params, input_spec, where=f"case_{name}")
        return
    check_component(name, params, input_spec, where=f"case_{name}")


def test_every_registered_component_has_examples_and_facts() -> None:
    """Also catches components registered by modules imported after collection."""
    missing = [entry.name for entry in COMPONENTS.entries() if not entry.examples]
    assert not missing, f"registered components without examples: {missing}"
    for entry in COMPONENTS.entries():
        assert entry.input_kind in INPUT_KINDS
        assert entry.summary, f"{entry.name} has no docstring summary"
        assert entry.cls.params_cls is entry.params and entry.cls.registry_name == entry.name
        assert entry.cls.uses_context is entry.uses_context


def test_input_kinds_of_the_library() -> None:
    kinds = {entry.name: entry.input_kind for entry in COMPONENTS.entries()}
    assert {name for name, kind in kinds.items() if kind == "fields"} >= {
        "Add", "Concatenate", "DotInteraction", "FM", "BiLinear", "SENet", "FiBiNet", "Attention", "MultiHeadAttention",
        "AFM", "InnerProduct", "OuterProduct", "POSOMMoE", "AuxiliaryLoss", "SNR", "AITMTower", "EmbeddingLayer",
        "Gate", "LogitCorrection", "MaskBlock", "POSOFC", "POSOMLP", "PPNet", "CMBF", "UNITER", "FeatureDistillation"}
    assert {name for name, kind in kinds.items() if kind == "tensor3d"} >= {
        "CIN", "AutoInt", "TransformerBlock", "TransformerEncoder"}
    assert {name for name, kind in kinds.items() if kind == "sequence"} >= {
        "BST", "DIEN", "DIN", "DMR_U2I", "SeqAugment", "TextEncoder"}
    assert COMPONENTS.get("FM").merge == "list" and COMPONENTS.get("MLP").merge == "concat"
    # these always add losses through the forward context; MLP (add_to_outputs), MMoE (load_balance_weight) and DIEN (aux_loss_weight)
    # read it per instance, when their params ask for it
    assert {entry.name for entry in COMPONENTS.entries() if entry.uses_context} == {
        "AuxiliaryLoss", "FeatureDistillation", "LabelAwareAttention", "SNR", "VariationalDropout"}
