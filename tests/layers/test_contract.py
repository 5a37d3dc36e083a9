"""The contract test: every registered component passes ``recblocks.testing.check_component``.

The cases are the ``examples`` on each registration (``@COMPONENTS.register(..., examples=[...])``):
registering a component enrols it here, and a component registered without examples fails, so
no component can skip the contract.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import recblocks.layers  # noqa: F401  (registers the component library)
from recblocks.core import COMPONENTS
from recblocks.core.errors import ConfigError
from recblocks.core.registry import INPUT_KINDS
from recblocks.export import FORMATS, ExportError, check_component_export, export_component
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


#: every component's first example in TorchScript and ONNX by default; RECBLOCKS_SLOW=1 runs every
#: example in every format (ONNX export takes about a second per case)
_SLOW = os.environ.get("RECBLOCKS_SLOW") == "1"


def _export_cases() -> list:
    params = []
    for entry in COMPONENTS.entries():
        if entry.refused:
            continue
        examples = entry.examples if _SLOW else entry.examples[:1]
        for fmt in FORMATS if _SLOW else ("torchscript", "onnx"):
            for i, (component_params, spec) in enumerate(examples):
                params.append(pytest.param(entry.name, component_params, spec, fmt, id=f"{entry.name}-{i}-{fmt}"))
    return params


@pytest.mark.parametrize(("name", "params", "input_spec", "fmt"), _export_cases())
def test_component_exports_like_eager(name: str, params: dict, input_spec: object, fmt: str, tmp_path: Path) -> None:
    """Exported, reloaded (ONNX Runtime / TorchScript / torch.export) and run on another batch
    size, the component gives its eager outputs to 1e-6; or its registration refuses the format
    and export says so in one line naming it."""
    reason = COMPONENTS.get(name).export_refused.get(fmt)
    if reason:
        with pytest.raises(ExportError, match=f"^component {name}: cannot be exported to {fmt}: {re.escape(reason)}$"):
            export_component(name, params, input_spec, fmt, tmp_path)
        return
    check_component_export(name, params, input_spec, fmt, tmp_path)  # AssertionError beyond its TOLERANCE


def test_export_refusals_are_explicit() -> None:
    """The components that cannot be exported, per format; anything else must export."""
    refused = {entry.name: sorted(entry.export_refused) for entry in COMPONENTS.entries() if entry.export_refused}
    assert refused == {"EditDistance": ["onnx"]}
    for entry in COMPONENTS.entries():
        assert set(entry.export_refused) <= set(FORMATS), entry.name
        assert all(reason.strip() for reason in entry.export_refused.values()), entry.name
