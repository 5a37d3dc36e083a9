"""``recblocks.testing.check_component`` catches broken components (and passes good ones)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from recblocks.core import COMPONENTS, ConfigError, Params, TensorSpec
from recblocks.core.registry import ComponentSpec
from recblocks.layers import MLP, Component
from recblocks.testing import check_component, random_inputs


class _WidthParams(Params):
    width: int = 2


class _Base(Component):
    """A small linear component that subclasses break in one way each."""

    def __init__(self, params: _WidthParams, input_dim: int) -> None:
        super().__init__(params)
        self.input_dim = input_dim
        self.linear = nn.Linear(input_dim, params.width)

    @classmethod
    def from_spec(cls, params: _WidthParams, input_spec: Any, where: str = "") -> "_Base":
        return cls(params, input_spec.last_dim)

    def output_spec(self, input_spec: Any) -> TensorSpec:
        return TensorSpec((self.params.width,))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class _WrongSpec(_Base):
    def output_spec(self, input_spec: Any) -> TensorSpec:
        return TensorSpec((self.params.width + 1,))


class _Unused(_Base):
    def __init__(self, params: _WidthParams, input_dim: int) -> None:
        super().__init__(params, input_dim)
        self.unused = nn.Parameter(torch.zeros(3))


class _ForgetsParams(_Base):
    def to_config(self) -> dict[str, Any]:
        return {"class_name": self.registry_name, "params": {}}


class _RandomInit(_Base):
    """State not in the state dict: a rebuilt copy gives other outputs."""

    def __init__(self, params: _WidthParams, input_dim: int) -> None:
        super().__init__(params, input_dim)
        self.offset = torch.randn(params.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + self.offset


@pytest.fixture
def register():
    """Register a class in COMPONENTS for one test only (the registry's scoped copy)."""

    def _register(cls: type) -> type:
        COMPONENTS.add(ComponentSpec(name=f"_Test{cls.__name__}", cls=cls, params=_WidthParams))
        return cls

    with COMPONENTS.scoped():
        yield _register


def test_good_component_passes(register) -> None:
    cls = register(_Base)
    module = check_component(cls, {"width": 3}, TensorSpec((4,)))
    assert isinstance(module, _Base) and module.training


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (_WrongSpec, "differs from output_spec"),
        (_Unused, "got no gradient: ['unused']"),
        (_ForgetsParams, "params change through to_config()"),
        (_RandomInit, "differs in eval mode"),
    ],
)
def test_broken_components_fail(register, cls: type, message: str) -> None:
    register(cls)
    with pytest.raises(AssertionError) as info:
        check_component(cls, {"width": 3}, TensorSpec((4,)))
    assert message in str(info.value)


def test_declared_no_grad_parameters_are_skipped(register) -> None:
    cls = register(_Unused)
    check_component(cls, {}, TensorSpec((4,)), no_grad=["unused"])
    with pytest.raises(AssertionError, match="unknown parameters"):
        check_component(cls, {}, TensorSpec((4,)), no_grad=["nope"])


def test_unregistered_class_and_bad_params() -> None:
    with pytest.raises(AssertionError, match="not a registered component"):
        check_component(_Base, {}, TensorSpec((4,)))
    with pytest.raises(ConfigError, match="did you mean 'dropout'"):
        check_component(MLP, {"hidden_units": [2], "dropuot": 0.1}, TensorSpec((4,)))
    with pytest.raises(ConfigError, match="unknown component"):
        check_component("MPL", {"hidden_units": [2]}, TensorSpec((4,)))


def test_random_inputs_follow_the_spec() -> None:
    value = random_inputs((TensorSpec((2,)), [TensorSpec((3,), "long"), TensorSpec((1,), "bool")], None), batch=5)
    assert value[0].shape == (5, 2) and value[0].dtype == torch.float32
    assert value[1][0].dtype == torch.int64 and int(value[1][0].min()) >= 1
    assert value[1][1].dtype == torch.bool and value[2] is None


def test_check_component_runs_a_context_component_with_its_losses_and_outputs(monkeypatch) -> None:
    """A ``uses_context`` component is called with a ForwardContext: its auxiliary loss and extra
    output take part in the gradient check and the round trip."""
    from recblocks.core import TensorSpec
    from tests.context_probe import register_probe

    register_probe(monkeypatch)
    module = check_component("AuxiliaryProbe", {"loss_weight": 0.5}, TensorSpec((4,)))
    assert module.uses_context
