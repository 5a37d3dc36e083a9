"""The compiled backbone: an ``nn.Module`` that only walks a precomputed execution plan.

Nothing is resolved, sorted or parsed in ``forward``: every step already knows its input
sources, its slice/fn callables, its merge mode and its module.

Side channels: ``forward(embeddings, context)`` takes the model's per-forward
:class:`~recblocks.core.context.ForwardContext`. A step whose module declares
``uses_context`` (a component class attribute, or a container holding such a component)
is called ``module(x, context)``; every other step is called ``module(x)``. Which call a step
gets is decided when the plan is built (:attr:`StepPlan.uses_context`), not per call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from recblocks.blocks.backbone.merge import merge_values
from recblocks.core.context import ForwardContext
from recblocks.core.shapes import describe_spec

__all__ = ["EdgePlan", "PackageCall", "StepPlan", "DagPlan", "Backbone"]


def without_trailing_none(value: Any) -> Any:
    """A package input with its trailing ``None`` entries dropped: a sequence input ``(seq, lengths,
    None)`` (no target) and ``(seq, lengths)`` are the same input to a package, as in EasyRec."""
    if isinstance(value, (tuple, list)) and value and value[-1] is None:
        items = list(value)
        while items and items[-1] is None:
            items.pop()
        return type(value)(items)
    return value


@dataclass
class PackageCall:
    """How one input edge calls a package: input-layer overrides and the package input."""

    package: str
    overrides: dict[str, str] = field(default_factory=dict)  # block name -> key in Backbone.variants
    package_input: "EdgePlan | None" = None
    package_input_fn: Callable[[Any], Any] | None = None


@dataclass
class EdgePlan:
    """One input of a step. ``kind``: value (env lookup), outer, package, package_input."""

    kind: str
    source: str
    slice_fn: Callable[[Any], Any] | None = None
    input_fn: Callable[[Any], Any] | None = None
    ignore: bool = False
    call: PackageCall | None = None


@dataclass
class StepPlan:
    """One block: how to gather and merge its inputs and which module (if any) to run."""

    name: str
    kind: str  # input | empty | lambda | component | layers | recurrent | repeat
    edges: list[EdgePlan]
    merge_mode: str = "single"
    axis: int = -1
    extra_fn: Callable[[Any], Any] | None = None
    fn: Callable[[Any], Any] | None = None  # lambda body
    has_module: bool = False
    output_spec: Any = None
    description: str = ""
    input_names: list[str] = field(default_factory=list)
    uses_context: bool = False  # call the module as module(x, context)


@dataclass
class DagPlan:
    """An ordered list of steps plus the output rule of the DAG."""

    scope: str
    steps: list[StepPlan]
    outputs: list[str]
    output_mode: str  # list | single | cat | concat_lists | flatten
    output_spec: Any = None


class Backbone(nn.Module):
    """A compiled EasyRec-style backbone DAG.

    Args:
        plan: the main DAG plan.
        packages: plans of the packages, by name.
        modules: body modules of the main DAG, by block name.
        package_modules: body modules of each package.
        variants: input-layer variants used by package calls with ``reset_input``.
        top_mlp: optional MLP applied to the (concatenated) output.

    Shape:
        - Input: the batch's :class:`~recblocks.layers.embedding.FeatureEmbeddings` and the
          forward's context (a fresh one without labels when omitted).
        - Output: ``output_spec`` (a tensor, or a list when ``output_blocks`` is set).
    """

    def __init__(self, plan: DagPlan, packages: dict[str, DagPlan], modules: nn.ModuleDict,
                 package_modules: nn.ModuleDict, variants: nn.ModuleDict, top_mlp: nn.Module | None,
                 output_spec: Any, config: Any = None) -> None:
        super().__init__()
        self.plan = plan
        self.package_plans = packages
        self.blocks = modules
        self.packages = package_modules
        self.variants = variants
        self.top_mlp = top_mlp
        self.output_spec = output_spec
        self.config = config
        self._top_uses_context = bool(getattr(top_mlp, "uses_context", False))

    # ------------------------------------------------------------------ running
    def forward(self, embeddings: Any, context: ForwardContext | None = None) -> Any:
        if context is None:
            context = ForwardContext(self.training)
        env: dict[str, Any] = {}
        out = self._run(self.plan, self.blocks, embeddings, env, None, None, None, context)
        if self.top_mlp is not None:
            if isinstance(out, (list, tuple)):
                out = torch.cat(list(out), dim=-1)
            out = self.top_mlp(out, context) if self._top_uses_context else self.top_mlp(out)
        return out

    def _run(self, plan: DagPlan, modules: nn.ModuleDict, embeddings: Any, env: dict[str, Any],
             outer: dict[str, Any] | None, package_input: Any, overrides: dict[str, str] | None,
             context: ForwardContext) -> Any:
        for step in plan.steps:
            if step.kind == "input":
                key = overrides.get(step.name) if overrides else None
                module = self.variants[key] if key else modules[step.name]
                env[step.name] = module(embeddings)
                continue
            values = []
            for edge in step.edges:
                if edge.ignore:
                    if edge.kind == "package":  # EasyRec still calls it (its auxiliary losses count)
                        self._edge_value(edge, env, outer, embeddings, package_input, context)
                    continue
                values.append(self._edge_value(edge, env, outer, embeddings, package_input, context))
            x = merge_values(step.merge_mode, values, step.axis)
            if step.extra_fn is not None:
                x = step.extra_fn(x)
            if step.has_module:
                x = modules[step.name](x, context) if step.uses_context else modules[step.name](x)
            elif step.fn is not None:
                x = step.fn(x)
            env[step.name] = x
        values = [env[name] for name in plan.outputs]
        if plan.output_mode == "list":
            return values
        return merge_values(plan.output_mode, values, -1)

    def _edge_value(self, edge: EdgePlan, env: dict[str, Any], outer: dict[str, Any] | None,
                    embeddings: Any, package_input: Any, context: ForwardContext) -> Any:
        if edge.kind == "value":
            value = env[edge.source]
        elif edge.kind == "outer":
            value = outer[edge.source]  # type: ignore[index]
        elif edge.kind == "package_input":
            value = package_input
        else:
            value = self.call_package(edge.call, env if outer is None else outer, embeddings, env, package_input,
                                      context)
        if edge.slice_fn is not None:
            value = edge.slice_fn(value)
        if edge.input_fn is not None:
            value = edge.input_fn(value)
        return value

    def call_package(self, call: PackageCall | None, main_env: dict[str, Any], embeddings: Any,
                     caller_env: dict[str, Any], caller_package_input: Any, context: ForwardContext) -> Any:
        """Run a package once (shared parameters) for one calling edge."""
        assert call is not None  # guaranteed by the builder
        given = None
        if call.package_input is not None:
            given = self._edge_value(call.package_input, caller_env, main_env if caller_env is not main_env else None,
                                     embeddings, caller_package_input, context)
            if call.package_input_fn is not None:
                given = call.package_input_fn(given)
            given = without_trailing_none(given)
        plan = self.package_plans[call.package]
        return self._run(plan, self.packages[call.package], embeddings, {}, main_env, given, call.overrides, context)

    # ------------------------------------------------------------------ describing
    def describe(self) -> list[dict[str, Any]]:
        """One row per step: scope, block, body, inputs, output shape, parameter count."""
        rows = []
        for scope, plan, modules in [("backbone", self.plan, self.blocks)] + [
            (name, p, self.packages[name]) for name, p in self.package_plans.items()
        ]:
            for step in plan.steps:
                params = 0
                if step.name in modules:
                    params = sum(p.numel() for p in modules[step.name].parameters())
                rows.append({
                    "scope": scope, "block": step.name, "body": step.description, "inputs": step.input_names,
                    "output": describe_spec(step.output_spec), "params": params,
                })
        if self.top_mlp is not None:
            rows.append({"scope": "backbone", "block": "top_mlp", "body": "MLP", "inputs": list(self.plan.outputs),
                         "output": describe_spec(self.output_spec),
                         "params": sum(p.numel() for p in self.top_mlp.parameters())})
        return rows
