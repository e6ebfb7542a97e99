"""Persistence panel: the shape of the selected layer's activation space, measured and shown.

What it shows (for the layer chosen in the Mapper graph tab, ``ids.LAYER``):

* A parameter form (landmarks, default 500 for responsiveness; metric euclidean / cosine; max
  homology dimension; bootstrap resamples, 0 = no band), read into the library's
  :class:`~topoact.topology.config.PersistenceConfig` (its validation, its defaults for the rest),
  and "Compute": a background callback (worker process, progress bar, cancel button; see
  :mod:`topoact.app.background`) calling :func:`topoact.topology.run_persistence.layer_persistence`.
  The result is cached in the run directory by the library, so the same parameters later load
  at once; when the tab opens (or the layer changes) the cached result with the form's
  parameters (found by the library's :func:`~topoact.topology.run_persistence.persistence_key`)
  is shown, else the layer's newest cached result, else nothing until Compute.
* Barcode and persistence diagram (:mod:`topoact.figures.persistence`) with the bootstrap
  significance band (red = significant, grey = noise), an H0 / H1 (/ H2) toggle, and the scalar
  summaries: bars and significant bars per dimension, total persistence, longest bar, the band
  ``2c``, whether the Rips filtration was exact or truncated at a threshold.
* Clicking a significant H1 bar (in the barcode or the diagram) selects its representative
  cycle (the library recovers one per significant bar: a shortest loop through the bar's birth
  edge among the landmarks). The panel then lists the cycle's run rows with thumbnails
  (``/topoact/image/<row>.png``) and writes the ids of the Mapper nodes that contain one of these
  rows into the store :data:`HIGHLIGHT` (``{"layer", "graph_key", "nodes", "rows"}``) — for the
  graph shown in the Mapper tab when it is a graph of this layer, else the layer's default
  graph. The panel draws that graph itself with those nodes ringed in red, so the highlight is
  visible here whatever the Mapper tab does; the Mapper tab rings them as well.
* The layer-distance matrix: bottleneck distances between the diagrams (dimension of the
  toggle, H1 when "all") of every layer of the run, computed in the background with
  :func:`~topoact.topology.run_persistence.layer_distance_matrix` using the form's parameters
  (each layer's persistence is cached, so a second matrix is cheap), shown as a heat map.
* Extended persistence of the current Mapper graph with its lens as the filter
  (:func:`~topoact.topology.graph_persistence.extended_diagrams`): loops, branches and
  components with their lens ranges, longest first. No bootstrap band here (it needs the
  graph rebuilt on resampled rows, which is a job for the Mapper engine); the column reports
  persistence in lens units.

Stores hold keys only: ``{"layer", "key"}`` of the shown result, the selected bar and the
highlighted node ids. Results are read through the library (the app's one LRU helper,
:func:`topoact.app.context.cached`).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Iterable

from dash import Input, Output, State, callback_context, dcc, html, no_update
from dash.exceptions import PreventUpdate

from topoact.app import ids
from topoact.app.background import PROGRESS_DEFAULT, BarProgress, job_options, show_cancelled
from topoact.app.context import cached
from topoact.app.routes import image_url
from topoact.figures.graph import empty_figure

if TYPE_CHECKING:
    from dash import Dash

    from topoact.app.context import AppContext
    from topoact.store import Run
    from topoact.topology.config import PersistenceConfig


logger = logging.getLogger(__name__)

TAB_LABEL = "Persistence"

# -- component ids (this panel's own) -------------------------------------------------------------
P = "topoact-persistence-"
TITLE = P + "title"
LANDMARKS = P + "landmarks"
METRIC = P + "metric"
MAX_DIM = P + "max-dim"
BOOTSTRAP = P + "bootstrap"
COMPUTE = P + "compute"
CANCEL = P + "cancel"
PROGRESS = P + "progress"
PROGRESS_TEXT = P + "progress-text"
STATUS = P + "status"
RESULT = P + "store-result"
#: ``{"layer", "key"}`` of the result a job just computed (shown when its layer is still selected)
DONE = P + "store-done"
DIMS = P + "dims"
BARCODE = P + "barcode"
DIAGRAM = P + "diagram"
SUMMARY = P + "summary"
SELECTED_BAR = P + "store-selected-bar"
#: ``{"layer", "graph_key", "nodes": [node ids], "rows": [run rows]}`` of the selected H1 cycle
#: (a shared store of the shell: the Mapper tab rings these nodes too).
HIGHLIGHT = ids.HIGHLIGHT
CYCLE_INFO = P + "cycle-info"
CYCLE_IMAGES = P + "cycle-images"
CYCLE_GRAPH = P + "cycle-graph"
DIST_BUTTON = P + "dist-compute"
DIST_CANCEL = P + "dist-cancel"
DIST_PROGRESS = P + "dist-progress"
DIST_PROGRESS_TEXT = P + "dist-progress-text"
DIST_STATUS = P + "dist-status"
DIST_HEATMAP = P + "dist-heatmap"
EXTENDED = P + "extended"

DEFAULT_FORM = {"n_landmarks": 500, "metric": "euclidean", "max_dim": 1, "n_bootstrap": 10}
MAX_THUMBS = 48
FAMILY_NAMES = {"loops": "loop", "downward_branches": "branch (from a minimum)",
                "upward_branches": "branch (to a maximum)", "components": "component"}

_row = {"display": "flex", "flexWrap": "wrap", "gap": "0.8em", "alignItems": "flex-end", "marginBottom": "0.5em"}


# -- pure helpers (tested without a browser) ------------------------------------------------------
def persistence_form(n_landmarks: Any, metric: str, max_dim: Any, n_bootstrap: Any) -> PersistenceConfig:
    """The form as the library's :class:`~topoact.topology.config.PersistenceConfig`.

    Fields the form does not show keep the library's defaults.

    Raises
    ------
    ValueError
        Naming the field and its allowed range (the library's validation).
    """
    from topoact.topology.config import PersistenceConfig

    def whole(name, value):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a whole number, got {value!r}") from None

    return PersistenceConfig(n_landmarks=whole("landmarks", n_landmarks), metric=metric,
                             max_dim=whole("max dim", max_dim), n_bootstrap=whole("bootstrap", n_bootstrap))


def bar_from_click(click: dict | None) -> tuple[int, int] | None:
    """``(dim, index in the diagram)`` of a clicked barcode bar / diagram point, else None."""
    points = (click or {}).get("points") or []
    for point in points:
        custom = point.get("customdata")
        if isinstance(custom, (list, tuple)) and len(custom) >= 2 and custom[0] is not None:
            try:
                return int(custom[0]), int(custom[1])
            except (TypeError, ValueError):
                continue
    return None


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))


def cycle_for_bar(result: dict, dim: int, index: int) -> dict | None:
    """The representative cycle of bar ``index`` of the ``dim`` diagram, or None.

    Cycles exist for H1 bars only, and only for those the library explained (the significant
    ones; the 5 longest when there is no band); a cycle may have ``rows=None`` when it could not
    be recovered.
    """
    if dim != 1 or dim >= len(result.get("diagrams", [])):
        return None
    diagram = result["diagrams"][dim]
    if not 0 <= index < len(diagram):
        return None
    birth, death = diagram[index]
    for cycle in result.get("cycles", []):
        if _close(cycle["birth"], birth) and _close(cycle.get("death"), death):
            return cycle
    return None


def nodes_on_cycle(graph: dict, rows: Iterable[int] | None) -> list[int]:
    """Ids of the Mapper nodes with at least one member among ``rows``, sorted."""
    rows = {int(r) for r in rows or ()}
    return sorted(int(n["id"]) for n in graph.get("nodes", []) if rows.intersection(map(int, n["members"])))


def summary_rows(result: dict) -> list[tuple[str, str]]:
    """(label, text) lines of the scalar summaries of a result."""
    s = result["summaries"]
    band = result.get("band") or []
    lines = []
    for dim in range(len(result["diagrams"])):
        d = s.get(f"h{dim}")
        if d is None:
            continue
        b = band[dim] if dim < len(band) else None
        lines.append((f"H{dim}", f"{d['n_significant']} significant of {d['n_bars']} bars"
                      f" · total persistence {d['total_persistence']:.4g}"
                      f" · longest finite {d['max_persistence']:.4g}"
                      f" · band 2c = {'none (no bootstrap)' if b is None else format(b, '.4g')}"
                      + (f" · {d['n_infinite']} infinite" if d["n_infinite"] else "")))
    if "longest_h1" in s:
        lines.append(("longest H1 bar", f"{s['longest_h1']:.4g}"))
    if result.get("exact"):
        lines.append(("filtration", f"exact (Rips up to the enclosing radius {result['enclosing_radius']:.4g})"))
    else:
        lines.append(("filtration", f"truncated at {result['threshold']:.4g} (enclosing radius "
                      f"{result['enclosing_radius']:.4g}); {result.get('n_truncated', 0)} bar(s) cut at the "
                      "threshold are drawn to the right edge"))
    params = result.get("params", {})
    lines.append(("points", f"{len(result['landmarks'])} landmarks of {result['n_points']} rows "
                  f"({params.get('landmark_method', 'maxmin')}, covering radius {result['covering_radius']:.4g}),"
                  f" {result['n_features']}-D, {params.get('metric', '?')}"))
    timings = result.get("timings", {})
    total = sum(v for k, v in timings.items() if k in ("landmarks", "persistence", "bootstrap"))
    lines.append(("computed", f"{total:.1f} s" + (" · loaded from the run's cache" if result.get("cached") else "")))
    return lines


def graph_feature_rows(graph: dict, *, lens_index: int = 0, limit: int = 40) -> list[dict]:
    """Extended-persistence features of a Mapper graph, loops first, then by persistence."""
    from topoact.topology.graph_persistence import extended_diagrams, graph_features

    features = graph_features(extended_diagrams(graph, lens_index=lens_index))
    features.sort(key=lambda f: (f["family"] != "loops", -f["persistence"]))
    return [{"kind": FAMILY_NAMES.get(f["family"], f["family"]), "family": f["family"],
             "lens_min": f["lens_min"], "lens_max": f["lens_max"], "persistence": f["persistence"]}
            for f in features[:limit]]


def choose_cached(run: Run, layer: str, config: PersistenceConfig | None = None) -> dict | None:
    """``{"layer", "key"}`` of the cached result to show: the one for ``config``, else the newest.

    The key of ``config``'s result is the library's own
    (:func:`~topoact.topology.run_persistence.persistence_key`).
    """
    from topoact.topology.run_persistence import cached_persistence, persistence_key

    entries = cached_persistence(run, layer)
    if not entries:
        return None
    if config is not None:
        key = persistence_key(run, layer, config)
        if any(e["key"] == key for e in entries):
            return {"layer": layer, "key": key}
    return {"layer": layer, "key": entries[0]["key"]}


def _dims(choice, result) -> tuple[int, ...]:
    n = len(result["diagrams"])
    if choice == "all":
        return tuple(range(n))
    dim = int(choice)
    return (dim,) if dim < n else (n - 1,)


# -- layout ---------------------------------------------------------------------------------------
def _labelled(label, component, width="9em"):
    return html.Div([html.Label(label, style={"fontSize": "0.8em", "color": "#555"}), component],
                    style={"width": width})


def layout(ctx: AppContext) -> html.Div:
    """Form, progress, barcode and diagram, cycle, layer distances, extended persistence."""
    form = html.Div([
        _labelled("landmarks", dcc.Input(id=LANDMARKS, type="number", min=2, step=1,
                                         value=DEFAULT_FORM["n_landmarks"], style={"width": "7em"})),
        _labelled("metric", dcc.Dropdown(id=METRIC, options=["euclidean", "cosine"], value=DEFAULT_FORM["metric"],
                                         clearable=False)),
        _labelled("max dim", dcc.Dropdown(id=MAX_DIM, options=[0, 1, 2], value=DEFAULT_FORM["max_dim"],
                                          clearable=False), "6em"),
        _labelled("bootstrap", dcc.Input(id=BOOTSTRAP, type="number", min=0, step=1,
                                         value=DEFAULT_FORM["n_bootstrap"], style={"width": "6em"}), "7em"),
        html.Button("Compute", id=COMPUTE, n_clicks=0),
        html.Button("Cancel", id=CANCEL, n_clicks=0, disabled=True),
        html.Progress(id=PROGRESS, value=PROGRESS_DEFAULT[0], max="1", style={"width": "12em"}),
        html.Span(id=PROGRESS_TEXT, style={"fontSize": "0.85em"}),
        html.Span(id=STATUS, style={"fontSize": "0.85em"}),
    ], style=_row)
    toggle = dcc.RadioItems(id=DIMS, options=[{"label": " H0", "value": "0"}, {"label": " H1", "value": "1"},
                                              {"label": " H2", "value": "2"}, {"label": " all", "value": "all"}],
                            value="1", inline=True, inputStyle={"marginLeft": "0.8em"})
    figures = html.Div([
        html.Div(dcc.Graph(id=BARCODE, figure=empty_figure("no result yet: press Compute", height=420),
                           config={"displaylogo": False}), style={"flex": "1 1 0", "minWidth": "0"}),
        html.Div(dcc.Graph(id=DIAGRAM, figure=empty_figure("", height=420), config={"displaylogo": False}),
                 style={"flex": "1 1 0", "minWidth": "0"}),
    ], style={"display": "flex", "gap": "0.5em"})
    cycle = html.Div([
        html.H4("Representative cycle", style={"margin": "0.6em 0 0.2em"}),
        html.Div("Click a significant (red) H1 bar in the barcode or the diagram.", id=CYCLE_INFO,
                 style={"fontSize": "0.85em"}),
        html.Div(id=CYCLE_IMAGES, style={"display": "flex", "flexWrap": "wrap", "gap": "3px", "margin": "0.3em 0"}),
        dcc.Graph(id=CYCLE_GRAPH, figure=empty_figure("", height=360), config={"displaylogo": False,
                                                                                 "scrollZoom": True}),
    ])
    distances = html.Div([
        html.H4("Distances between layers", style={"margin": "0.6em 0 0.2em"}),
        html.Div([html.Button("Compute layer distances", id=DIST_BUTTON, n_clicks=0),
                  html.Button("Cancel", id=DIST_CANCEL, n_clicks=0, disabled=True, style={"marginLeft": "0.5em"}),
                  html.Progress(id=DIST_PROGRESS, value=PROGRESS_DEFAULT[0], max="1",
                                style={"width": "12em", "marginLeft": "0.8em"}),
                  html.Span(id=DIST_PROGRESS_TEXT, style={"marginLeft": "0.8em", "fontSize": "0.85em"}),
                  html.Span(id=DIST_STATUS, style={"marginLeft": "0.8em", "fontSize": "0.85em"})]),
        html.Div("Bottleneck distance between the diagrams (dimension of the toggle; H1 for 'all') of every "
                 "layer, with the parameters above; each layer's persistence is computed once and cached.",
                 style={"fontSize": "0.8em", "color": "#555"}),
        dcc.Graph(id=DIST_HEATMAP, figure=empty_figure("", height=380), config={"displaylogo": False}),
    ])
    extended = html.Div([
        html.H4("Mapper graph: extended persistence (lens as filter)", style={"margin": "0.6em 0 0.2em"}),
        html.Div(id=EXTENDED, style={"fontSize": "0.85em"}),
    ])
    return html.Div([
        html.Div(id=TITLE, style={"fontWeight": "bold", "margin": "0.4em 0"}),
        form,
        toggle,
        figures,
        html.Div(id=SUMMARY, style={"fontSize": "0.85em"}),
        cycle,
        distances,
        extended,
        dcc.Store(id=RESULT, data=None),
        dcc.Store(id=DONE, data=None),
        dcc.Store(id=SELECTED_BAR, data=None),
    ], style={"padding": "0 0.5em"})


def _table(rows):
    return html.Table([html.Tr([html.Td(k, style={"color": "#555", "paddingRight": "1em", "verticalAlign": "top"}),
                                html.Td(v)]) for k, v in rows])


# -- callbacks ------------------------------------------------------------------------------------
def register(app: Dash, ctx: AppContext) -> None:
    """The panel's callbacks; the two computations are background callbacks."""
    from topoact.figures.graph import graph_figure
    from topoact.figures.persistence import barcode_figure, diagram_figure, distance_heatmap
    from topoact.topology.results import as_result_dict
    from topoact.topology.run_persistence import layer_distance_matrix, layer_persistence, load_persistence

    @cached(8)
    def load(layer: str, key: str) -> dict:
        return as_result_dict(load_persistence(ctx.run, layer, key))

    def result(selection) -> dict:
        return load(selection["layer"], selection["key"])

    @app.callback(Output(TITLE, "children"), Input(ids.LAYER, "data"))
    def title(layer):
        return f"Persistence of layer {layer} (choose the layer in the Mapper graph tab)" if layer else "no layer"

    @app.callback(
        Output(RESULT, "data"),
        Input(ids.LAYER, "data"), Input(ids.TABS, "value"),
        State(LANDMARKS, "value"), State(METRIC, "value"), State(MAX_DIM, "value"), State(BOOTSTRAP, "value"),
        State(RESULT, "data"),
    )
    def show_cached(layer, _tab, *state):
        *values, current = state
        if not layer:
            return None
        if current and current.get("layer") == layer and callback_context.triggered_id == ids.TABS:
            raise PreventUpdate  # keep what is shown (e.g. a result just computed)
        try:
            config = persistence_form(*values)
        except ValueError:
            config = None
        return choose_cached(ctx.run, layer, config)

    @app.callback(
        Output(DONE, "data"), Output(STATUS, "children"),
        Input(COMPUTE, "n_clicks"), State(ids.LAYER, "data"),
        State(LANDMARKS, "value"), State(METRIC, "value"), State(MAX_DIM, "value"), State(BOOTSTRAP, "value"),
        **job_options(PROGRESS, PROGRESS_TEXT, cancel=CANCEL, buttons=[COMPUTE]),
    )
    def compute(set_progress, n_clicks, layer, *values):
        """Runs in a worker process; Cancel kills it."""
        if not n_clicks or not layer:
            raise PreventUpdate
        bar = BarProgress(set_progress)
        try:
            res = layer_persistence(ctx.run, layer, persistence_form(*values), progress=bar)
        except Exception as exc:  # noqa: BLE001 - bad parameters or a failed computation, shown
            return no_update, f"error: {exc}"
        return {"layer": layer, "key": res.key}, f"done ({bar.elapsed():.1f} s)"

    @app.callback(Output(RESULT, "data", allow_duplicate=True), Input(DONE, "data"), State(ids.LAYER, "data"),
                  prevent_initial_call=True)
    def show_done(done, layer):
        if not done or done["layer"] != layer:  # the user moved to another layer meanwhile
            raise PreventUpdate
        return done

    show_cancelled(app, CANCEL, STATUS)

    @app.callback(
        Output(BARCODE, "figure"), Output(DIAGRAM, "figure"), Output(SUMMARY, "children"),
        Input(RESULT, "data"), Input(DIMS, "value"), Input(SELECTED_BAR, "data"),
    )
    def draw(selection, choice, selected):
        if not selection:
            return (empty_figure("no result for this layer yet: press Compute", height=420),
                    empty_figure("", height=420), "")
        try:
            res = result(selection)
        except Exception as exc:  # noqa: BLE001 - show, don't crash the page
            logger.exception("cannot load persistence result %s", selection)
            return empty_figure(f"cannot load the result: {exc}", height=420), empty_figure("", height=420), ""
        dims = _dims(choice or "1", res)
        sel = None
        if selected and selected.get("key") == selection["key"]:
            sel = (selected["dim"], selected["index"])
        bar = barcode_figure(res, dims=dims, click_targets=True, selected=sel)
        bar.update_layout(height=420, title=f"Barcode · {selection['layer']} · H{', H'.join(map(str, dims))}")
        dia = diagram_figure(res, dims=dims)
        dia.update_layout(height=420)
        return bar, dia, _table(summary_rows(res))

    @app.callback(
        Output(SELECTED_BAR, "data"),
        Input(BARCODE, "clickData"), Input(DIAGRAM, "clickData"), Input(RESULT, "data"),
        prevent_initial_call=True,
    )
    def select_bar(click_bar, click_dia, selection):
        if not selection or callback_context.triggered_id == RESULT:
            return None
        hit = bar_from_click(click_bar if callback_context.triggered_id == BARCODE else click_dia)
        if hit is None:
            raise PreventUpdate
        return {"layer": selection["layer"], "key": selection["key"], "dim": hit[0], "index": hit[1]}

    @app.callback(
        Output(CYCLE_INFO, "children"), Output(CYCLE_IMAGES, "children"), Output(HIGHLIGHT, "data"),
        Output(CYCLE_GRAPH, "figure"),
        Input(SELECTED_BAR, "data"), Input(ids.GRAPH_KEY, "data"),
    )
    def show_cycle(selected, graph_sel):
        hint = "Click a significant (red) H1 bar in the barcode or the diagram."
        if not selected:
            return hint, [], None, empty_figure("", height=360)
        res = result(selected)
        diagram = res["diagrams"][selected["dim"]]
        birth, death = diagram[selected["index"]]
        bar_text = f"H{selected['dim']} bar [{birth:.4g}, {'inf' if death is None else format(death, '.4g')})"
        cycle = cycle_for_bar(res, selected["dim"], selected["index"])
        if cycle is None or not cycle.get("rows"):
            why = ("only H1 bars have cycles" if selected["dim"] != 1 else
                   "no representative cycle: cycles are recovered for significant bars only"
                   if cycle is None else "the cycle could not be recovered for this bar")
            return f"{bar_text}: {why}.", [], None, empty_figure("", height=360)
        rows = [int(r) for r in cycle["rows"]]
        layer = selected["layer"]
        key = graph_sel["key"] if graph_sel and graph_sel.get("layer") == layer else ctx.default_key(layer)
        names, labels = ctx.run.label_names, ctx.run.labels
        images = [html.Img(src=image_url(r), title=f"row {r} · {names[labels[r]]}",
                           style={"width": "56px", "height": "56px", "imageRendering": "pixelated"})
                  for r in rows[:MAX_THUMBS]]
        info = [html.Span(f"{bar_text}: a loop through {len(rows)} landmark points; rows "
                          f"{', '.join(map(str, rows[:60]))}{' …' if len(rows) > 60 else ''}.")]
        if key is None:
            info.append(html.Span(" The layer has no Mapper graph yet, so no nodes to highlight."))
            return info, images, {"layer": layer, "graph_key": None, "nodes": [], "rows": rows}, \
                empty_figure("no Mapper graph for this layer", height=360)
        graph = ctx.graph(layer, key)
        nodes = nodes_on_cycle(graph, rows)
        info.append(html.Span(f" {len(nodes)} of {len(graph['nodes'])} Mapper nodes of graph {key} contain them "
                              "(red rings below)."))
        fig = graph_figure(graph, ctx.positions(layer, key), class_names=names, marked_nodes=nodes, height=360,
                           title=f"{layer} · graph {key} · nodes on the cycle ringed in red", show_legend=False)
        return info, images, {"layer": layer, "graph_key": key, "nodes": nodes, "rows": rows}, fig

    @app.callback(
        Output(DIST_HEATMAP, "figure"), Output(DIST_STATUS, "children"),
        Input(DIST_BUTTON, "n_clicks"), State(DIMS, "value"),
        State(LANDMARKS, "value"), State(METRIC, "value"), State(MAX_DIM, "value"), State(BOOTSTRAP, "value"),
        **job_options(DIST_PROGRESS, DIST_PROGRESS_TEXT, cancel=DIST_CANCEL, buttons=[DIST_BUTTON]),
    )
    def compute_distances(set_progress, n_clicks, choice, *values):
        """Runs in a worker process."""
        if not n_clicks:
            raise PreventUpdate
        bar = BarProgress(set_progress)
        try:
            config = persistence_form(*values)
            dim = 1 if choice in (None, "all") else int(choice)
            if dim > config.max_dim:
                raise ValueError(f"H{dim} needs max dim >= {dim}")
            distances = layer_distance_matrix(ctx.run, list(ctx.run.layers), dim=dim, config=config, progress=bar)
        except Exception as exc:  # noqa: BLE001
            return no_update, f"error: {exc}"
        fig = distance_heatmap(distances)
        fig.update_layout(height=380)
        return fig, f"done ({bar.elapsed():.1f} s)"

    @app.callback(Output(EXTENDED, "children"), Input(ids.GRAPH_KEY, "data"), Input(ids.TABS, "value"))
    def extended(graph_sel, _tab):
        if not graph_sel:
            return "no Mapper graph selected"
        try:
            graph = ctx.graph(graph_sel["layer"], graph_sel["key"])
            rows = graph_feature_rows(graph)
        except Exception as exc:  # noqa: BLE001
            return f"cannot compute the extended persistence: {exc}"
        lens = (graph.get("params") or {}).get("lens")
        head = html.Div(f"graph {graph_sel['key']} of {graph_sel['layer']} ({len(graph['nodes'])} nodes), "
                        f"filter = node mean of the lens{f' ({lens})' if isinstance(lens, str) else ''}, first "
                        f"component for a 2-D lens; {sum(r['family'] == 'loops' for r in rows)} loop(s).")
        if not rows:
            return [head, html.Div("no features (a tree with a single extremum per component)")]
        cell = {"paddingRight": "1em"}
        table = html.Table(
            [html.Tr([html.Th(t, style=cell) for t in ("feature", "lens from", "lens to", "persistence")])]
            + [html.Tr([html.Td(r["kind"], style=cell), html.Td(f"{r['lens_min']:.4g}", style=cell),
                        html.Td(f"{r['lens_max']:.4g}", style=cell), html.Td(f"{r['persistence']:.4g}", style=cell)])
               for r in rows])
        return [head, table]
