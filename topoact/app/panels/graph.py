"""Graph panel: layer and graph choice, the interactive Mapper graph, Mapper parameters.

* Layer dropdown and saved-graph dropdown (every graph saved for the layer, labelled by its
  parameters); a layer without any graph gets its default graph computed in the background.
* Colour by majority class / purity / mean lens / accuracy / size / mean L2 norm / any per-image
  attribute (cyclic colour scale for circular ones), class search (fade nodes without it),
  Jaccard edge-weight threshold, a node-id box (select a node without clicking).
* Parameter form (lens, cover, intervals, overlap, clusterer, eps or auto, metric, min
  samples) -> "Compute graph": a background job through
  ``topoact.mapper.run_graphs.build_run_graph`` with a progress bar and a cancel button; the
  finished graph is saved in the run under its parameter key by the engine (which also makes it
  the layer's default, i.e. the graph shown first next time) and selected. Same parameters again -> the cached graph, instantly.
* Export the shown graph as JSON or as KeplerMapper's standalone HTML (dcc.Download).
"""
from __future__ import annotations

import json
import logging

from dash import Input, Output, State, callback_context, dcc, html, no_update
from dash.exceptions import PreventUpdate

from topoact.app import ids
from topoact.app.jobs import describe_job
from topoact.figures.graph import empty_figure, graph_figure

logger = logging.getLogger(__name__)

TAB_LABEL = "Mapper graph"

LENSES = [("l2", "L2 norm"), ("l1", "L1 norm"), ("pca", "PCA (1st component)"), ("pca2", "PCA (2-D)"),
          ("knn", "k-NN distance (density)"), ("maxprob", "max probability"), ("entropy", "prediction entropy")]
COVERS = [("uniform", "uniform"), ("balanced", "balanced (quantile)")]
CLUSTERERS = [("dbscan", "DBSCAN"), ("single", "single linkage")]
METRICS = [("euclidean", "euclidean"), ("cosine", "cosine")]
DEFAULT_FORM = {"lens": "l2", "cover": "uniform", "intervals": 10, "overlap": 0.3, "clusterer": "dbscan",
                "eps": "auto", "metric": "euclidean", "min_samples": 3}

_row = {"display": "flex", "flexWrap": "wrap", "gap": "0.8em", "alignItems": "flex-end", "marginBottom": "0.5em"}


def _labelled(label, component, width="11em"):
    return html.Div([html.Label(label, style={"fontSize": "0.8em", "color": "#555"}), component],
                    style={"width": width})


def _options(pairs):
    return [{"label": label, "value": value} for value, label in pairs]


# -- parameters -----------------------------------------------------------------------------------
def form_params(lens, cover, intervals, overlap, clusterer, eps, metric, min_samples) -> dict:
    """Validate the form's values into the keyword arguments of ``mapper_params``."""
    try:
        intervals = int(intervals)
        overlap = float(overlap)
        min_samples = int(min_samples)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"intervals, overlap and min samples must be numbers ({exc})") from None
    if intervals < 1:
        raise ValueError(f"intervals must be >= 1, got {intervals}")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    if lens not in {value for value, _ in LENSES}:
        raise ValueError(f"unknown lens {lens!r}")
    if min_samples < 1:
        raise ValueError(f"min samples must be >= 1, got {min_samples}")
    eps_text = str(eps).strip().lower() if eps is not None else "auto"
    if eps_text in ("", "auto"):
        eps_value = "auto"
    else:
        try:
            eps_value = float(eps_text)
        except ValueError:
            raise ValueError(f"eps must be a positive number or 'auto', got {eps!r}") from None
        if eps_value <= 0:
            raise ValueError(f"eps must be > 0, got {eps_value}")
    return {"lens": lens, "cover": cover, "intervals": intervals, "overlap": overlap,
            "clusterer": clusterer, "eps": eps_value, "metric": metric, "min_samples": min_samples}


def mapper_job(ctx, layer: str, form: dict | None = None, *, params: dict | None = None):
    """Submit (or reuse) the background job that builds and saves a graph; returns the job key.

    ``form`` holds the keyword arguments of ``mapper_params``; ``params`` an already complete
    parameter dict (e.g. from a sweep summary).
    """
    from topoact.mapper import run_graphs

    if params is None:
        params = run_graphs.mapper_params(**form)
    key = run_graphs.graph_key(params)
    if key in ctx.run.graph_keys(layer):
        return ctx.jobs.put("mapper", {"layer": layer, "key": key}, {"layer": layer, "key": key})

    def work(progress, should_cancel):
        # build_run_graph saves the graph (and its node means) in the run under its key
        graph = run_graphs.build_run_graph(ctx.run, layer, params, progress=progress, should_cancel=should_cancel)
        return {"layer": layer, "key": graph.get("key") or key}

    return ctx.jobs.submit("mapper", {"layer": layer, "key": key}, work)


def key_options(ctx, layer: str) -> list[dict]:
    """Dropdown options of a layer's saved graphs, labelled by node count and parameters.

    Labels are cached per (layer, key) (graph files are immutable once saved), so listing a
    layer with many large graphs parses each file once per app, not on every layer switch.
    """
    options = []
    default = ctx.default_key(layer)
    for key in ctx.graph_keys(layer):
        label = ctx.graph_label(layer, key)
        if label is None:
            continue
        options.append({"label": ("* " if key == default else "") + label, "value": key})
    return options


# -- layout ---------------------------------------------------------------------------------------
def initial_layer(ctx) -> str | None:
    """The first layer with a saved graph (else the first layer): what the app opens on."""
    for layer in ctx.run.layers:
        if ctx.graph_keys(layer):
            return layer
    return ctx.run.layers[0] if ctx.run.layers else None


def layout(ctx):
    run = ctx.run
    layers = run.layers
    initial = initial_layer(ctx)
    class_opts = [{"label": name, "value": i} for i, name in enumerate(run.class_names)]
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
            _labelled("lens", dcc.Dropdown(id=ids.P_LENS, options=_options(LENSES), value=DEFAULT_FORM["lens"],
                                           clearable=False)),
            _labelled("cover", dcc.Dropdown(id=ids.P_COVER, options=_options(COVERS), value=DEFAULT_FORM["cover"],
                                            clearable=False)),
            _labelled("intervals", dcc.Input(id=ids.P_INTERVALS, type="number", min=1, step=1,
                                             value=DEFAULT_FORM["intervals"], style={"width": "6em"}), "7em"),
            _labelled("overlap", dcc.Input(id=ids.P_OVERLAP, type="number", min=0, max=0.95, step=0.05,
                                           value=DEFAULT_FORM["overlap"], style={"width": "6em"}), "7em"),
            _labelled("clusterer", dcc.Dropdown(id=ids.P_CLUSTERER, options=_options(CLUSTERERS),
                                                value=DEFAULT_FORM["clusterer"], clearable=False)),
            _labelled("eps (or auto)", dcc.Input(id=ids.P_EPS, type="text", value="auto", style={"width": "6em"}), "7em"),
            _labelled("metric", dcc.Dropdown(id=ids.P_METRIC, options=_options(METRICS), value=DEFAULT_FORM["metric"],
                                             clearable=False)),
            _labelled("min samples", dcc.Input(id=ids.P_MIN_SAMPLES, type="number", min=1, step=1,
                                               value=DEFAULT_FORM["min_samples"], style={"width": "6em"}), "7em"),
            html.Button("Compute graph", id=ids.COMPUTE_BUTTON, n_clicks=0),
            html.Button("Cancel", id=ids.CANCEL_BUTTON, n_clicks=0),
        ], style=_row),
        html.Div([html.Progress(id=ids.JOB_PROGRESS, value="0", max="1", style={"width": "12em"}),
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
        html.Div(id=ids.NODE_COUNT, style={"fontSize": "0.9em", "color": "#333"}),
        dcc.Store(id=ids.MAPPER_JOB, data=None),
        dcc.Graph(id=ids.GRAPH, figure=empty_figure("loading…"), config={"scrollZoom": True, "displaylogo": False},
                  style={"height": "620px"}),
        html.Div(id=ids.GRAPH_INFO, style={"fontSize": "0.8em", "color": "#666"}),
        export,
    ])


# -- figure ---------------------------------------------------------------------------------------
def build_figure(ctx, selection, color_by, highlight_class, edge_threshold, node_store, upload, height=600,
                 title=None, show_legend=True, cycle=None):
    """The figure and its caption for a ``{"layer", "key"}`` selection (shared with compare)."""
    layer, key = selection["layer"], selection["key"]
    graph = ctx.graph(layer, key)
    positions = ctx.positions(layer, key)
    values = kind = period = None
    if color_by and color_by != "majority":
        values, kind, period = ctx.node_values(layer, key, color_by)
    selected = None
    if node_store and node_store.get("layer") == layer and node_store.get("graph_key") == key:
        selected = node_store.get("node")
    marked = []
    if upload and layer in (upload.get("layers") or {}):
        entry = upload["layers"][layer]
        if entry.get("graph_key") == key:
            marked = entry.get("nodes", [])
    if cycle and cycle.get("layer") == layer and cycle.get("graph_key") == key:
        marked = list(marked) + list(cycle.get("nodes", []))  # nodes on a persistence cycle
    fig = graph_figure(graph, positions, color_by=color_by or "majority", values=values,
                       color_kind=kind or "linear", period=period, class_names=ctx.run.class_names,
                       highlight_class=highlight_class, edge_threshold=float(edge_threshold or 0.0),
                       selected_node=selected, marked_nodes=marked, height=height, title=title,
                       show_legend=show_legend)
    n_shown = sum(1 for e in graph.get("edges", []) if float(e.get("weight", 1.0)) >= float(edge_threshold or 0))
    text = f"{len(graph['nodes'])} nodes · {len(graph.get('edges', []))} edges ({n_shown} shown) · graph {key}"
    if highlight_class is not None:
        hit = sum(1 for n in graph["nodes"] if int(n.get("label_counts", {}).get(str(highlight_class), 0)) > 0)
        text += f" · {hit} nodes contain {ctx.run.class_names[highlight_class]}"
    return fig, text


# -- callbacks ------------------------------------------------------------------------------------
def register(app, ctx):
    run = ctx.run

    @app.callback(
        Output(ids.LAYER, "data"),
        Output(ids.KEY_DROPDOWN, "options"),
        Output(ids.KEY_DROPDOWN, "value"),
        Output(ids.MAPPER_JOB, "data", allow_duplicate=True),
        Output(ids.JOB_POLL, "disabled", allow_duplicate=True),
        Input(ids.LAYER_DROPDOWN, "value"),
        prevent_initial_call="initial_duplicate",
    )
    def choose_layer(layer):
        if layer is None:
            raise PreventUpdate
        options = key_options(ctx, layer)
        default = ctx.default_key(layer)
        if default is None:  # nothing saved yet: compute the default graph in the background
            job = mapper_job(ctx, layer, dict(DEFAULT_FORM))
            return layer, options, None, {"key": job, "layer": layer}, False
        return layer, options, default, no_update, no_update

    @app.callback(
        Output(ids.GRAPH_KEY, "data"),
        Output(ids.NODE, "data", allow_duplicate=True),
        Input(ids.KEY_DROPDOWN, "value"),
        State(ids.LAYER, "data"),
        prevent_initial_call=True,
    )
    def choose_graph(key, layer):
        if key is None or layer is None:
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
        Input(ids.NODE, "data"),
        Input(ids.UPLOAD, "data"),
        Input(ids.HIGHLIGHT, "data"),
    )
    def draw(selection, color_by, highlight, threshold, node_store, upload, cycle):
        if not selection:
            return empty_figure("no graph selected (computing the layer's default graph…)"), ""
        try:
            return build_figure(ctx, selection, color_by, highlight, threshold, node_store, upload, cycle=cycle)
        except Exception as exc:  # noqa: BLE001 - show, don't crash the page
            logger.exception("cannot draw graph %s", selection)
            return empty_figure(f"cannot draw the graph: {exc}"), f"error: {exc}"

    @app.callback(
        Output(ids.NODE, "data", allow_duplicate=True),
        Input(ids.GRAPH, "clickData"),
        Input(ids.NODE_INPUT, "value"),
        State(ids.GRAPH_KEY, "data"),
        prevent_initial_call=True,
    )
    def choose_node(click, typed, selection):
        if not selection:
            raise PreventUpdate
        trigger = callback_context.triggered_id
        if trigger == ids.NODE_INPUT:
            if typed is None:
                raise PreventUpdate
            node = int(typed)
        else:
            points = (click or {}).get("points") or []
            if not points or points[0].get("customdata") is None:
                raise PreventUpdate
            custom = points[0]["customdata"]
            node = int(custom[0] if isinstance(custom, list) else custom)
        try:
            ctx.node(selection["layer"], selection["key"], node)
        except KeyError:
            raise PreventUpdate from None
        return {"layer": selection["layer"], "graph_key": selection["key"], "node": node}

    # parameters -> background job
    @app.callback(
        Output(ids.P_LENS, "value"), Output(ids.P_COVER, "value"), Output(ids.P_INTERVALS, "value"),
        Output(ids.P_OVERLAP, "value"), Output(ids.P_CLUSTERER, "value"), Output(ids.P_EPS, "value"),
        Output(ids.P_METRIC, "value"), Output(ids.P_MIN_SAMPLES, "value"),
        Input(ids.GRAPH_KEY, "data"),
        prevent_initial_call=True,
    )
    def show_params(selection):
        """Fill the form with the shown graph's parameters (where the form knows them)."""
        if not selection:
            raise PreventUpdate
        params = ctx.graph(selection["layer"], selection["key"]).get("params", {}) or {}
        flat = _flatten_params(params)
        out = []
        for name in ("lens", "cover", "intervals", "overlap", "clusterer", "eps", "metric", "min_samples"):
            value = flat.get(name, no_update)
            if name == "eps" and value is not no_update:
                value = "auto" if value in (None, "auto") else str(value)
            if isinstance(value, (dict, list)):
                value = no_update
            out.append(value)
        return out

    @app.callback(
        Output(ids.MAPPER_JOB, "data", allow_duplicate=True),
        Output(ids.JOB_POLL, "disabled", allow_duplicate=True),
        Output(ids.JOB_STATUS, "children", allow_duplicate=True),
        Input(ids.COMPUTE_BUTTON, "n_clicks"),
        State(ids.LAYER, "data"),
        State(ids.P_LENS, "value"), State(ids.P_COVER, "value"), State(ids.P_INTERVALS, "value"),
        State(ids.P_OVERLAP, "value"), State(ids.P_CLUSTERER, "value"), State(ids.P_EPS, "value"),
        State(ids.P_METRIC, "value"), State(ids.P_MIN_SAMPLES, "value"),
        prevent_initial_call=True,
    )
    def compute(n_clicks, layer, *values):
        if not n_clicks or layer is None:
            raise PreventUpdate
        try:
            form = form_params(*values)
            job = mapper_job(ctx, layer, form)
        except Exception as exc:  # noqa: BLE001 - bad parameters are shown next to the form
            return no_update, no_update, f"error: {exc}"
        return {"key": job, "layer": layer}, False, "queued"

    @app.callback(
        Output(ids.JOB_STATUS, "children"),
        Output(ids.JOB_PROGRESS, "value"),
        Output(ids.KEY_DROPDOWN, "options", allow_duplicate=True),
        Output(ids.KEY_DROPDOWN, "value", allow_duplicate=True),
        Output(ids.MAPPER_JOB, "data", allow_duplicate=True),
        Input(ids.JOB_POLL, "n_intervals"),
        State(ids.MAPPER_JOB, "data"),
        State(ids.LAYER, "data"),
        prevent_initial_call=True,
    )
    def poll(_n, job, layer):
        phase, text, status = describe_job(ctx.jobs, job)
        if phase == "idle":
            raise PreventUpdate
        if phase == "running":
            return text, str(status["progress"]), no_update, no_update, no_update
        if phase != "done":
            return text, "0", no_update, no_update, None
        result = ctx.jobs.result(job["key"])
        text = f"graph {result['key']} ready ({status['elapsed']:.1f} s)"
        if result["layer"] != layer:  # user switched layer meanwhile: keep the result for later
            return text, "1", no_update, no_update, None
        return text, "1", key_options(ctx, layer), result["key"], None

    @app.callback(Output(ids.JOB_STATUS, "children", allow_duplicate=True),
                  Input(ids.CANCEL_BUTTON, "n_clicks"), State(ids.MAPPER_JOB, "data"),
                  prevent_initial_call=True)
    def cancel(n_clicks, job):
        if not n_clicks or not job:
            raise PreventUpdate
        return "cancelling…" if ctx.jobs.cancel(job["key"]) else no_update

    # exports
    @app.callback(Output(ids.EXPORT_DOWNLOAD, "data"),
                  Input(ids.EXPORT_JSON, "n_clicks"), Input(ids.EXPORT_HTML, "n_clicks"),
                  State(ids.GRAPH_KEY, "data"), prevent_initial_call=True)
    def export(_json, _html, selection):
        if not selection:
            raise PreventUpdate
        layer, key = selection["layer"], selection["key"]
        stem = f"{_safe(layer)}-{key}"
        if callback_context.triggered_id == ids.EXPORT_JSON:
            return dict(content=json.dumps(ctx.graph(layer, key)), filename=f"{stem}.json", type="application/json")
        return dict(content=kepler_html(ctx, layer, key), filename=f"{stem}.html", type="text/html")


def kepler_html(ctx, layer: str, key: str) -> str:
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


def _flatten_params(params: dict) -> dict:
    """Pull the form's fields out of a (possibly nested) params dict."""
    flat = {}
    for name, value in params.items():
        if isinstance(value, dict):
            for inner, v in value.items():
                flat.setdefault(inner, v)
            if "name" in value or "kind" in value:
                flat.setdefault(name, value.get("name", value.get("kind")))
        else:
            flat[name] = value
    return flat


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
