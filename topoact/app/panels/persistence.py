"""Persistence panel: the shape of the selected layer's activation space, measured and shown.

What it shows (for the layer chosen in the Mapper graph tab, ``ids.LAYER``):

* A parameter form (landmarks, default 500 for responsiveness; metric euclidean / cosine; max
  homology dimension; bootstrap resamples, default 20 (the library's; the band was within 6 %
  of 40 resamples' on real layers, see :mod:`topoact.topology.bootstrap`), 0 = no band), read into the library's
  :class:`~topoact.topology.config.PersistenceConfig` (its validation, its defaults for the rest),
  and "Compute": a background callback (worker process, progress bar, cancel button; see
  :mod:`topoact.app.background`) calling :func:`topoact.topology.run_persistence.layer_persistence`.
  The result is cached in the run directory by the library, so the same parameters later load
  at once; when the tab opens (or the layer changes) the cached result with the form's
  parameters (found by the library's :func:`~topoact.topology.run_persistence.persistence_key`)
  is shown, else the layer's newest cached result, else nothing until Compute.
* Barcode and persistence diagram (:mod:`topoact.figures.persistence`) with the bootstrap
  significance band (red = significant, legend "significant (bootstrap, 95 %)", in both
  figures; grey = inside the band), an H0 / H1 (/ H2) toggle, the bars sorted longest first with
  "showing the K longest of N bars" in words and a "bars shown" control, and the scalar
  summaries: bars and significant bars per dimension, total persistence, longest bar, the band
  ``2c``, whether the Rips filtration was exact or truncated at a threshold.
* An honest status line: "computed in 3.2 s" for a result this session computed, "loaded from
  the run's cache (computed <date>)" for one read from the run (a repeated request, or the
  cached result shown when the tab opens). The shown selection carries where it came from.
* Every form field has a tooltip and an error line; a bad value gets a message in words there
  (:func:`form_errors`) and Compute refuses it.
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

Stores hold keys only: ``{"layer", "key", "computed", "seconds"}`` of the shown result, the
selected bar and the highlighted node ids. Results are read through the library (the app's one LRU helper,
:func:`topoact.app.context.cached`).
"""
from __future__ import annotations

import logging
import re
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable

from dash import Input, Output, State, callback_context, dcc, html, no_update
from dash.exceptions import PreventUpdate

from topoact.app import ids
from topoact.app.background import PROGRESS_DEFAULT, BarProgress, job_options, show_cancelled
from topoact.app.context import cached
from topoact.app.help import HELP, error_id, field
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
MAX_BARS = P + "max-bars"
SHOWN = P + "shown"
ORIGIN = P + "origin"
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

DEFAULT_FORM = {"n_landmarks": 500, "metric": "euclidean", "max_dim": 1, "n_bootstrap": 20}
#: choices of the "bars shown" control (per dimension, longest first); "all" draws every bar
MAX_BARS_OPTIONS = [50, 200, 1000, "all"]
DEFAULT_MAX_BARS = 200

#: tooltip texts of this panel's controls (help.py's HELP holds the shared ones)
PANEL_HELP = {
    "landmarks": "How many points the persistence is computed on: this many images of the layer, picked "
                 "spread out (each new one the farthest from those already picked). More landmarks show finer "
                 "structure; the time grows quickly with the number.",
    "max_dim": "Highest homology dimension: H0 = separate groups of images, H1 = loops, H2 = enclosed voids "
               "(much slower).",
    "bootstrap": "Significance test. The landmarks are redrawn at random (with replacement) this many times and "
                 "each redraw's diagram is compared with the full one (bottleneck distance). The band 2c is twice "
                 "the 95 % point of these distances, read from a normal curve fitted to them (mean + 1.645 "
                 "standard deviations), so more resamples refine the band instead of widening it. A "
                 "bar longer than the band is significant (red): it survives redrawing the data. 20 (the default) "
                 "gives a steady band; with 10 it is noisier and bars close to the band may change; 0 skips the "
                 "test (no band, faster).",
    "max_bars": "How many bars per dimension the barcode draws, longest first. The diagram always shows every "
                "point.",
}
#: what the form fields are called in words, by the library's parameter name
FIELD_WORDS = {"n_landmarks": (LANDMARKS, "Landmarks"), "n_bootstrap": (BOOTSTRAP, "Bootstrap resamples"),
               "max_dim": (MAX_DIM, "Max dimension"), "metric": (METRIC, "Metric")}
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


def _range_words(message: str) -> str:
    """The library's "x must be in [2, inf], got 1" as words: "at least 2"."""
    m = re.search(r"in \[([^,\]]+), ([^\]]+)\]", message)
    if not m:
        return ""
    lo, hi = m.groups()
    return f"at least {lo}" if hi.strip() == "inf" else f"from {lo} to {hi.strip()}"


def form_errors(n_landmarks: Any, metric: Any, max_dim: Any, n_bootstrap: Any) -> dict[str, str]:
    """A message in words for every bad form field, by control id (empty when all are fine).

    Each field is checked on its own by the library's validation
    (:class:`~topoact.topology.config.PersistenceConfig`), so the message names that field and
    the range the library allows.

    Returns
    -------
    dict
        ``{control_id: message}``, e.g. ``{LANDMARKS: "Landmarks must be a whole number, at least
        2 (got 1)."}``.
    """
    from topoact.topology.config import PersistenceConfig

    errors = {}
    values = {"n_landmarks": n_landmarks, "metric": metric, "max_dim": max_dim, "n_bootstrap": n_bootstrap}
    for name, value in values.items():
        control, words = FIELD_WORDS[name]
        if value is None or value == "":
            errors[control] = f"{words}: enter a value."
            continue
        try:
            PersistenceConfig(**{name: value})
        except (ValueError, TypeError) as exc:
            rng = _range_words(str(exc))
            if name == "metric":
                errors[control] = f"{words}: choose euclidean or cosine (got {value!r})."
            else:
                errors[control] = f"{words} must be a whole number{', ' + rng if rng else ''} (got {value!r})."
    return errors


def origin_text(selection: dict | None, run: Run | None = None) -> str:
    """Where the shown result came from, in words.

    Parameters
    ----------
    selection : dict
        The shown result's store: ``{"layer", "key", "computed": bool, "seconds": float}``.
    run : Run, optional
        To date a cached result (the time its file was written).

    Returns
    -------
    str
        ``"computed in 3.2 s"`` for a result computed by this request, else ``"loaded from the
        run's cache (computed 2026-11-30 16:40)"`` (without the date when it is unknown). A fresh
        compute never says cache.
    """
    if not selection:
        return ""
    if selection.get("computed"):
        return f"computed in {float(selection.get('seconds') or 0.0):.1f} s"
    when = None
    if run is not None:
        from topoact.topology.run_persistence import cached_persistence

        for entry in cached_persistence(run, selection["layer"]):
            if entry["key"] == selection["key"]:
                when = datetime.fromtimestamp(entry["mtime"]).strftime("%Y-%m-%d %H:%M")
    return "loaded from the run's cache" + (f" (computed {when})" if when else "")


def max_bars_value(choice: Any) -> int | None:
    """The "bars shown" choice as ``max_bars`` of the barcode (None = all)."""
    if choice in (None, ""):
        return DEFAULT_MAX_BARS
    return None if choice == "all" else int(choice)


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


def summary_rows(result: dict, origin: str | None = None) -> list[tuple[str, str]]:
    """(label, text) lines of the scalar summaries of a result.

    ``origin`` (:func:`origin_text`) says where the shown result came from; without it the
    line gives the computing time only.
    """
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
    lines.append(("compute time", f"{total:.1f} s (landmarks, persistence and bootstrap)"))
    if origin:
        lines.append(("status", origin))
    boot = result.get("bootstrap") or {}
    if boot:
        lines.append(("significance", f"bootstrap with {boot.get('n_bootstrap')} resamples at "
                      f"{100 * (1 - float(boot.get('alpha', 0.05))):.0f} % confidence: a bar is significant when "
                      "it is longer than the band 2c"))
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
def layout(ctx: AppContext) -> html.Div:
    """Form, progress, barcode and diagram, cycle, layer distances, extended persistence."""
    form = html.Div([
        field("landmarks (points)", dcc.Input(id=LANDMARKS, type="number", step=1,
                                              value=DEFAULT_FORM["n_landmarks"], style={"width": "7em"}),
              help=PANEL_HELP["landmarks"], control_id=LANDMARKS, width="10em"),
        field("metric", dcc.Dropdown(id=METRIC, options=["euclidean", "cosine"], value=DEFAULT_FORM["metric"],
                                     clearable=False), help=HELP["metric"], control_id=METRIC, width="9em"),
        field("max dimension", dcc.Dropdown(id=MAX_DIM, options=[0, 1, 2], value=DEFAULT_FORM["max_dim"],
                                            clearable=False), help=PANEL_HELP["max_dim"], control_id=MAX_DIM,
              width="8em"),
        field("bootstrap resamples", dcc.Input(id=BOOTSTRAP, type="number", step=1,
                                               value=DEFAULT_FORM["n_bootstrap"], style={"width": "6em"}),
              help=PANEL_HELP["bootstrap"], control_id=BOOTSTRAP, width="11em"),
        html.Button("Compute", id=COMPUTE, n_clicks=0, className="btn btn-primary btn-sm"),
        html.Button("Cancel", id=CANCEL, n_clicks=0, disabled=True, className="btn btn-outline-secondary btn-sm"),
        html.Progress(id=PROGRESS, value=PROGRESS_DEFAULT[0], max="1", style={"width": "12em"}),
        html.Span(id=PROGRESS_TEXT, style={"fontSize": "0.85em"}),
        html.Span(id=STATUS, style={"fontSize": "0.85em"}),
    ], style=_row)
    toggle = html.Div([
        dcc.RadioItems(id=DIMS, options=[{"label": " H0", "value": "0"}, {"label": " H1", "value": "1"},
                                         {"label": " H2", "value": "2"}, {"label": " all", "value": "all"}],
                       value="1", inline=True, inputStyle={"marginLeft": "0.8em"}),
        field("bars shown (longest first)", dcc.Dropdown(
            id=MAX_BARS, options=[{"label": "all" if v == "all" else f"{v} longest", "value": v}
                                  for v in MAX_BARS_OPTIONS], value=DEFAULT_MAX_BARS, clearable=False),
              help=PANEL_HELP["max_bars"], control_id=MAX_BARS, width="12em"),
        html.Span(id=SHOWN, style={"fontSize": "0.85em"}),
        html.Span(id=ORIGIN, style={"fontSize": "0.85em", "fontWeight": "bold"}),
    ], style=_row)
    how = html.Div(
        "How to read: each bar is a feature of the layer's activation space (H0: a separate group of images, H1: "
        "a loop) that appears at the scale where the bar starts and disappears where it ends; long bars are "
        "structure, short ones noise. Red bars and points are significant (bootstrap, 95 %): longer than the "
        "band 2c, they survive redrawing the landmarks; grey ones lie inside the band. The bootstrap redraws the "
        "landmarks as many times as 'bootstrap resamples' says and reads the band from a normal curve fitted to "
        "how far each redraw's diagram moved: more resamples refine it rather than widen it; 20 (the default) "
        "gives a steady band, with 10 bars close to the band may change; 0 skips the test.",
        style={"fontSize": "0.8em", "color": "#555", "margin": "0.2em 0 0.4em"})
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
        how,
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
    from topoact.figures.persistence import barcode_figure, diagram_figure, distance_heatmap, shown_text
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
        chosen = choose_cached(ctx.run, layer, config)
        return None if chosen is None else dict(chosen, computed=False)

    form_controls = (LANDMARKS, METRIC, MAX_DIM, BOOTSTRAP)

    @app.callback([Output(error_id(c), "children") for c in form_controls],
                  [Input(c, "value") for c in form_controls])
    def check_form(*values):
        errors = form_errors(*values)
        return [errors.get(c, "") for c in form_controls]

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
        if form_errors(*values):
            return no_update, "not computed: correct the fields marked in red"
        bar = BarProgress(set_progress)
        started = time.perf_counter()
        try:
            res = layer_persistence(ctx.run, layer, persistence_form(*values), progress=bar)
        except Exception as exc:  # noqa: BLE001 - a failed computation, shown
            return no_update, f"error: {exc}"
        done = {"layer": layer, "key": res.key, "computed": not res.cached,
                "seconds": round(time.perf_counter() - started, 2)}
        return done, ""  # the status line beside the figures says "computed in" / "loaded from the cache"

    @app.callback(Output(RESULT, "data", allow_duplicate=True), Input(DONE, "data"), State(ids.LAYER, "data"),
                  prevent_initial_call=True)
    def show_done(done, layer):
        if not done or done["layer"] != layer:  # the user moved to another layer meanwhile
            raise PreventUpdate
        return done

    show_cancelled(app, CANCEL, STATUS)

    @app.callback(
        Output(BARCODE, "figure"), Output(DIAGRAM, "figure"), Output(SUMMARY, "children"),
        Output(SHOWN, "children"), Output(ORIGIN, "children"),
        Input(RESULT, "data"), Input(DIMS, "value"), Input(SELECTED_BAR, "data"), Input(MAX_BARS, "value"),
    )
    def draw(selection, choice, selected, shown_choice):
        if not selection:
            return (empty_figure("no result for this layer yet: press Compute", height=420),
                    empty_figure("", height=420), "", "", "")
        try:
            res = result(selection)
        except Exception as exc:  # noqa: BLE001 - show, don't crash the page
            logger.exception("cannot load persistence result %s", selection)
            return (empty_figure(f"cannot load the result: {exc}", height=420), empty_figure("", height=420), "",
                    "", "")
        dims = _dims(choice or "1", res)
        sel = None
        if selected and selected.get("key") == selection["key"]:
            sel = (selected["dim"], selected["index"])
        max_bars = max_bars_value(shown_choice)
        bar = barcode_figure(res, dims=dims, click_targets=True, selected=sel, max_bars=max_bars)
        bar.update_layout(height=440, title=f"Barcode of {selection['layer']}, longest bars first")
        dia = diagram_figure(res, dims=dims)
        dia.update_layout(height=440)
        origin = origin_text(selection, ctx.run)
        shown = shown_text(res, dims, max_bars)
        shown = shown[:1].upper() + shown[1:] + "."
        return bar, dia, _table(summary_rows(res, origin)), shown, origin

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
