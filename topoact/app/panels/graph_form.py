"""Mapper parameter form of the graph panel: parameters -> a saved graph or a background job.

* The form becomes a :class:`topoact.mapper.MapperConfig` (the library validates it); a graph
  already saved under ``config.key`` is shown at once, otherwise a background job
  (:mod:`topoact.app.background`: worker process, progress bar, cancel) runs
  :func:`topoact.mapper.run_graphs.build_run_graph`, which saves it in the run.
* Every way of asking for a graph (this form, a sweep cell, the neighbouring-layers panel, a
  layer without graphs) writes a request ``{"layers", "params", "select"}`` into
  ``ids.MAPPER_REQUEST`` unless the graph is saved already (:func:`graph_request`); the
  background callback here builds it and writes ``{"layer", "key", "select"}`` into
  ``ids.MAPPER_RESULT``; :func:`register`'s ``show_result`` then updates the graph dropdown.
* Exploring never moves the layer's saved default graph; only "Set as default" does.

Part of the graph panel (:mod:`topoact.app.panels.graph` includes its layout and registers it).
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from dash import Input, Output, State, callback_context, dcc, html, no_update
from dash.exceptions import PreventUpdate

from topoact.app import ids
from topoact.app.background import PROGRESS_DEFAULT, BarProgress, job_options, show_cancelled

if TYPE_CHECKING:
    from dash import Dash

    from topoact.app.context import AppContext
    from topoact.mapper import MapperConfig
    from topoact.progress import ProgressFn
    from topoact.store import Run


logger = logging.getLogger(__name__)

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


def labelled(label, component, width="11em"):
    """A small caption above a form control."""
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
def layout(ctx: AppContext) -> html.Details:
    """The parameter form (filled with the library's defaults until a graph is shown)."""
    from topoact.mapper import MapperConfig

    DEFAULTS = MapperConfig()  # noqa: N806 - the library's defaults fill the form
    return html.Details([
        html.Summary("Mapper parameters — recompute"),
        html.Div([
            labelled("lens", dcc.Dropdown(id=ids.P_LENS, options=_options(LENSES), value=DEFAULTS.lens,
                                           clearable=False)),
            labelled("cover", dcc.Dropdown(id=ids.P_COVER, options=_options(COVERS), value=DEFAULTS.cover,
                                            clearable=False)),
            labelled("intervals", dcc.Input(id=ids.P_INTERVALS, type="number", min=1, step=1,
                                             value=DEFAULTS.n_intervals, style={"width": "6em"}), "7em"),
            labelled("overlap", dcc.Input(id=ids.P_OVERLAP, type="number", min=0, max=0.95, step=0.05,
                                           value=DEFAULTS.overlap, style={"width": "6em"}), "7em"),
            labelled("clusterer", dcc.Dropdown(id=ids.P_CLUSTERER, options=_options(CLUSTERERS),
                                                value=DEFAULTS.clusterer, clearable=False)),
            labelled("eps (or auto)", dcc.Input(id=ids.P_EPS, type="text", value=str(DEFAULTS.eps), style={"width": "6em"}), "7em"),
            labelled("metric", dcc.Dropdown(id=ids.P_METRIC, options=_options(METRICS), value=DEFAULTS.metric,
                                             clearable=False)),
            labelled("min samples", dcc.Input(id=ids.P_MIN_SAMPLES, type="number", min=1, step=1,
                                               value=DEFAULTS.min_samples, style={"width": "6em"}), "7em"),
            html.Button("Compute graph", id=ids.COMPUTE_BUTTON, n_clicks=0),
            html.Button("Cancel", id=ids.CANCEL_BUTTON, n_clicks=0, disabled=True),
        ], style=_row),
        html.Div([html.Progress(id=ids.JOB_PROGRESS, value=PROGRESS_DEFAULT[0], max="1", style={"width": "12em"}),
                  html.Span(id=ids.JOB_PROGRESS_TEXT, style={"marginLeft": "0.8em", "fontSize": "0.85em"}),
                  html.Span(id=ids.JOB_STATUS, style={"marginLeft": "0.8em", "fontSize": "0.85em"})]),
    ], open=True, style={"marginBottom": "0.5em"})


# -- callbacks ------------------------------------------------------------------------------------
def register(app: Dash, ctx: AppContext) -> None:
    """The form's callbacks: fill, compute (saved or background job), show the result, set default."""

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
