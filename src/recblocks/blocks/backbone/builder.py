"""Compile a backbone config into a :class:`Backbone`: validate, order, infer shapes, build.

Shapes are inferred at build time: each block's input values exist as meta tensors (shape
only, no storage), slices/expressions/merges run on them, and components answer their
static ``output_spec``. So every error (unknown name, cycle, bad slice, widths that cannot
meet) is raised here, naming the block and its config path, before any data flows.
"""

from __future__ import annotations

from typing import Any, Protocol

from torch import nn

from recblocks.blocks.backbone.bodies import build_body
from recblocks.blocks.backbone.config import BackboneConfig, BlockConfig, PackageConfig, bind_backbone
from recblocks.blocks.backbone.expressions import compile_lambda, compile_slice
from recblocks.blocks.backbone.graph import DagGraph, build_graph
from recblocks.blocks.backbone.merge import plan_merge
from recblocks.blocks.backbone.module import Backbone, DagPlan, EdgePlan, PackageCall, StepPlan, without_trailing_none
from recblocks.core.errors import ConfigError, RecBlocksError, ShapeError
from recblocks.core.limits import MAX_PLANNED_STEPS
from recblocks.core.params import join_path
from recblocks.core.registry import COMPONENTS
from recblocks.core.shapes import describe_spec, spec_from_value, spec_to_meta
from recblocks.layers.input_layer import GroupInput, InputLayerConfig

__all__ = ["GroupInputFactory", "build_backbone", "wide_output_dim", "referenced_groups", "planned_steps"]


class GroupInputFactory(Protocol):
    """What the builder needs from the model: group names and input-layer modules."""

    group_names: list[str]

    def build(self, group: str, options: InputLayerConfig) -> GroupInput: ...


def wide_output_dim(config: BackboneConfig, path: str = "model.backbone") -> int | None:
    """The model-wide width of WIDE groups set by input_layer blocks (all must agree)."""
    seen: dict[int, str] = {}
    for parts, block in config.all_blocks():
        if block.input_layer is not None and block.input_layer.wide_output_dim is not None:
            seen.setdefault(block.input_layer.wide_output_dim, join_path(path, *parts))
    if len(seen) > 1:
        raise ConfigError(path, "wide_output_dim must be the same in every input_layer block", "one value",
                          sorted(seen))
    return next(iter(seen), None)


def referenced_groups(config: BackboneConfig) -> list[str]:
    """Feature groups the backbone reads, in first-use order."""
    groups: list[str] = []
    for _, block in config.all_blocks():
        for edge in block.inputs:
            if edge.feature_group_name and edge.feature_group_name not in groups:
                groups.append(edge.feature_group_name)
    return groups


def _body_steps(block: BlockConfig) -> int:
    """Components a block builds, as its kind counts them (a block without a body: one step)."""
    found = block.body_entries()
    return sum(entry.cls.steps(body) for entry, body in found) if found else 1


def planned_steps(config: BackboneConfig, path: str = "model.backbone") -> int:
    """Components the backbone will build (each package once); ConfigError above MAX_PLANNED_STEPS.

    Counted from the config alone, so a plan of a million steps is refused before any is built.
    """
    total = 0
    for parts, block in config.all_blocks():
        total += _body_steps(block)
        if total > MAX_PLANNED_STEPS:
            raise ConfigError(join_path(path, *parts), "the backbone plans too many steps (blocks, layers, repeats "
                              "and recurrent steps together)", f"at most {MAX_PLANNED_STEPS:,}",
                              f"more than {MAX_PLANNED_STEPS:,} by this block")
    return total


class _Builder:
    def __init__(self, config: BackboneConfig, groups: GroupInputFactory, path: str) -> None:
        self.config = config
        self.groups = groups
        self.path = path
        self.package_cfg: dict[str, tuple[int, PackageConfig]] = {}
        for i, package in enumerate(config.packages):
            if package.name in self.package_cfg:
                raise ConfigError(join_path(path, "packages", i, "name"), "duplicate package name",
                                  "unique package names", repr(package.name))
            self.package_cfg[package.name] = (i, package)
        self.package_graphs: dict[str, DagGraph] = {}
        self.package_plans: dict[str, DagPlan] = {}
        self.package_modules = nn.ModuleDict()
        self.package_input_spec: dict[str, Any] = {}
        self.package_planning: list[str] = []
        self.package_resets: dict[str, dict[str, str]] = {}  # package -> overrides of its last reset_input
        self.variants = nn.ModuleDict()
        self.main_meta: dict[str, Any] = {}

    # ------------------------------------------------------------------ graphs
    def graphs(self) -> DagGraph:
        main_names = [b.name for b in self.config.blocks]
        names = list(self.package_cfg)
        for name, (i, package) in self.package_cfg.items():
            self.package_graphs[name] = build_graph(
                package.blocks, join_path(self.path, "packages", i, "blocks"), self.groups.group_names, names,
                outer_blocks=main_names, scope=name)
        reads = {name: self._package_reads(name, []) for name in self.package_cfg}
        return build_graph(self.config.blocks, join_path(self.path, "blocks"), self.groups.group_names, names,
                           package_reads=reads)

    def _package_reads(self, name: str, stack: list[str]) -> set[str]:
        if name in stack:
            raise ConfigError(join_path(self.path, "packages"), "packages call each other in a cycle",
                              "acyclic package calls", " -> ".join([*stack, name]))
        graph = self.package_graphs[name]
        reads = set(graph.outer_deps)
        for dep in graph.package_deps:
            reads |= self._package_reads(dep, [*stack, name])
        return reads

    # ------------------------------------------------------------------ planning
    def plan_dag(self, graph: DagGraph, path: str, output_cfg: Any, modules: nn.ModuleDict,
                 scope_meta: dict[str, Any], outer_meta: dict[str, Any] | None, package_input: Any) -> DagPlan:
        steps: list[StepPlan] = []
        for node in graph.order:
            if node not in graph.blocks:  # an auto-created input node of a feature group
                module = self.groups.build(node, InputLayerConfig())
                modules[node] = module
                scope_meta[node] = spec_to_meta(module.output_spec())
                steps.append(StepPlan(node, "input", [], output_spec=module.output_spec(),
                                      description="input_layer (auto)", input_names=[f"group:{node}"]))
                continue
            index, block = graph.blocks[node]
            bpath = join_path(path, index)
            steps.append(self.plan_block(block, bpath, graph, modules, scope_meta, outer_meta, package_input))
        outputs, mode, spec = self.plan_outputs(graph, path, output_cfg, scope_meta)
        return DagPlan(graph.scope, steps, outputs, mode, spec)

    def plan_block(self, block: BlockConfig, bpath: str, graph: DagGraph, modules: nn.ModuleDict,
                   scope_meta: dict[str, Any], outer_meta: dict[str, Any] | None, package_input: Any) -> StepPlan:
        where = block.where(bpath)
        found = block.body_entries()
        if found and found[0][0].cls.reads_group:
            kind, body_cfg = found[0]
            group = block.inputs[0].feature_group_name or ""
            module = kind.cls.build_input(body_cfg, group, self.groups, where)
            modules[block.name] = module
            scope_meta[block.name] = spec_to_meta(module.output_spec())
            return StepPlan(block.name, "input", [], output_spec=module.output_spec(),
                            description=kind.cls.describe(body_cfg), input_names=[f"group:{group}"])
        edges, values = [], []
        for j, (edge_cfg, resolved) in enumerate(zip(block.inputs, graph.inputs[block.name])):
            epath = join_path(bpath, "inputs", j)
            edge, value = self.plan_edge(edge_cfg, resolved, epath, block, scope_meta, outer_meta, package_input)
            edges.append(edge)
            if not edge.ignore:
                values.append(value)
        if not values and not block.merge_inputs_into_list:
            raise ShapeError(where, "every input has ignore_input, nothing is left to merge",
                             "at least one used input", "none")
        mode, merged = plan_merge(values, block.merge_inputs_into_list, block.input_concat_axis, where)
        extra = None
        if block.extra_input_fn:
            extra = compile_lambda(block.extra_input_fn, join_path(bpath, "extra_input_fn") + f" (block '{block.name}')",
                                   arity=1)
            merged = _call(extra, merged, where, "extra_input_fn")
        in_spec = spec_from_value(merged, where)
        body = build_body(block, in_spec, bpath, where)
        step = StepPlan(block.name, body.kind, edges, mode, block.input_concat_axis, extra, body.fn,
                        body.module is not None, body.output_spec, body.description,
                        [_edge_name(e) for e in block.inputs])
        step.uses_context = bool(getattr(body.module, "uses_context", False))  # module(x, context), see module.py
        if body.module is not None:
            modules[block.name] = body.module
        scope_meta[block.name] = spec_to_meta(body.output_spec)
        return step

    def plan_edge(self, cfg: Any, resolved: Any, epath: str, block_cfg: BlockConfig, scope_meta: dict[str, Any],
                  outer_meta: dict[str, Any] | None, package_input: Any) -> tuple[EdgePlan, Any]:
        where, block = block_cfg.where(epath), block_cfg.name
        if resolved.kind in ("block", "group"):
            edge, value = EdgePlan("value", resolved.name), scope_meta[resolved.name]
        elif resolved.kind == "outer":
            edge, value = EdgePlan("outer", resolved.name), (outer_meta or {})[resolved.name]
        elif resolved.kind == "package_input":
            if package_input is None:
                raise ConfigError(where, "use_package_input but the package is called without package_input",
                                  "a calling edge with package_input", "none")
            edge, value = EdgePlan("package_input", ""), package_input
        else:
            call, value = self.plan_package_call(cfg, epath, where, scope_meta, outer_meta, package_input)
            edge = EdgePlan("package", resolved.name, call=call)
        edge.ignore = cfg.ignore_input
        if cfg.input_slice:
            edge.slice_fn = compile_slice(cfg.input_slice, join_path(epath, "input_slice") + f" (block '{block}')")
            value = _call(edge.slice_fn, value, where, "input_slice")
        if cfg.input_fn:
            edge.input_fn = compile_lambda(cfg.input_fn, join_path(epath, "input_fn") + f" (block '{block}')",
                                           arity=1)
            value = _call(edge.input_fn, value, where, "input_fn")
        spec_from_value(value, where)  # the batch axis must survive slicing and expressions
        return edge, value

    def plan_package_call(self, cfg: Any, epath: str, where: str, scope_meta: dict[str, Any],
                          outer_meta: dict[str, Any] | None, package_input: Any) -> tuple[PackageCall, Any]:
        name = cfg.package_name
        call = PackageCall(name)
        given = None
        if cfg.package_input:
            source = cfg.package_input
            if source in self.package_cfg:
                inner, given = self.plan_package_call(type(cfg)(package_name=source), epath, where, scope_meta,
                                                      outer_meta, package_input)
                call.package_input = EdgePlan("package", source, call=inner)
            else:
                call.package_input = EdgePlan("value", source)
                given = scope_meta[source]
            if cfg.package_input_fn:
                call.package_input_fn = compile_lambda(cfg.package_input_fn, join_path(epath, "package_input_fn"),
                                                       arity=1)
                given = _call(call.package_input_fn, given, where, "package_input_fn")
            given = without_trailing_none(given)
        plan = self.ensure_package(name, given, where)
        if cfg.reset_input is not None:  # EasyRec: the options stay on the package for its later calls
            self.package_resets[name] = self.reset_variants(name, cfg.reset_input, where)
        call.overrides = dict(self.package_resets.get(name, {}))
        return call, spec_to_meta(plan.output_spec)

    def ensure_package(self, name: str, given: Any, where: str) -> DagPlan:
        given_spec = spec_from_value(given, where) if given is not None else None
        if name in self.package_plans:
            if describe_spec(given_spec) != describe_spec(self.package_input_spec[name]):
                raise ShapeError(where, f"package '{name}' is called with a differently shaped package_input",
                                 describe_spec(self.package_input_spec[name]), describe_spec(given_spec))
            return self.package_plans[name]
        if name in self.package_planning:
            raise ConfigError(where, "packages call each other in a cycle", "acyclic package calls",
                              " -> ".join([*self.package_planning, name]))
        self.package_planning.append(name)
        index, package = self.package_cfg[name]
        modules = nn.ModuleDict()
        ppath = join_path(self.path, "packages", index)
        plan = self.plan_dag(self.package_graphs[name], join_path(ppath, "blocks"), package, modules, {},
                             self.main_meta, given)
        self.package_planning.pop()
        self.package_plans[name] = plan
        self.package_modules[name] = modules
        self.package_input_spec[name] = given_spec
        return plan

    def reset_variants(self, name: str, options: InputLayerConfig, where: str) -> dict[str, str]:
        """Input-layer variants for one call with ``reset_input`` (parameters are shared)."""
        overrides = {}
        modules = self.package_modules[name]
        for step in self.package_plans[name].steps:
            if step.kind != "input":
                continue
            base = modules[step.name]
            variant = base.with_options(options)
            if describe_spec(variant.output_spec()) != describe_spec(base.output_spec()):
                raise ShapeError(where, f"reset_input changes the output of '{step.name}' in package '{name}'",
                                 describe_spec(base.output_spec()), describe_spec(variant.output_spec()))
            key = f"{name}__{step.name}__{len(self.variants)}"
            self.variants[key] = variant
            overrides[step.name] = key
        return overrides

    def plan_outputs(self, graph: DagGraph, path: str, cfg: Any, meta: dict[str, Any]) -> tuple[list[str], str, Any]:
        where = path.rsplit(".blocks", 1)[0]
        if cfg.output_blocks:
            names, key = list(cfg.output_blocks), "output_blocks"
        elif cfg.concat_blocks:
            names, key = list(cfg.concat_blocks), "concat_blocks"
        else:
            names, key = graph.leaves(), "leaves"
        for i, name in enumerate(names):
            if name not in graph.blocks and name not in graph.auto_groups:
                raise ConfigError(join_path(where, key, i), "unknown output block", f"one of {sorted(graph.blocks)}",
                                  repr(name), choices=graph.blocks)
        values = [meta[n] for n in names]
        if key == "output_blocks":
            return names, "list", spec_from_value(values, where)
        mode, merged = plan_merge(values, False, -1, f"{where}.{key}")
        return names, mode, spec_from_value(merged, where)


def _edge_name(cfg: Any) -> str:
    if cfg.use_package_input:
        return "package_input"
    prefix = "group" if cfg.feature_group_name else "package" if cfg.package_name else "block"
    text = f"{prefix}:{cfg.source}"
    if cfg.input_slice:
        text += cfg.input_slice
    if cfg.input_fn:
        text += " |fn"
    if cfg.ignore_input:
        text += " (ignored)"
    return text


def _call(fn: Any, value: Any, where: str, what: str) -> Any:
    try:
        return fn(value)
    except RecBlocksError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of a user expression is a config problem
        raise ShapeError(where, f"{what} failed on input {describe_spec(spec_from_value(value, where))}",
                         "an expression that fits the input", str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                         ) from None


def build_backbone(config: BackboneConfig, groups: GroupInputFactory, path: str = "model.backbone") -> Backbone:
    """Check and compile a parsed ``config`` into a Backbone (components not yet bound are bound here)."""
    if not isinstance(config, BackboneConfig):
        raise ConfigError(path, "the backbone must be parsed first", "a BackboneConfig (parse_backbone)",
                          type(config).__name__)
    cfg = bind_backbone(config, path)
    planned_steps(cfg, path)
    builder = _Builder(cfg, groups, path)
    main_graph = builder.graphs()
    modules = nn.ModuleDict()
    plan = builder.plan_dag(main_graph, join_path(path, "blocks"), cfg, modules, builder.main_meta, None, None)
    for name in builder.package_cfg:  # packages never called are still checked
        if name not in builder.package_plans:
            raise ConfigError(join_path(path, "packages", builder.package_cfg[name][0]),
                              f"package '{name}' is never called", "a block input with package_name", "no caller")
    output_spec = plan.output_spec
    top_mlp = None
    if cfg.top_mlp is not None:
        entry = COMPONENTS.get("MLP", join_path(path, "top_mlp"))
        params = cfg.top_mlp
        in_spec = output_spec
        if isinstance(in_spec, list):
            mode_meta = plan_merge(spec_to_meta(in_spec), False, -1, join_path(path, "top_mlp"))[1]
            in_spec = spec_from_value(mode_meta, join_path(path, "top_mlp"))
        top_mlp = entry.cls.from_spec(params, in_spec, where=join_path(path, "top_mlp"))
        output_spec = top_mlp.output_spec(in_spec)
    return Backbone(plan, builder.package_plans, modules, builder.package_modules, builder.variants, top_mlp,
                    output_spec, cfg)
