"""The embedding view: selection helpers on a tiny real run, the figure, and the panel in Chromium.

Unit tests use a fresh TinyCNN ``conv2`` run (tests/tiny_runs.py) and a Mapper graph built on
it by the real engine. Browser tests (dash_duo, --headless) mount the panel in a page with the
shared stores it reads and writes, plus two buttons that write ``ids.SELECTION`` and
``ids.NODE`` exactly as the graph panel does, so they do not depend on the other panels.
"""
from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
from dash.testing.wait import until
from tiny_runs import tiny_conv2_run

from app_fixtures import fresh_run_dir, small_run  # noqa: F401 - fixtures
from topoact.app import ids
from topoact.app.panels import embedding as panel
from topoact.app.selection import (class_groups, grid_page, label_mix, make_selection,
                                   rows_from_points, selection_rows)
from topoact.app.validate import BadInput
from topoact.figures.embedding import embedding_figure, mix_figure, trace_selection
from topoact.store import open_run

LAYER = "conv2"


# -- unit tests on a tiny run ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(run, graph dict) of a fresh tiny run with one real Mapper graph of conv2."""
    from topoact.mapper import MapperConfig, run_graphs

    run = open_run(tiny_conv2_run(tmp_path_factory, 160))
    config = MapperConfig(lens="l2", cover="uniform", n_intervals=5, overlap=0.3, clusterer="dbscan", eps="auto",
                          metric="euclidean", min_samples=3)
    return run, run_graphs.build_run_graph(run, LAYER, config, default=True).to_dict()


def test_label_mix_counts_the_selected_labels_most_frequent_first(tiny):
    run, _ = tiny
    rows = np.arange(0, run.n, 3)
    mix = label_mix(run.labels, rows)
    expected = {}
    for row in rows:
        expected[int(run.labels[row])] = expected.get(int(run.labels[row]), 0) + 1
    assert mix == expected and sum(mix.values()) == len(rows)
    counts = list(mix.values())
    assert counts == sorted(counts, reverse=True)
    assert label_mix(run.labels, np.zeros(0, int)) == {}


def nodes_containing(graph, rows) -> list[int]:
    """Brute-force oracle: ids of the nodes holding at least one of ``rows``."""
    chosen = set(np.asarray(rows).tolist())
    return [int(n["id"]) for n in graph["nodes"] if chosen & set(n["members"])]


def test_grid_page_clamps_and_counts_pages():
    rows = np.arange(95)
    page, number, pages = grid_page(rows, 2, 40)
    assert (number, pages) == (2, 3) and page.tolist() == list(range(80, 95))
    assert grid_page(rows, 7, 40)[1] == 2 and grid_page(rows, -3, 40)[1] == 0
    assert grid_page(np.zeros(0, int), 0, 40)[2] == 1
    with pytest.raises(ValueError, match="page size must be positive"):
        grid_page(rows, 0, 0)


def test_selection_store_round_trip_and_bad_rows(tiny):
    run, _ = tiny
    store = make_selection(LAYER, [5, 3, 3, 9], "embedding")
    assert store == {"layer": LAYER, "rows": [3, 5, 9], "source": "embedding", "nodes": None}
    assert json.loads(json.dumps(store)) == store
    assert selection_rows(store, LAYER, run.n).tolist() == [3, 5, 9]
    assert selection_rows(store, "conv1", run.n) is None  # another layer's selection
    assert selection_rows(None, LAYER, run.n) is None
    with pytest.raises(BadInput, match=f"row {run.n} is outside this run's images 0–{run.n - 1}"):
        selection_rows({"layer": LAYER, "rows": [1, run.n]}, LAYER, run.n)
    with pytest.raises(BadInput, match="whole numbers"):
        selection_rows({"layer": LAYER, "rows": [1.5]}, LAYER, run.n)
    with pytest.raises(ValueError, match="selection source must be one of"):
        make_selection(LAYER, [1], "lasso")


def test_scatter_points_map_back_to_rows_and_highlights_to_points(tiny):
    run, _ = tiny
    groups = class_groups(run.labels)
    assert sorted(np.concatenate([g for _, g in groups]).tolist()) == list(range(run.n))
    assert all(np.all(run.labels[g] == label) for label, g in groups)
    picked = {"0": [0, 2], "1": [1]}
    rows = rows_from_points(groups, picked)
    assert rows.tolist() == sorted([groups[0][1][0], groups[0][1][2], groups[1][1][1]])
    # the highlight of those rows selects exactly those points again
    points = trace_selection(groups, rows)
    assert points[0] == [0, 2] and points[1] == [1] and all(p == [] for p in points[2:])
    assert trace_selection(groups, None) == [None] * len(groups)
    with pytest.raises(BadInput, match="not in trace 0"):
        rows_from_points(groups, {"0": [len(groups[0][1])]})


def _decode(spec: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(spec["bdata"]), dtype=spec["dtype"])


def test_embedding_figure_sends_typed_arrays_in_class_colours(tiny):
    from topoact.figures.graph import class_color
    from topoact.mapper.embedding import layer_embedding

    run, _ = tiny
    coords = layer_embedding(run, LAYER, "pca")
    groups = class_groups(run.labels)
    fig = embedding_figure(coords, groups, run.label_names, selected=np.array([0, 1, 2]))
    assert len(fig["data"]) == len(groups)
    for trace, (label, rows) in zip(fig["data"], groups):
        assert trace["type"] == "scattergl" and trace["name"] == run.label_names[label]
        assert trace["marker"]["color"] == class_color(label)
        assert _decode(trace["customdata"]).tolist() == rows.tolist()
        np.testing.assert_allclose(_decode(trace["x"]), coords[rows, 0], atol=1e-4 * np.ptp(coords))
        assert "%{customdata}" in trace["hovertemplate"] and "text" not in trace
    chosen = [int(_decode(t["customdata"])[i]) for t in fig["data"] for i in t["selectedpoints"]]
    assert sorted(chosen) == [0, 1, 2]
    assert len(json.dumps(fig)) < 40 * run.n + 5000  # compact: no per-point strings
    with pytest.raises(ValueError, match=r"must be \(N, 2\)"):
        embedding_figure(coords[:, :1], groups, run.label_names)
    mix = mix_figure({2: 3, 0: 1}, run.label_names)
    assert [t["x"][0] for t in mix["data"]] == [0.75, 0.25]


def test_members_data_gives_the_clicked_nodes_member_points(tiny):
    from topoact.app.context import AppContext
    from topoact.mapper.embedding import layer_embedding

    run, _ = tiny
    ctx = AppContext(run)
    coords = layer_embedding(run, LAYER, "pca")
    key = ctx.default_key(LAYER)
    node = ctx.graph(LAYER, key)["nodes"][0]
    data = panel.members_data(ctx, coords, {"layer": LAYER, "graph_key": key, "node": int(node["id"])}, LAYER)
    rows = _decode(data["rows"])
    assert rows.tolist() == sorted(set(node["members"])) and data["node"] == [key, int(node["id"])]
    np.testing.assert_allclose(_decode(data["x"]), coords[rows, 0], atol=1e-4 * np.ptp(coords))
    np.testing.assert_allclose(_decode(data["y"]), coords[rows, 1], atol=1e-4 * np.ptp(coords))
    assert panel.members_data(ctx, coords, None, LAYER) is None
    other = {"layer": "elsewhere", "graph_key": key, "node": 0}
    assert panel.members_data(ctx, coords, other, LAYER) is None  # a node of another layer rings nothing
    assert panel.members_data(ctx, coords, {"layer": LAYER, "graph_key": key, "node": 10**6}, LAYER) is None


def test_highlight_patch_touches_only_selectedpoints(tiny):
    run, _ = tiny
    groups = class_groups(run.labels)
    ops = panel.highlight_patch(groups, np.array([0, 1])).to_plotly_json()["operations"]
    assert {tuple(op["location"][-1:]) for op in ops} == {("selectedpoints",)}
    assert len(ops) == len(groups)
    assert not [op for op in ops if "selections" in op["location"]]  # a node click keeps a lasso outline
    cleared = panel.highlight_patch(groups, None, clear_outline=True).to_plotly_json()["operations"]
    assert {"selections"} <= {op["location"][-1] for op in cleared}


# -- browser tests --------------------------------------------------------------------------------
GRAPH_SELECT = "test-graph-select"
NODE_CLICK = "test-node-click"
DUMP = "test-selection-dump"


def panel_app(run_dir):
    """A page with the shared stores, the embedding panel and two buttons playing the graph panel."""
    import dash
    from dash import Input, Output, dcc, html

    from topoact.app.background import make_manager
    from topoact.app.context import AppContext
    from topoact.app.routes import register_routes

    run = open_run(run_dir)
    ctx = AppContext(run)
    key = ctx.default_key(LAYER)
    app = dash.Dash(__name__, background_callback_manager=make_manager())
    app.layout = html.Div([
        dcc.Store(id=ids.LAYER, data=LAYER), dcc.Store(id=ids.NODE, data=None),
        dcc.Store(id=ids.SELECTION, data=None),
        html.Button("graph selection", id=GRAPH_SELECT), html.Button("node click", id=NODE_CLICK),
        html.Pre(id=DUMP),
        html.Div(panel.layout(ctx), style={"width": "560px"}),
    ])
    register_routes(app.server, run)
    panel.register(app, ctx)

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True), Input(GRAPH_SELECT, "n_clicks"),
                  prevent_initial_call=True)
    def graph_selection(_):
        return make_selection(LAYER, graph_rows(run), "graph", nodes=[0])

    @app.callback(Output(ids.NODE, "data"), Input(NODE_CLICK, "n_clicks"), prevent_initial_call=True)
    def node_click(_):
        return {"layer": LAYER, "graph_key": key, "node": int(ctx.graph(LAYER, key)["nodes"][0]["id"])}

    @app.callback(Output(DUMP, "children"), Input(ids.SELECTION, "data"))
    def dump(selection):
        return json.dumps(selection)

    app.topoact_context = ctx
    return app


def graph_rows(run) -> list[int]:
    return list(range(0, run.n, 4))


SCATTER_GD = f"document.querySelector('#{panel.SCATTER} .js-plotly-plot')"


def _highlighted(dash_duo) -> list[int] | None:
    """Rows drawn selected in the scatter (None: nothing highlighted)."""
    return dash_duo.driver.execute_script(f"""
        const gd = {SCATTER_GD};
        if (!gd || !gd._fullData || !gd._fullData.length) return 'none';
        let rows = [], any = false;
        for (const t of gd._fullData) {{
            if (t.selectedpoints === undefined || t.selectedpoints === null) continue;
            any = true;
            const custom = t.customdata;
            for (const i of t.selectedpoints) rows.push(Number(custom[i]));
        }}
        return any ? rows.sort((a, b) => a - b) : null;""")


def _ringed(dash_duo) -> list[int] | None:
    """Rows of the clicked node's members drawn on the canvas over the scatter (None: none drawn)."""
    rows = dash_duo.driver.execute_script(
        f"const c = {SCATTER_GD} && {SCATTER_GD}.querySelector('canvas.{panel.MEMBERS_CANVAS}');"
        "return c && c.topoactRows ? c.topoactRows : null;")
    return sorted(rows) if rows is not None else None


def _selection(dash_duo):
    text = dash_duo.find_element(f"#{DUMP}").text
    return json.loads(text) if text else None


def _wait_for_scatter(dash_duo, n: int):
    until(lambda: dash_duo.driver.execute_script(
        f"const gd = {SCATTER_GD}; return gd && gd._fullData ? gd._fullData.reduce((s, t) => s + t._length, 0) : 0")
        == n, 20, msg="the scatter's points")


def _open(dash_duo, app):
    """Serve ``app`` in Chromium and wait for the scatter; the app's run."""
    dash_duo.start_server(app)
    _wait_for_scatter(dash_duo, app.topoact_context.run.n)
    return app.topoact_context.run


def _drag_box(dash_duo, start: tuple[float, float], size: tuple[float, float], graph_id: str = panel.SCATTER) -> None:
    """Drag a box with the mouse in a plot (box tool): corner at ``start`` from the plot's centre
    and ``size``, both as fractions of the plot area, moved in two steps as a hand does."""
    from selenium.webdriver.common.action_chains import ActionChains

    dash_duo.driver.execute_script(
        f"Plotly.relayout(document.querySelector('#{graph_id} .js-plotly-plot'), {{dragmode: 'select'}})")
    area = dash_duo.find_element(f"#{graph_id} .nsewdrag")
    w, h = area.size["width"], area.size["height"]
    ActionChains(dash_duo.driver).move_to_element(area).move_by_offset(int(w * start[0]), int(h * start[1])) \
        .click_and_hold().move_by_offset(int(w * size[0] / 3), int(h * size[1] / 3)) \
        .move_by_offset(int(w * size[0] * 2 / 3), int(h * size[1] * 2 / 3)).release().perform()


@pytest.mark.browser
def test_box_selection_fills_the_grid_and_graph_selections_and_nodes_highlight(dash_duo, fresh_run_dir):
    from topoact.mapper.embedding import layer_embedding

    app = panel_app(fresh_run_dir)
    run = _open(dash_duo, app)
    dash_duo.wait_for_contains_text(f"#{panel.STATUS}", f"PCA of layer {LAYER}", timeout=10)
    # the pointer on a point shows its class and row (one template per trace, no per-point strings)
    from selenium.webdriver.common.action_chains import ActionChains

    label, members = class_groups(run.labels)[0]
    px, py = dash_duo.driver.execute_script(
        f"const gd = {SCATTER_GD}, t = gd._fullData[0], fl = gd._fullLayout;"
        "return [fl.xaxis.d2p(t.x[arguments[0]]), fl.yaxis.d2p(t.y[arguments[0]])];", len(members) // 2)
    area = dash_duo.find_element(f"#{panel.SCATTER} .nsewdrag")
    ActionChains(dash_duo.driver).move_to_element(area).move_by_offset(
        int(px - area.size["width"] / 2), int(py - area.size["height"] / 2)).pause(0.3).move_by_offset(1, 0).perform()
    hover = f"{run.label_names[label]}image row {members[len(members) // 2]}"
    until(lambda: dash_duo.driver.execute_script(
        "const h = document.querySelector('.hoverlayer'); return h && h.textContent") == hover, 10, msg=hover)

    # drag a box over the middle of the plot area, as a user does with the box tool
    _drag_box(dash_duo, (-0.35, -0.35), (0.6, 0.65))
    until(lambda: _selection(dash_duo) is not None, 10, msg="SELECTION written by the box")
    selection = _selection(dash_duo)
    assert selection["source"] == "embedding" and selection["layer"] == LAYER and selection["nodes"] is None
    # exactly the points inside the box plotly drew (its range in data coordinates)
    box = dash_duo.driver.execute_script(f"return {SCATTER_GD}.layout.selections[0]")
    coords = layer_embedding(run, LAYER, "pca").astype(np.float32)
    x0, x1 = sorted([box["x0"], box["x1"]])
    y0, y1 = sorted([box["y0"], box["y1"]])
    inside = np.flatnonzero((coords[:, 0] >= x0) & (coords[:, 0] <= x1) & (coords[:, 1] >= y0) & (coords[:, 1] <= y1))
    rows = selection["rows"]
    assert 0 < len(rows) < run.n
    assert len(set(rows) ^ set(inside.tolist())) <= 2, "rows differ from the points inside the box"  # edge points

    # the summary: count, label mix in class colours, and the grid (paged)
    dash_duo.wait_for_contains_text(f"#{panel.SUMMARY}", f"{len(rows):,} images selected in the embedding")
    shown = min(len(rows), panel.GRID_PAGE)
    until(lambda: len(dash_duo.find_elements(f"#{panel.GRID} img")) == shown, 10, msg="the grid's images")
    srcs = [img.get_attribute("src") for img in dash_duo.find_elements(f"#{panel.GRID} img")]
    assert all(re.search(r"/topoact/thumb/\d+\.jpg$", src) for src in srcs), srcs[:3]  # the app's thumbnails
    assert [int(s.rsplit("/", 1)[1].split(".")[0]) for s in srcs] == rows[:shown]
    until(lambda: dash_duo.driver.execute_script(
        f"const imgs = document.querySelectorAll('#{panel.GRID} img');"
        "return Array.from(imgs).every(i => i.complete && i.naturalWidth > 0);"), 15, msg="thumbnails to load")
    mix = dash_duo.driver.execute_script(
        f"return document.querySelector('#{panel.MIX} .js-plotly-plot').data.map(t => [t.name, t.customdata[0]])")
    expected = label_mix(run.labels, np.asarray(rows))
    assert mix == [[run.label_names[k], v] for k, v in expected.items()]
    if len(rows) > panel.GRID_PAGE:
        dash_duo.find_element(f"#{panel.NEXT}").click()
        dash_duo.wait_for_contains_text(f"#{panel.PAGE_TEXT}", "page 2 of")
        until(lambda: len(dash_duo.find_elements(f"#{panel.GRID} img"))
              == min(len(rows) - panel.GRID_PAGE, panel.GRID_PAGE), 10, msg="page 2")

    # a selection made in the graph then replaces it: its rows highlighted (others faded), the box
    # outline gone, and plotly's resulting "empty selection" event does not wipe the graph's selection;
    # a patch: the traces keep the coordinate arrays they were drawn with (a new figure brings new ones)
    dash_duo.driver.execute_script(f"window.__x = {SCATTER_GD}.data[0].x;")
    dash_duo.find_element(f"#{GRAPH_SELECT}").click()
    until(lambda: _highlighted(dash_duo) == graph_rows(run), 10, msg="the graph's rows highlighted")
    until(lambda: not dash_duo.driver.execute_script(f"return {SCATTER_GD}.layout.selections || []"), 10,
          msg="the box outline removed")
    dash_duo.wait_for_contains_text(f"#{panel.SUMMARY}", f"{len(graph_rows(run))} images selected in the graph")
    assert _selection(dash_duo)["source"] == "graph"
    assert dash_duo.driver.execute_script(f"return {SCATTER_GD}._fullData[0].unselected.marker.opacity") < 0.2
    assert dash_duo.driver.execute_script(f"return {SCATTER_GD}.data[0].x === window.__x"), "the scatter was redrawn"

    # a clicked node rings its members on the canvas over the plot (coordinates from the server: the
    # browser holds no member lists); the scatter itself is not touched, the graph's selection stays
    dash_duo.driver.execute_script(f"window.__fig = {SCATTER_GD}._fullData[0];")
    dash_duo.find_element(f"#{NODE_CLICK}").click()
    members = sorted(app.topoact_context.graph(LAYER, None)["nodes"][0]["members"])
    until(lambda: _ringed(dash_duo) == members, 10, msg="the node's members ringed")
    assert dash_duo.driver.execute_script(f"return {SCATTER_GD}._fullData[0] === window.__fig"), "scatter redrawn"
    assert _highlighted(dash_duo) == graph_rows(run)
    assert _selection(dash_duo)["source"] == "graph"  # the click does not change the selection
    # the rings sit on the members' points: dark pixels on the canvas at a member's position
    assert dash_duo.driver.execute_script(f"""
        const gd = {SCATTER_GD}, canvas = gd.querySelector('canvas.{panel.MEMBERS_CANVAS}');
        const m = gd.topoactMembers, fl = gd._fullLayout, ratio = window.devicePixelRatio || 1;
        const px = fl.xaxis._offset + fl.xaxis.c2p(m.x[0]), py = fl.yaxis._offset + fl.yaxis.c2p(m.y[0]);
        const r = gd._fullData[0].marker.size / 2 + 1.5;
        const pixel = canvas.getContext('2d').getImageData(Math.round((px + r) * ratio), Math.round(py * ratio), 1, 1);
        return pixel.data[3] > 0;""")

    # clear: the store, the summary and the scatter's highlight go
    dash_duo.find_element(f"#{panel.CLEAR}").click()
    until(lambda: _selection(dash_duo) is None, 10, msg="the cleared selection")
    dash_duo.wait_for_contains_text(f"#{panel.SUMMARY}", "No selection")
    until(lambda: _highlighted(dash_duo) is None, 10, msg="no highlight after clear")
    assert dash_duo.find_elements(f"#{panel.GRID} img") == []
    assert _ringed(dash_duo) == members  # the node is still the clicked one


@pytest.mark.browser
def test_umap_of_an_uncached_layer_runs_in_the_background_and_pca_is_shown_meanwhile(dash_duo, fresh_run_dir):
    from topoact.mapper.embedding import cached_embedding

    app = panel_app(fresh_run_dir)
    assert cached_embedding(app.topoact_context.run, LAYER, "umap") is None
    run = _open(dash_duo, app)
    dash_duo.find_element(f"#{panel.METHOD} input[value='umap']").click()
    dash_duo.wait_for_contains_text(f"#{panel.STATUS}", "UMAP is being computed (showing PCA meanwhile)", timeout=10)
    dash_duo.wait_for_contains_text(f"#{panel.PROGRESS_TEXT}", f"UMAP of {LAYER}", timeout=20)
    cancel = dash_duo.find_element(f"#{panel.CANCEL}")
    until(cancel.is_enabled, 10, msg="cancel enabled while the job runs")
    assert run.n == dash_duo.driver.execute_script(
        f"return {SCATTER_GD}._fullData.reduce((s, t) => s + t._length, 0)")  # the PCA scatter stays
    cancel.click()
    dash_duo.wait_for_contains_text(f"#{panel.STATUS}", "cancelled", timeout=10)
    until(lambda: not dash_duo.find_element(f"#{panel.CANCEL}").is_enabled(), 10, msg="the job stopped")
    assert cached_embedding(run, LAYER, "umap") is None


@pytest.mark.browser
def test_in_the_app_the_scatter_sits_between_graph_and_node_and_a_box_selects(dash_duo, fresh_run_dir):
    """The whole app (create_app): the middle column draws every image; a box selection fills the grid."""
    from topoact.app import create_app

    app = create_app(fresh_run_dir)
    run = _open(dash_duo, app)
    left = {name: dash_duo.driver.execute_script(f"return document.getElementById('{name}').getBoundingClientRect().left")
            for name in (ids.GRAPH, panel.SCATTER, ids.NODE_TITLE)}
    assert left[ids.GRAPH] < left[panel.SCATTER] < left[ids.NODE_TITLE]
    _drag_box(dash_duo, (-0.45, -0.45), (0.9, 0.9))
    dash_duo.wait_for_contains_text(f"#{panel.SUMMARY}", "images selected in the embedding", timeout=15)
    count = int(dash_duo.find_element(f"#{panel.SUMMARY}").text.split(" images")[0].replace(",", ""))
    assert 0 < count <= run.n
    until(lambda: len(dash_duo.find_elements(f"#{panel.GRID} img")) == min(count, panel.GRID_PAGE), 10,
          msg="the grid's images")

    # linked: the graph fades every node that holds none of the selected images
    from topoact.figures.graph import NODE_TRACE

    ctx = app.topoact_context
    graph = ctx.graph(LAYER, None)
    graph_gd = f"document.querySelector('#{ids.GRAPH} .js-plotly-plot')"

    def node_ids(points: str) -> list[int] | None:
        """Node ids of some points (a JS expression of the trace ``t``) of the graph's node trace."""
        return dash_duo.driver.execute_script(f"""
            const t = {graph_gd}._fullData[{NODE_TRACE}], points = {points};
            if (!points) return null;
            return Array.from(points).map(i => {{ const c = t.customdata[i];
                                                return Array.isArray(c) ? c[0] : c; }}).sort((a, b) => a - b);""")

    def graph_highlight():
        return node_ids("t.selectedpoints")

    scatter_rows = _highlighted(dash_duo)  # plotly's own record of the box selection
    assert len(scatter_rows) == count
    drawn = set(node_ids("Array.from({length: t._length}, (_, i) => i)"))  # tiny components may be folded
    expected_nodes = sorted(set(nodes_containing(graph, np.asarray(scatter_rows))) & drawn)
    assert expected_nodes, "the box selected images of no drawn node"
    until(lambda: graph_highlight() == expected_nodes, 10,
          msg=lambda: f"the graph's nodes holding the selected images: {graph_highlight()} != {expected_nodes}")

    # and back: a box over the whole graph selects every drawn node; the scatter highlights their members
    _drag_box(dash_duo, (-0.49, -0.49), (0.98, 0.98), graph_id=ids.GRAPH)
    members = sorted(set().union(*(n["members"] for n in graph["nodes"] if int(n["id"]) in drawn)))
    until(lambda: _highlighted(dash_duo) == members, 15,
          msg=lambda: f"the graph's selection highlighted in the scatter: {len(_highlighted(dash_duo) or [])} "
                      f"rows, expected {len(members)}")
    dash_duo.wait_for_contains_text(f"#{panel.SUMMARY}", f"{len(members):,} images selected in the graph")
