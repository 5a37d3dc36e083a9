"""Pictures of a built backbone or model: a graph description, Mermaid text, PNG/SVG.

:func:`describe_graph` turns a built :class:`~recblocks.blocks.backbone.module.Backbone` (or a
model that has one as ``.backbone``) into a :class:`ModelGraph`:

* nodes: feature groups (with their features), blocks (name, body, output shape, parameters),
  package input nodes, the ``output`` of the DAG, ``top_mlp`` and one node per task (with its
  head when the model adds one);
* edges: block inputs, labelled with their slice / ``fn`` / ``(ignored)``; package calls run
  from the package's output blocks to the calling block;
* clusters: one per package, holding its blocks.

:func:`to_mermaid` needs nothing; :func:`plot_model` writes ``.mmd``, or ``.png`` / ``.svg``
drawn by :mod:`recblocks.viz.render` with matplotlib. Without matplotlib it writes
Mermaid text next to the requested path and says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recblocks.blocks.backbone.bodies import body_label
from recblocks.core.errors import ConfigError
from recblocks.core.files import (
    atomic_write,
    atomic_write_text,
    check_output_file,
    make_dirs,
)
from recblocks.core.shapes import describe_spec

__all__ = [
    "GraphNode", "GraphEdge", "ModelGraph", "PICTURE_SUFFIXES", "describe_graph", "to_mermaid",
    "check_plot_path", "plot_model",
]

logger = logging.getLogger(__name__)

#: Suffixes :func:`plot_model` can write.
PICTURE_SUFFIXES = (".png", ".svg", ".mmd")
_OUTPUT = "@output"
_TOP_MLP = "@top_mlp"


@dataclass
class GraphNode:
    """One box. ``kind``: group, input, block, package_input, output, top_mlp or task."""

    id: str
    name: str
    kind: str
    body: str = ""
    shape: str = ""
    params: int = 0
    features: list[str] = field(default_factory=list)
    cluster: str | None = None
    is_output: bool = False


@dataclass
class GraphEdge:
    """One arrow; ``label`` is the slice / fn / call text, ``ignored`` draws it dashed."""

    source: str
    target: str
    label: str = ""
    kind: str = "data"  # data | package | package_input | output
    ignored: bool = False


@dataclass
class ModelGraph:
    """Nodes (in plan order), edges and package clusters (package name -> node ids)."""

    nodes: dict[str, GraphNode] = field(default_factory=dict)
    edges: list[GraphEdge] = field(default_factory=list)
    clusters: dict[str, list[str]] = field(default_factory=dict)
    title: str = ""

    def add(self, node: GraphNode) -> GraphNode:
        if node.id not in self.nodes:
            self.nodes[node.id] = node
            if node.cluster is not None:
                self.clusters.setdefault(node.cluster, []).append(node.id)
        return self.nodes[node.id]

    def edges_into(self, node_id: str) -> list[GraphEdge]:
        return [e for e in self.edges if e.target == node_id]

    def edge(self, source: str, target: str) -> GraphEdge | None:
        """The first edge from ``source`` to ``target`` (node ids), or None."""
        return next((e for e in self.edges if e.source == source and e.target == target), None)


# ---------------------------------------------------------------------------- description
def _params(module: Any) -> int:
    return sum(p.numel() for p in module.parameters()) if module is not None else 0


def _input_label(cfg: Any, fallback: str) -> tuple[str, bool]:
    """Edge text from a block input config (or its plan name): ``[1]``, ``fn``, ``(ignored)``."""
    if cfg is not None:
        parts = [cfg.input_slice or "", "fn" if cfg.input_fn else "",
                 "reset_input" if getattr(cfg, "reset_input", None) is not None else "",
                 "(ignored)" if cfg.ignore_input else ""]
        return " ".join(p for p in parts if p), bool(cfg.ignore_input)
    text = fallback.split(":", 1)[-1]
    ignored = text.endswith(" (ignored)")
    parts = []
    if "[" in text:
        parts.append(text[text.index("["):].split(" ")[0])
    if "|fn" in text:
        parts.append("fn")
    if ignored:
        parts.append("(ignored)")
    return " ".join(parts), ignored


def _body(step: Any, cfg: Any) -> str:
    """The box text: the block kind's picture label (through BLOCK_KINDS), else the plan's description."""
    label = body_label(cfg) if cfg is not None else None
    return label or step.description or step.kind


class _Describer:
    def __init__(self, obj: Any) -> None:
        self.model = obj if hasattr(obj, "backbone") else None
        self.backbone = obj.backbone if self.model is not None else obj
        self.graph = ModelGraph()
        cfg = getattr(self.backbone, "config", None)
        self.block_cfgs: dict[str | None, dict[str, Any]] = {}
        if cfg is not None:
            self.block_cfgs[None] = {b.name: b for b in cfg.blocks}
            for package in cfg.packages:
                self.block_cfgs[package.name] = {b.name: b for b in package.blocks}
        # main-scope auto input steps (no block of that name), drawn as their group node
        main = self.block_cfgs.get(None)
        self.auto = {s.name for s in self.backbone.plan.steps if s.kind == "input" and (
            s.name not in main if main is not None else s.description.endswith("(auto)"))}

    def ref(self, scope: str | None, name: str) -> str:
        if scope is None:
            return f"group:{name}" if name in self.auto else name
        return f"{scope}/{name}"

    def group(self, name: str, module: Any) -> GraphNode:
        features, wide = [], False
        if self.model is not None and hasattr(self.model, "groups"):
            config = self.model.groups[name]
            features, wide = list(config.feature_names), config.wide_deep == "WIDE"
        elif module is not None:
            features = [s.feature for s in getattr(module, "all_slots", [])]
        body = "feature group (WIDE)" if wide else "feature group"
        return self.graph.add(GraphNode(f"group:{name}", name, "group", body, features=features))

    def scope(self, scope: str | None, plan: Any, modules: Any) -> None:
        cfgs = self.block_cfgs.get(scope, {})
        for step in plan.steps:
            module = modules[step.name] if step.name in modules else None
            if step.kind == "input":
                group = step.input_names[0].split(":", 1)[1] if step.input_names else step.name
                gnode = self.group(group, module)
                if scope is None and step.name in self.auto:
                    gnode.shape = describe_spec(step.output_spec)
                    continue
                node = self.graph.add(GraphNode(self.ref(scope, step.name), step.name, "input", step.description,
                                                describe_spec(step.output_spec), _params(module), cluster=scope))
                self.graph.edges.append(GraphEdge(gnode.id, node.id))
                continue
            kind = "block" if step.has_module else "lambda"
            node = self.graph.add(GraphNode(self.ref(scope, step.name), step.name, kind, _body(step, cfgs.get(step.name)),
                                            describe_spec(step.output_spec), _params(module), cluster=scope))
            block_cfg = cfgs.get(step.name)
            for j, edge in enumerate(step.edges):
                cfg = block_cfg.inputs[j] if block_cfg is not None and j < len(block_cfg.inputs) else None
                fallback = step.input_names[j] if j < len(step.input_names) else ""
                label, ignored = _input_label(cfg, fallback)
                self.edge(scope, edge, node.id, label, ignored)

    def edge(self, scope: str | None, edge: Any, target: str, label: str, ignored: bool, kind: str = "data") -> None:
        if edge.kind == "value":
            sources = [self.ref(scope, edge.source)]
        elif edge.kind == "outer":
            sources = [self.ref(None, edge.source)]
        elif edge.kind == "package_input":
            pid = f"{scope}/package_input"
            self.graph.add(GraphNode(pid, "package_input", "package_input", "given by the caller", cluster=scope))
            sources = [pid]
        else:
            call = edge.call
            plan = self.backbone.package_plans[call.package]
            sources = [self.ref(call.package, name) for name in plan.outputs]
            label = " ".join(p for p in (f"call {call.package}", label) if p)
            kind = "package"
            if call.package_input is not None:
                pid = f"{call.package}/package_input"
                self.graph.add(GraphNode(pid, "package_input", "package_input", "given by the caller",
                                         cluster=call.package))
                caller = self.graph.nodes[target].name
                self.edge(scope, call.package_input, pid, f"for {caller}" + (" fn" if call.package_input_fn else ""),
                          False, "package_input")
        for source in sources:
            self.graph.edges.append(GraphEdge(source, target, label, kind, ignored))

    def describe(self) -> ModelGraph:
        backbone = self.backbone
        # packages first so their package_input nodes exist; nodes are re-ordered below
        for name, plan in backbone.package_plans.items():
            self.scope(name, plan, backbone.packages[name])
        self.scope(None, backbone.plan, backbone.blocks)
        graph = self.graph
        cfg = getattr(backbone, "config", None)
        key = "output_blocks" if cfg is not None and cfg.output_blocks else \
            "concat_blocks" if cfg is not None and cfg.concat_blocks else "leaves"
        graph.add(GraphNode(_OUTPUT, "output", "output", f"{key}: {', '.join(backbone.plan.outputs)}",
                            describe_spec(backbone.plan.output_spec)))
        for i, name in enumerate(backbone.plan.outputs):
            graph.nodes[self.ref(None, name)].is_output = True
            label = f"[{i}]" if backbone.plan.output_mode == "list" else ""
            graph.edges.append(GraphEdge(self.ref(None, name), _OUTPUT, label, "output"))
        last = _OUTPUT
        if backbone.top_mlp is not None:
            units = cfg.top_mlp.hidden_units if cfg is not None and cfg.top_mlp is not None else None
            graph.add(GraphNode(_TOP_MLP, "top_mlp", "top_mlp", "MLP" + (f" {list(units)}" if units else ""),
                                describe_spec(backbone.output_spec), _params(backbone.top_mlp)))
            graph.edges.append(GraphEdge(_OUTPUT, _TOP_MLP, kind="output"))
            last = _TOP_MLP
        if self.model is not None:
            self.tasks(last)
            title = getattr(getattr(self.model, "config", None), "model_name", None)
            total = sum(p.numel() for p in self.model.parameters())
        else:
            title, total = "backbone", sum(p.numel() for p in backbone.parameters())
        graph.title = f"{title or 'model'}  -  {total:,} parameters"
        # groups first, then the plan order (packages after the blocks that feed them are drawn by layering)
        order = sorted(graph.nodes.values(), key=lambda n: n.kind != "group")
        graph.nodes = {n.id: n for n in order}
        return graph

    def tasks(self, last: str) -> None:
        model, spec = self.model, self.backbone.output_spec
        tasks, heads = list(getattr(model, "tasks", [])), getattr(model, "heads", {})
        index = list(getattr(model, "_task_inputs", [])) or [None] * len(tasks)
        for task, idx in zip(tasks, index):
            head = heads[task.name] if task.name in heads else None
            task_type = getattr(task, "task_type", "task")
            body = f"{task_type} task" + (" + Linear head" if head is not None else "")
            shape = f"(B, {head.out_features})" if head is not None else \
                describe_spec(spec[idx] if idx is not None and isinstance(spec, list) else spec)
            tid = f"task:{task.name}"
            self.graph.add(GraphNode(tid, task.name, "task", body, shape, _params(head)))
            self.graph.edges.append(GraphEdge(last, tid, f"[{idx}]" if idx is not None else "", "output"))


def describe_graph(obj: Any) -> ModelGraph:
    """The graph of a built Backbone, or of a model with a ``.backbone`` (adds its tasks/heads)."""
    if isinstance(obj, ModelGraph):
        return obj
    return _Describer(obj).describe()


# ---------------------------------------------------------------------------- Mermaid
def _mm(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "#quot;").replace("<", "&lt;").replace(">", "&gt;")


def node_lines(node: GraphNode, wrap: int = 44) -> list[tuple[str, str]]:
    """The text of a box as (style, line) pairs; styles: name, body, features, shape, params."""
    import textwrap

    lines = [("name", node.name)]
    if node.body:
        lines.append(("body", node.body))
    if node.features:
        lines += [("features", line) for line in textwrap.wrap(", ".join(node.features), wrap)]
    if node.shape:
        lines.append(("shape", node.shape))
    if node.params:
        lines.append(("params", f"{node.params:,} params"))
    return lines


def to_mermaid(obj: Any) -> str:
    """Mermaid ``flowchart TD`` text; packages become subgraphs, outputs get class ``output``."""
    graph = describe_graph(obj)
    ids = {nid: f"n{i}" for i, nid in enumerate(graph.nodes)}
    shapes = {"group": ('(["', '"])'), "task": ('("', '")'), "output": ('[["', '"]]'),
              "package_input": ('[/"', '"/]')}

    def box(node: GraphNode) -> str:
        text = "<br/>".join(f"<b>{_mm(t)}</b>" if s == "name" else _mm(t) for s, t in node_lines(node))
        left, right = shapes.get(node.kind, ('["', '"]'))
        return f"{ids[node.id]}{left}{text}{right}"

    out = ["flowchart TD", f"    %% {PICTURE_MARK}"]
    if graph.title:
        out.insert(0, f"%% {graph.title}")
    for node in graph.nodes.values():
        if node.cluster is None:
            out.append(f"    {box(node)}")
    for i, (name, members) in enumerate(graph.clusters.items()):
        out.append(f'    subgraph pkg{i}["package: {_mm(name)}"]')
        out += [f"        {box(graph.nodes[m])}" for m in members]
        out.append("    end")
    for edge in graph.edges:
        arrow = "-.->" if edge.ignored or edge.kind == "package_input" else "==>" if edge.kind == "package" else "-->"
        label = f'|"{_mm(edge.label)}"|' if edge.label else ""
        out.append(f"    {ids[edge.source]} {arrow}{label} {ids[edge.target]}")
    out.append("    classDef output stroke:#d9480f,stroke-width:3px;")
    out.append("    classDef group fill:#fff4d6,stroke:#c99a2e;")
    marked = [ids[n.id] for n in graph.nodes.values() if n.is_output]
    if marked:
        out.append(f"    class {','.join(marked)} output;")
    groups = [ids[n.id] for n in graph.nodes.values() if n.kind == "group"]
    if groups:
        out.append(f"    class {','.join(groups)} group;")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------- files
#: What marks a picture as drawn by recblocks (PNG ``Software`` text chunk, SVG creator,
#: a Mermaid comment line): :func:`plot_model` replaces only pictures carrying it.
PICTURE_MARK = "drawn by recblocks"


def check_plot_path(path: str | Path, overwrite: bool = True) -> Path:
    """The resolved picture path; ConfigError unless it ends in .png, .svg or .mmd, and
    OutputPathError for a folder or an existing file recblocks did not draw (or, with
    ``overwrite=False``, any existing file)."""
    suffix = Path(path).suffix.lower()
    if suffix not in PICTURE_SUFFIXES:
        raise ConfigError(f"plot path '{path}'", "unsupported picture format", " / ".join(PICTURE_SUFFIXES),
                          repr(Path(path).suffix or "no suffix"))
    return check_output_file(path, is_own=is_own_picture, overwrite=overwrite, what="the model graph",
                             where="plot path")


def is_own_picture(path: Path) -> bool:
    """Whether ``path`` is a picture :func:`plot_model` drew (it carries :data:`PICTURE_MARK`)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
    except OSError:
        return False
    if path.suffix.lower() == ".png":
        return b"Software\x00" + PICTURE_MARK.encode() in head
    return PICTURE_MARK.encode() in head


def plot_model(obj: Any, path: str | Path, overwrite: bool = True) -> Path:
    """Draw a model/backbone graph to ``path`` and return the file actually written.

    ``.mmd`` writes Mermaid text; ``.png`` / ``.svg`` are drawn with matplotlib. When
    matplotlib is not installed, Mermaid text is written to ``path`` with suffix ``.mmd``
    instead, with a warning. An existing file is replaced only when recblocks drew it (and
    ``overwrite``); anything else there is refused with OutputPathError, nothing written.
    The file is written through a temporary file renamed into place.
    """
    path = check_plot_path(path, overwrite)
    graph = describe_graph(obj)
    make_dirs(path.parent)
    if path.suffix.lower() == ".mmd":
        atomic_write_text(path, to_mermaid(graph), durable=False)
        return path
    try:
        from recblocks.viz.render import render_graph
    except ImportError:
        fallback = check_plot_path(path.with_suffix(".mmd"), overwrite)
        atomic_write_text(fallback, to_mermaid(graph), durable=False)
        logger.warning("matplotlib is not installed, so %s was not drawn; wrote Mermaid text to %s instead "
                       "(pip install matplotlib, or paste it into a Mermaid viewer)", path, fallback)
        return fallback
    atomic_write(path, lambda tmp: render_graph(graph, tmp, picture_format=path.suffix.lower()[1:]), durable=False)
    return path

