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

import functools
import logging
import re
import time
from typing import TYPE_CHECKING, Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback_context, dcc, html, no_update
from dash.exceptions import PreventUpdate

from topoact.app import ids
from topoact.app.background import PROGRESS_DEFAULT, BarProgress, job_options, show_cancelled
from topoact.app.help import HELP, LENS_NAMES, error_id, field, graph_name, info_mark

if TYPE_CHECKING:
    from dash import Dash

    from topoact.app.context import AppContext
    from topoact.mapper import MapperConfig
    from topoact.progress import ProgressFn
    from topoact.store import Run


logger = logging.getLogger(__name__)

LENSES = [(name, LENS_NAMES[name]) for name in ("umap2", "pca2", "umap", "pca", "l2", "l1", "knn", "maxprob",
                                                 "entropy")]
COVERS = [("uniform", "uniform"), ("balanced", "balanced (quantile)")]
CLUSTERERS = [("dbscan", "DBSCAN"), ("single", "single linkage")]
METRICS = [("euclidean", "euclidean"), ("cosine", "cosine")]
#: the form's fields, in the order of the form and of :func:`form_config`'s arguments
FORM_FIELDS = ("lens", "cover", "n_intervals", "overlap", "clusterer", "eps", "metric", "min_samples")
#: the component ids of these fields
FORM_IDS = (ids.P_LENS, ids.P_COVER, ids.P_INTERVALS, ids.P_OVERLAP, ids.P_CLUSTERER, ids.P_EPS, ids.P_METRIC,
            ids.P_MIN_SAMPLES)
#: each field's caption (the name its error message starts with)
CAPTIONS = {"lens": "lens", "cover": "cover", "n_intervals": "intervals", "overlap": "overlap",
            "clusterer": "clusterer", "eps": "eps", "metric": "metric", "min_samples": "min samples",
            "eps_scale": "eps scale"}
INTEGER_FIELDS = frozenset({"n_intervals", "min_samples"})
#: fields only DBSCAN reads
DBSCAN_FIELDS = frozenset({"eps", "min_samples", "eps_scale"})
ACCORDION = "topoact-form-accordion"
_SELECTS = frozenset({ids.P_LENS, ids.P_COVER, ids.P_CLUSTERER, ids.P_METRIC})
WHY_BUTTON = "topoact-form-why-button"
WHY_COLLAPSE = "topoact-form-why"
WHY_BODY = "topoact-form-why-body"
#: the accordion item's id
FORM_ITEM = "params"
#: a dcc.Tabs without a tab bar holding the fields: "open" renders them, "folded" renders nothing
FORM_SWITCH = "topoact-form-switch"


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

    eps_text = "auto" if eps is None or clusterer != "dbscan" else str(eps).strip().lower()
    return MapperConfig(lens=lens, cover=cover, n_intervals=number("intervals", n_intervals, int),
                        overlap=number("overlap", overlap, float), clusterer=clusterer,
                        eps="auto" if eps_text in ("", "auto") else number("eps", eps_text, float),
                        metric=metric, min_samples=number("min samples", min_samples, int)
                        if clusterer == "dbscan" else MapperConfig().min_samples)  # only DBSCAN reads these


# -- bad values in words ----------------------------------------------------------------------------
_RANGE = re.compile(r"([\[(])(-?inf|-?[\d.]+(?:e[+-]?\d+)?), (-?inf|-?[\d.]+(?:e[+-]?\d+)?)([\])])")


def range_words(message: str, integer: bool = False) -> str | None:
    """The range in a library message (``"... must be in [1, inf], got 0"``) in words.

    Examples
    --------
    >>> range_words("n_intervals must be in [1, inf], got 0", integer=True)
    'a whole number ≥ 1'
    >>> range_words("overlap must be in (0, 1), got 2")
    'a number > 0 and < 1'
    >>> range_words("eps must be 'auto' or a finite number > 0 (0, inf), got -1")
    "a number > 0 or 'auto'"
    """
    match = _RANGE.search(message)
    if not match:
        return None
    left, lo, hi, right = match.groups()
    kind = "a whole number" if integer else "a number"
    bounds = []
    if lo != "-inf":
        bounds.append(f"{'>' if left == '(' else '≥'} {lo}")
    if hi != "inf":
        bounds.append(f"{'<' if right == ')' else '≤'} {hi}")
    words = f"{kind} {' and '.join(bounds)}" if bounds else kind
    return words + (" or 'auto'" if "'auto'" in message else "")


@functools.lru_cache(maxsize=None)
def allowed(name: str) -> str:
    """What the library accepts for the numeric field ``name``, in words, read from its own range
    message (``MapperConfig`` validation is the source of truth: a changed range changes the text)."""
    from topoact.mapper import MapperConfig

    try:
        MapperConfig(clusterer="dbscan", **{name: -10 ** 9})
    except ValueError as exc:
        words = range_words(str(exc), integer=name in INTEGER_FIELDS)
        if words:
            return words
    return "a whole number" if name in INTEGER_FIELDS else "a number"


def field_message(name: str, value: Any, exc: Exception | None = None) -> str:
    """The error line of field ``name`` holding the bad ``value``: ``"intervals: a whole number ≥ 1, not 0"``."""
    caption = CAPTIONS.get(name, name)
    if name in ("lens", "cover", "clusterer", "metric"):  # a choice: the library lists them
        return f"{caption}: {exc}" if exc is not None else f"{caption}: choose one of the list"
    text = "" if value is None else str(value).strip()
    return f"{caption}: {allowed(name)}" + (f", not {text}" if text else " (empty)")


def field_errors(values: dict[str, Any]) -> dict[str, str]:
    """Each bad field's message in words, checked one by one by the library.

    Parameters
    ----------
    values : dict
        Raw field values by :class:`~topoact.mapper.MapperConfig` field name (text as typed);
        fields the chosen clusterer does not read are not checked.

    Returns
    -------
    dict
        ``{field name: message}``, empty when every field is fine.
    """
    from topoact.mapper import MapperConfig

    errors = {}
    dbscan = values.get("clusterer", "dbscan") == "dbscan"
    for name, value in values.items():
        if name in DBSCAN_FIELDS and not dbscan:
            continue
        if isinstance(value, str):
            value = value.strip()
        if name == "eps" and value in ("", None):
            value = "auto"  # an empty eps box means automatic
        try:
            MapperConfig(**({"clusterer": "dbscan"} if name in DBSCAN_FIELDS else {}), **{name: value})
        except ValueError as exc:
            errors[name] = field_message(name, values[name], exc)
    return errors


def form_errors(*values: Any) -> dict[str, str]:
    """The form's bad fields (in :data:`FORM_FIELDS` order of arguments): ``{control id: message}``.

    Every field is checked alone (:func:`field_errors`), then the whole configuration (rules that
    join fields); a message of the latter goes to the field it names (else to lens).
    """
    by_name = field_errors(dict(zip(FORM_FIELDS, values)))
    if not by_name:
        try:
            form_config(*values)
        except ValueError as exc:
            named = [name for name in FORM_FIELDS if str(exc).startswith((name, CAPTIONS[name]))]
            by_name[named[0] if named else "lens"] = str(exc)
    return {FORM_IDS[FORM_FIELDS.index(name)]: message for name, message in by_name.items()}


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
    """Dropdown options of a layer's saved graphs, named by their parameters in words
    (:func:`topoact.app.help.graph_name`, never a hash) and node count.

    The layer's default graph is marked ``*``; unreadable graphs are left out. Graphs are cached
    per (layer, key) by the context (graph files are immutable once saved).
    """
    options = []
    default = ctx.default_key(layer)
    for key in ctx.graph_keys(layer):
        if ctx.graph_label(layer, key) is None:  # unreadable (logged by the context)
            continue
        graph = ctx.graph(layer, key)
        label = graph_name(graph.get("params"), len(graph.get("nodes", [])))
        options.append({"label": ("* " if key == default else "") + label, "value": key})
    seen: dict[str, int] = {}
    for option in options:  # graphs that differ only in what the name leaves out (seed, ...)
        seen[option["label"]] = seen.get(option["label"], 0) + 1
        if seen[option["label"]] > 1:
            option["label"] += f" (#{seen[option['label']]})"
    return options


def default_text(ctx: AppContext, selection: dict | None) -> str:
    """Whether the shown graph is its layer's saved default (next to "Set as default")."""
    if not selection:
        return ""
    if ctx.run.default_graph_key(selection["layer"]) == selection["key"]:
        return "this is the layer's default graph (opened first next time)"
    return "not the layer's default graph"


# -- "why this graph?" ------------------------------------------------------------------------------
def why_content(ctx: AppContext, selection: dict | None) -> list:
    """How the layer's default graph was chosen (``params["auto"]`` of :mod:`topoact.mapper.auto`).

    The shown graph's own choice when it was chosen automatically, else the layer's default
    graph's (with a line saying the shown graph was computed with the form's parameters).
    """
    if not selection:
        return [html.P("No graph shown yet.", className="small mb-0")]
    layer, key = selection["layer"], selection["key"]
    out = []
    auto = (ctx.graph(layer, key).get("params") or {}).get("auto")
    if not auto:
        default = ctx.default_key(layer)
        out.append(html.P("The graph shown was computed with the parameters above (not chosen "
                          "automatically).", className="small mb-1"))
        if default and default != key:
            auto = (ctx.graph(layer, default).get("params") or {}).get("auto")
            if auto:
                out.append(html.P("The layer's default graph was chosen like this:", className="small mb-1"))
    if not auto:
        out.append(html.P("This layer's default graph was not chosen automatically (it was set by hand or "
                          "saved before the automatic choice existed).", className="small mb-0"))
        return out
    candidates = auto.get("candidates") or []
    winner = auto.get("winner")
    out += [html.P(auto.get("reason", ""), className="small mb-1 fw-semibold"),
            html.P(f"Rule: {auto.get('rule', '')}. Scored on {auto.get('n_rows_scored', 0):,} images.",
                   className="small mb-1")]
    head = ["candidate", "nodes", "images covered", "largest node", "explained", "stability", "score", "admissible"]
    rows = []
    for k, c in enumerate(candidates):
        label = graph_name(c.get("params")) if c.get("params") else c.get("label", "?")
        cells = [label, c.get("nodes"), _percent(c.get("coverage")), _percent(c.get("largest")),
                 _fixed(c.get("explained")), _fixed(c.get("stability")), _fixed(c.get("score")),
                 "yes" if c.get("admissible") else "no: " + "; ".join(c.get("failed") or [])]
        rows.append(html.Tr([html.Td(cell) for cell in cells], className="table-success" if k == winner else None))
    out.append(dbc.Table([html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(rows)], size="sm",
                         bordered=False, hover=True, className="mb-0"))
    return out


def _percent(value: Any) -> str:
    return f"{100 * float(value):.0f} %" if isinstance(value, (int, float)) else "–"


def _fixed(value: Any) -> str:
    return f"{float(value):.3f}" if isinstance(value, (int, float)) else "–"


# -- layout ---------------------------------------------------------------------------------------
def _select(control_id: str, pairs: list[tuple[str, str]], value: str) -> dbc.Select:
    return dbc.Select(id=control_id, options=_options(pairs), value=value, size="sm")


def _text(control_id: str, value: Any, placeholder: str = "") -> dbc.Input:
    return dbc.Input(id=control_id, type="text", value=value, size="sm", placeholder=placeholder,
                     autoComplete="off")


def form_fields(values: list | tuple) -> html.Div:
    """The form's fields (captions, info marks, controls, error lines) holding ``values``.

    Parameters
    ----------
    values : sequence
        One value per field, in :data:`FORM_FIELDS` order (:func:`form_values`).

    Returns
    -------
    dash.html.Div
        Rendered only while the form is unfolded (:data:`FORM_SWITCH`): folded, its ~40
        components would cost the Dash renderer work on every store update of every interaction.
    """
    v = dict(zip(FORM_FIELDS, values))
    return html.Div([
        field("lens", _select(ids.P_LENS, LENSES, v["lens"]), help=HELP["lens"], control_id=ids.P_LENS,
              width="10em"),
        field("cover", _select(ids.P_COVER, COVERS, v["cover"]), help=HELP["cover"],
              control_id=ids.P_COVER, width="10em"),
        field("intervals (per lens axis)", _text(ids.P_INTERVALS, v["n_intervals"]), help=HELP["n_intervals"],
              control_id=ids.P_INTERVALS, width="11.5em"),
        field("overlap (0–1)", _text(ids.P_OVERLAP, v["overlap"]), help=HELP["overlap"],
              control_id=ids.P_OVERLAP, width="7em"),
        field("clusterer", _select(ids.P_CLUSTERER, CLUSTERERS, v["clusterer"]), help=HELP["clusterer"],
              control_id=ids.P_CLUSTERER, width="9em"),
        field("eps (distance)", _text(ids.P_EPS, v["eps"], placeholder="auto"), help=HELP["eps"],
              control_id=ids.P_EPS, width="7em"),
        field("metric", _select(ids.P_METRIC, METRICS, v["metric"]), help=HELP["metric"],
              control_id=ids.P_METRIC, width="8em"),
        field("min samples (images)", _text(ids.P_MIN_SAMPLES, v["min_samples"]), help=HELP["min_samples"],
              control_id=ids.P_MIN_SAMPLES, width="11em"),
    ], className="topoact-form-row mb-2")


def initial_values(ctx: AppContext, selection: dict | None) -> list:
    """The form's values for the graph the page opens on (the library's defaults without one)."""
    values = form_values(None)
    if selection:
        try:
            shown = form_values(ctx.graph(selection["layer"], selection["key"]).get("params"))
        except Exception:  # noqa: BLE001 - an unreadable graph: the defaults
            shown = values
        values = [default if value is no_update else value for value, default in zip(shown, values)]
    return values


def layout(ctx: AppContext, selection: dict | None = None) -> html.Div:
    """The parameter form, folded ("Mapper parameters"); below it the job's progress bar and status
    (visible while folded).

    The fields (holding ``selection``'s parameters at first) are rendered only while the form is
    unfolded: they are the content of a hidden tab of a ``dcc.Tabs`` without a tab bar
    (:data:`FORM_SWITCH`), which renders the selected tab's content only. They stay in the Dash
    layout, so callbacks read and write them and edits survive folding and unfolding.
    """
    buttons = html.Div([
        dbc.Button("Compute graph", id=ids.COMPUTE_BUTTON, n_clicks=0, size="sm", color="primary"),
        dbc.Button("Cancel", id=ids.CANCEL_BUTTON, n_clicks=0, disabled=True, size="sm", color="secondary",
                   outline=True, className="ms-2"),
        dbc.Button("Why this graph?", id=WHY_BUTTON, n_clicks=0, size="sm", color="link", className="ms-2"),
        info_mark(f"{WHY_BUTTON}-info", HELP["why"]),
    ], className="d-flex align-items-center")
    why = dbc.Collapse(html.Div(id=WHY_BODY, className="topoact-why mt-2"), id=WHY_COLLAPSE, is_open=False)
    form = dbc.Accordion(
        dbc.AccordionItem([dcc.Tabs(id=FORM_SWITCH, value="folded", style={"display": "none"}, children=[
            dcc.Tab(value="open", children=form_fields(initial_values(ctx, selection))), dcc.Tab(value="folded"),
        ]), buttons, why], title="Mapper parameters", item_id=FORM_ITEM),
        id=ACCORDION, start_collapsed=True, active_item=None, className="topoact-params mb-1",
    )
    status = html.Div([
        html.Progress(id=ids.JOB_PROGRESS, value=PROGRESS_DEFAULT[0], max="1", style={"width": "10em"}),
        html.Span(id=ids.JOB_PROGRESS_TEXT, className="ms-2"),
        html.Span(id=ids.JOB_STATUS, className="ms-2"),
    ], className="topoact-job-status small text-secondary d-flex align-items-center")
    return html.Div([form, status], style={"flex": "0 0 auto"})


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

    # the fields are rendered only while the form is unfolded (see ``layout``)
    app.clientside_callback("function(active) { return active === '%s' ? 'open' : 'folded'; }" % FORM_ITEM,
                            Output(FORM_SWITCH, "value"), Input(ACCORDION, "active_item"),
                            prevent_initial_call=True)

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
        errors = form_errors(*values)
        if errors:  # each message is on its field's error line (``validate``)
            return no_update, no_update, "check the marked field: " + "; ".join(errors.values())
        result, request = graph_request(ctx, [layer], form_config(*values), layer)
        if result is not None:
            return result, no_update, f"graph {result['key']} (saved before)"
        return no_update, request, "queued"

    @app.callback(
        [Output(error_id(component), "children") for component in FORM_IDS],
        [Output(component, "invalid") for component in FORM_IDS if component not in _SELECTS],
        [Input(component, "value") for component in FORM_IDS],
        prevent_initial_call=True,
    )
    def validate(*values):
        """Every bad value gets its message in words on its field's error line."""
        errors = form_errors(*values)
        lines = [errors.get(component, "") for component in FORM_IDS]
        return (*lines, *[component in errors for component in FORM_IDS if component not in _SELECTS])

    @app.callback(Output(WHY_COLLAPSE, "is_open"), Input(WHY_BUTTON, "n_clicks"), State(WHY_COLLAPSE, "is_open"),
                  prevent_initial_call=True)
    def toggle_why(n_clicks, is_open):
        return not is_open if n_clicks else is_open

    @app.callback(Output(WHY_BODY, "children"), Input(ids.GRAPH_KEY, "data"), Input(WHY_COLLAPSE, "is_open"),
                  prevent_initial_call=True)  # folded at first: nothing to show
    def explain(selection, shown):
        """The "Why this graph?" content of the shown graph (or its layer's default), mounted only
        while it is unfolded (its table is dozens of components)."""
        if not shown:  # folding empties it; another graph while folded changes nothing
            if callback_context.triggered_id != WHY_COLLAPSE:
                raise PreventUpdate
            return []
        try:
            return why_content(ctx, selection)
        except Exception as exc:  # noqa: BLE001 - a graph that cannot be read: say so, keep the page
            logger.warning("cannot explain graph %s: %s", selection, exc)
            return html.P(f"cannot read the graph's choice: {exc}", className="small text-danger")

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
