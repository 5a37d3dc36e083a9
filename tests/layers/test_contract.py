"""The contract test: every registered component passes ``recblocks.testing.check_component``.

Registering a component enrols it here; a component without a sample case in ``CASES``
fails, so no component can skip the contract. Add one or more ``(params, input_spec)`` cases
for each new registry name (params as config data, the way configs write them).
"""

from __future__ import annotations

import pytest

import recblocks.layers  # noqa: F401  (registers the component library)
from recblocks.core import COMPONENTS, TensorSpec
from recblocks.testing import check_component

T = TensorSpec


def fields(num: int, dim: int) -> list[TensorSpec]:
    return [T((dim,))] * num


#: registry name -> list of (params, input_spec) sample cases
CASES: dict[str, list[tuple[dict, object]]] = {
    "Activation": [
        ({"activation": "relu"}, T((3,))),
        ({"activation": "tf.nn.leaky_relu"}, T((2, 3))),
        ({"activation": "prelu"}, T((3,))),
        ({"activation": "dice"}, T((2, 3))),
        ({"activation": "softmax"}, T((5,))),
    ],
    "Add": [
        ({}, [T((1,)), T((1,))]),
        ({}, [T((1,)), T((3,)), T((3,))]),
        ({}, [T((2, 3))]),
    ],
    "BatchNormalization": [
        ({}, T((3,))),
        ({"momentum": 0.9, "epsilon": 1e-5}, T((2, 3))),
        ({"center": False, "scale": False}, T((3,))),
    ],
    "Concatenate": [
        ({}, [T((1,)), T((2,)), T((3,))]),
        ({"axis": 1}, [T((2, 4)), T((3, 4))]),
        ({"axis": -2}, [T((2, 4)), T((1, 4))]),
    ],
    "Cross": [
        ({}, T((4,))),
        ({}, [T((4,)), T((4,))]),
        ({"projection_dim": 2.0, "diag_scale": 0.5, "preactivation": "tanh"}, [T((6,)), T((6,))]),
        ({"use_bias": False}, T((2, 4))),
    ],
    "CrossNet": [
        ({}, T((5,))),
        ({"num_layers": 1}, T((2, 5))),
    ],
    "Dense": [
        ({"units": 3}, T((4,))),
        ({"units": 2.0, "activation": "sigmoid", "use_bias": False}, T((5, 4))),
        ({"units": 3, "activation": "prelu", "kernel_initializer": "he_normal", "bias_initializer": "ones"},
         T((4,))),
    ],
    "DotInteraction": [
        ({}, fields(4, 3)),
        ({}, T((4, 3))),
        ({"self_interaction": True, "order": "tril_row"}, fields(3, 2)),
        ({"skip_gather": True}, T((3, 2))),
        ({"self_interaction": True}, fields(1, 2)),
    ],
    "Dropout": [
        ({"rate": 0.5}, T((6,))),
        ({"rate": 0.0}, T((2, 3))),
    ],
    "FM": [
        ({}, fields(3, 4)),
        ({"use_variant": True}, T((3, 4))),
    ],
    "Flatten": [
        ({}, T((2, 3))),
        ({}, T((4,))),
    ],
    "LayerNormalization": [
        ({}, T((4,))),
        ({"epsilon": 1e-5, "center": False}, T((2, 4))),
    ],
    "MLP": [
        ({"hidden_units": [8, 4]}, T((5,))),
        ({"hidden_units": [8.0, 1.0], "use_final_bn": False, "final_activation": "linear", "use_final_bias": True,
          "dropout_ratio": [0.5]}, T((5,))),
        ({"hidden_units": [6, 3], "use_bn_after_activation": True, "use_bias": True, "activation": "gelu",
          "dropout": 0.2}, T((2, 5))),
        ({"hidden_units": [4], "use_bn": False, "use_final_bn": False, "initializer": "glorot_normal"}, T((3,))),
        ({"hidden_units": [4, 4], "activation": "dice", "final_activation": "prelu"}, T((3,))),
    ],
}


def _cases() -> list:
    params = []
    for name in sorted(set(COMPONENTS.names()) | set(CASES)):
        if name not in CASES or not CASES[name]:
            params.append(pytest.param(name, None, None, id=f"{name}-missing"))
            continue
        for i, (component_params, spec) in enumerate(CASES[name]):
            params.append(pytest.param(name, component_params, spec, id=f"{name}-{i}"))
    return params


@pytest.mark.parametrize(("name", "params", "input_spec"), _cases())
def test_component_contract(name: str, params: dict | None, input_spec: object) -> None:
    if name not in COMPONENTS:
        pytest.fail(f"CASES has a case for '{name}', which is not a registered component (stale entry?)")
    if params is None:
        pytest.fail(f"registered component '{name}' has no sample case: add one to CASES in {__file__}")
    check_component(name, params, input_spec, where=f"case_{name}")


def test_every_registered_component_has_a_case() -> None:
    """Also catches components registered by modules imported after collection."""
    missing = [name for name in COMPONENTS.names() if not CASES.get(name)]
    assert not missing, f"registered components without a contract case: {missing}; add them to CASES in {__file__}"
