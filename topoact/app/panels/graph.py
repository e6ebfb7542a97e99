"""Graph panel: layer and graph choice, the interactive Mapper graph, Mapper parameters.

* Layer dropdown and saved-graph dropdown (every graph saved for the layer, labelled by its
  parameters; ``*`` marks the layer's default graph); a layer without any graph gets one
  computed with the default parameters in the background.
* The figure (:func:`topoact.figures.graph.graph_figure`) draws the graph's *stored* layout
  (``topoact.mapper.layout``, made once by the library and kept in the graph file): components
  packed by size, tiny components (singletons, pairs) folded into one summary glyph (under the
  graph, its label to its right clear of every node); a click on the glyph draws them (where the
  stored layout puts them), a second click folds them again. WebGL above
  1,000 nodes.
* The page opens on the first layer's default graph drawn into the layout (figure, key,
  dropdown, info line: :func:`initial_drawing`), so the first paint has it without the layer ->
  graph key -> figure callback chain; ``draw`` skips a figure identical to the one shown
  (:func:`drawn_state`), as at page load, where every store is written once, unchanged. The
  info line names the graph by its parameters (the key is only a ``data-graph-key`` attribute).
* A node click rings the node in black on a canvas laid over the plot, drawn in the browser
  (:data:`RING_JS`): no server round trip and no plotly redraw (a patch of the marker outlines
  made plotly redraw the whole graph, 0.14-0.23 s on 7,500 nodes, before the node panel could
  show the exemplars).
* What else changes often is sent as a ``dash.Patch`` of the drawn figure, never as a new
  figure: a colouring change replaces the marker colours (so node positions cannot move and
  5,000 positions and edges are not re-sent), a selection in the embedding view fades the
  nodes that hold none of its images (``selectedpoints``).
* Hover on a node: a card with its top exemplar (thumbnail route) and label mix (dcc.Tooltip).
* Box / lasso selection (modebar) writes ``ids.SELECTION`` = ``{"layer", "rows", "source":
  "graph", "nodes"}`` with the sorted union of the selected nodes' member rows.
* Colour by majority class / purity / mean lens / accuracy / size / mean L2 norm / any per-image
  attribute (cyclic colour scale for circular ones), class search (fade nodes without it),
  Jaccard edge-weight threshold (the slider spans this graph's weights, marks at quantiles, a
  small histogram beside it), a node-id box (select a node without clicking).
* The parameter form, the graph jobs and "Set as default" live in
  :mod:`topoact.app.panels.graph_form` (its layout is included here and its callbacks are
  registered by :func:`register`).
* Export the shown graph as JSON or as KeplerMapper's standalone HTML (dcc.Download).
"""
from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from dash import Input, Output, Patch, State, callback_context, dcc, html, no_update
from dash.exceptions import PreventUpdate

from topoact.app import ids
from topoact.app.overlay import OVERLAY_JS
from topoact.app.help import HELP, error_id as error_line, field, graph_name
from topoact.app.panels import graph_form
from topoact.app.panels.graph_form import graph_request, key_options
from topoact.fileio import safe_name
from topoact.figures.graph import (GLYPH_ID, GLYPH_TRACE, NODE_TRACE, SELECTED_RING, drawn_order, empty_figure,
                                   graph_figure, HISTOGRAM_PX, label_mix, node_colors, weight_histogram,
                                   weight_marks)

if TYPE_CHECKING:
    from dash import Dash

    from topoact.app.context import AppContext


logger = logging.getLogger(__name__)

TAB_LABEL = "Mapper graph"

#: {"layer", "key", "open": bool}: whether the shown graph's small-components glyph is unfolded
GLYPH_OPEN = "topoact-graph-glyph-open"
#: {"layer", "key", "open"}: what the figure in the page was drawn from (guards the patches)
DRAWN = "topoact-graph-drawn"
TOOLTIP = "topoact-graph-tooltip"
#: set once the page's exact-picking helper is installed (see ``register``)
PICKER = "topoact-graph-picker"
EDGE_HISTOGRAM = "topoact-graph-edge-histogram"
#: the output of ``RING_JS`` (a clientside callback needs one; it is never written: each store
#: update costs the Dash renderer a pass over every mounted component)
RING = "topoact-graph-ring"
#: class of the canvas laid over the graph's plot area (the clicked node's ring)
RING_CANVAS = "topoact-graph-ring-canvas"

#: class of the canvas under the graph's WebGL nodes (its edges)
EDGE_CANVAS = "topoact-graph-edge-canvas"

#: browser side of the canvases (:mod:`topoact.app.overlay`) laid on the graph:
#:
#: * the edges, under the nodes: the figure's edge trace is ``visible: false`` (``edge_canvas``)
#:   and its lines are drawn here after every plotly draw; ``canvas.topoactEdges`` is the number
#:   of lines drawn (tests);
#: * the clicked node's black ring, over them: ``gd.topoactRing`` is the node id when the drawn
#:   figure shows the node's graph (DRAWN); its marker is found by its ``customdata`` and ringed
#:   as sized; ``canvas.topoactNode`` is the node ringed (tests).
#:
#: The tab input installs them again on a graph that a tab switch remounted.
RING_JS = """function(node, drawn, _tab, graphId) {
    %(overlay)s
    const ring = (node && drawn && node.layer === drawn.layer && node.graph_key === drawn.key) ? node.node : null;
    // the edges depend on their trace and the axes only: a recolouring (a patch of the marker
    // colours) keeps the drawn lines (about 10,000 on a 5,000-node graph)
    const drawEdges = (c, gd, canvas) => {
        const t = gd.data && gd.data[0];
        canvas.topoactEdges = 0;
        if (!t || t.visible !== false || !t.x || !t.x.length) return;  // none, or plotly draws them
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        c.strokeStyle = (t.line && t.line.color) || '#999'; c.lineWidth = (t.line && t.line.width) || 1;
        c.beginPath();
        let n = 0;
        for (let i = 0; i + 1 < t.x.length; i += 3) {  // one edge: x0, x1, null
            if (t.x[i] === null || t.x[i + 1] === null) continue;
            c.moveTo(xa._offset + xa.c2p(t.x[i]), ya._offset + ya.c2p(t.y[i]));
            c.lineTo(xa._offset + xa.c2p(t.x[i + 1]), ya._offset + ya.c2p(t.y[i + 1]));
            if (++n %% 512 === 0) { c.stroke(); c.beginPath(); }  // small paths: see MEMBERS_JS
        }
        c.stroke();
        canvas.topoactEdges = n;
    };
    drawEdges.key = gd => {
        const t = gd.data && gd.data[0], xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        return [t, t && t.x, t && t.y, t && t.visible, xa.range[0], xa.range[1], ya.range[0], ya.range[1],
                xa._length, ya._length, xa._offset, ya._offset];
    };
    window.topoactWhenPlotted(graphId, gd => {
        const edges = window.topoactOverlay(gd, '%(edges)s', drawEdges, true);
        gd.topoactRing = ring;
        window.topoactOverlay(gd, '%(canvas)s', (c, gd, canvas) => {
            canvas.topoactNode = null;
            const t = gd._fullData && gd._fullData[%(trace)d], want = gd.topoactRing;
            if (want === null || want === undefined || !t || !t.customdata) return;
            const at = (v, i) => (Array.isArray(v) || ArrayBuffer.isView(v)) ? v[i] : v;
            for (let i = 0; i < t._length; i++) {
                const id = t.customdata[i];
                if ((Array.isArray(id) ? id[0] : id) !== want) continue;
                const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
                const px = xa._offset + xa.c2p(at(t.x, i)), py = ya._offset + ya.c2p(at(t.y, i));
                c.strokeStyle = '%(color)s'; c.lineWidth = %(width)s;
                c.beginPath(); c.arc(px, py, at(t.marker.size, i) / 2 + %(width)s / 2, 0, 2 * Math.PI); c.stroke();
                canvas.topoactNode = want;
                return;
            }
        })();
        edges();
    });
    return window.dash_clientside.no_update;  // drawn; a store write would cost a renderer pass
}""" % {"overlay": OVERLAY_JS, "edges": EDGE_CANVAS, "canvas": RING_CANVAS, "trace": NODE_TRACE,
         "color": SELECTED_RING[0], "width": SELECTED_RING[1]}

_row = {"display": "flex", "flexWrap": "wrap", "gap": "0.6em", "alignItems": "flex-start", "marginBottom": "0.3em"}


# -- layout ---------------------------------------------------------------------------------------
def initial_layer(ctx: AppContext) -> str | None:
    """The first layer with a saved graph (else the first layer): what the app opens on."""
    for layer in ctx.run.layers:
        if ctx.graph_keys(layer):
            return layer
    return ctx.run.layers[0] if ctx.run.layers else None


def initial_selection(ctx: AppContext) -> dict | None:
    """``{"layer", "key"}`` of the graph the page opens on (the first layer's default graph), or
    None when that layer has no graph yet (it is then computed in the background)."""
    layer = initial_layer(ctx)
    key = ctx.default_key(layer) if layer is not None else None
    return {"layer": layer, "key": key} if key is not None else None


def initial_drawing(ctx: AppContext, selection: dict | None) -> tuple[object, object, dict | None]:
    """``(figure, info line, DRAWN data)`` of the graph the page opens on, drawn in the layout
    exactly as ``draw`` would draw it at page load (majority colours, no class search, all
    edges, glyph folded, nothing selected), so the first paint has the graph without waiting for
    a chain of callbacks. No graph, or one that cannot be drawn: the "loading…" figure (the
    callbacks then draw it or say why not)."""
    if selection:
        try:
            fig, text = build_figure(ctx, selection, "majority", None, 0.0, None, None, height=None,
                                     hover="none", edge_canvas=True)
            return fig, info_line(text, selection), drawn_state(selection, False, None, 0.0, None, None)
        except Exception:  # noqa: BLE001 - the page must open; ``draw`` reports the problem
            logger.exception("cannot draw graph %s in the layout", selection)
    return empty_figure("loading…"), "", None


def layout(ctx: AppContext) -> html.Div:
    """The panel's components, with the opening graph drawn in (:func:`initial_drawing`); the
    slider range and the histogram are filled by callbacks."""
    run = ctx.run
    initial = initial_layer(ctx)
    opening = initial_selection(ctx)
    figure, info, drawn = initial_drawing(ctx, opening)
    class_opts = [{"label": name, "value": i} for i, name in enumerate(run.label_names)]
    slider = html.Div([
        # (no value tooltip: the slider's own number box shows the value; the tooltip covered the marks)
        dcc.Slider(id=ids.EDGE_SLIDER, min=0, max=1, step=0.01, value=0, marks={0: "0", 1: "1"}),
        dcc.Graph(id=EDGE_HISTOGRAM, figure=weight_histogram([]), config={"displayModeBar": False,
                                                                         "staticPlot": True},
                  style={"height": f"{HISTOGRAM_PX}px"}),
    ])
    # two compact rows, so the figure keeps most of a 1366 x 768 window
    controls = html.Div([
        html.Div([
            field("Layer", dcc.Dropdown(id=ids.LAYER_DROPDOWN, options=run.layers, value=initial,
                                        clearable=False), help=HELP["layer"], control_id=ids.LAYER_DROPDOWN,
                  width="9em"),
            html.Div(field("Graph", dcc.Dropdown(id=ids.KEY_DROPDOWN, options=key_options(ctx, initial) if opening
                                                 else [], value=opening["key"] if opening else None,
                                                 clearable=False),
                           help=HELP["graph"], control_id=ids.KEY_DROPDOWN, width="100%"),
                     style={"flex": "1 1 12em", "minWidth": "0"}),
            field("Colour by", dcc.Dropdown(id=ids.COLOR_DROPDOWN, options=ctx.color_options(), value="majority",
                                            clearable=False), help=HELP["colour"], control_id=ids.COLOR_DROPDOWN,
                  width="10em"),
        ], style=_row),
        html.Div([
            field("Search a class", dcc.Dropdown(id=ids.CLASS_DROPDOWN, options=class_opts, value=None,
                                                 placeholder="class…"), help=HELP["class"],
                  control_id=ids.CLASS_DROPDOWN, width="9em"),
            html.Div(field("Min edge weight (Jaccard)", slider, help=HELP["edge_weight"],
                           control_id=ids.EDGE_SLIDER, width="100%"), style={"flex": "1 1 12em", "minWidth": "0"}),
            field("Node id", dcc.Input(id=ids.NODE_INPUT, type="number", min=0, step=1, debounce=True,
                                       className="form-control form-control-sm", style={"width": "5.5em"}),
                  help=HELP["node_id"], control_id=ids.NODE_INPUT, width="6em"),
        ], style=_row),
    ])
    export = html.Div([
        html.Button("Export graph JSON", id=ids.EXPORT_JSON, n_clicks=0, className="btn btn-outline-secondary btn-sm"),
        html.Button("Export KeplerMapper HTML", id=ids.EXPORT_HTML, n_clicks=0,
                    className="btn btn-outline-secondary btn-sm", style={"marginLeft": "0.5em"}),
        dcc.Download(id=ids.EXPORT_DOWNLOAD),
    ], style={"marginTop": "0.3em"})
    return html.Div([
        controls,
        graph_form.layout(ctx, opening),
        html.Div([html.Span(info, id=ids.NODE_COUNT),
                  html.Button("Set as default", id=ids.DEFAULT_BUTTON, n_clicks=0,
                              title="open this graph first for this layer (saved in the run)",
                              className="btn btn-outline-primary btn-sm", style={"marginLeft": "1em"}),
                  html.Span(id=ids.DEFAULT_STATUS, style={"marginLeft": "0.5em", "color": "#666"})],
                 style={"fontSize": "0.85em", "color": "#333"}),
        dcc.Store(id=ids.MAPPER_REQUEST, data=None),
        dcc.Store(id=ids.MAPPER_RESULT, data=None),
        dcc.Store(id=GLYPH_OPEN, data=None),
        dcc.Store(id=DRAWN, data=drawn),
        dcc.Store(id=PICKER, data=None),
        dcc.Store(id=RING, data=None),
        dcc.Graph(id=ids.GRAPH, figure=figure, className="topoact-graph-figure",
                  config={"scrollZoom": True, "displaylogo": False, "responsive": True}),
        dcc.Tooltip(id=TOOLTIP, direction="right", style={"pointerEvents": "none"}),
        html.Div(id=ids.GRAPH_INFO, style={"fontSize": "0.8em", "color": "#666"}),
        export,
    ])


# -- figure ---------------------------------------------------------------------------------------
def is_open(glyph: dict | None, selection: dict) -> bool:
    """Whether the small-components glyph of the shown graph is unfolded."""
    return bool(glyph and glyph.get("open") and glyph.get("layer") == selection["layer"]
                and glyph.get("key") == selection["key"])


def build_figure(ctx: AppContext, selection: dict, color_by: str | None, highlight_class: int | None,
                 edge_threshold: float | None, node_store: dict | None, upload: dict | None,
                 height: int | None = 600, title: str | None = None, show_legend: bool = True,
                 cycle: dict | None = None, expanded: bool = False, hover: str = "text",
                 edge_canvas: bool = False, webgl: bool | None = None):
    """The figure and its caption for a ``{"layer", "key"}`` selection (shared with compare).

    ``edge_canvas`` and ``webgl`` are passed to :func:`topoact.figures.graph.graph_figure` (the
    graph panel draws a WebGL graph's edges on a canvas, ``RING_JS``).

    Returns
    -------
    (plotly.graph_objects.Figure, str)
        The caption names the graph by its parameters, never by its key.
    """
    layer, key = selection["layer"], selection["key"]
    graph = ctx.graph(layer, key)
    positions, summary = ctx.layout(layer, key)
    values = kind = period = None
    if color_by and color_by != "majority":
        values, kind, period = ctx.node_values(layer, key, color_by)
    selected, marked, uploaded = ringed_nodes(selection, node_store, upload, cycle)
    fig = graph_figure(graph, positions, color_by=color_by or "majority", values=values,
                       color_kind=kind or "linear", period=period, class_names=ctx.run.label_names,
                       highlight_class=highlight_class, edge_threshold=float(edge_threshold or 0.0),
                       selected_node=selected, marked_nodes=marked, upload_nodes=uploaded, summary=summary,
                       expanded=expanded, hover=hover, height=height, title=title, show_legend=show_legend,
                       edge_canvas=edge_canvas, webgl=webgl)
    weights = ctx.edge_weights(layer, key)
    n_shown = int((weights >= float(edge_threshold or 0)).sum())
    text = f"{len(graph['nodes'])} nodes · {len(weights)} edges ({n_shown} shown)"
    if summary and summary.get("nodes"):
        text += (f" · {summary.get('n_components', 0)} small components ({len(summary['nodes'])} nodes) "
                 + ("shown" if expanded else "folded into the square"))
    text += f" · {layer}: {graph_name(graph.get('params'))}"
    if highlight_class is not None:
        hit = sum(1 for n in graph["nodes"] if int(n.get("label_counts", {}).get(str(highlight_class), 0)) > 0)
        text += f" · {hit} nodes contain {ctx.run.label_names[highlight_class]}"
    return fig, text


def drawn_state(selection: dict, expanded: bool, highlight_class: int | None, edge_threshold: float | None,
                upload: dict | None, cycle: dict | None) -> dict:
    """``DRAWN`` data: the graph and every input a whole figure was drawn from (``draw`` does
    not redraw an identical figure: at page load every store is written once, unchanged)."""
    return {"layer": selection["layer"], "key": selection["key"], "open": bool(expanded),
            "view": [highlight_class, float(edge_threshold or 0.0), upload, cycle]}


def info_line(text: str, selection: dict) -> html.Span:
    """The info line under the controls: ``text`` shown; the graph's key kept out of sight in a
    ``data-graph-key`` attribute (for scripts and tests; the page shows names, never hashes)."""
    return html.Span(text, **{"data-graph-key": selection["key"]})


def ringed_nodes(selection: dict, node_store: dict | None, upload: dict | None,
                 cycle: dict | None) -> tuple[int | None, list[int], list[int]]:
    """``(selected node, cycle nodes, upload nodes)`` of the shown graph: the clicked node
    (black ring), the nodes of a persistence cycle (red rings) and of an uploaded image (stars)."""
    layer, key = selection["layer"], selection["key"]
    selected = None
    if node_store and node_store.get("layer") == layer and node_store.get("graph_key") == key:
        selected = node_store.get("node")
    uploaded: list[int] = []
    if upload and layer in (upload.get("layers") or {}):
        entry = upload["layers"][layer]
        if entry.get("graph_key") == key:
            uploaded = [int(n) for n in entry.get("nodes", [])]
    marked: list[int] = []
    if cycle and cycle.get("layer") == layer and cycle.get("graph_key") == key:
        marked = [int(n) for n in cycle.get("nodes", [])]  # nodes on a persistence cycle
    return selected, marked, uploaded


def shown_order(ctx: AppContext, selection: dict, expanded: bool):
    """Graph positions of the marker trace's points (:func:`topoact.figures.graph.drawn_order`)."""
    graph = ctx.graph(selection["layer"], selection["key"])
    return graph, drawn_order(graph, ctx.layout(selection["layer"], selection["key"])[1], expanded)


def color_patch(ctx: AppContext, selection: dict, color_by: str | None, expanded: bool = False) -> Patch:
    """A ``dash.Patch`` that recolours the drawn figure: the marker colour properties and the legend,
    nothing else (positions, sizes and edges stay as drawn)."""
    graph, order = shown_order(ctx, selection, expanded)
    color_by = color_by or "majority"
    values = kind = period = None
    if color_by != "majority":
        values, kind, period = ctx.node_values(selection["layer"], selection["key"], color_by)
    patch = Patch()
    for name, value in node_colors(graph, order, color_by, values, kind or "linear", period).items():
        patch["data"][NODE_TRACE]["marker"][name] = value
    patch["layout"]["showlegend"] = color_by == "majority"
    return patch


def selected_points(ctx: AppContext, selection: dict, chosen: dict | None, expanded: bool = False) -> list[int] | None:
    """Marker points of the nodes holding at least one image selected elsewhere (the embedding
    view), or None when there is no such selection on this layer."""
    if not chosen or chosen.get("layer") != selection["layer"] or chosen.get("rows") is None:
        return None
    graph, order = shown_order(ctx, selection, expanded)
    hit = set(ctx.nodes_with_rows(selection["layer"], selection["key"], chosen["rows"]))
    return [i for i, k in enumerate(order) if int(graph["nodes"][k]["id"]) in hit]


def selection_patch(ctx: AppContext, selection: dict, chosen: dict | None, expanded: bool = False) -> Patch:
    """A ``dash.Patch`` that fades the drawn nodes holding none of the selected images
    (``selectedpoints`` of the marker trace); no selection clears it."""
    patch = Patch()
    patch["data"][NODE_TRACE]["selectedpoints"] = selected_points(ctx, selection, chosen, expanded)
    patch["layout"]["selections"] = []  # a box / lasso drawn before would re-select its own nodes
    return patch


def hover_card(ctx: AppContext, selection: dict, node_id: int) -> list:
    """The hover card of a node: its top exemplar (thumbnail), size, purity and label mix."""
    from topoact.app.routes import thumb_url

    layer, key = selection["layer"], selection["key"]
    if node_id == GLYPH_ID:
        summary = ctx.layout(layer, key)[1] or {}
        return [html.Div(f"{summary.get('n_components', 0)} small components "
                         f"({len(summary.get('nodes', ()))} nodes)", style={"fontWeight": "bold"}),
                html.Div("click to show or fold them")]
    node = ctx.node(layer, key, node_id)
    rows = ctx.exemplar_rows(layer, key, node_id, 1)
    purity = node.get("purity")
    return [
        html.Img(src=thumb_url(int(rows[0])), style={"width": "64px", "height": "64px", "objectFit": "cover",
                                                      "imageRendering": "pixelated", "float": "left",
                                                      "marginRight": "6px"}) if len(rows) else None,
        html.Div(f"node {node_id} · {node['size']} images", style={"fontWeight": "bold"}),
        html.Div(f"purity {purity:.2f}" if isinstance(purity, (int, float)) else ""),
        html.Div(label_mix(node.get("label_counts", {}), ctx.run.label_names), style={"fontSize": "0.85em"}),
    ]


def _layer_key(selection: dict | None) -> tuple | None:
    return (selection["layer"], selection["key"]) if selection else None


# -- callbacks ------------------------------------------------------------------------------------
def register(app: Dash, ctx: AppContext) -> None:
    """The panel's callbacks (see the module docstring for the request / result flow)."""
    graph_form.register(app, ctx)

    @app.callback(
        Output(ids.LAYER, "data"),
        Output(ids.KEY_DROPDOWN, "options"),
        Output(ids.KEY_DROPDOWN, "value"),
        Output(ids.MAPPER_REQUEST, "data", allow_duplicate=True),
        Input(ids.LAYER_DROPDOWN, "value"),
        State(ids.GRAPH_KEY, "data"), State(ids.KEY_DROPDOWN, "options"),
        prevent_initial_call="initial_duplicate",
    )
    def choose_layer(layer, shown, shown_options):
        if layer is None:
            raise PreventUpdate
        default = ctx.default_key(layer)
        if shown and shown.get("layer") == layer and shown.get("key") == default:
            # page load: the layout already shows this layer's default graph (nothing to redraw);
            # graphs saved since the layout was built are listed
            options = key_options(ctx, layer)
            if options == shown_options:
                raise PreventUpdate
            return no_update, options, no_update, no_update
        if default is None:  # nothing saved yet: compute a graph with the default parameters
            from topoact.mapper import MapperConfig

            _, request = graph_request(ctx, [layer], MapperConfig(), layer)
            return layer, [], None, request
        return layer, key_options(ctx, layer), default, no_update

    @app.callback(
        Output(ids.GRAPH_KEY, "data"),
        Output(ids.NODE, "data", allow_duplicate=True),
        Input(ids.KEY_DROPDOWN, "value"),
        State(ids.LAYER, "data"),
        prevent_initial_call=True,
    )
    def choose_graph(key, layer):
        if key is None or layer is None or key not in ctx.graph_keys(layer):
            raise PreventUpdate
        return {"layer": layer, "key": key}, None

    @app.callback(Output(ids.CLASS, "data"), Input(ids.CLASS_DROPDOWN, "value"))
    def choose_class(label):
        return label

    @app.callback(
        Output(ids.EDGE_SLIDER, "min"), Output(ids.EDGE_SLIDER, "max"), Output(ids.EDGE_SLIDER, "step"),
        Output(ids.EDGE_SLIDER, "marks"), Output(ids.EDGE_SLIDER, "value"),
        Input(ids.GRAPH_KEY, "data"), State(ids.EDGE_SLIDER, "value"),
    )
    def slider_range(selection, value):
        """The slider spans the shown graph's weights (marks at quantiles); a threshold that would
        hide edges of the new graph is reset to show them all."""
        if not selection:
            raise PreventUpdate
        low, high, step, marks = weight_marks(ctx.edge_weights(selection["layer"], selection["key"]))
        return low, high, step, marks, (no_update if value is None or float(value) <= low else low)

    @app.callback(Output(EDGE_HISTOGRAM, "figure"), Input(ids.EDGE_SLIDER, "value"), Input(ids.GRAPH_KEY, "data"))
    def histogram(value, selection):
        if not selection:
            raise PreventUpdate
        return weight_histogram(ctx.edge_weights(selection["layer"], selection["key"]), float(value or 0.0))

    @app.callback(
        Output(ids.GRAPH, "figure"),
        Output(ids.NODE_COUNT, "children"),
        Output(DRAWN, "data"),
        Input(ids.GRAPH_KEY, "data"),
        Input(ids.CLASS, "data"),
        Input(ids.EDGE_SLIDER, "value"),
        Input(ids.UPLOAD, "data"),
        Input(ids.HIGHLIGHT, "data"),
        Input(GLYPH_OPEN, "data"),
        State(ids.COLOR_DROPDOWN, "value"),
        State(ids.SELECTION, "data"),
        State(DRAWN, "data"),
    )
    def draw(selection, highlight, threshold, upload, cycle, glyph, color_by, chosen, drawn):
        """The whole figure: a new graph, class search, edge threshold, upload, cycle, glyph (the
        clicked node's ring is not in the figure: ``RING_JS`` draws it over the plot)."""
        if selection and drawn == drawn_state(selection, is_open(glyph, selection), highlight, threshold, upload,
                                              cycle):
            raise PreventUpdate  # e.g. page load: the layout holds this very figure (``initial_drawing``)
        if not selection:
            return empty_figure("no graph selected (computing the layer's first graph…)"), "", None
        expanded = is_open(glyph, selection)
        try:
            fig, text = build_figure(ctx, selection, color_by, highlight, threshold, None, upload,
                                     height=None, cycle=cycle, expanded=expanded, hover="none", edge_canvas=True)
        except Exception as exc:  # noqa: BLE001 - show, don't crash the page
            logger.exception("cannot draw graph %s", selection)
            return empty_figure(f"cannot draw the graph: {exc}"), f"error: {exc}", None
        if chosen and chosen.get("source") != "graph" and chosen.get("layer") == selection["layer"]:
            fig.data[NODE_TRACE].selectedpoints = selected_points(ctx, selection, chosen, expanded)
        return fig, info_line(text, selection), drawn_state(selection, expanded, highlight, threshold, upload, cycle)

    @app.callback(
        Output(ids.GRAPH, "figure", allow_duplicate=True),
        Input(ids.COLOR_DROPDOWN, "value"),
        State(ids.GRAPH_KEY, "data"), State(DRAWN, "data"),
        prevent_initial_call=True,
    )
    def recolour(color_by, selection, drawn):
        """A new colouring patches the marker colours only (the layout cannot move)."""
        if not selection or _layer_key(drawn) != _layer_key(selection):
            raise PreventUpdate
        try:
            return color_patch(ctx, selection, color_by, bool(drawn.get("open")))
        except Exception:  # noqa: BLE001
            logger.exception("cannot recolour graph %s by %s", selection, color_by)
            raise PreventUpdate from None

    # the clicked node's black ring: drawn in the browser on a canvas over the plot (``RING_JS``),
    # no server round trip and no plotly redraw; it follows zoom, pan and redraws
    app.clientside_callback(
        RING_JS,
        Output(RING, "data"),
        Input(ids.NODE, "data"), Input(DRAWN, "data"), Input(ids.TABS, "value"),
        State(ids.GRAPH, "id"),
    )

    @app.callback(
        Output(ids.GRAPH, "figure", allow_duplicate=True),
        Input(ids.SELECTION, "data"),
        State(ids.GRAPH_KEY, "data"), State(DRAWN, "data"),
        prevent_initial_call=True,
    )
    def show_selection(chosen, selection, drawn):
        """Images selected in the embedding view: the nodes holding none of them fade (a patch)."""
        if not selection or _layer_key(drawn) != _layer_key(selection) or (chosen or {}).get("source") == "graph":
            raise PreventUpdate  # the graph's own selection is drawn by plotly itself
        return selection_patch(ctx, selection, chosen, bool(drawn.get("open")))

    @app.callback(
        Output(ids.SELECTION, "data", allow_duplicate=True),
        Input(ids.GRAPH, "selectedData"),
        State(ids.GRAPH_KEY, "data"), State(ids.SELECTION, "data"),
        prevent_initial_call=True,
    )
    def select_nodes(selected, selection, current):
        """Box / lasso in the graph: the selected nodes and the sorted union of their members."""
        if not selection:
            raise PreventUpdate
        points = (selected or {}).get("points") or []
        nodes = sorted({int(p["customdata"][0] if isinstance(p.get("customdata"), list) else p["customdata"])
                        for p in points if p.get("curveNumber") == NODE_TRACE and p.get("customdata") is not None})
        if not nodes:
            if current and current.get("source") == "graph":
                return None  # the graph's selection was cleared
            raise PreventUpdate
        rows = ctx.node_rows(selection["layer"], selection["key"], nodes)
        return {"layer": selection["layer"], "rows": rows.tolist(), "source": "graph", "nodes": nodes}

    @app.callback(
        Output(TOOLTIP, "show"), Output(TOOLTIP, "bbox"), Output(TOOLTIP, "children"),
        Input(ids.GRAPH, "hoverData"), State(ids.GRAPH_KEY, "data"),
    )
    def hover(hover_data, selection):
        """A card for the node under the pointer (top exemplar and label mix)."""
        points = (hover_data or {}).get("points") or []
        if not selection or not points or points[0].get("curveNumber") not in (NODE_TRACE, GLYPH_TRACE):
            return False, no_update, no_update
        custom = points[0].get("customdata")
        node_id = int(custom[0] if isinstance(custom, list) else custom)
        try:
            card = hover_card(ctx, selection, node_id)
        except KeyError:
            return False, no_update, no_update
        return True, points[0].get("bbox"), html.Div(card, style={"minWidth": "12em", "maxWidth": "18em",
                                                                  "fontSize": "0.8em"})

    # Exact picking. Plotly's "closest" hover scores a point inside its marker by its marker
    # radius alone (smaller markers win), so where markers overlap a click on a large node's
    # centre can open a small node whose disk covers it. The page keeps the last pointer
    # position (installed once at page load), and a click re-picks among the markers that
    # contain the pointer the one whose centre is nearest (plotly's pick when none does).
    app.clientside_callback(
        """function(_) {
            if (window.topoactPick) return 1;
            const keep = e => { window.topoactPointer = [e.clientX, e.clientY]; };
            document.addEventListener('pointermove', keep, true);
            document.addEventListener('pointerdown', keep, true);
            window.topoactPick = function(graphId, curve, picked) {
                const gd = document.querySelector('#' + graphId + ' .js-plotly-plot');
                const p = window.topoactPointer;
                if (!gd || !p || !gd.data || !gd.data[curve] || !gd._fullLayout.xaxis) return null;
                const t = gd.data[curve], xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
                const r = gd.getBoundingClientRect(), size = t.marker.size;
                const many = Array.isArray(size) || ArrayBuffer.isView(size);
                const away = i => Math.hypot(r.left + xa._offset + xa.d2p(t.x[i]) - p[0],
                                             r.top + ya._offset + ya.d2p(t.y[i]) - p[1]);
                const inside = (i, d) => d <= (many ? size[i] : size) / 2 + 1;
                // a click plotly did not take at the pointer (an event sent by a script) is kept
                if (picked === undefined || !inside(picked, away(picked))) return null;
                let best = null, nearest = Infinity;
                for (let i = 0; i < t.x.length; i++) {
                    const d = away(i);
                    if (inside(i, d) && d < nearest) { nearest = d; best = t.customdata[i]; }
                }
                return best;
            };
            return 1;
        }""",
        Output(PICKER, "data"),
        Input(ids.GRAPH, "id"),
    )

    # a click on a node selects it in the browser (no server round trip before the node panel's
    # callbacks start): the marker's customdata is the node id of the graph it was drawn from; a
    # click on the small-components glyph folds / unfolds it
    app.clientside_callback(
        """function(click, selection, glyph) {
            const nu = window.dash_clientside.no_update;
            const points = (click && click.points) || [];
            let custom = points.length ? points[0].customdata : undefined;
            if (!selection || custom === undefined || custom === null) return [nu, nu];
            if (points[0].curveNumber === %(node)d && window.topoactPick) {
                const exact = window.topoactPick('%(graph)s', %(node)d, points[0].pointNumber);
                if (exact !== null && exact !== undefined) custom = exact;
            }
            const id = Array.isArray(custom) ? custom[0] : custom;
            if (id === %(glyph)d) {
                const open = !!(glyph && glyph.open && glyph.layer === selection.layer && glyph.key === selection.key);
                return [nu, {layer: selection.layer, key: selection.key, open: !open}];
            }
            return [{layer: selection.layer, graph_key: selection.key, node: id}, nu];
        }""" % {"node": NODE_TRACE, "graph": ids.GRAPH, "glyph": GLYPH_ID},
        Output(ids.NODE, "data", allow_duplicate=True),
        Output(GLYPH_OPEN, "data"),
        Input(ids.GRAPH, "clickData"),
        State(ids.GRAPH_KEY, "data"), State(GLYPH_OPEN, "data"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(ids.NODE, "data", allow_duplicate=True),
        Output(error_line(ids.NODE_INPUT), "children"),
        Input(ids.NODE_INPUT, "value"),
        State(ids.GRAPH_KEY, "data"),
        prevent_initial_call=True,
    )
    def type_node(typed, selection):
        """A node id typed in the box selects that node (when the graph has it; else says so)."""
        if not selection or typed is None:
            raise PreventUpdate
        try:
            ctx.node(selection["layer"], selection["key"], int(typed))
        except (KeyError, ValueError, TypeError):
            n = len(ctx.graph(selection["layer"], selection["key"])["nodes"])
            return no_update, f"no node {typed} in this graph (it has {n} nodes)"
        return {"layer": selection["layer"], "graph_key": selection["key"], "node": int(typed)}, ""

    # exports
    @app.callback(Output(ids.EXPORT_DOWNLOAD, "data"),
                  Input(ids.EXPORT_JSON, "n_clicks"), Input(ids.EXPORT_HTML, "n_clicks"),
                  State(ids.GRAPH_KEY, "data"), prevent_initial_call=True)
    def export(_json, _html, selection):
        if not selection:
            raise PreventUpdate
        return export_payload(ctx, selection, "json" if callback_context.triggered_id == ids.EXPORT_JSON else "html")


def export_payload(ctx: AppContext, selection: dict, fmt: str) -> dict:
    """The ``dcc.Download`` payload of the shown graph: ``fmt`` = "json" or "html" (KeplerMapper)."""
    layer, key = selection["layer"], selection["key"]
    stem = f"{safe_name(layer)}-{key}"
    if fmt == "json":
        return dict(content=json.dumps(ctx.graph(layer, key)), filename=f"{stem}.json", type="application/json")
    return dict(content=kepler_html(ctx, layer, key), filename=f"{stem}.html", type="text/html")


def kepler_html(ctx: AppContext, layer: str, key: str) -> str:
    """KeplerMapper's standalone HTML of a saved graph (via ``topoact.mapper.export``)."""
    import tempfile
    from pathlib import Path

    from topoact.mapper.export import save_kmapper_html

    graph = ctx.graph(layer, key)
    # colour KeplerMapper's nodes by label (its colour function averages per node)
    with tempfile.TemporaryDirectory(prefix="topoact-export-") as tmp:
        path = save_kmapper_html(graph, Path(tmp) / "graph.html", color_values=ctx.run.labels.astype(float),
                                 title=f"topoact Mapper graph · {layer} · {key}")
        return path.read_text(encoding="utf-8")
