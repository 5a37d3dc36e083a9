"""Draw a :class:`~recblocks.viz.diagram.ModelGraph` to PNG/SVG with matplotlib.

No graphviz: a small layered (Sugiyama-style) layout is computed here. Layers are the
longest path from the sources; edges that skip layers get dummy points; a few barycenter
sweeps order each layer to reduce crossings; x positions are the least-squares fit to the
neighbours' mean under the no-overlap constraints (pool-adjacent-violators). A package is
laid out on its own first and then placed as one big box of the main graph.

All sizes are in points (1 data unit = 1 pt), so measured text fits its box. Drawing uses
the Agg canvas (no display) and never touches pyplot's global state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path as MplPath
from matplotlib.textpath import TextPath

from recblocks.viz.diagram import PICTURE_MARK, GraphNode, ModelGraph, node_lines

__all__ = ["Layout", "layered_layout", "render_graph"]

LAYER_GAP, NODE_GAP, DUMMY_W, PAD_X, PAD_Y, CLUSTER_PAD, CLUSTER_TITLE, MARGIN = 52, 26, 12, 10, 7, 14, 20, 24
STYLES = {  # style -> (font size, weight, family, colour)
    "name": (11.0, "bold", "DejaVu Sans", "#111111"), "body": (9.0, "normal", "DejaVu Sans", "#333333"),
    "features": (8.0, "normal", "DejaVu Sans", "#5b4a1e"), "shape": (9.0, "normal", "DejaVu Sans Mono", "#174a8b"),
    "params": (8.0, "normal", "DejaVu Sans", "#666666"), "title": (13.0, "bold", "DejaVu Sans", "#222222"),
    "legend": (8.5, "normal", "DejaVu Sans", "#666666"), "label": (8.5, "normal", "DejaVu Sans Mono", "#444444"),
}
LEGEND = "thick orange border: backbone output    [i]: input_slice    fn: input_fn    dashed: ignored / package input"
COLOURS = {  # kind -> (fill, edge)
    "group": ("#fff4d6", "#c99a2e"), "input": ("#e4f4e1", "#4a9a4a"), "block": ("#e3edfb", "#3b6fb6"),
    "lambda": ("#efefef", "#7a7a7a"), "package_input": ("#f1e6fb", "#8a5bb8"), "output": ("#fde6e4", "#c0392b"),
    "top_mlp": ("#e3edfb", "#3b6fb6"), "task": ("#fde6e4", "#c0392b"),
}
HIGHLIGHT = "#d9480f"
_FONTS: dict[str, FontProperties] = {}


def _font(style: str) -> FontProperties:
    if style not in _FONTS:
        size, weight, family, _ = STYLES[style]
        _FONTS[style] = FontProperties(family=family, weight=weight, size=size)
    return _FONTS[style]


def text_width(text: str, style: str) -> float:
    """Width of ``text`` in points, measured from the glyph outlines."""
    if not text.strip():
        return 0.0
    return float(TextPath((0, 0), text, size=STYLES[style][0], prop=_font(style)).get_extents().width)


def node_size(node: GraphNode) -> tuple[float, float]:
    lines = node_lines(node)
    width = max(text_width(t, s) for s, t in lines) + 2 * PAD_X
    height = sum(STYLES[s][0] * 1.35 for s, _ in lines) + 2 * PAD_Y
    return max(width, 80.0), height


@dataclass
class Layout:
    """Centres of the nodes, layer bands, and each edge's points from source to target."""

    centres: dict[str, tuple[float, float]] = field(default_factory=dict)
    routes: dict[Any, list[tuple[float, float]]] = field(default_factory=dict)  # key: (source, target) or edge index
    width: float = 0.0
    height: float = 0.0


def _isotonic(values: list[float], weights: list[float]) -> list[float]:
    """Least-squares non-decreasing fit (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for v, w in zip(values, weights):
        blocks.append([v, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    return [b[0] for b in blocks for _ in range(int(b[2]))]


def _crossings(layers: list[list[str]], succ: dict[str, list[str]]) -> int:
    total = 0
    for upper, lower in zip(layers, layers[1:]):
        pos = {n: i for i, n in enumerate(lower)}
        pairs = [(i, pos[t]) for i, n in enumerate(upper) for t in succ[n] if t in pos]
        total += sum(1 for a in range(len(pairs)) for b in range(a + 1, len(pairs))
                     if (pairs[a][0] - pairs[b][0]) * (pairs[a][1] - pairs[b][1]) < 0)
    return total


def layered_layout(sizes: dict[str, tuple[float, float]], edges: list[tuple[str, str]],
                   bottom: frozenset[str] = frozenset()) -> Layout:
    """Place boxes of ``sizes`` (w, h) top-down so edges point downwards; ``bottom`` go in the last layer."""
    order = list(sizes)
    pairs = list(dict.fromkeys((s, t) for s, t in edges if s != t and s in sizes and t in sizes))
    pred: dict[str, list[str]] = {n: [] for n in order}
    for s, t in pairs:
        pred[t].append(s)
    layer: dict[str, int] = {}
    pending = list(order)
    while pending:  # Kahn's order, ties by the given order; layer = longest path from a source
        ready = next((n for n in pending if all(p in layer for p in pred[n])), pending[0])
        layer[ready] = max((layer[p] + 1 for p in pred[ready] if p in layer), default=0)
        pending.remove(ready)
    last = max(layer.values(), default=0)
    layer.update({n: last for n in bottom if n in layer})
    w = {n: sizes[n][0] for n in order}
    h = {n: sizes[n][1] for n in order}
    succ: dict[str, list[str]] = {n: [] for n in order}
    pred = {n: [] for n in order}
    chains: dict[tuple[str, str], list[str]] = {}
    for s, t in pairs:
        chain, prev = [], s
        for k in range(layer[s] + 1, layer[t]):
            d = f"\0{s}\0{t}\0{k}"
            layer[d], w[d], h[d], succ[d], pred[d] = k, DUMMY_W, 0.0, [], []
            chain.append(d)
            succ[prev].append(d)
            pred[d].append(prev)
            prev = d
        succ[prev].append(t)
        pred[t].append(prev)
        chains[(s, t)] = chain
    rank = {n: i for i, n in enumerate(order)}
    layers: list[list[str]] = [[] for _ in range(max(layer.values(), default=0) + 1)]
    for n in sorted(layer, key=lambda n: rank[n] if n in rank else rank[n.split("\0")[2]] - 0.5):
        layers[layer[n]].append(n)
    best, best_cross = [list(lay) for lay in layers], _crossings(layers, succ)
    for sweep in range(8):  # barycenter sweeps, alternately down and up
        down = sweep % 2 == 0
        idx = range(1, len(layers)) if down else range(len(layers) - 2, -1, -1)
        for i in idx:
            ref = {n: j for j, n in enumerate(layers[i - 1 if down else i + 1])}
            near = pred if down else succ
            keys = {}
            for j, n in enumerate(layers[i]):
                adj = [ref[m] for m in near[n] if m in ref]
                keys[n] = sum(adj) / len(adj) if adj else j
            layers[i].sort(key=lambda n: keys[n])
        cross = _crossings(layers, succ)
        if cross < best_cross:
            best, best_cross = [list(lay) for lay in layers], cross
    layers = best
    x: dict[str, float] = {}
    for lay in layers:  # initial packing, each layer centred on 0
        pos = 0.0
        for n in lay:
            x[n] = pos + w[n] / 2
            pos += w[n] + NODE_GAP
        for n in lay:
            x[n] -= pos / 2
    for sweep in range(12):
        for lay in layers:
            near = [pred, succ, None][sweep % 3] if sweep < 9 else None
            desired = []
            for n in lay:
                adj = (pred[n] + succ[n]) if near is None else near[n]
                desired.append(sum(x[m] for m in adj) / len(adj) if adj else x[n])
            offsets = [0.0]
            for a, b in zip(lay, lay[1:]):
                offsets.append(offsets[-1] + (w[a] + w[b]) / 2 + (NODE_GAP if h[a] and h[b] else NODE_GAP / 2))
            fit = _isotonic([d - o for d, o in zip(desired, offsets)], [1.0 if h[n] else 0.5 for n in lay])
            for n, f, o in zip(lay, fit, offsets):
                x[n] = f + o
    left = min(x[n] - w[n] / 2 for n in x)
    right = max(x[n] + w[n] / 2 for n in x)
    tops, y = [], 0.0
    for lay in layers:
        tops.append(y)
        y += max(h[n] for n in lay) + LAYER_GAP
    out = Layout(width=right - left, height=y - LAYER_GAP)
    band = [(tops[i], tops[i] + max(h[n] for n in lay)) for i, lay in enumerate(layers)]
    for n in order:
        top, bottom = band[layer[n]]
        out.centres[n] = (x[n] - left, (top + bottom) / 2)
    for s, t in pairs:
        sx, sy = out.centres[s]
        tx, ty = out.centres[t]
        points = [(sx, sy + h[s] / 2)]
        for d in chains[(s, t)]:
            top, bottom = band[layer[d]]
            points += [(x[d] - left, top), (x[d] - left, bottom)]
        out.routes[(s, t)] = points + [(tx, ty - h[t] / 2)]
    return out


def _cluster_of(graph: ModelGraph) -> dict[str, str]:
    return {m: f"\x01{name}" for name, members in graph.clusters.items() for m in members}


def compute_layout(graph: ModelGraph) -> tuple[Layout, dict[str, tuple[float, float]], dict[str, tuple[float, ...]]]:
    """Layout of the whole graph: (main layout with final routes, node sizes, cluster boxes)."""
    sizes = {nid: node_size(n) for nid, n in graph.nodes.items()}
    owner = _cluster_of(graph)
    ports: dict[str, dict[str, tuple[str, str]]] = {}  # cluster -> port id -> inner edge; one per crossing edge
    for i, e in enumerate(graph.edges):
        s, t = owner.get(e.source), owner.get(e.target)
        if t is not None and t != s:
            ports.setdefault(t, {})[f"\x02{i}"] = (f"\x02{i}", e.target)
        if s is not None and s != t:
            ports.setdefault(s, {})[f"\x03{i}"] = (e.source, f"\x03{i}")
    inner: dict[str, Layout] = {}
    main_sizes: dict[str, tuple[float, float]] = {}
    for nid in graph.nodes:
        cid = owner.get(nid)
        if cid is None:
            main_sizes[nid] = sizes[nid]
        elif cid not in main_sizes:  # a package: laid out alone, with entry (exit) ports on its first (last) layer
            members, mine = graph.clusters[cid[1:]], ports.get(cid, {})
            inner_edges = [(e.source, e.target) for e in graph.edges if e.source in members and e.target in members]
            lay = layered_layout({**{m: sizes[m] for m in members}, **{p: (DUMMY_W, 0.0) for p in mine}},
                                 inner_edges + list(mine.values()), frozenset(p for p in mine if p[0] == "\x03"))
            inner[cid] = lay
            main_sizes[cid] = (lay.width + 2 * CLUSTER_PAD, lay.height + 2 * CLUSTER_PAD + CLUSTER_TITLE)
    main_edges = [(owner.get(e.source, e.source), owner.get(e.target, e.target)) for e in graph.edges]
    main = layered_layout(main_sizes, main_edges)
    for cid, mine in ports.items():  # order each package's ports like the outside ends of their edges
        for kind in ("\x02", "\x03"):
            ids = [p for p in mine if p[0] == kind]
            far = {p: main.routes[(main_edges[int(p[1:])])][1 if kind == "\x03" else -2][0] for p in ids}
            slots = sorted(inner[cid].centres[p] for p in ids)
            for p, (px, py) in zip(sorted(ids, key=far.__getitem__), slots):
                inner[cid].centres[p] = (px, py)
                route = inner[cid].routes[mine[p]]
                route[0 if kind == "\x02" else -1] = (px, py)
    boxes: dict[str, tuple[float, ...]] = {}
    final = Layout(width=main.width, height=main.height)
    for nid in graph.nodes:
        cid = owner.get(nid)
        if cid is None:
            final.centres[nid] = main.centres[nid]
            continue
        cx, cy = main.centres[cid]
        cw, ch = main_sizes[cid]
        x0, y0 = cx - cw / 2, cy - ch / 2
        boxes[cid[1:]] = (x0, y0, cw, ch)
        ix, iy = inner[cid].centres[nid]
        final.centres[nid] = (x0 + CLUSTER_PAD + ix, y0 + CLUSTER_PAD + CLUSTER_TITLE + iy)

    def inside(cid: str, key: tuple[str, str]) -> list[tuple[float, float]]:
        x0, y0, _, h = boxes[cid[1:]]
        dx, dy = x0 + CLUSTER_PAD, y0 + CLUSTER_PAD + CLUSTER_TITLE
        points = [(px + dx, py + dy) for px, py in inner[cid].routes[key]]
        if key[0].startswith("\x02"):  # from the package's top edge down to the target
            return [(points[0][0], y0), *points[:-1]]
        if key[1].startswith("\x03"):  # from the source down to the package's bottom edge
            return [*points[1:], (points[-1][0], y0 + h)]
        return points[1:-1]

    middles: dict[int, list[tuple[float, float]]] = {}
    for i, e in enumerate(graph.edges):
        s, t = owner.get(e.source, e.source), owner.get(e.target, e.target)
        if s == t:  # inside one package
            middles[i] = inside(s, (e.source, e.target))
            continue
        middles[i] = list(main.routes[(s, t)][1:-1])
        if s != e.source:
            middles[i] = inside(s, (e.source, f"\x03{i}")) + middles[i]
        if t != e.target:
            middles[i] += inside(t, (f"\x02{i}", e.target))
    # ports: edges leave (enter) a box spread along its bottom (top), ordered by where they go
    starts: dict[int, tuple[float, float]] = {}
    ends: dict[int, tuple[float, float]] = {}
    for nid in graph.nodes:
        (cx, cy), (w, h) = final.centres[nid], sizes[nid]
        for side, mine, far, out in ((1, "source", "target", starts), (-1, "target", "source", ends)):
            idx = [i for i, e in enumerate(graph.edges) if getattr(e, mine) == nid]
            first = 0 if side == 1 else -1
            idx.sort(key=lambda i: (middles[i][first] if middles[i] else final.centres[getattr(graph.edges[i], far)])[0])
            span = min(w * 0.6, 22.0 * (len(idx) - 1))
            for k, i in enumerate(idx):
                px = cx - span / 2 + (span * k / (len(idx) - 1) if len(idx) > 1 else span / 2)
                out[i] = (px, cy + side * h / 2)
    for i, e in enumerate(graph.edges):
        final.routes[i] = [starts[i], *middles[i], ends[i]]
    return final, sizes, boxes


def _edge_path(points: list[tuple[float, float]]) -> MplPath:
    """Vertical S-curves between layers, straight lines through dummy points."""
    verts, codes = [points[0]], [MplPath.MOVETO]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if abs(x0 - x1) < 3.0:
            verts.append((x1, y1))
            codes.append(MplPath.LINETO)
        else:
            ym = (y0 + y1) / 2
            verts += [(x0, ym), (x1, ym), (x1, y1)]
            codes += [MplPath.CURVE4] * 3
    return MplPath(verts, codes)


def _on_segment(p0: tuple[float, float], p1: tuple[float, float], t: float) -> tuple[float, float]:
    """The point at ``t`` of the S-curve from p0 to p1 (as drawn by :func:`_edge_path`)."""
    (x0, y0), (x1, y1) = p0, p1
    a, b = 1 - t, t
    return (a ** 3 * x0 + 3 * a * a * b * x0 + 3 * a * b * b * x1 + b ** 3 * x1, y0 + (y1 - y0) * t if abs(x0 - x1) < 3.0
            else a ** 3 * y0 + 3 * a * b * (y0 + y1) / 2 + b ** 3 * y1)


def _label_spot(points: list[tuple[float, float]], size: tuple[float, float],
                taken: list[tuple[float, float, float, float]]) -> tuple[float, float]:
    """A point on the edge (near its target first) where a label of ``size`` overlaps nothing taken."""
    w, h = size
    segments = list(zip(points, points[1:]))
    candidates = [_on_segment(*seg, t) for seg in (segments[-1], segments[0]) for t in (0.5, 0.3, 0.7, 0.15, 0.85)]
    for cx, cy in candidates:
        box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        if all(box[2] <= r[0] or box[0] >= r[2] or box[3] <= r[1] or box[1] >= r[3] for r in taken):
            taken.append(box)
            return cx, cy
    taken.append((candidates[0][0] - w / 2, candidates[0][1] - h / 2, candidates[0][0] + w / 2, candidates[0][1] + h / 2))
    return candidates[0]


def render_graph(graph: ModelGraph, path: str | Path, dpi: int = 150, picture_format: str | None = None) -> Path:
    """Draw ``graph`` to ``path`` (.png or .svg) and return the path."""
    path = Path(path)
    layout, sizes, boxes = compute_layout(graph)
    heads = [(style, text) for style, text in (("title", graph.title), ("legend", LEGEND)) if text]
    title_h = sum(STYLES[style][0] * 1.5 for style, _ in heads) + 8
    content = max([layout.width] + [text_width(text, style) for style, text in heads])
    width, height = content + 2 * MARGIN, layout.height + 2 * MARGIN + title_h
    fig = Figure(figsize=(width / 72, height / 72), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    ox, oy = MARGIN + (content - layout.width) / 2, MARGIN + title_h
    y = MARGIN
    for style, text in heads:
        size, weight, family, colour = STYLES[style]
        ax.text(MARGIN, y, text, fontsize=size, fontweight=weight, family=family, color=colour, va="top", ha="left")
        y += size * 1.5
    for name, (x0, y0, w, h) in boxes.items():
        ax.add_patch(FancyBboxPatch((x0 + ox, y0 + oy), w, h, boxstyle="round,pad=0,rounding_size=10",
                                    facecolor="#f6f0fc", edgecolor="#8a5bb8", linewidth=1.2, linestyle="--", zorder=0))
        ax.text(x0 + ox + CLUSTER_PAD, y0 + oy + 6, f"package: {name}", fontsize=10, fontweight="bold",
                color="#6a3d9a", va="top", ha="left", zorder=2.5,
                bbox={"boxstyle": "square,pad=0.1", "facecolor": "#f6f0fc", "edgecolor": "none"})
    taken = []  # boxes of nodes and placed labels
    for nid in graph.nodes:
        (cx, cy), (w, h) = layout.centres[nid], sizes[nid]
        taken.append((cx - w / 2 + ox, cy - h / 2 + oy, cx + w / 2 + ox, cy + h / 2 + oy))
    for i, edge in enumerate(graph.edges):
        points = [(px + ox, py + oy) for px, py in layout.routes[i]]
        mpath = _edge_path(points)
        colour = "#9a9a9a" if edge.ignored else "#8a5bb8" if edge.kind in ("package", "package_input") else "#444444"
        ax.add_patch(FancyArrowPatch(path=mpath, arrowstyle="-|>,head_length=7,head_width=3.5", color=colour,
                                     linewidth=1.8 if edge.kind == "package" else 1.2,
                                     linestyle="--" if edge.ignored or edge.kind == "package_input" else "-",
                                     zorder=2))
        if edge.label:
            mid = _label_spot(points, (text_width(edge.label, "label") + 8, STYLES["label"][0] * 1.4 + 4), taken)
            ax.text(mid[0], mid[1], edge.label, fontsize=8.5, ha="center", va="center", color=colour, zorder=5,
                    family="DejaVu Sans Mono",
                    bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": colour, "linewidth": 0.6})
    for nid, node in graph.nodes.items():
        cx, cy = layout.centres[nid]
        w, h = sizes[nid]
        x0, y0 = cx - w / 2 + ox, cy - h / 2 + oy
        fill, line = COLOURS.get(node.kind, COLOURS["block"])
        ax.add_patch(FancyBboxPatch((x0, y0), w, h, boxstyle="round,pad=0,rounding_size=7", facecolor=fill,
                                    edgecolor=HIGHLIGHT if node.is_output else line,
                                    linewidth=2.8 if node.is_output else 1.2, zorder=3))
        y = y0 + PAD_Y
        for style, text in node_lines(node):
            size, weight, family, colour = STYLES[style]
            ax.text(cx + ox, y + size * 0.15, text, fontsize=size, fontweight=weight, family=family, color=colour,
                    ha="center", va="top", zorder=4)
            y += size * 1.35
    path.parent.mkdir(parents=True, exist_ok=True)
    kind = (picture_format or path.suffix.lower().lstrip(".")).lower()
    # the creator mark lets plot_model recognise its own pictures; no date: reproducible SVG files
    metadata = {"Date": None, "Creator": PICTURE_MARK} if kind == "svg" else {"Software": PICTURE_MARK}
    fig.savefig(path, dpi=dpi, facecolor="white", metadata=metadata, format=kind)
    return path
