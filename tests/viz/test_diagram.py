"""Model pictures: graph description, Mermaid text, PNG/SVG drawing, summary() and validate --plot."""

from __future__ import annotations

import itertools
import logging
import re
import struct
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import recblocks.layers  # noqa: F401  (registers components)
from recblocks.viz import describe_graph, format_table, plot_model, to_mermaid
from recblocks.cli.main import cli
from recblocks.features.schema import Schema
from recblocks.models.config import parse_model_config
from recblocks.models.rank_model import RankModel
from recblocks.runs.config_file import load_config_file
from recblocks.runs import plan_rows

ROOT = Path(__file__).resolve().parents[2]
DEEPFM = ROOT / "configs" / "ml100k_ctr" / "deepfm.yaml"

SCHEMA = Schema([{"name": f, "kind": "sparse", "embedding_dim": 4} for f in ("user_id", "movie_id", "gender")]
                + [{"name": "x1", "kind": "dense"}, {"name": "x2", "kind": "dense"}])
VOCAB = {"user_id": 10, "movie_id": 10, "gender": 3}
GROUPS = [{"group_name": "user", "feature_names": ["user_id", "gender"]},
          {"group_name": "item", "feature_names": ["movie_id"]},
          {"group_name": "dense", "feature_names": ["x1", "x2"]}]
PACKAGE_BACKBONE = """
packages:
  - name: tower
    blocks:
      - {name: item, inputs: [{feature_group_name: item}], input_layer: {dropout_rate: 0.5}}
      - {name: mix, inputs: [{block_name: item}, {use_package_input: true}, {block_name: base}]}
      - {name: enc, inputs: [{block_name: mix}], component: {class_name: MLP, params: {hidden_units: [4], use_bn: false}}}
blocks:
  - {name: base, inputs: [{feature_group_name: dense}]}
  - {name: u, inputs: [{feature_group_name: user}], input_layer: {only_output_feature_list: true}}
  - {name: u0, inputs: [{block_name: u, input_slice: '[0]'}, {block_name: base, ignore_input: true}]}
  - {name: a, inputs: [{package_name: tower, package_input: u0}]}
  - {name: b, inputs: [{package_name: tower, package_input: u0, package_input_fn: 'lambda x: x * 2', reset_input: {}}]}
  - {name: c, inputs: [{block_name: a}, {block_name: b}, {block_name: u, input_slice: '[1]'}],
     component: {class_name: MLP, params: {hidden_units: [8, 2]}}}
output_blocks: [a, c]
"""


@pytest.fixture(scope="module")
def deepfm() -> RankModel:
    model, _, _ = plan_rows(load_config_file(DEEPFM), fit_data=False)
    return model


@pytest.fixture(scope="module")
def packaged() -> RankModel:
    config = {"feature_groups": GROUPS, "backbone": yaml.safe_load(PACKAGE_BACKBONE),
              "tasks": [{"name": "t1", "type": "binary", "label": "y1"}, {"name": "t2", "type": "binary", "label": "y2"}]}
    return RankModel(SCHEMA, parse_model_config(config), VOCAB)


def _params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_deepfm_graph_has_groups_blocks_output_and_task(deepfm):
    graph = describe_graph(deepfm)
    assert list(graph.nodes) == ["group:wide", "group:all", "wide_logit", "features", "fm", "deep", "add", "@output",
                                 "task:ctr"]
    assert graph.nodes["group:all"].features == ["user_id", "movie_id", "gender", "age", "occupation", "zip3",
                                                 "release_year", "genres"]
    assert graph.nodes["group:wide"].body == "feature group (WIDE)"
    features, fm, deep = graph.nodes["features"], graph.nodes["fm"], graph.nodes["deep"]
    assert (features.kind, features.shape) == ("input", "((B, 128), [(B, 16) x 8])")
    assert (fm.body, fm.shape, fm.params) == ("FM", "(B, 1)", 0)
    assert deep.body == "MLP [256, 128, 64, 1]" and deep.params == _params(deepfm.backbone.blocks["deep"]) > 0
    assert graph.edge("features", "fm").label == "[1]"
    assert graph.edge("features", "deep").label == "[0]"
    assert graph.edge("wide_logit", "add").label == "fn"
    assert graph.edge("group:all", "features") is not None
    assert sorted(e.source for e in graph.edges_into("add")) == ["deep", "fm", "wide_logit"]
    assert [n.id for n in graph.nodes.values() if n.is_output] == ["add"]
    assert graph.edge("add", "@output") and graph.edge("@output", "task:ctr")
    assert graph.nodes["task:ctr"].body == "binary task"  # width 1 already: no head
    assert graph.clusters == {}
    assert graph.title.startswith("DeepFM")


def test_bare_backbone_auto_input_and_top_mlp():
    config = {"feature_groups": GROUPS, "task": {"type": "binary", "label": "y"}, "backbone": yaml.safe_load("""
blocks:
  - {name: deep, inputs: [{feature_group_name: user}], component: {class_name: MLP, params: {hidden_units: [8]}}}
  - {name: skip, inputs: [{feature_group_name: user, input_fn: 'lambda x: x * 2'}]}
concat_blocks: [deep, skip]
top_mlp: {hidden_units: [4]}
""")}
    model = RankModel(SCHEMA, parse_model_config(config), VOCAB)
    graph = describe_graph(model.backbone)  # a Backbone alone: no tasks, features read from the input layer
    assert "user" not in graph.nodes  # the auto input step is drawn as its group
    group = graph.nodes["group:user"]
    assert (group.features, group.shape) == (["user_id", "gender"], "(B, 8)")
    assert graph.edge("group:user", "skip").label == "fn"
    top = graph.nodes["@top_mlp"]
    assert (top.body, top.shape, top.params) == ("MLP [4]", "(B, 4)", _params(model.backbone.top_mlp))
    assert graph.edge("@output", "@top_mlp") is not None
    assert not any(n.kind == "task" for n in graph.nodes.values())
    (task,) = [n for n in describe_graph(model).nodes.values() if n.kind == "task"]
    assert task.body == "binary task + Linear head" and task.params == 5 and task.shape == "(B, 1)"


def test_packages_become_clusters(packaged):
    graph = describe_graph(packaged)
    assert graph.clusters == {"tower": ["tower/item", "tower/mix", "tower/package_input", "tower/enc"]}
    assert graph.edge("tower/enc", "a").label == "call tower"
    assert graph.edge("tower/enc", "b").label == "call tower reset_input"
    assert graph.edge("tower/enc", "a").kind == "package"
    assert graph.edge("base", "tower/mix") is not None  # a package reading a main block
    assert graph.edge("group:item", "tower/item") is not None
    assert [e.label for e in graph.edges_into("tower/package_input")] == ["for a", "for b fn"]
    assert graph.edge("base", "u0").ignored and graph.edge("base", "u0").label == "(ignored)"
    assert {n.id for n in graph.nodes.values() if n.is_output} == {"a", "c"}
    assert graph.edge("a", "@output").label == "[0]" and graph.edge("c", "@output").label == "[1]"
    assert graph.edge("@output", "task:t2").label == "[1]"
    text = to_mermaid(packaged)
    assert re.search(r'subgraph pkg0\["package: tower"\]\n(        n\d+.*\n){4}    end\n', text), text


def test_mermaid_text(deepfm):
    text = to_mermaid(deepfm)
    lines = text.splitlines()
    assert lines[0].startswith("%% DeepFM") and lines[1] == "flowchart TD"
    ids = {}
    for line in lines[2:]:
        m = re.fullmatch(r'    (n\d+)[(\[]+"?<b>([^<]+)</b>.*', line)
        if m:
            ids[m.group(2)] = m.group(1)
    assert {"wide", "all", "features", "fm", "deep", "add", "output", "ctr"} <= set(ids)
    assert f'    {ids["features"]} -->|"[1]"| {ids["fm"]}' in lines
    assert f'    {ids["wide_logit"]} -->|"fn"| {ids["add"]}' in lines
    assert f"    class {ids['add']} output;" in lines
    edges = [line for line in lines if re.fullmatch(r"    n\d+ (-->|==>|-\.->)(\|\"[^\"]*\"\|)? n\d+", line)]
    assert len(edges) == len(describe_graph(deepfm).edges) == 9


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("which", ["deepfm", "packaged"])
def test_png_and_svg_are_drawn(which, request, tmp_path):
    pytest.importorskip("matplotlib")
    model = request.getfixturevalue(which)
    png = plot_model(model, tmp_path / "sub" / "model.png")
    assert png == tmp_path / "sub" / "model.png"
    data = png.read_bytes()
    width, height = _png_size(data)
    assert len(data) > 20_000 and width > 400 and height > 800
    svg = plot_model(model, tmp_path / "model.svg")
    text = svg.read_text()
    assert "<svg" in text[:1000] and len(text) > 20_000


@pytest.mark.parametrize("which", ["deepfm", "packaged"])
def test_layout_has_no_overlaps_and_clusters_hold_their_blocks(which, request):
    pytest.importorskip("matplotlib")
    from recblocks.viz.render import compute_layout

    graph = describe_graph(request.getfixturevalue(which))
    layout, sizes, boxes = compute_layout(graph)
    rects = {n: (x - sizes[n][0] / 2, y - sizes[n][1] / 2, x + sizes[n][0] / 2, y + sizes[n][1] / 2)
             for n, (x, y) in layout.centres.items()}

    def overlap(a, b) -> bool:
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

    for a, b in itertools.combinations(rects, 2):
        assert not overlap(rects[a], rects[b]), (a, b)
    for name, (x0, y0, w, h) in boxes.items():
        box = (x0, y0, x0 + w, y0 + h)
        for node, rect in rects.items():
            inside = box[0] <= rect[0] and rect[2] <= box[2] and box[1] <= rect[1] and rect[3] <= box[3]
            assert inside == (node in graph.clusters[name]) and (inside or not overlap(box, rect)), node
    for i, edge in enumerate(graph.edges):  # edges run downwards from the source's bottom to the target's top
        points = layout.routes[i]
        assert points[0][1] == pytest.approx(rects[edge.source][3]) and points[-1][1] == pytest.approx(rects[edge.target][1])
        assert all(p[1] <= q[1] + 1e-6 for p, q in zip(points, points[1:]))


def test_mermaid_file_and_fallback_without_matplotlib(deepfm, tmp_path, monkeypatch, caplog):
    mmd = plot_model(deepfm, tmp_path / "g.mmd")
    assert mmd.read_text().splitlines()[1] == "flowchart TD"
    monkeypatch.setitem(sys.modules, "recblocks.viz.render", None)  # import fails as without matplotlib
    with caplog.at_level(logging.WARNING):
        written = plot_model(deepfm, tmp_path / "g2.png")
    assert written == tmp_path / "g2.mmd" and "flowchart TD" in written.read_text()
    assert not (tmp_path / "g2.png").exists()
    assert "matplotlib is not installed" in caplog.text and "g2.mmd" in caplog.text


def test_summary_table_lists_blocks_shapes_and_params(deepfm):
    out = format_table(deepfm.summary_rows(), _params(deepfm))
    assert out.splitlines()[0].split() == ["block", "body", "inputs", "output", "params"]
    deep_line = next(line for line in out.splitlines() if line.startswith("deep "))
    assert "MLP" in deep_line and "(B, 1)" in deep_line and f"{_params(deepfm.backbone.blocks['deep']):,}" in deep_line
    assert f"total parameters: {_params(deepfm):,}" in out


@pytest.mark.parametrize("suffix", [".png", ".svg", ".mmd"])
def test_validate_plot_option(suffix, tmp_path):
    if suffix != ".mmd":
        pytest.importorskip("matplotlib")
    target = tmp_path / f"deepfm{suffix}"
    result = CliRunner().invoke(cli, ["validate", str(DEEPFM), "--no-data", "--plot", str(target)])
    assert result.exit_code == 0, result.output
    assert f"model graph written to {target}" in result.output
    assert target.stat().st_size > (100 if suffix == ".mmd" else 10_000)


def test_validate_plot_rejects_unknown_format(tmp_path):
    result = CliRunner().invoke(cli, ["validate", str(DEEPFM), "--no-data", "--plot", str(tmp_path / "g.jpg")])
    assert result.exit_code == 2
    assert "unsupported picture format" in result.output and ".png / .svg / .mmd" in result.output
