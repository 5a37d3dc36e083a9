"""Name resolution, edges, cycle detection and execution order of a backbone DAG.

Resolution follows EasyRec (docs/backbone.md, "Names"): a ``feature_group_name`` resolves to
an input block of that name if one exists, else to an auto-created default input node of the
group; a ``block_name`` must name a block (of this package, or of the main backbone when
inside a package); a ``package_name`` must name a package. The order is a topological sort
that keeps config order among ready nodes (EasyRec's order does not follow the config).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from recblocks.blocks.backbone.config import BlockConfig
from recblocks.blocks.backbone.kinds import BLOCK_KINDS
from recblocks.core.errors import ConfigError
from recblocks.core.params import join_path

__all__ = ["ResolvedInput", "DagGraph", "build_graph"]


@dataclass
class ResolvedInput:
    """An input edge after name resolution.

    ``kind``: ``block`` (a block of this scope), ``outer`` (a main-backbone block read from a
    package), ``group`` (auto input node of a feature group), ``package`` (a package call) or
    ``package_input`` (the value a package was called with).
    """

    kind: str
    name: str


@dataclass
class DagGraph:
    """Nodes (blocks, auto group nodes, package nodes) with successor lists and an order."""

    scope: str
    blocks: dict[str, tuple[int, BlockConfig]]
    inputs: dict[str, list[ResolvedInput]]
    auto_groups: list[str]
    successors: dict[str, list[str]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    outer_deps: set[str] = field(default_factory=set)
    package_deps: set[str] = field(default_factory=set)

    def leaves(self) -> list[str]:
        """Blocks nobody consumes (edges from ``ignore_input`` count as consumption)."""
        return [name for name in self.blocks if not self.successors.get(name)]


def build_graph(
    blocks: list[BlockConfig],
    path: str,
    group_names: list[str],
    package_names: list[str],
    outer_blocks: list[str] | None = None,
    scope: str = "backbone",
    package_reads: dict[str, set[str]] | None = None,
) -> DagGraph:
    """Validate names and edges of one DAG (main backbone or a package) and order it."""
    by_name: dict[str, tuple[int, BlockConfig]] = {}
    for i, block in enumerate(blocks):
        bpath = join_path(path, i)
        if "." in block.name:
            raise ConfigError(join_path(bpath, "name"), "block names cannot contain '.'", "a name without dots",
                              repr(block.name))
        if block.name in by_name:
            raise ConfigError(join_path(bpath, "name"), "duplicate block name", "unique block names",
                              repr(block.name))
        if block.name in package_names:
            raise ConfigError(join_path(bpath, "name"), "a block cannot share its name with a package",
                              "a name not used by a package", repr(block.name))
        bodies = block.bodies()
        if len(bodies) > 1:
            raise ConfigError(block.where(bpath), "a block can have only one body",
                              f"one of {', '.join(BLOCK_KINDS.names())}", bodies)
        if not block.inputs:
            raise ConfigError(join_path(bpath, "inputs"), f"block '{block.name}' has no inputs",
                              "at least one input", "none")
        if block.is_input_block:
            _check_input_block(block, bpath, group_names)
        elif block.name in group_names:
            raise ConfigError(join_path(bpath, "name"),
                              "only an input_layer block may take the name of a feature group",
                              "a name that is not a feature group", repr(block.name))
        by_name[block.name] = (i, block)
    if not by_name:
        raise ConfigError(path, "there must be at least one block", "one or more blocks", "none")

    graph = DagGraph(scope, by_name, {}, [])
    outer = set(outer_blocks or [])
    for name, (i, block) in by_name.items():
        if block.is_input_block:
            graph.inputs[name] = []
            continue
        resolved = []
        for j, edge in enumerate(block.inputs):
            epath = join_path(path, i, "inputs", j)
            resolved.append(_resolve(edge, epath, name, by_name, group_names, package_names, outer, graph))
        graph.inputs[name] = resolved
    _link(graph, package_reads or {})
    _order(graph, path)
    return graph


def _check_input_block(block: BlockConfig, path: str, group_names: list[str]) -> None:
    if len(block.inputs) != 1:
        raise ConfigError(join_path(path, "inputs"), f"input block '{block.name}' takes exactly one input",
                          "one feature_group_name", f"{len(block.inputs)} inputs")
    group = block.inputs[0].feature_group_name
    if group is None:
        raise ConfigError(join_path(path, "inputs", 0), f"input block '{block.name}' needs a feature_group_name",
                          "feature_group_name", "another kind of input")
    if group not in group_names:
        raise ConfigError(join_path(path, "inputs", 0, "feature_group_name"), "unknown feature group",
                          f"one of {group_names}", repr(group), choices=group_names)
    if block.name in group_names and block.name != group:
        raise ConfigError(join_path(path, "name"), "an input block may only take the name of its own group",
                          repr(group), repr(block.name))
    for key in ("input_fn", "input_slice"):
        if getattr(block.inputs[0], key):
            raise ConfigError(join_path(path, "inputs", 0, key), f"input block '{block.name}' cannot use {key}",
                              "a plain feature_group_name", key)


def _resolve(edge, path, name, by_name, group_names, package_names, outer, graph) -> ResolvedInput:
    if edge.use_package_input:
        if graph.scope == "backbone":
            raise ConfigError(path, "use_package_input is only valid inside a package", "a block of a package",
                              f"block '{name}' of the main backbone")
        return ResolvedInput("package_input", "")
    source = edge.source
    if source == name:
        raise ConfigError(path, f"block '{name}' takes itself as input", "another block or a feature group",
                          repr(source))
    if edge.package_name is not None:
        if source not in package_names:
            raise ConfigError(join_path(path, "package_name"), "unknown package", f"one of {package_names}",
                              repr(source), choices=package_names)
        if graph.scope != "backbone" and source == graph.scope:
            raise ConfigError(join_path(path, "package_name"), "a package cannot call itself", "another package",
                              repr(source))
        if edge.package_input and edge.package_input not in by_name and edge.package_input not in package_names:
            raise ConfigError(join_path(path, "package_input"), "unknown block or package",
                              f"one of {sorted([*by_name, *package_names])}", repr(edge.package_input),
                              choices=[*by_name, *package_names])
        graph.package_deps.add(source)
        return ResolvedInput("package", source)
    if edge.block_name is not None:
        if source in by_name:
            return ResolvedInput("block", source)
        if source in outer:
            graph.outer_deps.add(source)
            return ResolvedInput("outer", source)
        hint = " (it is a feature group: use feature_group_name)" if source in group_names else ""
        raise ConfigError(join_path(path, "block_name"), f"unknown block{hint}", f"one of {sorted(by_name)}",
                          repr(source), choices=[*by_name, *outer])
    # feature_group_name
    if source in by_name and by_name[source][1].is_input_block:
        return ResolvedInput("block", source)
    if source in group_names:
        if source not in graph.auto_groups:
            graph.auto_groups.append(source)
        return ResolvedInput("group", source)
    raise ConfigError(join_path(path, "feature_group_name"), "unknown feature group", f"one of {group_names}",
                      repr(source), choices=group_names)


def _link(graph: DagGraph, package_reads: dict[str, set[str]]) -> None:
    """Successor lists; a block calling a package also waits for the main blocks it reads."""
    succ: dict[str, list[str]] = {name: [] for name in graph.blocks}
    for group in graph.auto_groups:
        succ.setdefault(group, [])
    for name, inputs in graph.inputs.items():
        for edge in inputs:
            if edge.kind in ("block", "group"):
                succ[edge.name].append(name)
            elif edge.kind == "package":
                for dep in sorted(package_reads.get(edge.name, ())):
                    if dep in succ:
                        succ[dep].append(name)
    for name, (_, block) in graph.blocks.items():
        for edge in block.inputs:
            if edge.package_input and edge.package_input in graph.blocks:
                succ[edge.package_input].append(name)
            for dep in sorted(package_reads.get(edge.package_input or "", ())):
                if dep in succ:
                    succ[dep].append(name)
    graph.successors = succ


def _order(graph: DagGraph, path: str) -> None:
    """Kahn's algorithm, ready nodes taken in config order; a cycle is named in full."""
    rank: dict[str, float] = {name: i for name, (i, _) in graph.blocks.items()}
    for group in graph.auto_groups:  # an auto input node sorts just before its first consumer
        rank[group] = min(rank[c] for c in graph.successors[group]) - 0.5
    indegree = {n: 0 for n in graph.successors}
    for outs in graph.successors.values():
        for n in outs:
            indegree[n] += 1
    ready = sorted((n for n, d in indegree.items() if d == 0), key=lambda n: rank[n])
    order: list[str] = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for nxt in graph.successors[node]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
                ready.sort(key=lambda n: rank[n])
    if len(order) != len(indegree):
        cycle = _find_cycle(graph.successors, {n for n, d in indegree.items() if d > 0})
        raise ConfigError(path, "the blocks form a cycle", "a directed acyclic graph", " -> ".join(cycle))
    graph.order = order


def _find_cycle(successors: dict[str, list[str]], candidates: set[str]) -> list[str]:
    """One cycle among ``candidates`` as a node path that starts and ends at the same node."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in successors.get(node, []):
            if nxt not in candidates:
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(candidates):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return sorted(candidates)
