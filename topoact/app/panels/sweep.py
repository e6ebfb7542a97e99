"""Sweep panel: Mapper over a grid of intervals x overlap (other parameters from the form).

Runs ``topoact.mapper.run_graphs.sweep_run`` as a background job and shows one summary per
setting (nodes, edges, components, cycles, mean purity) as a heat map (metric chosen in a
dropdown) and a table. Clicking a heat-map cell or a table row builds (or loads the cached)
graph of that setting and switches to it in the Mapper graph tab.
"""
from __future__ import annotations

import logging

from dash import Input, Output, State, callback_context, dash_table, dcc, html, no_update
from dash.exceptions import PreventUpdate

from topoact.app import ids
from topoact.app.jobs import describe_job
from topoact.app.panels.graph import form_params, mapper_job
from topoact.figures.graph import empty_figure, sweep_figure

logger = logging.getLogger(__name__)

TAB_LABEL = "Parameter sweep"
METRICS = ["nodes", "edges", "components", "cycles", "mean_purity"]
COLUMNS = ["intervals", "overlap", "eps_scale", "eps"] + METRICS


def parse_list(text, cast, name):
    values = []
    for part in str(text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            values.append(cast(part))
        except ValueError:
            raise ValueError(f"{name}: {part!r} is not a number") from None
    if not values:
        raise ValueError(f"{name}: give at least one value, separated by commas")
    return sorted(set(values))


def layout(ctx):
    return html.Div([
        html.P("Mapper over a grid of cover settings; lens, clusterer, eps and metric come from the "
               "parameter form of the Mapper graph tab. Click a cell or a row to open that graph.",
               style={"fontSize": "0.85em", "color": "#555"}),
        html.Div([
            html.Label("intervals "), dcc.Input(id=ids.SWEEP_INTERVALS, type="text", value="4, 6, 8, 12",
                                                style={"width": "10em"}),
            html.Label(" overlap ", style={"marginLeft": "1em"}),
            dcc.Input(id=ids.SWEEP_OVERLAPS, type="text", value="0.2, 0.3, 0.5", style={"width": "10em"}),
            html.Label(" eps scale ", style={"marginLeft": "1em"}),
            dcc.Input(id=ids.SWEEP_SCALES, type="text", value="1.0", style={"width": "7em"}),
            html.Button("Run sweep", id=ids.SWEEP_BUTTON, n_clicks=0, style={"marginLeft": "1em"}),
            html.Label(" show ", style={"marginLeft": "1em"}),
            dcc.Dropdown(id=ids.SWEEP_METRIC, options=METRICS, value="nodes", clearable=False,
                         style={"width": "10em", "display": "inline-block", "verticalAlign": "middle"}),
        ]),
        html.Div(id=ids.SWEEP_STATUS, style={"fontSize": "0.85em", "margin": "0.4em 0"}),
        dcc.Store(id=ids.SWEEP_JOB, data=None),
        dcc.Store(id=ids.SWEEP_RESULT, data=None),
        dcc.Graph(id=ids.SWEEP_HEATMAP, figure=empty_figure("no sweep yet", height=300)),
        dash_table.DataTable(id=ids.SWEEP_TABLE, columns=[{"name": c, "id": c} for c in COLUMNS], data=[],
                             sort_action="native", style_cell={"fontSize": "0.85em", "padding": "2px 6px"}),
    ])


def register(app, ctx):
    @app.callback(
        Output(ids.SWEEP_JOB, "data"), Output(ids.SWEEP_STATUS, "children", allow_duplicate=True),
        Output(ids.JOB_POLL, "disabled", allow_duplicate=True),
        Input(ids.SWEEP_BUTTON, "n_clicks"),
        State(ids.LAYER, "data"), State(ids.SWEEP_INTERVALS, "value"), State(ids.SWEEP_OVERLAPS, "value"),
        State(ids.SWEEP_SCALES, "value"),
        State(ids.P_LENS, "value"), State(ids.P_COVER, "value"), State(ids.P_INTERVALS, "value"),
        State(ids.P_OVERLAP, "value"), State(ids.P_CLUSTERER, "value"), State(ids.P_EPS, "value"),
        State(ids.P_METRIC, "value"), State(ids.P_MIN_SAMPLES, "value"),
        prevent_initial_call=True,
    )
    def start(n_clicks, layer, intervals_text, overlaps_text, scales_text, *form_values):
        if not n_clicks or not layer:
            raise PreventUpdate
        try:
            intervals = parse_list(intervals_text, int, "intervals")
            overlaps = parse_list(overlaps_text, float, "overlap")
            scales = parse_list(scales_text, float, "eps scale")
            base = form_params(*form_values)
            key = sweep_job(ctx, layer, base, intervals, overlaps, scales)
        except Exception as exc:  # noqa: BLE001
            return no_update, f"error: {exc}", no_update
        return {"key": key, "layer": layer}, "queued", False

    @app.callback(
        Output(ids.SWEEP_STATUS, "children"), Output(ids.SWEEP_RESULT, "data"),
        Output(ids.SWEEP_JOB, "data", allow_duplicate=True),
        Input(ids.JOB_POLL, "n_intervals"), State(ids.SWEEP_JOB, "data"),
        prevent_initial_call=True,
    )
    def poll(_n, job):
        phase, text, status = describe_job(ctx.jobs, job)
        if phase == "idle":
            raise PreventUpdate
        if phase == "running":
            return text, no_update, no_update
        if phase != "done":
            return text, no_update, None
        summaries = ctx.jobs.result(job["key"])
        return (f"{len(summaries)} settings of layer {job['layer']} ({status['elapsed']:.1f} s)",
                {"layer": job["layer"], "summaries": summaries}, None)

    @app.callback(Output(ids.SWEEP_HEATMAP, "figure"), Output(ids.SWEEP_TABLE, "data"),
                  Input(ids.SWEEP_RESULT, "data"), Input(ids.SWEEP_METRIC, "value"))
    def show(result, metric):
        if not result:
            return empty_figure("no sweep yet", height=300), []
        summaries = result["summaries"]
        rows = [{"row": k, "intervals": s.get("intervals"), "overlap": s.get("overlap"),
                 "eps_scale": s.get("eps_scale"), "eps": _round(s.get("eps")),
                 **{m: _round(s.get(m)) for m in METRICS}} for k, s in enumerate(summaries)]
        scales = {s.get("eps_scale") for s in summaries}
        flat = [dict(s, params={"intervals": s.get("intervals"),
                                "setting": f"overlap {s.get('overlap')}" + (f" · eps×{s.get('eps_scale')}"
                                                                            if len(scales) > 1 else "")})
                for s in summaries]
        return sweep_figure(flat, x="intervals", y="setting", metric=metric), rows

    @app.callback(
        Output(ids.MAPPER_JOB, "data", allow_duplicate=True),
        Output(ids.JOB_POLL, "disabled", allow_duplicate=True),
        Output(ids.TABS, "value"),
        Output(ids.LAYER_DROPDOWN, "value"),
        Input(ids.SWEEP_HEATMAP, "clickData"), Input(ids.SWEEP_TABLE, "active_cell"),
        State(ids.SWEEP_TABLE, "derived_viewport_data"), State(ids.SWEEP_RESULT, "data"),
        State(ids.LAYER, "data"),
        prevent_initial_call=True,
    )
    def open_setting(click, cell, table_rows, result, current_layer):
        if not result:
            raise PreventUpdate
        if callback_context.triggered_id == ids.SWEEP_TABLE:
            if not cell or not table_rows:
                raise PreventUpdate
            k = int(table_rows[cell["row"]]["row"])
        else:
            points = (click or {}).get("points") or []
            if not points or points[0].get("customdata") is None or int(points[0]["customdata"]) < 0:
                raise PreventUpdate
            k = int(points[0]["customdata"])
        summary = result["summaries"][k]
        layer = result["layer"]
        job = mapper_job(ctx, layer, params=summary["params"])
        return {"key": job, "layer": layer}, False, "main", (no_update if layer == current_layer else layer)


def sweep_job(ctx, layer, base: dict, intervals: list, overlaps: list, scales: list = (1.0,)) -> str:
    """Submit ``run_graphs.sweep_run`` over intervals x overlaps x eps scales (rest from ``base``)."""
    from topoact.mapper import run_graphs

    if base.get("clusterer", "dbscan") != "dbscan":
        raise ValueError("the sweep varies DBSCAN's scale; choose the dbscan clusterer in the form")
    grid = {"lens": base["lens"], "cover": base["cover"], "metric": base["metric"],
            "min_samples": base["min_samples"], "eps": base["eps"],
            "intervals": list(intervals), "overlaps": list(overlaps), "eps_scales": list(scales)}
    total = len(intervals) * len(overlaps) * len(scales)

    def work(progress, should_cancel):
        progress(0.0, f"sweeping {total} settings")

        def report(done, count):
            progress(done / max(count, 1), f"{done}/{count} settings")

        return _jsonable(run_graphs.sweep_run(ctx.run, layer, dict(grid), progress=report))

    return ctx.jobs.submit("sweep", {"layer": layer, "grid": grid}, work)


def _round(value):
    return round(value, 3) if isinstance(value, float) else value


def _jsonable(obj):
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj
