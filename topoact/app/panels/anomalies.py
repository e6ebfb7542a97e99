"""Anomalies tab: ranked image grids of label issues, outliers and duplicates.

The scores come from :func:`topoact.anomalies` (computed in a background job the first time the
tab is opened, then read from the run's cache). The user picks a kind and sets its threshold;
the grid shows the images at or above it, most suspicious first, each with its score and the
reason. Clicking an image selects the Mapper node holding it in the graph shown in the first
tab and switches there. The shown selection downloads as CSV. The graph tab can colour nodes by
the share of flagged members (colour option "anomaly share: ...", default thresholds).
"""
from __future__ import annotations

import logging

from dash import ALL, Input, Output, State, callback_context, dcc, html, no_update
from dash.exceptions import PreventUpdate

from topoact.anomaly.params import DEFAULT_THRESHOLDS
from topoact.anomaly.topology import node_of_row
from topoact.app import ids
from topoact.app.routes import image_url

logger = logging.getLogger(__name__)

TAB_LABEL = "Anomalies"
PAGE = 48
THUMB_PX = 72
KIND_LABELS = {"label_issue": "label issues", "outlier": "outliers", "duplicate": "duplicates"}

KIND = "topoact-anomalies-kind"
THRESHOLD = "topoact-anomalies-threshold"
JOB = "topoact-anomalies-job"
READY = "topoact-anomalies-ready"
STATUS = "topoact-anomalies-status"
GRID = "topoact-anomalies-grid"
COUNT = "topoact-anomalies-count"
CSV_BUTTON = "topoact-anomalies-csv"
CSV_DOWNLOAD = "topoact-anomalies-csv-download"
JUMP_STATUS = "topoact-anomalies-jump-status"
#: pattern-matching id type of grid images ({"type": IMAGE, "row": row})
IMAGE = "topoact-anomalies-image"


def layout(ctx):
    return html.Div([
        html.Div([
            dcc.RadioItems(id=KIND, options=[{"label": v, "value": k} for k, v in KIND_LABELS.items()],
                           value="label_issue", inline=True, style={"marginRight": "2em"}),
            html.Label("threshold ", style={"fontSize": "0.85em"}),
            dcc.Input(id=THRESHOLD, type="number", min=0, max=1, step=0.01, debounce=True,
                      value=DEFAULT_THRESHOLDS["label_issue"], style={"width": "6em"}),
            html.Button("Download selection (CSV)", id=CSV_BUTTON, n_clicks=0, style={"marginLeft": "2em"}),
            dcc.Download(id=CSV_DOWNLOAD),
        ], style={"display": "flex", "alignItems": "center", "gap": "0.5em", "margin": "0.5em 0"}),
        html.Div("Scores in [0, 1], higher = more suspicious. Defaults: label issue 0.5, outlier 0.95 (the "
                 "5 % most unusual), duplicate 0.995. Click an image to see its Mapper node.",
                 style={"fontSize": "0.8em", "color": "#666"}),
        html.Div(id=STATUS, style={"fontSize": "0.85em", "margin": "0.3em 0"}),
        html.Div(id=COUNT, style={"fontSize": "0.9em", "margin": "0.3em 0"}),
        html.Div(id=JUMP_STATUS, style={"fontSize": "0.85em", "color": "#a33"}),
        html.Div(id=GRID, style={"display": "flex", "flexWrap": "wrap", "gap": "6px"}),
        dcc.Store(id=JOB, data=None),
        dcc.Store(id=READY, data=None),
    ], style={"padding": "0.5em"})


def selection(table, kind: str, threshold: float):
    """Rows of ``table`` at or above ``threshold`` for ``kind``, most suspicious first."""
    chosen = table[table[kind] >= float(threshold)]
    return chosen.sort_values([kind, "row"], ascending=[False, True])


def tile(row) -> html.Div:
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


def register(app, ctx):
    @app.callback(Output(JOB, "data"), Output(ids.JOB_POLL, "disabled", allow_duplicate=True),
                  Input(ids.TABS, "value"), State(JOB, "data"), prevent_initial_call=True)
    def start(tab, job):
        if tab != "tab-anomalies" or job:
            raise PreventUpdate
        return submit(ctx), False

    @app.callback(Output(THRESHOLD, "value"), Input(KIND, "value"), prevent_initial_call=True)
    def default_threshold(kind):
        return DEFAULT_THRESHOLDS[kind]

    @app.callback(Output(STATUS, "children"), Output(READY, "data"),
                  Input(ids.JOB_POLL, "n_intervals"), Input(JOB, "data"), State(READY, "data"))
    def poll(_tick, job, ready):
        if not job:
            return "open this tab to compute the scores", no_update
        status = ctx.jobs.status(job) or {}
        state = status.get("state")
        if state == "done":
            return "scores ready", (job if ready != job else no_update)
        if state == "error":
            return f"error: {status.get('error')}", no_update
        return (f"computing anomaly scores… {100 * float(status.get('progress') or 0):.0f}% "
                f"{status.get('message') or ''}"), no_update

    @app.callback(Output(GRID, "children"), Output(COUNT, "children"),
                  Input(READY, "data"), Input(KIND, "value"), Input(THRESHOLD, "value"))
    def show(job, kind, threshold):
        """Redrawn only when the scores arrive or the user changes kind / threshold (not per poll)."""
        if not job or threshold is None:
            return [], ""
        table = ctx.jobs.result(job)
        chosen = selection(table, kind, threshold)
        tiles = [tile(row) for _, row in chosen.head(PAGE).iterrows()]
        count = f"{len(chosen)} of {len(table)} images have {kind.replace('_', ' ')} ≥ {float(threshold):g}" + \
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
        row = int(trigger["row"])
        if not graph_selection:
            return no_update, no_update, "no Mapper graph is shown yet: open the Mapper graph tab first"
        layer, key = graph_selection["layer"], graph_selection["key"]
        node = node_of_row(ctx.graph(layer, key), row)
        if node is None:
            return no_update, no_update, (f"row {row} is in no node of the {layer} graph {key} "
                                          "(left out by the clusterer)")
        return {"layer": layer, "graph_key": key, "node": node}, "main", ""

    @app.callback(Output(CSV_DOWNLOAD, "data"), Input(CSV_BUTTON, "n_clicks"), State(JOB, "data"),
                  State(KIND, "value"), State(THRESHOLD, "value"), prevent_initial_call=True)
    def download(n_clicks, job, kind, threshold):
        if not n_clicks or not job or (ctx.jobs.status(job) or {}).get("state") != "done":
            raise PreventUpdate
        chosen = selection(ctx.jobs.result(job), kind, threshold if threshold is not None else 0.0)
        return dcc.send_data_frame(chosen.to_csv, f"anomalies-{kind}.csv", index=False)


def submit(ctx) -> str:
    """Start (or join) the background job computing the run's anomaly table."""
    from topoact.anomaly import anomalies

    def work(progress, should_cancel):
        return anomalies(ctx.run, progress=lambda done, total, message="": progress(done / total, message),
                         should_cancel=should_cancel)

    return ctx.jobs.submit("anomalies", {"run": str(ctx.run.path)}, work)
