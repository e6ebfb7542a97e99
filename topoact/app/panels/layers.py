"""The "Layers" tab: what each layer knows (observers) and, with two runs, how they differ.

* Depth curves (probe accuracy with controls, effective rank, Mapper / persistence summaries,
  the tunnel) and the CKA heat map of the run's layers: computed in one background job when the
  tab is first opened (probes and CKA are cached in the run, so later openings are quick).
* Per-unit views for a chosen layer and target: unit scores with the control threshold, the
  share of units per target and layer, the label proportion vs depth, relevance (probe weight x
  activation) per class and unit, and the spatial relevance of one image overlaid on it
  (recomputed with the model).
* Compare (only when the app was started with two runs, ``topoact serve RUN_A RUN_B``): both
  runs' curves overlaid, CKA across the two models and the generated summary.
"""
from __future__ import annotations

import inspect
import logging

import numpy as np
from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from topoact.app import ids
from topoact.app.jobs import describe_job
from topoact.figures.graph import empty_figure

logger = logging.getLogger(__name__)

TAB_LABEL = "Layers"
TAB_VALUE = "tab-layers"

TARGETS = "topoact-layers-targets"
STATUS = "topoact-layers-status"
JOB = "topoact-store-layers-job"
DEPTH = "topoact-layers-depth"
CKA = "topoact-layers-cka"
UNIT_LAYER = "topoact-layers-unit-layer"
UNIT_TARGET = "topoact-layers-unit-target"
UNITS_JOB = "topoact-store-layers-units-job"
UNITS_STATUS = "topoact-layers-units-status"
UNIT_SCORES = "topoact-layers-unit-scores"
UNIT_SHARE = "topoact-layers-unit-share"
LABEL_PROPORTION = "topoact-layers-label-proportion"
RELEVANCE = "topoact-layers-relevance"
ROW_INPUT = "topoact-layers-row"
SPATIAL_BUTTON = "topoact-layers-spatial-run"
SPATIAL_JOB = "topoact-store-layers-spatial-job"
SPATIAL_STATUS = "topoact-layers-spatial-status"
SPATIAL = "topoact-layers-spatial"
COMPARE = "topoact-layers-compare"
COMPARE_JOB = "topoact-store-layers-compare-job"
COMPARE_STATUS = "topoact-layers-compare-status"
COMPARE_DEPTH = "topoact-layers-compare-depth"
COMPARE_CKA = "topoact-layers-compare-cka"
COMPARE_SUMMARY = "topoact-layers-compare-summary"
#: what each poller last drew (job key, or [job key, layer, target] for the unit views)
DRAWN_DEPTH = "topoact-store-layers-drawn-depth"
DRAWN_UNITS = "topoact-store-layers-drawn-units"
DRAWN_SPATIAL = "topoact-store-layers-drawn-spatial"
DRAWN_COMPARE = "topoact-store-layers-drawn-compare"


def _adapt(progress):
    """The job's ``progress(fraction, message)`` as the engines' ``progress(done, total, message)``."""
    if len(inspect.signature(progress).parameters) >= 3:
        return progress
    return lambda done, total, message="": progress(done / total if total else 0.0, message)


def _targets(run) -> list[str]:
    from topoact.observers.targets import available_targets

    return available_targets(run)


def _graph(figure_id: str, height: int):
    return dcc.Graph(id=figure_id, figure=empty_figure("", height=height), config={"displayModeBar": False})


def _row(*cells: tuple[str, int, int]):
    """Figures side by side: ``(figure id, height, flex weight)`` each."""
    return html.Div([html.Div(_graph(figure_id, height), style={"flex": f"{weight} 1 0", "minWidth": 0})
                     for figure_id, height, weight in cells], style={"display": "flex", "gap": "1em"})


def layout(ctx):
    run = ctx.run
    targets = _targets(run)
    default = [t for t in ("label", "orientation") if t in targets] or targets[:1]
    compare = []
    if getattr(ctx, "compare_run", None) is not None:
        compare = [html.H4(f"Compare: {run.path.name} (solid) vs {ctx.compare_run.path.name} (dashed)"),
                   html.Span(id=COMPARE_STATUS, style={"fontSize": "0.85em"}),
                   html.P(id=COMPARE_SUMMARY, style={"fontSize": "0.9em"}),
                   _row((COMPARE_DEPTH, 720, 3), (COMPARE_CKA, 460, 2)),
                   dcc.Store(id=COMPARE_JOB, data=None), dcc.Store(id=DRAWN_COMPARE, data=None)]
    return html.Div([
        html.Div([html.Span("probe targets "),
                  dcc.Dropdown(id=TARGETS, options=targets, value=default, multi=True,
                               style={"minWidth": "24em", "display": "inline-block", "verticalAlign": "middle"}),
                  html.Span(id=STATUS, style={"marginLeft": "1em", "fontSize": "0.85em"})]),
        dcc.Store(id=JOB, data=None), dcc.Store(id=DRAWN_DEPTH, data=None),
        dcc.Store(id=DRAWN_UNITS, data=None), dcc.Store(id=DRAWN_SPATIAL, data=None),
        _row((DEPTH, 720, 3), (CKA, 460, 2)),
        html.H4("Single units"),
        html.Div([html.Span("layer "),
                  dcc.Dropdown(id=UNIT_LAYER, options=run.layers, value=run.layers[-1], clearable=False,
                               style={"width": "14em", "display": "inline-block", "verticalAlign": "middle"}),
                  html.Span(" target ", style={"marginLeft": "1em"}),
                  dcc.Dropdown(id=UNIT_TARGET, options=targets, value=default[0] if default else None,
                               clearable=False,
                               style={"width": "14em", "display": "inline-block", "verticalAlign": "middle"}),
                  html.Span(id=UNITS_STATUS, style={"marginLeft": "1em", "fontSize": "0.85em"})]),
        dcc.Store(id=UNITS_JOB, data=None),
        _row((UNIT_SCORES, 300, 1), (LABEL_PROPORTION, 300, 1)),
        _row((UNIT_SHARE, 320, 1), (RELEVANCE, 320, 1)),
        html.Div([html.Span("spatial relevance of image row "),
                  dcc.Input(id=ROW_INPUT, type="number", min=0, max=run.n - 1, value=0, style={"width": "7em"}),
                  html.Button("Show", id=SPATIAL_BUTTON, n_clicks=0, style={"marginLeft": "0.5em"}),
                  html.Span(id=SPATIAL_STATUS, style={"marginLeft": "1em", "fontSize": "0.85em"})]),
        dcc.Store(id=SPATIAL_JOB, data=None),
        _graph(SPATIAL, 360),
        html.Div(compare, id=COMPARE),
    ], style={"padding": "0.5em"})


def _depth_job(ctx, targets):
    from topoact.observers import cka_matrix
    from topoact.observers.depth import depth_curves

    def work(progress, should_cancel):
        p = _adapt(progress)
        curves = depth_curves(ctx.run, targets=targets, progress=lambda d, t, m="": p(0.8 * d / t, 1, m),
                              should_cancel=should_cancel).to_dict()
        cka = cka_matrix(ctx.run, should_cancel=should_cancel).to_dict()
        return {"curves": curves, "cka": cka}

    return ctx.jobs.submit("observers-depth", {"run": str(ctx.run.path), "targets": targets}, work)


def _units_job(ctx):
    from topoact.observers.units import unit_report

    def work(progress, should_cancel):
        return unit_report(ctx.run, progress=_adapt(progress), should_cancel=should_cancel).to_dict()

    return ctx.jobs.submit("observers-units", {"run": str(ctx.run.path)}, work)


def _relevance_matrix(ctx, layer: str, target: str):
    """(outputs, K x D mean relevance per class) of the cached/computed probe of ``target``."""
    from topoact.observers.heatmaps import unit_relevance
    from topoact.observers.probes import ProbeConfig, probe_layers
    from topoact.observers.targets import make_target

    probe = probe_layers(ctx.run, [layer], ProbeConfig(target=target)).layers[layer]
    t = make_target(ctx.run, target)
    X = np.asarray(ctx.run.activations(layer))[t.rows]
    if t.kind == "circular":
        return ["cos", "sin"], [unit_relevance(probe, X, o).tolist() for o in ("cos", "sin")], probe
    codes = t.classes(4)
    outputs = probe["classes"] if len(probe["coef"]) > 1 else probe["classes"][1:]
    matrix = [unit_relevance(probe, X[codes == c], c).tolist() for c in outputs]
    names = list(t.class_names) if t.class_names else []
    return [names[c] if c < len(names) else c for c in outputs], matrix, probe


def register(app, ctx):
    from topoact.figures.observers import (cka_figure, compare_depth_figure, depth_figure, label_proportion_figure,
                                           spatial_relevance_figure, unit_relevance_figure, unit_scores_figure,
                                           unit_share_figure)

    @app.callback(Output(JOB, "data"), Output(STATUS, "children", allow_duplicate=True),
                  Output(ids.JOB_POLL, "disabled", allow_duplicate=True),
                  Input(ids.TABS, "value"), Input(TARGETS, "value"), prevent_initial_call=True)
    def start(tab, targets):
        if tab != TAB_VALUE or not targets:
            raise PreventUpdate
        return {"key": _depth_job(ctx, list(targets))}, "computing probes and CKA…", False

    # Each poller also writes what it drew into a store of its own (in the same response as the
    # figure), so a finished job is drawn once per page and a dropped response is simply redrawn.
    @app.callback(Output(DEPTH, "figure"), Output(CKA, "figure"), Output(STATUS, "children"),
                  Output(DRAWN_DEPTH, "data"),
                  Input(ids.JOB_POLL, "n_intervals"), Input(JOB, "data"), State(DRAWN_DEPTH, "data"),
                  prevent_initial_call=True)
    def poll(_n, job, drawn):
        phase, text, _status = describe_job(ctx.jobs, job)
        if phase != "done" or drawn == job["key"]:
            return no_update, no_update, text, no_update
        result = ctx.jobs.result(job["key"])
        return (depth_figure(result["curves"]), cka_figure(result["cka"], title=f"linear CKA, {ctx.run.path.name}"),
                text, job["key"])

    @app.callback(Output(UNITS_JOB, "data"), Output(ids.JOB_POLL, "disabled", allow_duplicate=True),
                  Input(ids.TABS, "value"), prevent_initial_call=True)
    def start_units(tab):
        if tab != TAB_VALUE:
            raise PreventUpdate
        return {"key": _units_job(ctx)}, False

    @app.callback(Output(UNIT_SCORES, "figure"), Output(LABEL_PROPORTION, "figure"), Output(UNIT_SHARE, "figure"),
                  Output(RELEVANCE, "figure"), Output(UNITS_STATUS, "children"), Output(DRAWN_UNITS, "data"),
                  Input(ids.JOB_POLL, "n_intervals"), Input(UNITS_JOB, "data"), Input(UNIT_LAYER, "value"),
                  Input(UNIT_TARGET, "value"), State(DRAWN_UNITS, "data"), prevent_initial_call=True)
    def draw_units(_n, job, layer, target, drawn):
        phase, text, _status = describe_job(ctx.jobs, job)
        state = [job["key"], layer, target] if job else None
        if phase != "done" or not layer or not target or drawn == state:
            return no_update, no_update, no_update, no_update, text, no_update
        units = ctx.jobs.result(job["key"])
        try:
            outputs, matrix, _probe = _relevance_matrix(ctx, layer, target)
            relevance = unit_relevance_figure(matrix, outputs, layer=layer)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            relevance = empty_figure(f"no relevance: {exc}", height=320)
        return (unit_scores_figure(units, layer, target), label_proportion_figure(units, target),
                unit_share_figure(units), relevance, text, state)

    @app.callback(Output(SPATIAL_JOB, "data"), Output(ids.JOB_POLL, "disabled", allow_duplicate=True),
                  Output(SPATIAL_STATUS, "children", allow_duplicate=True),
                  Input(SPATIAL_BUTTON, "n_clicks"), State(ROW_INPUT, "value"), State(UNIT_LAYER, "value"),
                  State(UNIT_TARGET, "value"), prevent_initial_call=True)
    def start_spatial(n_clicks, row, layer, target):
        if not n_clicks or row is None:
            raise PreventUpdate
        from topoact.observers.heatmaps import spatial_relevance
        from topoact.observers.probes import ProbeConfig, probe_layers
        from topoact.observers.targets import make_target

        def work(progress, should_cancel):
            probe = probe_layers(ctx.run, [layer], ProbeConfig(target=target)).layers[layer]
            t = make_target(ctx.run, target)
            if t.kind == "circular":
                output = "cos"
            else:
                where = np.flatnonzero(t.rows == int(row))
                code = int(t.classes(4)[where[0]]) if where.size else probe["classes"][0]
                output = code if len(probe["coef"]) > 1 or code in probe["classes"][1:] else probe["classes"][1]
            return spatial_relevance(ctx.run, layer, int(row), probe, output).to_dict()

        key = ctx.jobs.submit("observers-spatial", {"run": str(ctx.run.path), "layer": layer, "target": target,
                                                    "row": int(row)}, work)
        return {"key": key}, False, "computing…"

    @app.callback(Output(SPATIAL, "figure"), Output(SPATIAL_STATUS, "children"), Output(DRAWN_SPATIAL, "data"),
                  Input(ids.JOB_POLL, "n_intervals"), Input(SPATIAL_JOB, "data"), State(DRAWN_SPATIAL, "data"),
                  prevent_initial_call=True)
    def draw_spatial(_n, job, drawn):
        phase, text, _status = describe_job(ctx.jobs, job)
        if phase != "done" or drawn == job["key"]:
            return no_update, text, no_update
        return spatial_relevance_figure(ctx.jobs.result(job["key"])), text, job["key"]

    if getattr(ctx, "compare_run", None) is None:
        return

    @app.callback(Output(COMPARE_JOB, "data"), Output(ids.JOB_POLL, "disabled", allow_duplicate=True),
                  Input(ids.TABS, "value"), Input(TARGETS, "value"), prevent_initial_call=True)
    def start_compare(tab, targets):
        if tab != TAB_VALUE or not targets:
            raise PreventUpdate
        from topoact.observers.compare import compare_runs

        def work(progress, should_cancel):
            return compare_runs(ctx.run, ctx.compare_run, targets=tuple(targets), progress=_adapt(progress),
                                should_cancel=should_cancel).to_dict()

        key = ctx.jobs.submit("observers-compare", {"a": str(ctx.run.path), "b": str(ctx.compare_run.path),
                                                    "targets": list(targets)}, work)
        return {"key": key}, False

    @app.callback(Output(COMPARE_DEPTH, "figure"), Output(COMPARE_CKA, "figure"), Output(COMPARE_SUMMARY, "children"),
                  Output(COMPARE_STATUS, "children"), Output(DRAWN_COMPARE, "data"),
                  Input(ids.JOB_POLL, "n_intervals"), Input(COMPARE_JOB, "data"), State(DRAWN_COMPARE, "data"),
                  prevent_initial_call=True)
    def draw_compare(_n, job, drawn):
        phase, text, _status = describe_job(ctx.jobs, job)
        if phase != "done" or drawn == job["key"]:
            return no_update, no_update, no_update, text, no_update
        result = ctx.jobs.result(job["key"])
        names = [ctx.run.path.name, ctx.compare_run.path.name]
        cka = (cka_figure(result["cka"], title=f"CKA: {names[0]} (rows) vs {names[1]} (cols)")
               if result["cka"] else empty_figure("different images: no CKA", height=460))
        return (compare_depth_figure(result["curves"][0], result["curves"][1], names), cka, result["summary"], text,
                job["key"])
