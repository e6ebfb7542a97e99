"""The Mapper graph view: stored layout, glyph of small components, exact picking, patches,
linked selection, edge slider, thumbnails (unit tests, then real headless Chromium via dash_duo).
"""
from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from dash.testing.wait import until

from page_ready import wait_for_page_settled
from app_fixtures import GRAPH_LAYER, N_IMAGES, fresh_run_dir, small_run, small_run_dir  # noqa: F401 - fixtures

from topoact.app import create_app, ids
from topoact.app.panels.graph import EDGE_HISTOGRAM
from topoact.figures.graph import GLYPH_ID, GLYPH_TRACE, NODE_TRACE


@pytest.fixture(scope="module")
def app(small_run_dir):
    return create_app(small_run_dir)


@pytest.fixture(scope="module")
def ctx(app):
    return app.topoact_context


def _selection(ctx) -> dict:
    return {"layer": GRAPH_LAYER, "key": ctx.default_key(GRAPH_LAYER)}


# -- unit -----------------------------------------------------------------------------------------
def test_the_view_draws_the_graphs_stored_layout_and_folds_tiny_components(ctx):
    from topoact.app.panels.graph import build_figure

    sel = _selection(ctx)
    stored = ctx.run.graph(GRAPH_LAYER, sel["key"]).layout     # the library's layout in the file
    graph = ctx.graph(GRAPH_LAYER, sel["key"])
    summary = stored.summary
    assert summary and summary["nodes"], "the fixture graph has a small component to fold"
    for expanded in (False, True):
        fig, text = build_figure(ctx, sel, "majority", None, 0.0, None, None, expanded=expanded)
        trace = fig.data[NODE_TRACE]
        drawn = [c[0] for c in trace.customdata]
        folded = set(summary["nodes"])
        assert set(drawn) == {n["id"] for n in graph["nodes"]} - (set() if expanded else folded)
        position = {n["id"]: k for k, n in enumerate(graph["nodes"])}
        for node_id, x, y in zip(drawn, trace.x, trace.y):
            assert (x, y) == tuple(stored.positions[position[node_id]])
        glyph = fig.data[GLYPH_TRACE]
        assert list(glyph.customdata) == [[GLYPH_ID]]
        n_comp = summary["n_components"]
        assert glyph.text[0] == ("fold " if expanded else "+") + f"{n_comp} small component" + \
            ("s" if n_comp > 1 else "") + f" ({len(folded)} nodes)"
        assert ("shown" if expanded else "folded") in text


def test_recolouring_is_a_patch_of_the_colours_equal_to_a_full_redraw(ctx):
    from topoact.app.panels.graph import build_figure, color_patch

    sel = _selection(ctx)
    for color_by in ("purity", "size", "majority"):
        full, _ = build_figure(ctx, sel, color_by, None, 0.0, None, None)
        ops = color_patch(ctx, sel, color_by).to_plotly_json()["operations"]
        assigned = {tuple(op["location"]): op["params"]["value"] for op in ops}
        # only marker colour properties and the legend switch: no positions, sizes or edges
        assert all(loc[:3] == ("data", 1, "marker") or loc == ("layout", "showlegend") for loc in assigned)
        assert assigned[("data", 1, "marker", "color")] == list(full.data[1].marker.color)
        assert assigned[("layout", "showlegend")] == (color_by == "majority") == bool(full.layout.showlegend)
        if color_by != "majority":
            assert assigned[("data", 1, "marker", "cmin")] == full.data[1].marker.cmin


def test_selection_helpers_map_nodes_to_rows_and_rows_to_nodes(ctx):
    from topoact.app.panels.graph import selected_points, shown_order

    sel = _selection(ctx)
    graph = ctx.graph(GRAPH_LAYER, sel["key"])
    a, b = graph["nodes"][0], graph["nodes"][-1]
    rows = ctx.node_rows(GRAPH_LAYER, sel["key"], [a["id"], b["id"], 10_000])  # unknown ids ignored
    assert rows.tolist() == sorted(set(a["members"]) | set(b["members"]))
    one = [int(a["members"][0])]
    holding = [n["id"] for n in graph["nodes"] if one[0] in n["members"]]
    assert ctx.nodes_with_rows(GRAPH_LAYER, sel["key"], one + [-1, N_IMAGES + 5]) == holding
    _, order = shown_order(ctx, sel, True)
    points = selected_points(ctx, sel, {"layer": GRAPH_LAYER, "rows": one, "source": "embedding"}, True)
    assert sorted(graph["nodes"][order[i]]["id"] for i in points) == sorted(holding)
    assert selected_points(ctx, sel, None) is None
    assert selected_points(ctx, sel, {"layer": "other", "rows": one}) is None


def test_edge_slider_spans_the_graphs_weights_with_quantile_marks_and_histogram(ctx):
    from topoact.figures.graph import weight_histogram, weight_marks

    weights = ctx.edge_weights(GRAPH_LAYER, ctx.default_key(GRAPH_LAYER))
    assert weights.size > 3
    low, high, step, marks = weight_marks(weights)
    assert low <= weights.min() < low + 0.01 and high - 0.01 < weights.max() <= high
    assert step == pytest.approx((high - low) / 100, abs=1e-5)
    assert min(marks) == pytest.approx(weights.min(), abs=1e-3) and max(marks) <= high
    assert all(low <= v <= high for v in marks)
    threshold = float(np.median(weights))
    hist = weight_histogram(weights, threshold)
    bars = hist["data"][0]
    assert sum(bars["y"]) == weights.size
    assert f"{int((weights >= threshold).sum())} of {weights.size} edges drawn" in hist["layout"]["annotations"][0]["text"]
    assert "#c8c8c8" in bars["marker"]["color"] and "#1f77b4" in bars["marker"]["color"]
    assert weight_marks(np.array([]))[:2] == (0.0, 1.0)
    # crowded quantiles: the ends are marked, no two marks closer than MARK_GAP of the range
    from topoact.figures.graph import MARK_GAP

    low, high, _, marks = weight_marks(np.r_[np.full(90, 0.05), np.linspace(0.05, 0.9, 10)])
    values = sorted(marks)
    assert values[0] == pytest.approx(0.05) and values[-1] == pytest.approx(0.9)
    assert all(b - a >= MARK_GAP * (high - low) - 1e-9 for a, b in zip(values, values[1:])), marks


def test_thumbnail_route_serves_small_cached_jpegs_of_indexed_rows_only(app, ctx):
    from PIL import Image

    client = app.server.test_client()
    response = client.get("/topoact/thumb/7.jpg")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert "max-age" in response.headers["Cache-Control"]
    image = Image.open(io.BytesIO(response.data))
    assert image.format == "JPEG" and max(image.size) <= 96
    source = np.asarray(ctx.run.image(7).convert("RGB").resize(image.size), dtype=float)
    assert np.abs(np.asarray(image.convert("RGB"), dtype=float) - source).mean() < 20  # the same picture
    assert client.get("/topoact/thumb/7.jpg", headers={"If-None-Match": response.headers["ETag"]}).status_code == 304
    for url in (f"/topoact/thumb/{N_IMAGES}.jpg", "/topoact/thumb/-1.jpg", "/topoact/thumb/../meta.json",
                "/topoact/thumb/abc.jpg", "/topoact/thumb/7"):
        assert client.get(url).status_code == 404, url


# -- browser --------------------------------------------------------------------------------------
pytest.importorskip("selenium")

FIGURE_JS = "const gd = document.querySelector('#%s .js-plotly-plot');" % ids.GRAPH


def _drawn(dash_duo) -> dict | None:
    """The node trace and glyph of the figure in the page (ids, x, y, colours)."""
    return dash_duo.driver.execute_script(FIGURE_JS + """
        if (!gd || !gd.data || gd.data.length < 4) return null;
        const t = gd.data[%d], g = gd.data[%d];
        return {ids: t.customdata.map(c => c[0]), x: Array.from(t.x), y: Array.from(t.y),
                color: Array.from(t.marker.color), glyph: Array.from(g.x || []).length ? [g.x[0], g.y[0]] : null,
                selected: t.selectedpoints === undefined ? null : t.selectedpoints};""" % (NODE_TRACE, GLYPH_TRACE))


def _pixel(dash_duo, x: float, y: float) -> tuple[float, float]:
    """Viewport position (CSS pixels) of data point (x, y) of the graph, from plotly's own axes."""
    return dash_duo.driver.execute_script(FIGURE_JS + """
        const [x, y] = [arguments[0], arguments[1]];
        const fl = gd._fullLayout, r = gd.getBoundingClientRect();
        return [r.left + fl.xaxis._offset + fl.xaxis.d2p(x), r.top + fl.yaxis._offset + fl.yaxis.d2p(y)];""",
        x, y)


def _pointer(dash_duo):
    """A W3C action chain whose pointer moves to viewport coordinates."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    plot = dash_duo.find_element(f"#{ids.GRAPH} .js-plotly-plot")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", plot)
    return ActionBuilder(dash_duo.driver)


def _click_at(dash_duo, x: float, y: float) -> None:
    actions = _pointer(dash_duo)
    px, py = _pixel(dash_duo, x, y)
    # plotly picks the clicked point from the hover state: hover first, then click
    actions.pointer_action.move_to_location(int(round(px)), int(round(py))).pause(0.3).click()
    actions.perform()


def _probe(app) -> None:
    """Mirror ids.SELECTION into a page element the test can read."""
    from dash import Input, Output, html

    app.layout.children.append(html.Pre(id="probe-selection"))
    app.clientside_callback("function(s) { return JSON.stringify(s); }", Output("probe-selection", "children"),
                            Input(ids.SELECTION, "data"))


#: what overlaps in the drawn page: node markers under the glyph's label, edge-slider marks and the
#: histogram's "edges drawn" line over each other, that line over the bars (CSS pixel boxes and disks)
OVERLAPS_JS = FIGURE_JS + """
    const box = e => e.getBoundingClientRect();
    const meet = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
    const fl = gd._fullLayout, r = box(gd), t = gd._fullData[%d];
    const at = (v, i) => (Array.isArray(v) || ArrayBuffer.isView(v)) ? v[i] : v;
    const labels = Array.from(gd.querySelectorAll('.scatterlayer .textpoint text')).map(box);
    const under = [];
    for (const b of labels) for (let i = 0; i < t._length; i++) {
        const cx = r.left + fl.xaxis._offset + fl.xaxis.c2p(at(t.x, i));
        const cy = r.top + fl.yaxis._offset + fl.yaxis.c2p(at(t.y, i));
        const dx = cx - Math.max(b.left, Math.min(cx, b.right)), dy = cy - Math.max(b.top, Math.min(cy, b.bottom));
        if (Math.hypot(dx, dy) < at(t.marker.size, i) / 2) under.push(t.customdata[i][0]);
    }
    const marks = Array.from(document.querySelectorAll('#%s .dash-slider-mark')).map(e => [e.textContent, box(e)]);
    const note = document.querySelector('#%s .annotation');
    if (note) marks.push([note.textContent, box(note)]);
    const crowded = [];
    marks.forEach(([a, ra], i) => marks.slice(i + 1).forEach(([b, rb]) => { if (meet(ra, rb)) crowded.push([a, b]); }));
    const bars = Array.from(document.querySelectorAll('#%s .bars path')).map(box).filter(b => b.width && b.height);
    return {labels: labels.length, under: under, marks: marks.length, crowded: crowded,
            note_over_bars: !!note && bars.some(b => meet(box(note), b))};
""" % (NODE_TRACE, ids.EDGE_SLIDER, EDGE_HISTOGRAM, EDGE_HISTOGRAM)


def _wait_drawn(dash_duo):
    dash_duo.driver.set_window_size(1400, 1000)
    until(lambda: _drawn(dash_duo), 30, msg="the graph to be drawn")
    return _drawn(dash_duo)


def test_recolouring_keeps_every_node_in_place_and_the_glyph_unfolds_and_folds(dash_duo, small_run_dir):
    app = create_app(small_run_dir)
    dash_duo.start_server(app)
    ctx = app.topoact_context
    before = _wait_drawn(dash_duo)
    graph = ctx.graph(GRAPH_LAYER, None)
    summary = ctx.layout(GRAPH_LAYER, ctx.default_key(GRAPH_LAYER))[1]
    assert len(before["ids"]) == len(graph["nodes"]) - len(summary["nodes"])  # small components folded
    # the glyph's label lies on no node; the edge slider's marks and its histogram's note overlap nothing
    # (a narrow window: the slider is shortest)
    dash_duo.driver.set_window_size(1100, 800)
    until(lambda: dash_duo.driver.execute_script(OVERLAPS_JS)["marks"] >= 3, 10, msg="the slider's marks")
    overlaps = dash_duo.driver.execute_script(OVERLAPS_JS)
    assert overlaps["labels"] == 1 and overlaps["under"] == [] and overlaps["crowded"] == [], overlaps
    assert not overlaps["note_over_bars"], overlaps
    before = _wait_drawn(dash_duo)
    dash_duo.select_dcc_dropdown(f"#{ids.COLOR_DROPDOWN}", value="purity")
    until(lambda: all(isinstance(c, (int, float)) for c in _drawn(dash_duo)["color"]), 10, msg="purity colours")
    after = _drawn(dash_duo)
    assert (after["ids"], after["x"], after["y"]) == (before["ids"], before["x"], before["y"])
    purity = {n["id"]: n["purity"] for n in graph["nodes"]}
    assert after["color"] == pytest.approx([purity[i] for i in after["ids"]])

    # the glyph: a click draws the small components (where the stored layout puts them), a second folds them
    _click_at(dash_duo, *before["glyph"])
    until(lambda: len(_drawn(dash_duo)["ids"]) == len(graph["nodes"]), 10, msg="the small components drawn")
    opened = _drawn(dash_duo)
    positions = ctx.positions(GRAPH_LAYER, ctx.default_key(GRAPH_LAYER))
    index = {n["id"]: k for k, n in enumerate(graph["nodes"])}
    assert [[x, y] for x, y in zip(opened["x"], opened["y"])] == [positions[index[i]].tolist() for i in opened["ids"]]
    assert all(isinstance(c, (int, float)) for c in opened["color"])  # still coloured by purity
    dash_duo.wait_for_contains_text(f"#{ids.NODE_COUNT}", "shown", timeout=5)
    overlaps = dash_duo.driver.execute_script(OVERLAPS_JS)  # unfolded: "fold ..." is clear of every node too
    assert overlaps["labels"] == 1 and overlaps["under"] == [], overlaps
    _click_at(dash_duo, *opened["glyph"])
    until(lambda: len(_drawn(dash_duo)["ids"]) == len(before["ids"]), 10, msg="the small components folded")


def test_picking_is_exact_with_overlapping_markers_at_any_zoom(dash_duo, fresh_run_dir):
    """Four nodes moved into one overlapping heap: a click at each node's centre opens that node."""
    from topoact.store import open_run

    run = open_run(fresh_run_dir)
    graph = run.graph(GRAPH_LAYER)
    sizes = graph.sizes
    folded = set(graph.layout.summary["nodes"]) if graph.layout.summary else set()
    heap = [int(i) for i in np.argsort(-sizes) if int(i) not in folded][:4]  # the largest markers
    anchor = graph.layout.positions[heap[0]].copy()
    for k, node in enumerate(heap[1:], start=1):   # 0.15 layout units apart: a few pixels, markers overlap
        graph.layout.positions[node] = anchor + 0.15 * np.array([np.cos(2 * k), np.sin(2 * k)])
    run.save_graph(GRAPH_LAYER, graph, graph.key)
    app = create_app(fresh_run_dir)
    dash_duo.start_server(app)
    drawn = _wait_drawn(dash_duo)
    ids_ = [graph.to_dict()["nodes"][k]["id"] for k in heap]
    where = {i: (x, y) for i, x, y in zip(drawn["ids"], drawn["x"], drawn["y"])}
    # the markers really overlap: every two of them are closer (in pixels) than the sum of their radii
    size = dict(zip(drawn["ids"], dash_duo.driver.execute_script(FIGURE_JS + "return gd.data[1].marker.size;")))
    for a in ids_:
        for b in ids_:
            if a != b:
                pa, pb = np.array(_pixel(dash_duo, *where[a])), np.array(_pixel(dash_duo, *where[b]))
                assert np.linalg.norm(pa - pb) < (size[a] + size[b]) / 2, "the markers do not overlap"

    def check_all():
        for node in ids_ + ids_[::-1]:
            # what a click picks, not how soon after the last one (a click while the previous
            # click's callbacks run can be lost: see the issue 15 note)
            wait_for_page_settled(dash_duo)
            _click_at(dash_duo, *where[node])
            until(lambda: re.match(rf"Node {node} ", dash_duo.find_element(f"#{ids.NODE_TITLE}").text), 10,
                  msg=f"node {node} opened by a click on its centre "
                      f"(shows {dash_duo.find_element(f'#{ids.NODE_TITLE}').text!r})")

    check_all()
    # zoomed in 6x around the heap: still the node under the pointer
    dash_duo.driver.execute_script(FIGURE_JS + """
        const [x, y] = arguments; const fl = gd._fullLayout;
        const w = (fl.xaxis.range[1] - fl.xaxis.range[0]) / 12, h = (fl.yaxis.range[1] - fl.yaxis.range[0]) / 12;
        return Plotly.relayout(gd, {'xaxis.range': [x - w, x + w], 'yaxis.range': [y - h, y + h]});""",
        *[float(v) for v in anchor])
    check_all()


def test_box_selection_in_the_graph_writes_the_members_and_an_embedding_selection_fades_nodes(dash_duo,
                                                                                            small_run_dir):
    from dash import Input, Output, html

    app = create_app(small_run_dir)
    _probe(app)
    ctx = app.topoact_context
    graph = ctx.graph(GRAPH_LAYER, None)
    one_row = int(graph["nodes"][0]["members"][0])
    # stands in for the embedding view: a button that writes an embedding selection of one image
    app.layout.children.append(html.Button("pick", id="probe-pick"))
    app.callback(Output(ids.SELECTION, "data", allow_duplicate=True), Input("probe-pick", "n_clicks"),
                 prevent_initial_call=True)(
        lambda _: {"layer": GRAPH_LAYER, "rows": [one_row], "source": "embedding", "nodes": None})
    dash_duo.start_server(app)
    drawn = _wait_drawn(dash_duo)
    # a box around the left half of the drawn nodes (in the modebar's box-select mode)
    xs = sorted(drawn["x"])
    cut = (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2
    inside = [i for i, x in zip(drawn["ids"], drawn["x"]) if x < cut]
    dash_duo.driver.execute_script(FIGURE_JS + "return Plotly.relayout(gd, {dragmode: 'select'});")
    actions = _pointer(dash_duo)
    lo = _pixel(dash_duo, min(drawn["x"]), max(drawn["y"]))
    hi = _pixel(dash_duo, cut, min(drawn["y"]))
    pointer = actions.pointer_action
    pointer.move_to_location(int(lo[0]) - 20, int(lo[1]) - 20).pointer_down().pause(0.1)
    pointer.move_to_location(int(lo[0]) - 10, int(lo[1]) - 10).pause(0.1)
    pointer.move_to_location(int(hi[0]), int(hi[1]) + 20).pause(0.1).pointer_up()
    actions.perform()

    def written():
        text = dash_duo.find_element("#probe-selection").text
        value = json.loads(text) if text else None
        return value if value and value.get("source") == "graph" else None

    until(written, 10, msg="SELECTION written by the graph")
    chosen = written()
    assert chosen["layer"] == GRAPH_LAYER and sorted(chosen["nodes"]) == sorted(inside)
    members = sorted({int(r) for n in graph["nodes"] if n["id"] in inside for r in n["members"]})
    assert chosen["rows"] == members

    # a selection made in the embedding view fades the nodes holding none of its images
    dash_duo.find_element("#probe-pick").click()
    holding = {n["id"] for n in graph["nodes"] if one_row in n["members"]}
    until(lambda: _drawn(dash_duo)["selected"] is not None and
          {_drawn(dash_duo)["ids"][i] for i in _drawn(dash_duo)["selected"]} == holding & set(drawn["ids"]), 10,
          msg="the nodes holding the selected image highlighted")


def test_hover_shows_the_top_exemplar_and_label_mix(dash_duo, small_run_dir):
    app = create_app(small_run_dir)
    dash_duo.start_server(app)
    ctx = app.topoact_context
    drawn = _wait_drawn(dash_duo)
    node = drawn["ids"][-1]  # drawn last: on top
    actions = _pointer(dash_duo)
    px, py = _pixel(dash_duo, drawn["x"][-1], drawn["y"][-1])
    actions.pointer_action.move_to_location(int(round(px)), int(round(py)))
    actions.perform()
    key = ctx.default_key(GRAPH_LAYER)
    top = int(ctx.exemplar_rows(GRAPH_LAYER, key, node)[0])
    until(lambda: dash_duo.find_elements(f"img[src$='/topoact/thumb/{top}.jpg']"), 10, msg="the hover card")
    card = dash_duo.find_element(".dcc-tooltip-bounding-box").text
    n = ctx.node(GRAPH_LAYER, key, node)
    assert f"node {node} · {n['size']} images" in card
    best = max(n["label_counts"].items(), key=lambda kv: kv[1])
    assert f"{ctx.run.label_names[int(best[0])]}: {best[1]}" in card


def test_webgl_graph_draws_its_edges_and_the_clicked_nodes_ring_on_canvases(dash_duo, small_run_dir):
    """A WebGL graph's edges are drawn by the page on a canvas under the nodes (plotly does not draw
    the hidden edge trace) and the clicked node's ring on one over them; both follow a zoom."""
    import dash
    from dash import Input, Output, State, dcc, html

    from topoact.app.context import AppContext
    from topoact.app.panels.graph import DRAWN, EDGE_CANVAS, RING, RING_CANVAS, RING_JS, build_figure
    from topoact.store import open_run

    ctx = AppContext(open_run(small_run_dir))
    sel = _selection(ctx)
    fig, _ = build_figure(ctx, sel, "majority", None, 0.0, None, None, height=500, hover="none", edge_canvas=True,
                          webgl=True)  # as a large graph is drawn
    node = int(fig.data[NODE_TRACE].customdata[3][0])
    app = dash.Dash(__name__)
    app.layout = html.Div([
        dcc.Store(id=ids.NODE, data=None), dcc.Store(id=DRAWN, data={"layer": sel["layer"], "key": sel["key"]}),
        dcc.Store(id=RING), dcc.Input(id=ids.TABS, value="main"), html.Button("click", id="test-click"),
        dcc.Graph(id=ids.GRAPH, figure=fig, style={"width": "600px", "height": "500px"}),
    ])
    app.clientside_callback(RING_JS, Output(RING, "data"), Input(ids.NODE, "data"), Input(DRAWN, "data"),
                            Input(ids.TABS, "value"), State(ids.GRAPH, "id"))

    @app.callback(Output(ids.NODE, "data"), Input("test-click", "n_clicks"), prevent_initial_call=True)
    def click(_):
        return {"layer": sel["layer"], "graph_key": sel["key"], "node": node}

    dash_duo.start_server(app)
    canvas = f"document.querySelector('#{ids.GRAPH} canvas.{{}}')"
    n_edges = sum(x is None for x in fig.data[0].x)

    def drawn(name: str, prop: str):
        return dash_duo.driver.execute_script(f"const c = {canvas.format(name)}; return c ? c.{prop} : null")

    until(lambda: drawn(EDGE_CANVAS, "topoactEdges") == n_edges > 0, 20, msg="the edges on the canvas")
    # under the WebGL layer, which plotly drew without the (hidden) edge trace
    assert dash_duo.driver.execute_script(
        f"const c = {canvas.format(EDGE_CANVAS)}; return c.nextElementSibling.classList.contains('gl-container')")
    assert dash_duo.driver.execute_script(
        f"return document.querySelector('#{ids.GRAPH} .js-plotly-plot')._fullData[0].visible") is False
    dash_duo.find_element("#test-click").click()
    until(lambda: drawn(RING_CANVAS, "topoactNode") == node, 10, msg="the ring on the clicked node")
    # the ring canvas lies exactly over the plot (it once sat at the page's top-left corner)
    assert dash_duo.driver.execute_script(f"""
        const a = {canvas.format(RING_CANVAS)}.getBoundingClientRect();
        const b = document.querySelector('#{ids.GRAPH} .js-plotly-plot').getBoundingClientRect();
        return [a.left, a.top, a.width, a.height].map(Math.round).join() ===
               [b.left, b.top, b.width, b.height].map(Math.round).join();""")

    # a zoom redraws both, with the marker under the ring in its new place
    def ring_pixel() -> list[int]:
        """The RGBA of the ring canvas at the ringed marker's edge, in the plot's current axes."""
        return dash_duo.driver.execute_script(f"""
            const gd = document.querySelector('#{ids.GRAPH} .js-plotly-plot'), t = gd._fullData[{NODE_TRACE}];
            const i = t.customdata.findIndex(c => c[0] === {node}), xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
            const c = {canvas.format(RING_CANVAS)}, r = window.devicePixelRatio || 1;
            const x = xa._offset + xa.c2p(t.x[i]) + t.marker.size[i] / 2 + 1.5, y = ya._offset + ya.c2p(t.y[i]);
            return Array.from(c.getContext('2d').getImageData(Math.round(x * r), Math.round(y * r), 1, 1).data);""")

    until(lambda: ring_pixel()[3] > 0, 5, msg="the ring drawn at the marker")
    dash_duo.driver.execute_script(f"""
        const gd = document.querySelector('#{ids.GRAPH} .js-plotly-plot'), xa = gd._fullLayout.xaxis;
        Plotly.relayout(gd, {{'xaxis.range': [xa.range[0] - 0.3 * (xa.range[1] - xa.range[0]), xa.range[1]]}});""")
    until(lambda: ring_pixel()[3] > 0, 5, msg="the ring follows the zoom")
    assert drawn(EDGE_CANVAS, "topoactEdges") == n_edges
