"""The "Layers" tab: what each layer knows (observers) and, with two runs, how they differ.

* Depth curves (probe accuracy with controls, effective rank, Mapper / persistence summaries,
  the tunnel) and the CKA heat map of the run's layers: one background job, started when the
  tab is first opened or the probe targets change (probes and CKA are cached in the run, so
  later openings are quick).
* Per-unit views for a chosen layer and target: unit scores with the control threshold, the
  share of units per target and layer, the label proportion vs depth, relevance (probe weight x
  activation) per class and unit; a background job per (layer, target). The spatial relevance
  of one image overlaid on it (recomputed with the model) on "Show".
* Compare (only when the app was started with two runs, ``topoact serve RUN_A RUN_B``): both
  runs' curves overlaid, CKA across the two models and the generated summary.

Every computation is a Dash background callback (:mod:`topoact.app.background`): it runs in a
worker process with a progress bar (the engines' :mod:`topoact.progress` protocol through
:class:`~topoact.app.background.BarProgress`) and a Cancel button that kills the worker. The
jobs started by opening the tab are asked for through a *request* store each
(:func:`_request`): a request is written only when it differs from the last one, so switching
tabs back and forth does not recompute; a cancelled request is asked for again on the next
opening.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Sequence

import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from topoact.app import ids
from topoact.app.background import PROGRESS_DEFAULT, BarProgress, job_options, show_cancelled
from topoact.figures.graph import empty_figure

if TYPE_CHECKING:
    from dash import Dash

    from topoact.app.context import AppContext

logger = logging.getLogger(__name__)

TAB_LABEL = "Layers"
TAB_VALUE = "tab-layers"

L = "topoact-layers-"
TARGETS = L + "targets"
DEPTH = L + "depth"
CKA = L + "cka"
UNIT_LAYER = L + "unit-layer"
UNIT_TARGET = L + "unit-target"
UNIT_SCORES = L + "unit-scores"
UNIT_SHARE = L + "unit-share"
LABEL_PROPORTION = L + "label-proportion"
RELEVANCE = L + "relevance"
ROW_INPUT = L + "row"
SPATIAL_BUTTON = L + "spatial-run"
SPATIAL = L + "spatial"
COMPARE = L + "compare"
COMPARE_DEPTH = L + "compare-depth"
COMPARE_CKA = L + "compare-cka"
COMPARE_SUMMARY = L + "compare-summary"
# one job per prefix: "<prefix>" + status / progress / progress-text / cancel / store-request / store-cancelled
DEPTH_JOB = L + "depth-job-"
UNITS_JOB = L + "units-job-"
SPATIAL_JOB = L + "spatial-job-"
COMPARE_JOB = L + "compare-job-"
STATUS = DEPTH_JOB + "status"
UNITS_STATUS = UNITS_JOB + "status"
SPATIAL_STATUS = SPATIAL_JOB + "status"
COMPARE_STATUS = COMPARE_JOB + "status"


def _job_controls(prefix: str, *, request: bool = True) -> list:
    """Cancel button, progress bar and text, status line (and the request stores) of one job."""
    controls = [dbc.Button("Cancel", id=prefix + "cancel", n_clicks=0, disabled=True, size="sm", color="secondary",
                           outline=True, className="ms-2"),
                html.Progress(id=prefix + "progress", value=PROGRESS_DEFAULT[0], max="1",
                              style={"width": "10em", "marginLeft": "0.8em"}),
                html.Span(id=prefix + "progress-text", style={"marginLeft": "0.5em", "fontSize": "0.85em"}),
                html.Span(id=prefix + "status", style={"marginLeft": "0.8em", "fontSize": "0.85em"})]
    if request:
        controls += [dcc.Store(id=prefix + "store-request", data=None),
                     dcc.Store(id=prefix + "store-cancelled", data=None)]
    return controls


def _job(prefix: str, buttons: Sequence[str] = ()) -> dict:
    """:func:`~topoact.app.background.job_options` of the job with this prefix."""
    return job_options(prefix + "progress", prefix + "progress-text", cancel=prefix + "cancel", buttons=buttons)


def next_request(tab: str | None, wanted: Any, current: Any, cancelled: Any) -> Any:
    """The request to write into a job's request store, or ``None`` when nothing is to start.

    Parameters
    ----------
    tab : str or None
        The shell's selected tab.
    wanted : JSON-able
        The job's parameters now (``None``: nothing to compute).
    current : JSON-able
        The request last written (its job is running, done or was cancelled).
    cancelled : JSON-able
        The request whose job was cancelled, if any.
    """
    if tab != TAB_VALUE or wanted is None:
        return None
    if wanted == current and current != cancelled:
        return None  # running or done
    return wanted


def _request(app: Dash, prefix: str, wanted: Any, *inputs: Input) -> None:
    """Register the callback writing ``prefix``'s request store from the tab and ``inputs``.

    ``wanted(*input values)`` gives the job's parameters. Cancel (browser-side) records the
    cancelled request, so that the next opening of the tab asks for it again.
    """
    store, cancelled = prefix + "store-request", prefix + "store-cancelled"

    @app.callback(Output(store, "data"), Output(cancelled, "data"), Input(ids.TABS, "value"), *inputs,
                  State(store, "data"), State(cancelled, "data"))
    def request(tab, *values):
        *values, current, was_cancelled = values
        new = next_request(tab, wanted(*values), current, was_cancelled)
        if new is None:
            raise PreventUpdate
        return new, None

    app.clientside_callback("function(n, request) { return n ? request : window.dash_clientside.no_update; }",
                            Output(cancelled, "data", allow_duplicate=True), Input(prefix + "cancel", "n_clicks"),
                            State(store, "data"),
                            prevent_initial_call=True)
    show_cancelled(app, prefix + "cancel", prefix + "status")


def _targets(run) -> list[str]:
    from topoact.observers.targets import available_targets

    return available_targets(run)


def _graph(figure_id: str, height: int) -> dcc.Graph:
    return dcc.Graph(id=figure_id, figure=empty_figure("", height=height), config={"displayModeBar": False})


def _row(*cells: tuple[str, int, int]) -> html.Div:
    """Figures side by side: ``(figure id, height, flex weight)`` each."""
    return html.Div([html.Div(_graph(figure_id, height), style={"flex": f"{weight} 1 0", "minWidth": 0})
                     for figure_id, height, weight in cells], style={"display": "flex", "gap": "1em"})


def _dropdown(component_id: str, options: list, value: Any, width: str = "14em", **kw: Any) -> dcc.Dropdown:
    return dcc.Dropdown(id=component_id, options=options, value=value,
                        style={"width": width, "display": "inline-block", "verticalAlign": "middle"}, **kw)


def layout(ctx: AppContext) -> html.Div:
    """Probe targets, depth curves and CKA; single units; spatial relevance; Compare (two runs)."""
    run = ctx.run
    targets = _targets(run)
    default = [t for t in ("label", "orientation") if t in targets] or targets[:1]
    compare = []
    if ctx.compare_run is not None:
        compare = [html.H4(f"Compare: {run.path.name} (solid) vs {ctx.compare_run.path.name} (dashed)"),
                   html.Div(_job_controls(COMPARE_JOB)),
                   html.P(id=COMPARE_SUMMARY, style={"fontSize": "0.9em"}),
                   _row((COMPARE_DEPTH, 720, 3), (COMPARE_CKA, 460, 2))]
    return html.Div([
        html.Div([html.Span("probe targets "), _dropdown(TARGETS, targets, default, "24em", multi=True)]
                 + _job_controls(DEPTH_JOB)),
        _row((DEPTH, 720, 3), (CKA, 460, 2)),
        html.H4("Single units"),
        html.Div([html.Span("layer "), _dropdown(UNIT_LAYER, run.layers, run.layers[-1], clearable=False),
                  html.Span(" target ", style={"marginLeft": "1em"}),
                  _dropdown(UNIT_TARGET, targets, default[0] if default else None, clearable=False)]
                 + _job_controls(UNITS_JOB)),
        _row((UNIT_SCORES, 300, 1), (LABEL_PROPORTION, 300, 1)),
        _row((UNIT_SHARE, 320, 1), (RELEVANCE, 320, 1)),
        html.Div([html.Span("spatial relevance of image row "),
                  dcc.Input(id=ROW_INPUT, type="number", min=0, max=run.n - 1, value=0, style={"width": "7em"}),
                  dbc.Button("Show", id=SPATIAL_BUTTON, n_clicks=0, size="sm", color="primary", className="ms-2")]
                 + _job_controls(SPATIAL_JOB, request=False)),
        _graph(SPATIAL, 360),
        html.Div(compare, id=COMPARE),
    ], style={"padding": "0.5em"})


def _spatial_output(probe: dict, target: Any, row: int) -> Any:
    """The probe output whose relevance map is drawn for ``row``: its own class (cos for circular targets)."""
    if target.kind == "circular":
        return "cos"
    where = np.flatnonzero(target.rows == int(row))
    code = int(target.classes(4)[where[0]]) if where.size else probe["classes"][0]
    return code if len(probe["coef"]) > 1 or code in probe["classes"][1:] else probe["classes"][1]


def _relevance_matrix(ctx: AppContext, layer: str, target: str, progress: Any = None) -> tuple[list, list, dict]:
    """(outputs, K x D mean relevance per class) of the cached/computed probe of ``target``."""
    from topoact.observers.heatmaps import unit_relevance
    from topoact.observers.probes import ProbeConfig, probe_layers
    from topoact.observers.targets import make_target

    probe = probe_layers(ctx.run, [layer], ProbeConfig(target=target), progress=progress).layers[layer]
    t = make_target(ctx.run, target)
    X = np.asarray(ctx.run.activations(layer))[t.rows]
    if t.kind == "circular":
        return ["cos", "sin"], [unit_relevance(probe, X, o).tolist() for o in ("cos", "sin")], probe
    codes = t.classes(4)
    outputs = probe["classes"] if len(probe["coef"]) > 1 else probe["classes"][1:]
    matrix = [unit_relevance(probe, X[codes == c], c).tolist() for c in outputs]
    names = list(t.class_names) if t.class_names else []
    return [names[c] if c < len(names) else c for c in outputs], matrix, probe


def register(app: Dash, ctx: AppContext) -> None:
    """The panel's callbacks: four background jobs and the request callbacks that start them."""
    from topoact.figures.observers import (cka_figure, compare_depth_figure, depth_figure, label_proportion_figure,
                                           spatial_relevance_figure, unit_relevance_figure, unit_scores_figure,
                                           unit_share_figure)
    from topoact.observers import cka_matrix
    from topoact.observers.depth import depth_curves
    from topoact.observers.units import unit_report
    from topoact.progress import Stage

    name = ctx.run.path.name
    _request(app, DEPTH_JOB, lambda targets: {"targets": list(targets)} if targets else None, Input(TARGETS, "value"))
    _request(app, UNITS_JOB, lambda layer, target: {"layer": layer, "target": target} if layer and target else None,
             Input(UNIT_LAYER, "value"), Input(UNIT_TARGET, "value"))

    @app.callback(Output(DEPTH, "figure"), Output(CKA, "figure"), Output(STATUS, "children"),
                  Input(DEPTH_JOB + "store-request", "data"), **_job(DEPTH_JOB))
    def depth(set_progress, request):
        """Probes of every layer for the targets, the other depth curves and the CKA matrix (worker process)."""
        if not request:
            raise PreventUpdate
        bar = BarProgress(set_progress)
        try:
            curves = depth_curves(ctx.run, targets=request["targets"], progress=Stage(bar, 0, 0.8, "depth curves"))
            cka = cka_matrix(ctx.run, progress=Stage(bar, 0.8, 1.0, "CKA"))
        except Exception as exc:  # noqa: BLE001 - shown to the user
            logger.exception("depth curves of %s", name)
            return no_update, no_update, f"error: {exc}"
        return (depth_figure(curves.to_dict()), cka_figure(cka.to_dict(), title=f"linear CKA, {name}"),
                f"done ({bar.elapsed():.1f} s)")

    @app.callback(Output(UNIT_SCORES, "figure"), Output(LABEL_PROPORTION, "figure"), Output(UNIT_SHARE, "figure"),
                  Output(RELEVANCE, "figure"), Output(UNITS_STATUS, "children"),
                  Input(UNITS_JOB + "store-request", "data"), **_job(UNITS_JOB))
    def units(set_progress, request):
        """Single-unit report of every layer (cached in the run) and the probe relevance of one layer."""
        if not request:
            raise PreventUpdate
        layer, target = request["layer"], request["target"]
        bar = BarProgress(set_progress)
        try:
            report = unit_report(ctx.run, progress=Stage(bar, 0, 0.7, "single units")).to_dict()
        except Exception as exc:  # noqa: BLE001
            logger.exception("unit report of %s", name)
            return no_update, no_update, no_update, no_update, f"error: {exc}"
        try:
            outputs, matrix, _probe = _relevance_matrix(ctx, layer, target,
                                                        Stage(bar, 0.7, 1.0, f"probe relevance of {layer}"))
            relevance = unit_relevance_figure(matrix, outputs, layer=layer)
        except Exception as exc:  # noqa: BLE001 - shown in the figure
            relevance = empty_figure(f"no relevance: {exc}", height=320)
        return (unit_scores_figure(report, layer, target), label_proportion_figure(report, target),
                unit_share_figure(report), relevance, f"done ({bar.elapsed():.1f} s)")

    show_cancelled(app, SPATIAL_JOB + "cancel", SPATIAL_STATUS)

    @app.callback(Output(SPATIAL, "figure"), Output(SPATIAL_STATUS, "children"),
                  Input(SPATIAL_BUTTON, "n_clicks"), State(ROW_INPUT, "value"), State(UNIT_LAYER, "value"),
                  State(UNIT_TARGET, "value"), **_job(SPATIAL_JOB, buttons=[SPATIAL_BUTTON]))
    def spatial(set_progress, n_clicks, row, layer, target):
        """Relevance per position of one image's conv map, recomputed with the model (worker process)."""
        if not n_clicks or row is None or not layer or not target:
            raise PreventUpdate
        from topoact.observers.heatmaps import spatial_relevance
        from topoact.observers.probes import ProbeConfig, probe_layers
        from topoact.observers.targets import make_target

        bar = BarProgress(set_progress)
        try:
            probe = probe_layers(ctx.run, [layer], ProbeConfig(target=target),
                                 progress=Stage(bar, 0, 0.5, "probe")).layers[layer]
            bar(0.5, 1, f"relevance of row {int(row)}")
            output = _spatial_output(probe, make_target(ctx.run, target), int(row))
            result = spatial_relevance(ctx.run, layer, int(row), probe, output).to_dict()
        except Exception as exc:  # noqa: BLE001
            return no_update, f"error: {exc}"
        return spatial_relevance_figure(result), f"done ({bar.elapsed():.1f} s)"

    if ctx.compare_run is None:
        return
    from topoact.observers.compare import compare_runs

    other = ctx.compare_run.path.name
    _request(app, COMPARE_JOB, lambda targets: {"targets": list(targets)} if targets else None,
             Input(TARGETS, "value"))

    @app.callback(Output(COMPARE_DEPTH, "figure"), Output(COMPARE_CKA, "figure"), Output(COMPARE_SUMMARY, "children"),
                  Output(COMPARE_STATUS, "children"), Input(COMPARE_JOB + "store-request", "data"),
                  **_job(COMPARE_JOB))
    def compare(set_progress, request):
        """Both runs' depth curves, CKA across them and the summary (worker process)."""
        if not request:
            raise PreventUpdate
        bar = BarProgress(set_progress)
        try:
            result = compare_runs(ctx.run, ctx.compare_run, targets=tuple(request["targets"]),
                                  progress=bar).to_dict()
        except Exception as exc:  # noqa: BLE001
            logger.exception("comparison of %s and %s", name, other)
            return no_update, no_update, no_update, f"error: {exc}"
        cka = (cka_figure(result["cka"], title=f"CKA: {name} (rows) vs {other} (cols)")
               if result["cka"] else empty_figure("different images: no CKA", height=460))
        return (compare_depth_figure(result["curves"][0], result["curves"][1], [name, other]), cka,
                result["summary"], f"done ({bar.elapsed():.1f} s)")
