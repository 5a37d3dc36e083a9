"""Public conformance helpers: the contract every registered component must meet.

:func:`check_component` is what the library's own contract test runs for every registered
name; third-party components can run it in their tests too (as Keras' ``run_layer_test`` or
scikit-learn's ``check_estimator``). Failures raise ``AssertionError`` with a readable text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from recblocks.core.context import ForwardContext
from recblocks.core.errors import RecBlocksError
from recblocks.core.params import Params, parse_params
from recblocks.core.registry import COMPONENTS, ComponentSpec
from recblocks.core.shapes import TensorSpec, describe_spec, spec_from_value
from recblocks.layers.base import Component

__all__ = ["check_component", "random_inputs"]


def random_inputs(spec: Any, batch: int = 4, generator: torch.Generator | None = None, long_high: int = 3) -> Any:
    """Random real values for a spec: float ``randn``, long ids in ``[1, long_high]``, bool ``True``.

    Example:
        >>> [t.shape for t in random_inputs([TensorSpec((2,)), TensorSpec((3, 2))])]
        [torch.Size([4, 2]), torch.Size([4, 3, 2])]
    """
    if spec is None:
        return None
    if isinstance(spec, TensorSpec):
        shape = (batch, *spec.shape)
        if spec.dtype == "float":
            return torch.randn(shape, generator=generator)
        if spec.dtype == "long":
            return torch.randint(1, long_high + 1, shape, generator=generator)
        return torch.ones(shape, dtype=torch.bool)
    if isinstance(spec, list):
        return [random_inputs(s, batch, generator, long_high) for s in spec]
    if isinstance(spec, tuple):
        return tuple(random_inputs(s, batch, generator, long_high) for s in spec)
    raise TypeError(f"not a spec: {spec!r}")


def _entry(component: str | type) -> ComponentSpec:
    if isinstance(component, str):
        return COMPONENTS.get(component)
    name = getattr(component, "registry_name", None)
    if name is None or name not in COMPONENTS or COMPONENTS.get(name).cls is not component:
        raise AssertionError(f"{getattr(component, '__name__', component)!r} is not a registered component; "
                             "decorate it with @COMPONENTS.register(name, params=..., examples=...)")
    return COMPONENTS.get(name)


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


def _same(a: Any, b: Any) -> str | None:
    """None when the two outputs are identical, else a description of the first difference."""
    ta, tb = _tensors(a), _tensors(b)
    if len(ta) != len(tb):
        return f"{len(ta)} vs {len(tb)} output tensors"
    for i, (x, y) in enumerate(zip(ta, tb)):
        if x.shape != y.shape or not torch.equal(x, y):
            diff = (x.double() - y.double()).abs().max().item() if x.shape == y.shape else "shapes differ"
            return f"output tensor {i} differs (max abs diff {diff})"
    return None


def check_component(
    component: str | type,
    params: Mapping[str, Any] | Params | None,
    input_spec: Any,
    *,
    batch: int = 4,
    inputs: Any = None,
    no_grad: Iterable[str] = (),
    where: str = "check",
    seed: int = 0,
    make_inputs: Callable[[Any, int], Any] | None = None,
    labels: Mapping[str, torch.Tensor] | None = None,
) -> Component:
    """Check one component against the contract; return the built (trained-mode) instance.

    1. ``params`` validate through :func:`parse_params`; ``from_spec(params, input_spec, where)``
       builds a :class:`Component` that keeps them in ``self.params``;
    2. a real forward (train mode) on random inputs of batch ``batch`` has exactly the
       structure and shapes of ``output_spec(input_spec)``;
    3. backward of a random projection of every float output gives each trainable parameter a
       non-None, finite gradient (except the names in ``no_grad``, which must exist);
    4. ``to_config()`` is JSON data naming a registry entry of the same class; its params parse
       back to the same values, and the rebuilt component, after ``load_state_dict``, gives
       identical outputs in eval mode.

    Args:
        component: registry name (or alias) or the registered class.
        params: the parameters, as config data (a mapping) or a params object.
        input_spec: the static input spec (TensorSpec, list/tuple of specs).
        batch: batch size of the real forward.
        inputs: real inputs to use instead of random ones (their batch must be ``batch``).
        no_grad: parameter names declared to legitimately receive no gradient.
        where: block name passed to ``from_spec`` (appears in error texts).
        seed: seed of the random inputs and projection.
        make_inputs: ``f(input_spec, batch)`` producing real inputs (e.g. valid id ranges).
        labels: label columns a ``uses_context`` component reads from the forward context
            (default: a random 0/1 column ``label``). Such a component is called
            ``module(x, context)``; the losses and outputs it adds count as outputs for the
            gradient check and the round trip.

    Example:
        >>> mlp = check_component("MLP", {"hidden_units": [4, 2]}, TensorSpec((3,)))
        >>> mlp.output_spec(TensorSpec((3,)))
        TensorSpec(shape=(2,), dtype='float')
    """
    entry = _entry(component)
    name = entry.name
    data = params.to_dict() if isinstance(params, Params) else dict(params or {})
    parsed = parse_params(entry.params, data, where)
    module = entry.cls.from_spec(parsed, input_spec, where)
    if not isinstance(module, Component):
        raise AssertionError(f"{name}.from_spec returned {type(module).__name__}, not a Component")
    if type(module) is not entry.cls:
        raise AssertionError(f"{name}.from_spec returned {type(module).__name__}, not {entry.cls.__name__}")
    if module.params.model_dump() != parsed.model_dump():
        raise AssertionError(f"{name} does not keep its params in self.params: "
                             f"{module.params.model_dump()} != {parsed.model_dump()}")
    expected = module.output_spec(input_spec)

    generator = torch.Generator().manual_seed(seed)
    if inputs is None:
        inputs = make_inputs(input_spec, batch) if make_inputs else random_inputs(input_spec, batch, generator)
    if labels is None:
        labels = {"label": torch.randint(0, 2, (batch,), generator=generator).float()}
    module.train()
    output, added = _forward(module, inputs, True, labels)
    try:
        got = spec_from_value(output, name, batch)
    except RecBlocksError as exc:
        raise AssertionError(f"{name}: the output is not a batch of values: {exc}") from None
    if got != expected:
        raise AssertionError(f"{name}: forward output {describe_spec(got)} differs from output_spec "
                             f"{describe_spec(expected)} for input {describe_spec(input_spec)}")

    _check_gradients(module, [output, added], set(no_grad), generator, name)
    _check_round_trip(module, entry, parsed, input_spec, inputs, where, name, labels)
    module.train()
    return module


def _forward(module: Any, inputs: Any, training: bool, labels: Mapping[str, torch.Tensor]) -> tuple[Any, list[Any]]:
    """The module's output and what it added to the forward context (losses, extra outputs)."""
    if not getattr(module, "uses_context", False):
        return module(inputs), []
    context = ForwardContext(training, labels)
    output = module(inputs, context)
    return output, [*(value for value, _ in context.losses.values()), *context.outputs.values()]


def _check_gradients(module: Component, output: Any, no_grad: set[str], generator: torch.Generator,
                     name: str) -> None:
    outputs = [t for t in _tensors(output) if t.is_floating_point() and t.requires_grad]
    trainable = {n: p for n, p in module.named_parameters() if p.requires_grad}
    unknown = no_grad - set(trainable)
    if unknown:
        raise AssertionError(f"{name}: no_grad names unknown parameters {sorted(unknown)}; "
                             f"parameters are {sorted(trainable)}")
    if not outputs:
        if set(trainable) - no_grad:
            raise AssertionError(f"{name}: has trainable parameters but no output depends on them")
        return
    module.zero_grad(set_to_none=True)
    loss = sum((t * torch.randn(t.shape, generator=generator)).sum() for t in outputs)
    loss.backward()  # type: ignore[union-attr]
    missing = [n for n, p in trainable.items() if n not in no_grad and p.grad is None]
    if missing:
        raise AssertionError(f"{name}: parameters got no gradient: {missing} "
                             "(unused weights, or declare them in no_grad)")
    bad = [n for n, p in trainable.items() if p.grad is not None and not torch.isfinite(p.grad).all()]
    if bad:
        raise AssertionError(f"{name}: parameters got non-finite gradients: {bad}")
    module.zero_grad(set_to_none=True)


def _check_round_trip(module: Component, entry: ComponentSpec, parsed: Params, input_spec: Any, inputs: Any,
                      where: str, name: str, labels: Mapping[str, torch.Tensor]) -> None:
    config = module.to_config()
    try:
        text = json.dumps(config)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{name}: to_config() is not plain JSON data: {exc}") from None
    config = json.loads(text)
    if set(config) != {"class_name", "params"}:
        raise AssertionError(f"{name}: to_config() keys are {sorted(config)}, expected ['class_name', 'params']")
    rebuilt_entry = COMPONENTS.get(config["class_name"])
    if rebuilt_entry.cls is not entry.cls:
        raise AssertionError(f"{name}: to_config() names '{config['class_name']}', a different class")
    reparsed = parse_params(rebuilt_entry.params, config["params"], where)
    if reparsed.model_dump() != parsed.model_dump():
        raise AssertionError(f"{name}: params change through to_config(): {reparsed.model_dump()} "
                             f"!= {parsed.model_dump()}")
    rebuilt = rebuilt_entry.cls.from_spec(reparsed, input_spec, where)
    state = module.state_dict()
    if set(rebuilt.state_dict()) != set(state):
        raise AssertionError(f"{name}: the rebuilt state dict keys differ: "
                             f"{sorted(set(rebuilt.state_dict()) ^ set(state))}")
    rebuilt.load_state_dict(state)
    module.eval()
    rebuilt.eval()
    with torch.no_grad():
        difference = _same(_forward(module, inputs, False, labels), _forward(rebuilt, inputs, False, labels))
    if difference:
        raise AssertionError(f"{name}: the component rebuilt from to_config() + state_dict differs in eval "
                             f"mode: {difference}")
