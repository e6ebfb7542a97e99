"""Graph panel: layer and graph choice, the interactive Mapper graph, Mapper parameters.

* Layer dropdown and saved-graph dropdown (every graph saved for the layer, labelled by its
  parameters; ``*`` marks the layer's default graph); a layer without any graph gets one
  computed with the default parameters in the background.
* Colour by majority class / purity / mean lens / accuracy / size / mean L2 norm / any per-image
  attribute (cyclic colour scale for circular ones), class search (fade nodes without it),
  Jaccard edge-weight threshold, a node-id box (select a node without clicking).
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
from topoact.app.panels import graph_form
from topoact.app.panels.graph_form import graph_request, key_options, labelled
from topoact.fileio import safe_name
from topoact.figures.graph import empty_figure, graph_figure

if TYPE_CHECKING:
    from dash import Dash

    from topoact.app.context import AppContext


logger = logging.getLogger(__name__)

TAB_LABEL = "Mapper graph"

_row = {"display": "flex", "flexWrap": "wrap", "gap": "0.8em", "alignItems": "flex-end", "marginBottom": "0.5em"}


# -- layout ---------------------------------------------------------------------------------------
def initial_layer(ctx: AppContext) -> str | None:
    """The first layer with a saved graph (else the first layer): what the app opens on."""
    for layer in ctx.run.layers:
        if ctx.graph_keys(layer):
            return layer
    return ctx.run.layers[0] if ctx.run.layers else None


def layout(ctx: AppContext) -> html.Div:
    """The panel's components (cheap: the figure is drawn by a callback)."""
    run = ctx.run
    layers = run.layers
    initial = initial_layer(ctx)
    class_opts = [{"label": name, "value": i} for i, name in enumerate(run.label_names)]
    controls = html.Div([
        labelled("layer", dcc.Dropdown(id=ids.LAYER_DROPDOWN, options=layers, value=initial,
                                        clearable=False), "14em"),
        labelled("graph", dcc.Dropdown(id=ids.KEY_DROPDOWN, options=[], value=None, clearable=False), "22em"),
        labelled("colour by", dcc.Dropdown(id=ids.COLOR_DROPDOWN, options=ctx.color_options(), value="majority",
                                            clearable=False), "14em"),
        labelled("search a class", dcc.Dropdown(id=ids.CLASS_DROPDOWN, options=class_opts, value=None,
                                                 placeholder="class…"), "12em"),
        labelled("min edge weight (Jaccard)", dcc.Slider(id=ids.EDGE_SLIDER, min=0, max=1, step=0.05, value=0,
                                                          marks={0: "0", 0.5: "0.5", 1: "1"},
                                                          tooltip={"placement": "bottom"}), "14em"),
        labelled("node id", dcc.Input(id=ids.NODE_INPUT, type="number", min=0, step=1, debounce=True,
                                       style={"width": "6em"}), "7em"),
    ], style=_row)
    export = html.Div([
        html.Button("Export graph JSON", id=ids.EXPORT_JSON, n_clicks=0),
        html.Button("Export KeplerMapper HTML", id=ids.EXPORT_HTML, n_clicks=0, style={"marginLeft": "0.5em"}),
        dcc.Download(id=ids.EXPORT_DOWNLOAD),
    ], style={"marginTop": "0.3em"})
    return html.Div([
        controls,
        graph_form.layout(ctx),
        html.Div([html.Span(id=ids.NODE_COUNT),
                  html.Button("Set as default", id=ids.DEFAULT_BUTTON, n_clicks=0,
                              title="open this graph first for this layer (saved in the run)",
                              style={"marginLeft": "1em"}),
                  html.Span(id=ids.DEFAULT_STATUS, style={"marginLeft": "0.5em", "color": "#666"})],
                 style={"fontSize": "0.9em", "color": "#333"}),
        dcc.Store(id=ids.MAPPER_REQUEST, data=None),
        dcc.Store(id=ids.MAPPER_RESULT, data=None),
        dcc.Graph(id=ids.GRAPH, figure=empty_figure("loading…"), config={"scrollZoom": True, "displaylogo": False},
                  style={"height": "620px"}),
        html.Div(id=ids.GRAPH_INFO, style={"fontSize": "0.8em", "color": "#666"}),
        export,
    ])


# -- figure ---------------------------------------------------------------------------------------
def build_figure(ctx: AppContext, selection: dict, color_by: str | None, highlight_class: int | None, edge_threshold: float | None,
                 node_store: dict | None, upload: dict | None, height: int = 600, title: str | None = None,
                 show_legend: bool = True, cycle: dict | None = None):
    """The figure and its caption for a ``{"layer", "key"}`` selection (shared with compare).

    Returns
    -------
    (plotly.graph_objects.Figure, str)
    """
    layer, key = selection["layer"], selection["key"]
    graph = ctx.graph(layer, key)
    positions = ctx.positions(layer, key)
    values = kind = period = None
    if color_by and color_by != "majority":
        values, kind, period = ctx.node_values(layer, key, color_by)
    selected, marked = ringed_nodes(selection, node_store, upload, cycle)
    fig = graph_figure(graph, positions, color_by=color_by or "majority", values=values,
                       color_kind=kind or "linear", period=period, class_names=ctx.run.label_names,
                       highlight_class=highlight_class, edge_threshold=float(edge_threshold or 0.0),
                       selected_node=selected, marked_nodes=marked, height=height, title=title,
                       show_legend=show_legend)
    n_shown = sum(1 for e in graph.get("edges", []) if float(e.get("weight", 1.0)) >= float(edge_threshold or 0))
    text = f"{len(graph['nodes'])} nodes · {len(graph.get('edges', []))} edges ({n_shown} shown) · graph {key}"
    if highlight_class is not None:
        hit = sum(1 for n in graph["nodes"] if int(n.get("label_counts", {}).get(str(highlight_class), 0)) > 0)
        text += f" · {hit} nodes contain {ctx.run.label_names[highlight_class]}"
    return fig, text


def ringed_nodes(selection: dict, node_store: dict | None, upload: dict | None,
                 cycle: dict | None) -> tuple[int | None, list[int]]:
    """``(selected node, marked nodes)`` of the shown graph: the clicked node (black ring) and the
    nodes of an uploaded image or a persistence cycle on this graph (red rings)."""
    layer, key = selection["layer"], selection["key"]
    selected = None
    if node_store and node_store.get("layer") == layer and node_store.get("graph_key") == key:
        selected = node_store.get("node")
    marked: list[int] = []
    if upload and layer in (upload.get("layers") or {}):
        entry = upload["layers"][layer]
        if entry.get("graph_key") == key:
            marked = list(entry.get("nodes", []))
    if cycle and cycle.get("layer") == layer and cycle.get("graph_key") == key:
        marked += list(cycle.get("nodes", []))  # nodes on a persistence cycle
    return selected, marked


def ring_patch(ctx: AppContext, selection: dict, color_by: str | None, node_store: dict | None,
               upload: dict | None, cycle: dict | None) -> Patch:
    """A ``dash.Patch`` of the drawn figure that moves only the selection ring (a node click).

    Rebuilding and re-sending the whole figure for a click costs tens of ms on the server and a
    full plotly redraw in the browser; the marker outlines are all that change.
    """
    from topoact.figures.graph import marker_traces, node_rings

    selected, marked = ringed_nodes(selection, node_store, upload, cycle)
    patch = Patch()
    for k, node_ids in enumerate(marker_traces(ctx.graph(selection["layer"], selection["key"]),
                                               color_by or "majority")):
        colors, widths = node_rings(node_ids, selected, marked)
        patch["data"][k + 1]["marker"]["line"]["color"] = colors
        patch["data"][k + 1]["marker"]["line"]["width"] = widths
    return patch


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
        prevent_initial_call="initial_duplicate",
    )
    def choose_layer(layer):
        if layer is None:
            raise PreventUpdate
        default = ctx.default_key(layer)
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
        Output(ids.GRAPH, "figure"),
        Output(ids.NODE_COUNT, "children"),
        Input(ids.GRAPH_KEY, "data"),
        Input(ids.COLOR_DROPDOWN, "value"),
        Input(ids.CLASS, "data"),
        Input(ids.EDGE_SLIDER, "value"),
        Input(ids.UPLOAD, "data"),
        Input(ids.HIGHLIGHT, "data"),
        State(ids.NODE, "data"),
    )
    def draw(selection, color_by, highlight, threshold, upload, cycle, node_store):
        if not selection:
            return empty_figure("no graph selected (computing the layer's first graph…)"), ""
        try:
            return build_figure(ctx, selection, color_by, highlight, threshold, node_store, upload, cycle=cycle)
        except Exception as exc:  # noqa: BLE001 - show, don't crash the page
            logger.exception("cannot draw graph %s", selection)
            return empty_figure(f"cannot draw the graph: {exc}"), f"error: {exc}"

    @app.callback(
        Output(ids.GRAPH, "figure", allow_duplicate=True),
        Input(ids.NODE, "data"),
        State(ids.GRAPH_KEY, "data"), State(ids.COLOR_DROPDOWN, "value"), State(ids.UPLOAD, "data"),
        State(ids.HIGHLIGHT, "data"),
        prevent_initial_call=True,
    )
    def ring(node_store, selection, color_by, upload, cycle):
        """A click moves the black ring only (the figure is redrawn by ``draw`` for anything else)."""
        if not node_store or not selection or node_store.get("graph_key") != selection["key"]:
            raise PreventUpdate  # no node, or a new graph: ``draw`` draws it whole
        return ring_patch(ctx, selection, color_by, node_store, upload, cycle)

    # a click on a node selects it in the browser (no server round trip before the node panel's
    # callbacks start): the marker's customdata is the node id of the graph it was drawn from
    app.clientside_callback(
        """function(click, selection) {
            const points = (click && click.points) || [];
            const custom = points.length ? points[0].customdata : undefined;
            if (!selection || custom === undefined || custom === null) return window.dash_clientside.no_update;
            return {layer: selection.layer, graph_key: selection.key, node: Array.isArray(custom) ? custom[0] : custom};
        }""",
        Output(ids.NODE, "data", allow_duplicate=True),
        Input(ids.GRAPH, "clickData"),
        State(ids.GRAPH_KEY, "data"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(ids.NODE, "data", allow_duplicate=True),
        Input(ids.NODE_INPUT, "value"),
        State(ids.GRAPH_KEY, "data"),
        prevent_initial_call=True,
    )
    def type_node(typed, selection):
        """A node id typed in the box selects that node (when the graph has it)."""
        if not selection or typed is None:
            raise PreventUpdate
        try:
            ctx.node(selection["layer"], selection["key"], int(typed))
        except KeyError:
            raise PreventUpdate from None
        return {"layer": selection["layer"], "graph_key": selection["key"], "node": int(typed)}

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
