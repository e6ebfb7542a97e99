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
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import logging

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from topoact.app import ids
from topoact.app.context import cached
from topoact.app.panels.graph import build_figure
from topoact.app.panels.graph_form import graph_request
from topoact.figures.graph import empty_figure

if TYPE_CHECKING:
    from dash import Dash

    from topoact.app.context import AppContext


logger = logging.getLogger(__name__)

TAB_LABEL = "Neighbouring layers"


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


def graph_matching(ctx: AppContext, layer_a: str, key_a: str, layer_b: str, key_b: str):
    """:func:`~topoact.mapper.matching.match_graphs` of two saved graphs of the run.

    Returns
    -------
    GraphMatching
    """
    from topoact.mapper.graph import MapperGraph
    from topoact.mapper.matching import match_graphs

    return match_graphs(MapperGraph.from_dict(ctx.graph(layer_a, key_a)),
                        MapperGraph.from_dict(ctx.graph(layer_b, key_b)))


def counterpart_nodes(ctx: AppContext, node_store: dict | None, layer: str, key: str,
                      matching: Callable[..., Any] | None = None) -> list[int]:
    """Nodes of the graph (layer, key) standing for the selected node of another layer.

    Parameters
    ----------
    ctx : AppContext
    node_store : the ``ids.NODE`` store ({"layer", "graph_key", "node"} or None)
    layer, key : the graph drawn
    matching : ``matching(layer_a, key_a, layer_b, key_b) -> GraphMatching`` (a cached
        :func:`graph_matching`; default: computed now)

    Returns
    -------
    list of int
        Empty when no node is selected, the node is of this same layer, or nothing matches.
    """
    if not node_store or node_store.get("node") is None or node_store.get("layer") in (None, layer):
        return []
    matching = matching or (lambda *names: graph_matching(ctx, *names))
    try:
        return matching(node_store["layer"], node_store["graph_key"], layer, key).counterparts(int(node_store["node"]))
    except (FileNotFoundError, KeyError, ValueError, IndexError, TypeError) as exc:
        logger.info("no counterparts of %s in %s: %s", node_store, layer, exc)
        return []


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
        html.Div(cells, id=ids.COMPARE_GRAPHS, style={"display": "flex", "gap": "0.5em"}),
    ])


def register(app: Dash, ctx: AppContext) -> None:
    """Draw the three graphs; ask the graph panel's job for the missing ones."""
    matching = cached(16)(lambda *names: graph_matching(ctx, *names))

    def counterparts(node_store: dict | None, layer: str, key: str) -> list[int]:
        return counterpart_nodes(ctx, node_store, layer, key, matching)

    @app.callback(
        [Output(ids.compare_graph(k), "figure") for k in range(3)],
        Input(ids.GRAPH_KEY, "data"), Input(ids.CLASS, "data"), Input(ids.COLOR_DROPDOWN, "value"),
        Input(ids.UPLOAD, "data"), Input(ids.TABS, "value"), Input(ids.COMPARE_VERSION, "data"),
        Input(ids.NODE, "data"),
    )
    def draw(selection, highlight, color_by, upload, tab, _version, node_store):
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
