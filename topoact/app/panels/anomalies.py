"""Anomalies tab: ranked image grids of label issues, outliers and duplicates.

The scores come from :func:`topoact.anomalies`. Opening the tab shows the run's cached table
at once; when there is none, the tab starts a background callback (a worker process, see
:mod:`topoact.app.background`) that computes it with a progress bar and a Cancel button (the
finder caches the table in the run, the job returns only its cache key; Cancel kills the worker
and nothing is written). "Compute scores" starts it by hand. The server process only ever
*reads* the cache (:func:`topoact.anomaly.cached_anomalies`).

The user picks a kind and sets its threshold; the grid shows the images at or above it, most
suspicious first, each with its score and the reason. Clicking an image selects the Mapper node
holding it in the graph shown in the first tab and switches there. The shown selection
downloads as CSV. The graph tab can colour nodes by the share of flagged members (colour option
"anomaly share: ...", default thresholds; available once the scores are computed).

Label issues need labels in the model's classes: for a run whose data set classes were not
matched onto the model's (``Run.labels_match_model`` False) the tab offers outliers and
duplicates only (:func:`topoact.anomaly.run_kinds`).
"""
from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback_context, dcc, html, no_update
from dash.exceptions import PreventUpdate

from topoact.anomaly.params import DEFAULT_THRESHOLDS, KIND_NAMES
from topoact.anomaly.topology import node_of_row
from topoact.app import ids, validate
from topoact.app.background import PROGRESS_DEFAULT, BarProgress, job_options, show_cancelled
from topoact.app.context import cached
from topoact.app.help import field
from topoact.app.routes import image_url

if TYPE_CHECKING:
    import pandas as pd
    from dash import Dash

    from topoact.app.context import AppContext

logger = logging.getLogger(__name__)

TAB_LABEL = "Anomalies"
TAB_VALUE = "tab-anomalies"
PAGE = 48
THUMB_PX = 72

A = "topoact-anomalies-"
KIND = A + "kind"
THRESHOLD = A + "threshold"
COMPUTE = A + "compute"
CANCEL = A + "cancel"
PROGRESS = A + "progress"
PROGRESS_TEXT = A + "progress-text"
#: a number bumped when opening the tab finds no cached table (starts the job)
REQUEST = A + "request"
#: cache key (str) of the table shown, set when the cached table is found or the job finishes
READY = A + "ready"
STATUS = A + "status"
GRID = A + "grid"
COUNT = A + "count"
CSV_BUTTON = A + "csv"
CSV_DOWNLOAD = A + "csv-download"
JUMP_STATUS = A + "jump-status"
#: pattern-matching id type of grid images ({"type": IMAGE, "row": row})
IMAGE = A + "image"


def layout(ctx: AppContext) -> html.Div:
    """Kind, threshold, compute / cancel with progress, status, the grid and the CSV download."""
    from topoact.anomaly import run_kinds

    kinds = run_kinds(ctx.run)
    note = "" if "label_issue" in kinds else (
        " Label issues are left out: this run's data set classes were not matched onto the model's.")
    return html.Div([
        html.Div([
            dcc.RadioItems(id=KIND, options=[{"label": KIND_NAMES[k], "value": k} for k in kinds],
                           value=kinds[0], inline=True, style={"marginRight": "2em"}),
            field("threshold (score 0–1)", dcc.Input(id=THRESHOLD, type="number", min=0, max=1, step=0.01,
                                                      debounce=True, value=DEFAULT_THRESHOLDS[kinds[0]],
                                                      className="form-control form-control-sm"),
                  help="Images scoring at or above this value are listed (scores run from 0 to 1; higher "
                       "is more suspicious).", width="10em"),
            dbc.Button("Download selection (CSV)", id=CSV_BUTTON, n_clicks=0, size="sm", color="secondary",
                       outline=True, className="ms-4"),
            dcc.Download(id=CSV_DOWNLOAD),
        ], style={"display": "flex", "alignItems": "center", "gap": "0.5em", "margin": "0.5em 0"}),
        html.Div("Scores in [0, 1], higher = more suspicious. Defaults: label issue 0.5, outlier 0.95 (the "
                 "5 % most unusual), duplicate 0.995. Click an image to see its Mapper node." + note,
                 style={"fontSize": "0.8em", "color": "#666"}),
        html.Div([
            dbc.Button("Compute scores", id=COMPUTE, n_clicks=0, size="sm", color="primary"),
            dbc.Button("Cancel", id=CANCEL, n_clicks=0, disabled=True, size="sm", color="secondary", outline=True),
            html.Progress(id=PROGRESS, value=PROGRESS_DEFAULT[0], max="1", style={"width": "12em"}),
            html.Span(id=PROGRESS_TEXT, style={"fontSize": "0.85em"}),
            html.Span(id=STATUS, style={"fontSize": "0.85em"}),
        ], style={"display": "flex", "alignItems": "center", "gap": "0.8em", "margin": "0.3em 0"}),
        html.Div(id=COUNT, style={"fontSize": "0.9em", "margin": "0.3em 0"}),
        html.Div(id=JUMP_STATUS, style={"fontSize": "0.85em", "color": "#a33"}),
        html.Div(id=GRID, style={"display": "flex", "flexWrap": "wrap", "gap": "6px"}),
        dcc.Store(id=REQUEST, data=0),
        dcc.Store(id=READY, data=None),
    ], style={"padding": "0.5em"})


def kind_choice(ctx: AppContext, value: Any) -> str:
    """``value`` when it is a score kind this run offers, else :class:`~topoact.app.validate.BadInput`."""
    from topoact.anomaly import run_kinds

    kinds = run_kinds(ctx.run)
    if not isinstance(value, str) or value not in kinds:
        raise validate.BadInput(f"unknown anomaly kind {value!r}; choose from {', '.join(kinds)}")
    return value


def threshold_value(value: Any) -> float:
    """``value`` as a threshold in [0, 1], else :class:`~topoact.app.validate.BadInput`."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise validate.BadInput(f"threshold must be a number in [0, 1], got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise validate.BadInput(f"threshold must be a number in [0, 1], got {value!r}") from None
    if not (math.isfinite(number) and 0.0 <= number <= 1.0):
        raise validate.BadInput(f"threshold must be in [0, 1], got {value!r}")
    return number


def selection(table: pd.DataFrame, kind: str, threshold: float) -> pd.DataFrame:
    """Rows of ``table`` at or above ``threshold`` for ``kind``, most suspicious first.

    Parameters
    ----------
    table : pandas.DataFrame
        The table of :func:`topoact.anomalies` (one row per image).
    kind : str
        ``label_issue``, ``outlier`` or ``duplicate``.
    threshold : float
        In [0, 1].

    Returns
    -------
    pandas.DataFrame
        The chosen rows, by score descending then run row (what the CSV download holds).
    """
    chosen = table[table[kind] >= float(threshold)]
    return chosen.sort_values([kind, "row"], ascending=[False, True])


def tile(row: pd.Series) -> html.Div:
    """One grid cell: thumbnail (click = jump to its node), label → prediction, scores, reason."""
    score_name = {"label_issue": "label issue", "outlier": "outlier", "duplicate": "duplicate"}
    scores = " · ".join(f"{score_name[k]} {row[k]:.2f}" for k in score_name if row[k] == row[k])
    return html.Div([
        html.Img(src=image_url(int(row["row"])), id={"type": IMAGE, "row": int(row["row"])}, n_clicks=0,
                 title=f"row {int(row['row'])}: click to see its Mapper node",
                 style={"width": f"{THUMB_PX}px", "height": f"{THUMB_PX}px", "imageRendering": "pixelated",
                        "cursor": "pointer", "border": "2px solid #c33" if row["label"] != row["prediction"]
                        else "2px solid #3a3"}),
        html.Div(f"row {int(row['row'])} · '{row['label']}' → '{row['prediction']}'",
                 style={"fontWeight": "bold"}),
        html.Div(scores),
        html.Div(row["reason"], className="topoact-anomaly-reason", style={"color": "#444"}),
    ], style={"width": "190px", "fontSize": "0.7em", "border": "1px solid #ddd", "padding": "3px"})


def register(app: Dash, ctx: AppContext) -> None:
    """The tab's callbacks; computing the scores is a background callback."""
    from topoact.anomaly import anomalies, cached_anomalies, run_kinds
    from topoact.anomaly.finder import anomaly_key

    kinds = run_kinds(ctx.run)

    @cached(4)
    def load(key: str) -> pd.DataFrame:
        table = cached_anomalies(ctx.run, kinds=kinds)
        if table is None:
            raise LookupError(key)  # not remembered: an exception is not cached
        return table

    def table_for(key: str) -> pd.DataFrame | None:
        """The cached table whose cache key is ``key`` (None when not cached or ``key`` is stale)."""
        if key != anomaly_key(ctx.run, kinds=kinds):  # e.g. another default graph since
            return None
        try:
            return load(key)
        except LookupError:
            return None

    def ready_table(ready: Any) -> pd.DataFrame:
        if not isinstance(ready, str) or not ready.isalnum() or len(ready) > 64:
            raise validate.BadInput("no anomaly scores yet")
        table = table_for(ready)
        if table is None:
            raise validate.BadInput("the anomaly scores are no longer in the run's cache: press Compute scores")
        return table

    @app.callback(Output(READY, "data"), Output(REQUEST, "data"), Output(STATUS, "children"),
                  Input(ids.TABS, "value"), State(READY, "data"), State(REQUEST, "data"),
                  prevent_initial_call=True)
    def open_tab(tab, ready, request):
        """Opening the tab shows the cached table, or asks the job for one (once per page)."""
        if tab != TAB_VALUE or ready or request:
            raise PreventUpdate
        try:
            key = anomaly_key(ctx.run, kinds=kinds)
            if table_for(key) is not None:
                return key, no_update, "scores ready (from the run's cache)"
        except Exception as exc:  # noqa: BLE001 - a run the finder refuses: say why
            return no_update, no_update, f"error: {exc}"
        return no_update, 1, "computing anomaly scores…"

    @app.callback(
        Output(READY, "data", allow_duplicate=True), Output(STATUS, "children", allow_duplicate=True),
        Input(REQUEST, "data"), Input(COMPUTE, "n_clicks"),
        **job_options(PROGRESS, PROGRESS_TEXT, cancel=CANCEL, buttons=[COMPUTE]),
    )
    def compute(set_progress, request, n_clicks):
        """Runs in a worker process; the finder caches the table in the run; Cancel kills it."""
        if not request and not n_clicks:
            raise PreventUpdate
        bar = BarProgress(set_progress)
        try:
            anomalies(ctx.run, kinds=kinds, progress=bar)
            key = anomaly_key(ctx.run, kinds=kinds)
        except Exception as exc:  # noqa: BLE001 - bad run or a failed computation, shown
            logger.exception("anomaly scores failed")
            return no_update, f"error: {exc}"
        return key, f"scores ready ({bar.elapsed():.1f} s)"

    show_cancelled(app, CANCEL, STATUS)

    @app.callback(Output(THRESHOLD, "value"), Input(KIND, "value"), prevent_initial_call=True)
    def default_threshold(kind):
        return DEFAULT_THRESHOLDS.get(kind, no_update)

    @app.callback(Output(GRID, "children"), Output(COUNT, "children"),
                  Input(READY, "data"), Input(KIND, "value"), Input(THRESHOLD, "value"))
    def show(ready, kind, threshold):
        """Redrawn only when the scores arrive or the user changes kind / threshold."""
        if not ready or threshold is None:
            return [], ""
        try:
            table = ready_table(ready)
            kind, threshold = kind_choice(ctx, kind), threshold_value(threshold)
        except validate.BadInput as exc:
            return [], str(exc)
        chosen = selection(table, kind, threshold)
        tiles = [tile(row) for _, row in chosen.head(PAGE).iterrows()]
        count = f"{len(chosen)} of {len(table)} images have {kind.replace('_', ' ')} ≥ {threshold:g}" + \
            (f" (first {PAGE} shown)" if len(chosen) > PAGE else "")
        return tiles, count

    @app.callback(Output(ids.NODE, "data", allow_duplicate=True), Output(ids.TABS, "value", allow_duplicate=True),
                  Output(JUMP_STATUS, "children"),
                  Input({"type": IMAGE, "row": ALL}, "n_clicks"), State(ids.GRAPH_KEY, "data"),
                  prevent_initial_call=True)
    def jump(clicks, graph_selection):
        trigger = callback_context.triggered_id
        if not trigger or not any(clicks or []):
            raise PreventUpdate
        if not graph_selection:
            return no_update, no_update, "no Mapper graph is shown yet: open the Mapper graph tab first"
        try:
            row = validate.whole_number(trigger.get("row"), "row", low=0, high=max(ctx.run.n - 1, 0))
            if not isinstance(graph_selection, dict):
                raise validate.BadInput("no Mapper graph is selected")
            layer = validate.layer_name(ctx, graph_selection.get("layer"))
            key = validate.graph_key(ctx, layer, graph_selection.get("key"))
        except validate.BadInput as exc:
            return no_update, no_update, str(exc)
        node = node_of_row(ctx.graph(layer, key), row)
        if node is None:
            return no_update, no_update, (f"row {row} is in no node of the {layer} graph {key} "
                                          "(left out by the clusterer)")
        return {"layer": layer, "graph_key": key, "node": node}, "main", ""

    @app.callback(Output(CSV_DOWNLOAD, "data"), Output(JUMP_STATUS, "children", allow_duplicate=True),
                  Input(CSV_BUTTON, "n_clicks"), State(READY, "data"),
                  State(KIND, "value"), State(THRESHOLD, "value"), prevent_initial_call=True)
    def download(n_clicks, ready, kind, threshold):
        if not n_clicks or not ready:
            raise PreventUpdate
        try:
            table = ready_table(ready)
            kind = kind_choice(ctx, kind)
            threshold = 0.0 if threshold is None else threshold_value(threshold)
        except validate.BadInput as exc:
            return no_update, str(exc)
        chosen = selection(table, kind, threshold)
        return dcc.send_data_frame(chosen.to_csv, f"anomalies-{kind}.csv", index=False), ""
