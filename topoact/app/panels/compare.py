"""Neighbouring layers side by side (as TopoAct): the selected layer and the ones before and after.

Each of the three figures shows that layer's graph with the same parameter key as the selected
graph when one was saved for it, else the layer's default graph; the class chosen in the class
search is highlighted in all three, the colour option is shared, and an uploaded image's nodes
are ringed in red. "Compute neighbours with these parameters" builds, in the background, the
neighbouring layers' graphs with the selected graph's parameters (the same lens / cover /
clusterer on every layer, as TopoAct compares them) through the graph panel's background job
(its progress bar and cancel button); the figures redraw when it finishes.

Counterparts: when a node is selected (clicked in the Mapper graph tab), the nodes that stand for it
in the neighbouring layers' graphs get an orange ring: its match and the nodes receiving at least
20 % of its images' mass (:meth:`topoact.mapper.matching.GraphMatching.counterparts`; every layer
holds the same images, so the matching of member rows applies between layers as between steps).

A second model (``topoact serve RUN_A RUN_B``): a fourth figure, right of the three, shows the
selected layer in run B (the graph with the selected graph's parameters when B has it saved, else
B's default graph of that layer), titled with B's model spec; the selected node's counterparts in
it get the same orange rings, matched between run A's graph of the node and B's graph. The two
runs must hold the same images in the same order (same count, image ids, data set positions and
files); when they do not, a sentence says so and no rings are drawn.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import logging

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from topoact.app import ids
from topoact.app.context import AppContext, cached
from topoact.app.panels import while_shown
from topoact.app.panels.graph import build_figure
from topoact.app.panels.graph_form import graph_request
from topoact.figures.graph import empty_figure

if TYPE_CHECKING:
    from dash import Dash


logger = logging.getLogger(__name__)

TAB_LABEL = "Neighbouring layers"
#: this panel's tab (``topoact.app.shell.tab_value``): its figures are drawn only while it is shown
TAB_VALUE = "tab-compare"
#: the second model's graph (position 3 after the three neighbouring layers) and its caption
MODEL_GRAPH = ids.compare_graph(3)
MODEL_NOTE = "topoact-compare-model-note"
#: written in the browser when the tab is shown and what it draws from changes (see ``register``)
SHOWN = "topoact-store-compare-shown"


def neighbours(layers: list[str], layer: str) -> list[str]:
    """Three consecutive layers around ``layer`` (clamped at the ends of the list)."""
    if layer not in layers:
        return layers[:3]
    i = layers.index(layer)
    start = min(max(i - 1, 0), max(len(layers) - 3, 0))
    return layers[start:start + 3]


COUNTERPART_COLOR = "#ff7f0e"


def counterpart_trace(positions, nodes: list[int]):
    """Orange open rings drawn over the counterpart nodes (one extra trace, no legend).

    Parameters
    ----------
    positions : (K, 2) node positions of the figure's graph
    nodes : node ids to ring

    Returns
    -------
    plotly.graph_objects.Scatter
    """
    import plotly.graph_objects as go

    return go.Scatter(x=[positions[n][0] for n in nodes], y=[positions[n][1] for n in nodes], mode="markers",
                      name="counterpart", hoverinfo="skip", showlegend=False,
                      marker=dict(symbol="circle-open", size=26, color=COUNTERPART_COLOR, line=dict(width=3)))


def graph_matching(ctx: AppContext, layer_a: str, key_a: str, layer_b: str, key_b: str,
                   other: AppContext | None = None):
    """:func:`~topoact.mapper.matching.match_graphs` of two saved graphs: ``(layer_a, key_a)`` of
    ``ctx``'s run and ``(layer_b, key_b)`` of ``other``'s run (default: the same run).

    Returns
    -------
    GraphMatching
    """
    from topoact.mapper.graph import MapperGraph
    from topoact.mapper.matching import match_graphs

    return match_graphs(MapperGraph.from_dict(ctx.graph(layer_a, key_a)),
                        MapperGraph.from_dict((other or ctx).graph(layer_b, key_b)))


def counterpart_nodes(ctx: AppContext, node_store: dict | None, layer: str, key: str,
                      matching: Callable[..., Any] | None = None, other: AppContext | None = None) -> list[int]:
    """Nodes of the graph (layer, key) standing for the selected node of another layer or model.

    Parameters
    ----------
    ctx : AppContext
        The run of the selected node.
    node_store : the ``ids.NODE`` store ({"layer", "graph_key", "node"} or None)
    layer, key : the graph drawn (of ``other``'s run when given, else of ``ctx``'s)
    matching : ``matching(layer_a, key_a, layer_b, key_b) -> GraphMatching`` (a cached
        :func:`graph_matching`; default: computed now)
    other : AppContext, optional
        The second model's run on the same images (``ctx.compare_run``).

    Returns
    -------
    list of int
        Empty when no node is selected, the node is of this same layer of this same run, or
        nothing matches.
    """
    if not node_store or node_store.get("node") is None or node_store.get("layer") is None:
        return []
    if other is None and node_store["layer"] == layer:
        return []
    matching = matching or (lambda *names: graph_matching(ctx, *names, other=other))
    try:
        return matching(node_store["layer"], node_store["graph_key"], layer, key).counterparts(int(node_store["node"]))
    except (FileNotFoundError, KeyError, ValueError, IndexError, TypeError) as exc:
        logger.info("no counterparts of %s in %s: %s", node_store, layer, exc)
        return []


def model_name(run: Any) -> str:
    """The run's model spec from its meta (``meta["model"]["spec"]``), else the run's folder."""
    model = run.meta.get("model", {})
    spec = model.get("spec") if isinstance(model, dict) else model
    return str(spec or getattr(run, "path", "run B"))


def image_mismatch(run_a: Any, run_b: Any) -> str | None:
    """Why two runs do not hold the same images in the same order, in words (None when they do).

    Compared: the number of images, then the image ids, the positions in the data set
    (``source_index``) and the image files, row by row.
    """
    if run_a.n != run_b.n:
        return f"the two runs hold different images ({run_a.n:,} and {run_b.n:,})"
    rows = (("image ids", run_a.ids, run_b.ids), ("data set positions", run_a.source_index, run_b.source_index),
            ("image files", run_a.paths, run_b.paths))
    for what, a, b in rows:
        differ = [r for r, (x, y) in enumerate(zip(a, b)) if x != y]
        if differ:
            return (f"the two runs hold different images or a different order ({len(differ):,} of {run_a.n:,} rows "
                    f"differ in their {what}, first at row {differ[0]})")
    return None


def model_graph_key(other: AppContext, layer: str, key: str | None) -> str | None:
    """Key of the second model's graph to show for ``layer``: ``key`` (the same parameters) when
    saved there, else that layer's default graph, else None."""
    if layer not in other.run.layers:
        return None
    return key if key in other.graph_keys(layer) else other.default_key(layer)


def model_view(ctx: AppContext, other: AppContext, selection: dict, color_by: str | None,
               highlight: int | None, node_store: dict | None, mismatch: str | None,
               matching: Callable[..., Any] | None = None, height: int = 420):
    """The second model's figure of the selected layer and its caption.

    Parameters
    ----------
    ctx, other : the runs of model A and model B
    selection : ``{"layer", "key"}`` of the graph shown in model A
    color_by, highlight : the shared colour option and searched class
    node_store : the ``ids.NODE`` store (a node of model A)
    mismatch : :func:`image_mismatch` of the two runs (None: same images, counterparts are ringed)
    matching : cached ``matching(layer_a, key_a, layer_b, key_b)`` (default: computed now)

    Returns
    -------
    (plotly.graph_objects.Figure, str)
    """
    layer, name = selection["layer"], model_name(other.run)
    path = getattr(other.run, "path", "RUN_B")
    if layer not in other.run.layers:
        return (empty_figure(f"{name} has no layer {layer}", height=height),
                f"{name} ({path}) has no layer {layer!r}; its layers: {', '.join(other.run.layers)}.")
    key = model_graph_key(other, layer, selection.get("key"))
    if key is None:
        return (empty_figure(f"{name} · {layer}: no graph yet", height=height),
                f"{name} has no graph of {layer} yet: build one with  topoact mapper {path} --layer {layer}")
    n_nodes = len(other.graph(layer, key)["nodes"])
    title = f"{name} · {layer} · {n_nodes} nodes"
    try:
        fig, _ = build_figure(other, {"layer": layer, "key": key}, color_by, highlight, 0.0, None, None,
                              height=height, title=title, show_legend=False)
    except (ValueError, KeyError) as exc:  # a colour option run B does not have
        return empty_figure(f"{name} · {layer}: {exc}", height=height), f"{name}: {exc}"
    if mismatch is not None:
        return fig, f"No counterparts in {name}: {mismatch}; matching nodes needs the same images in the same order."
    marked = counterpart_nodes(ctx, node_store, layer, key, matching, other=other)
    if marked:
        fig.add_trace(counterpart_trace(other.positions(layer, key), marked))
    if not node_store or node_store.get("node") is None:
        text = f"{name}: select a node (Mapper graph tab) to ring its counterparts in orange."
    else:
        text = (f"{name}: {len(marked)} counterpart(s) of node {node_store['node']} of {node_store['layer']} "
                "ringed in orange.")
    return fig, text


def layout(ctx: AppContext) -> html.Div:
    """Three graphs side by side and the "compute neighbours" button."""
    cells = [html.Div(dcc.Graph(id=ids.compare_graph(k), figure=empty_figure("", height=420),
                                config={"scrollZoom": True, "displayModeBar": False}),
                      style={"flex": "1 1 0", "minWidth": "0"}) for k in range(3)]
    return html.Div([
        html.P("The selected layer and its neighbours; the searched class is highlighted in all three. Each "
               "shows the same parameters' graph when it is saved there, else that layer's default graph.",
               className="small text-secondary mb-2"),
        dbc.Button("Compute neighbours with these parameters", id=ids.COMPARE_COMPUTE, n_clicks=0, size="sm",
                   color="primary", title="build the shown graph's parameters on the two neighbouring layers "
                                          "(in the background; their default graphs do not change)"),
        html.Span(id=ids.COMPARE_STATUS, className="ms-2 small text-secondary"),
        dcc.Store(id=ids.COMPARE_VERSION, data=0),
        dcc.Store(id=SHOWN, data=None),
        html.Div(cells + model_cell(ctx), id=ids.COMPARE_GRAPHS, style={"display": "flex", "gap": "0.5em"}),
    ])


def model_cell(ctx: AppContext) -> list:
    """The second model's figure and caption, right of the three layers ([] without a second run)."""
    if ctx.compare_run is None:
        return []
    return [html.Div([
        dcc.Graph(id=MODEL_GRAPH, figure=empty_figure("", height=420),
                  config={"scrollZoom": True, "displayModeBar": False}),
        html.P(id=MODEL_NOTE, className="small text-secondary mb-0 px-2"),
    ], title=f"the selected layer in the second model, {model_name(ctx.compare_run)} ({ctx.compare_run.path})",
        style={"flex": "1 1 0", "minWidth": "0", "borderLeft": "2px dashed #ccc"})]


def register(app: Dash, ctx: AppContext) -> None:
    """Draw the three graphs; ask the graph panel's job for the missing ones."""
    matching = cached(16)(lambda *names: graph_matching(ctx, *names))

    def counterparts(node_store: dict | None, layer: str, key: str) -> list[int]:
        return counterpart_nodes(ctx, node_store, layer, key, matching)

    if ctx.compare_run is not None:
        register_model(app, ctx)

    # the figures are drawn only while the tab is shown: the browser passes a change on (a node
    # click, a colouring, ...) only then, so a hidden tab costs a click no request at all
    while_shown(app, SHOWN, TAB_VALUE, Input(ids.GRAPH_KEY, "data"), Input(ids.CLASS, "data"),
                Input(ids.COLOR_DROPDOWN, "value"), Input(ids.UPLOAD, "data"), Input(ids.COMPARE_VERSION, "data"),
                Input(ids.NODE, "data"))

    @app.callback(
        [Output(ids.compare_graph(k), "figure") for k in range(3)],
        Input(SHOWN, "data"),
        State(ids.GRAPH_KEY, "data"), State(ids.CLASS, "data"), State(ids.COLOR_DROPDOWN, "value"),
        State(ids.UPLOAD, "data"), State(ids.TABS, "value"), State(ids.NODE, "data"),
        prevent_initial_call=True,
    )
    def draw(_shown, selection, highlight, color_by, upload, tab, node_store):
        if tab != TAB_VALUE:
            raise PreventUpdate
        if not selection:
            return [empty_figure("no graph selected", height=420)] * 3
        layers = neighbours(ctx.run.layers, selection["layer"])
        figures = []
        for layer in layers:
            keys = ctx.graph_keys(layer)
            key = selection["key"] if selection["key"] in keys else ctx.default_key(layer)
            if key is None:
                figures.append(empty_figure(f"{layer}: no graph yet", height=420))
                continue
            color = color_by
            try:
                fig, text = build_figure(ctx, {"layer": layer, "key": key}, color, highlight, 0.0, None, upload,
                                         height=420, title=f"{layer}{' (selected)' if layer == selection['layer'] else ''}"
                                         f" · {len(ctx.graph(layer, key)['nodes'])} nodes", show_legend=False)
                marked = counterparts(node_store, layer, key)
                if marked:
                    fig.add_trace(counterpart_trace(ctx.positions(layer, key), marked))
            except ValueError as exc:  # e.g. colour by anomaly share before the scores exist
                fig = empty_figure(f"{layer}: {exc}", height=420)
            figures.append(fig)
        figures += [empty_figure("", height=420)] * (3 - len(figures))
        return figures

    @app.callback(
        Output(ids.MAPPER_REQUEST, "data", allow_duplicate=True),
        Output(ids.COMPARE_STATUS, "children"),
        Input(ids.COMPARE_COMPUTE, "n_clicks"), State(ids.GRAPH_KEY, "data"),
        prevent_initial_call=True,
    )
    def compute(n_clicks, selection):
        from topoact.mapper import MapperConfig

        if not n_clicks or not selection:
            raise PreventUpdate
        try:
            config = MapperConfig.from_params(ctx.graph(selection["layer"], selection["key"]).get("params") or {})
            _, request = graph_request(ctx, neighbours(ctx.run.layers, selection["layer"]), config, None)
        except Exception as exc:  # noqa: BLE001
            return no_update, f"error: {exc}"
        if request is None:
            return no_update, "all three layers already have this graph"
        return request, (f"computing {len(request['layers'])} graph(s) (progress in the Mapper graph tab); "
                         "the figures redraw when they are ready")


def register_model(app: Dash, ctx: AppContext) -> None:
    """Draw the second model's graph of the selected layer with the selected node's counterparts."""
    other = AppContext(ctx.compare_run)
    mismatch = image_mismatch(ctx.run, other.run)   # the runs' rows never change while the app runs
    matching = cached(16)(lambda *names: graph_matching(ctx, *names, other=other))

    @app.callback(
        Output(MODEL_GRAPH, "figure"), Output(MODEL_NOTE, "children"),
        Input(SHOWN, "data"),
        State(ids.GRAPH_KEY, "data"), State(ids.CLASS, "data"), State(ids.COLOR_DROPDOWN, "value"),
        State(ids.TABS, "value"), State(ids.NODE, "data"),
        prevent_initial_call=True,
    )
    def draw_model(_shown, selection, highlight, color_by, tab, node_store):
        if tab != TAB_VALUE:  # drawn while the tab is shown (``SHOWN``)
            raise PreventUpdate
        if not selection:
            return empty_figure("no graph selected", height=420), ""
        return model_view(ctx, other, selection, color_by, highlight, node_store, mismatch, matching)
