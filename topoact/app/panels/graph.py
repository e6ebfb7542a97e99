"""Graph panel: layer and graph choice, the interactive Mapper graph, Mapper parameters.

* Layer dropdown and saved-graph dropdown (every graph saved for the layer, labelled by its
  parameters; ``*`` marks the layer's default graph); a layer without any graph gets one
  computed with the default parameters in the background.
* Colour by majority class / purity / mean lens / accuracy / size / mean L2 norm / any per-image
  attribute (cyclic colour scale for circular ones), class search (fade nodes without it),
  Jaccard edge-weight threshold, a node-id box (select a node without clicking).
* Parameter form -> "Compute graph": the form becomes a :class:`topoact.mapper.MapperConfig`
  (the library validates it); a graph already saved under ``config.key`` is shown at once,
  otherwise a background job (:mod:`topoact.app.background`: worker process, progress bar,
  cancel) runs :func:`topoact.mapper.run_graphs.build_run_graph`, which saves it in the run.
* Exploring never moves the layer's saved default graph (the one the app opens next time):
  computed graphs and sweep cells are shown, and only "Set as default" changes the default.
* Export the shown graph as JSON or as KeplerMapper's standalone HTML (dcc.Download).

Data flow: every way of asking for a graph (the form, a sweep cell, the neighbouring-layers
panel, a layer without graphs) writes a request ``{"layers", "params", "select"}`` into
``ids.MAPPER_REQUEST`` unless the graph is saved already; the background callback on that store
builds the graphs and writes ``{"layer", "key", "select"}`` into ``ids.MAPPER_RESULT``; one
ordinary callback on the result updates the graph dropdown (when the user is still on that
layer) and tells the neighbouring-layers panel to redraw.
"""
from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from dash import Input, Output, Patch, State, callback_context, dcc, html, no_update
from dash.exceptions import PreventUpdate

from topoact.app import ids
from topoact.app.background import PROGRESS_DEFAULT, BarProgress, job_options, show_cancelled
from topoact.fileio import safe_name
from topoact.figures.graph import empty_figure, graph_figure

if TYPE_CHECKING:
    from dash import Dash

    from topoact.app.context import AppContext
    from topoact.mapper import MapperConfig
    from topoact.progress import ProgressFn
    from topoact.store import Run


logger = logging.getLogger(__name__)

TAB_LABEL = "Mapper graph"

LENSES = [("l2", "L2 norm"), ("l1", "L1 norm"), ("pca", "PCA (1st component)"), ("pca2", "PCA (2-D)"),
          ("knn", "k-NN distance (density)"), ("maxprob", "max probability"), ("entropy", "prediction entropy")]
COVERS = [("uniform", "uniform"), ("balanced", "balanced (quantile)")]
CLUSTERERS = [("dbscan", "DBSCAN"), ("single", "single linkage")]
METRICS = [("euclidean", "euclidean"), ("cosine", "cosine")]
#: the form's fields, in the order of the form and of :func:`form_config`'s arguments
FORM_FIELDS = ("lens", "cover", "n_intervals", "overlap", "clusterer", "eps", "metric", "min_samples")
#: the component ids of these fields
FORM_IDS = (ids.P_LENS, ids.P_COVER, ids.P_INTERVALS, ids.P_OVERLAP, ids.P_CLUSTERER, ids.P_EPS, ids.P_METRIC,
            ids.P_MIN_SAMPLES)

_row = {"display": "flex", "flexWrap": "wrap", "gap": "0.8em", "alignItems": "flex-end", "marginBottom": "0.5em"}


def _labelled(label, component, width="11em"):
    return html.Div([html.Label(label, style={"fontSize": "0.8em", "color": "#555"}), component],
                    style={"width": width})


def _options(pairs):
    return [{"label": label, "value": value} for value, label in pairs]


# -- parameters -----------------------------------------------------------------------------------
def form_config(lens: str, cover: str, n_intervals: Any, overlap: Any, clusterer: str, eps: Any, metric: str,
                min_samples: Any) -> MapperConfig:
    """The form's values as a :class:`topoact.mapper.MapperConfig` (the library validates them).

    Text fields are parsed here (with the field named when one is not a number); every range is
    the library's own (``MapperConfig._validate``).

    Returns
    -------
    topoact.mapper.MapperConfig

    Raises
    ------
    ValueError
        Naming the field and the allowed range.
    """
    from topoact.mapper import MapperConfig

    def number(name, value, kind):
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number, got {value!r}") from None

    eps_text = "auto" if eps is None else str(eps).strip().lower()
    return MapperConfig(lens=lens, cover=cover, n_intervals=number("intervals", n_intervals, int),
                        overlap=number("overlap", overlap, float), clusterer=clusterer,
                        eps="auto" if eps_text in ("", "auto") else number("eps", eps_text, float),
                        metric=metric, min_samples=number("min samples", min_samples, int))


def form_values(params: dict | None) -> list:
    """The form's field values for a saved graph's ``params`` (any schema), else the defaults."""
    from topoact.mapper import MapperConfig

    try:
        config = MapperConfig.from_params(params or {})
    except Exception:  # noqa: BLE001 - an unknown old format: leave the form as it is
        return [no_update] * len(FORM_FIELDS)
    values = [getattr(config, name) for name in FORM_FIELDS]
    values[FORM_FIELDS.index("eps")] = str(config.eps)
    return values


def graph_request(ctx: AppContext, layers: list[str], config: MapperConfig, select: str | None) -> tuple[dict | None, dict | None]:
    """What to do to show ``config``'s graph of ``layers``: ``(result, request)``.

    ``result`` (``{"layer", "key", "select"}``) when every graph is saved already (nothing to
    compute), else ``request`` (``{"layers", "params", "select", "at"}``) for the background job,
    listing only the layers still missing the graph.
    """
    key = config.key
    missing = [layer for layer in layers if key not in ctx.graph_keys(layer)]
    result = {"layer": select, "key": key, "select": select}
    if not missing:
        return result, None
    return None, {"layers": missing, "params": config.to_dict(), "select": select, "at": time.time()}


def build_graphs(run: Run, request: dict, progress: ProgressFn | None = None) -> dict:
    """Background-job body: build (and save) the requested graph on each layer; returns the result.

    Parameters
    ----------
    run : topoact.store.Run
    request : dict
        ``{"layers", "params", "select"}`` from :func:`graph_request`.
    progress : callable, optional
        ``progress(done, total, message)`` (:mod:`topoact.progress`) for the whole request.
    """
    from topoact.mapper import MapperConfig
    from topoact.mapper.run_graphs import build_run_graph
    from topoact.progress import Stage

    config = MapperConfig.from_dict(request["params"])
    layers = list(request["layers"])
    for k, layer in enumerate(layers):
        stage = Stage(progress, k / len(layers), (k + 1) / len(layers), layer) if progress else None
        build_run_graph(run, layer, config, progress=stage, default=False)
    return {"layer": request.get("select"), "key": config.key, "select": request.get("select"),
            "layers": layers}


def key_options(ctx: AppContext, layer: str) -> list[dict]:
    """Dropdown options of a layer's saved graphs, labelled by node count and parameters.

    The layer's default graph is marked ``*``. Labels are cached per (layer, key) (graph files
    are immutable once saved).
    """
    options = []
    default = ctx.default_key(layer)
    for key in ctx.graph_keys(layer):
        label = ctx.graph_label(layer, key)
        if label is None:
            continue
        options.append({"label": ("* " if key == default else "") + label, "value": key})
    return options


def default_text(ctx: AppContext, selection: dict | None) -> str:
    """Whether the shown graph is its layer's saved default (next to "Set as default")."""
    if not selection:
        return ""
    if ctx.run.default_graph_key(selection["layer"]) == selection["key"]:
        return "this is the layer's default graph (opened first next time)"
    return "not the layer's default graph"


# -- layout ---------------------------------------------------------------------------------------
def initial_layer(ctx: AppContext) -> str | None:
    """The first layer with a saved graph (else the first layer): what the app opens on."""
    for layer in ctx.run.layers:
        if ctx.graph_keys(layer):
            return layer
    return ctx.run.layers[0] if ctx.run.layers else None


def layout(ctx: AppContext) -> html.Div:
    """The panel's components (cheap: the figure is drawn by a callback)."""
    from topoact.mapper import MapperConfig

    DEFAULTS = MapperConfig()  # noqa: N806 - the library's defaults fill the form
    run = ctx.run
    layers = run.layers
    initial = initial_layer(ctx)
    class_opts = [{"label": name, "value": i} for i, name in enumerate(run.label_names)]
    controls = html.Div([
        _labelled("layer", dcc.Dropdown(id=ids.LAYER_DROPDOWN, options=layers, value=initial,
                                        clearable=False), "14em"),
        _labelled("graph", dcc.Dropdown(id=ids.KEY_DROPDOWN, options=[], value=None, clearable=False), "22em"),
        _labelled("colour by", dcc.Dropdown(id=ids.COLOR_DROPDOWN, options=ctx.color_options(), value="majority",
                                            clearable=False), "14em"),
        _labelled("search a class", dcc.Dropdown(id=ids.CLASS_DROPDOWN, options=class_opts, value=None,
                                                 placeholder="class…"), "12em"),
        _labelled("min edge weight (Jaccard)", dcc.Slider(id=ids.EDGE_SLIDER, min=0, max=1, step=0.05, value=0,
                                                          marks={0: "0", 0.5: "0.5", 1: "1"},
                                                          tooltip={"placement": "bottom"}), "14em"),
        _labelled("node id", dcc.Input(id=ids.NODE_INPUT, type="number", min=0, step=1, debounce=True,
                                       style={"width": "6em"}), "7em"),
    ], style=_row)
    form = html.Details([
        html.Summary("Mapper parameters — recompute"),
        html.Div([
            _labelled("lens", dcc.Dropdown(id=ids.P_LENS, options=_options(LENSES), value=DEFAULTS.lens,
                                           clearable=False)),
            _labelled("cover", dcc.Dropdown(id=ids.P_COVER, options=_options(COVERS), value=DEFAULTS.cover,
                                            clearable=False)),
            _labelled("intervals", dcc.Input(id=ids.P_INTERVALS, type="number", min=1, step=1,
                                             value=DEFAULTS.n_intervals, style={"width": "6em"}), "7em"),
            _labelled("overlap", dcc.Input(id=ids.P_OVERLAP, type="number", min=0, max=0.95, step=0.05,
                                           value=DEFAULTS.overlap, style={"width": "6em"}), "7em"),
            _labelled("clusterer", dcc.Dropdown(id=ids.P_CLUSTERER, options=_options(CLUSTERERS),
                                                value=DEFAULTS.clusterer, clearable=False)),
            _labelled("eps (or auto)", dcc.Input(id=ids.P_EPS, type="text", value=str(DEFAULTS.eps), style={"width": "6em"}), "7em"),
            _labelled("metric", dcc.Dropdown(id=ids.P_METRIC, options=_options(METRICS), value=DEFAULTS.metric,
                                             clearable=False)),
            _labelled("min samples", dcc.Input(id=ids.P_MIN_SAMPLES, type="number", min=1, step=1,
                                               value=DEFAULTS.min_samples, style={"width": "6em"}), "7em"),
            html.Button("Compute graph", id=ids.COMPUTE_BUTTON, n_clicks=0),
            html.Button("Cancel", id=ids.CANCEL_BUTTON, n_clicks=0, disabled=True),
        ], style=_row),
        html.Div([html.Progress(id=ids.JOB_PROGRESS, value=PROGRESS_DEFAULT[0], max="1", style={"width": "12em"}),
                  html.Span(id=ids.JOB_PROGRESS_TEXT, style={"marginLeft": "0.8em", "fontSize": "0.85em"}),
                  html.Span(id=ids.JOB_STATUS, style={"marginLeft": "0.8em", "fontSize": "0.85em"})]),
    ], open=True, style={"marginBottom": "0.5em"})
    export = html.Div([
        html.Button("Export graph JSON", id=ids.EXPORT_JSON, n_clicks=0),
        html.Button("Export KeplerMapper HTML", id=ids.EXPORT_HTML, n_clicks=0, style={"marginLeft": "0.5em"}),
        dcc.Download(id=ids.EXPORT_DOWNLOAD),
    ], style={"marginTop": "0.3em"})
    return html.Div([
        controls,
        form,
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

    @app.callback(
        [Output(component, "value") for component in FORM_IDS],
        Input(ids.GRAPH_KEY, "data"),
        prevent_initial_call=True,
    )
    def show_params(selection):
        """Fill the form with the shown graph's parameters."""
        if not selection:
            raise PreventUpdate
        return form_values(ctx.graph(selection["layer"], selection["key"]).get("params"))

    # parameters -> the saved graph, or a background job
    @app.callback(
        Output(ids.MAPPER_RESULT, "data", allow_duplicate=True),
        Output(ids.MAPPER_REQUEST, "data", allow_duplicate=True),
        Output(ids.JOB_STATUS, "children", allow_duplicate=True),
        Input(ids.COMPUTE_BUTTON, "n_clicks"),
        State(ids.LAYER, "data"),
        [State(component, "value") for component in FORM_IDS],
        prevent_initial_call=True,
    )
    def compute(n_clicks, layer, *values):
        if not n_clicks or layer is None:
            raise PreventUpdate
        try:
            result, request = graph_request(ctx, [layer], form_config(*values), layer)
        except ValueError as exc:  # bad parameters are shown next to the form
            return no_update, no_update, f"error: {exc}"
        if result is not None:
            return result, no_update, f"graph {result['key']} (saved before)"
        return no_update, request, "queued"

    @app.callback(
        Output(ids.MAPPER_RESULT, "data", allow_duplicate=True),
        Output(ids.JOB_STATUS, "children", allow_duplicate=True),
        Input(ids.MAPPER_REQUEST, "data"),
        **job_options(ids.JOB_PROGRESS, ids.JOB_PROGRESS_TEXT, cancel=ids.CANCEL_BUTTON,
                      buttons=[ids.COMPUTE_BUTTON]),
    )
    def build(set_progress, request):
        """Runs in a worker process (the background-callback manager's)."""
        if not request:
            raise PreventUpdate
        bar = BarProgress(set_progress)
        try:
            result = build_graphs(ctx.run, request, progress=bar)
        except Exception as exc:  # noqa: BLE001 - shown next to the form
            logger.warning("graph job failed: %s", exc)
            return no_update, f"error: {type(exc).__name__}: {exc}"
        return result, f"graph {result['key']} ready ({bar.elapsed():.1f} s)"

    show_cancelled(app, ids.CANCEL_BUTTON, ids.JOB_STATUS)

    @app.callback(
        Output(ids.KEY_DROPDOWN, "options", allow_duplicate=True),
        Output(ids.KEY_DROPDOWN, "value", allow_duplicate=True),
        Output(ids.COMPARE_VERSION, "data", allow_duplicate=True),
        Input(ids.MAPPER_RESULT, "data"),
        State(ids.LAYER, "data"), State(ids.COMPARE_VERSION, "data"),
        prevent_initial_call=True,
    )
    def show_result(result, layer, version):
        """Show a finished (or already saved) graph when its layer is still the selected one."""
        if not result:
            raise PreventUpdate
        version = (version or 0) + 1
        if result.get("select") is None or result["select"] != layer:
            return no_update, no_update, version
        return key_options(ctx, layer), result["key"], version

    @app.callback(
        Output(ids.DEFAULT_STATUS, "children"),
        Output(ids.KEY_DROPDOWN, "options", allow_duplicate=True),
        Input(ids.DEFAULT_BUTTON, "n_clicks"),
        Input(ids.GRAPH_KEY, "data"),
        prevent_initial_call=True,
    )
    def set_default(n_clicks, selection):
        """The only way the layer's saved default graph changes."""
        if not selection:
            raise PreventUpdate
        if callback_context.triggered_id != ids.DEFAULT_BUTTON:
            return default_text(ctx, selection), no_update
        try:
            ctx.set_default(selection["layer"], selection["key"])
        except (FileNotFoundError, ValueError) as exc:
            return f"error: {exc}", no_update
        return default_text(ctx, selection), key_options(ctx, selection["layer"])

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
