"""Sweep panel: Mapper over a grid of intervals x overlap (x eps scale); other parameters from the form.

"Run sweep" is a background callback (worker process, progress bar, cancel; see
:mod:`topoact.app.background`) running :func:`topoact.mapper.run_graphs.sweep_run`; it shows one
summary per setting (nodes, edges, components, cycles, mean purity) as a heat map (metric chosen
in a dropdown) and a table. Clicking a heat-map cell or a table row shows that setting's graph in
the Mapper graph tab — loaded when saved before, else built in the background — without making
it the layer's default.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback_context, dash_table, dcc, html, no_update
from dash.exceptions import PreventUpdate

from topoact.app import ids
from topoact.app.background import PROGRESS_DEFAULT, BarProgress, job_options, show_cancelled
from topoact.app.help import HELP, error_id, field
from topoact.app.panels.graph_form import CAPTIONS, FORM_IDS, allowed, field_errors, form_config, graph_request
from topoact.figures.graph import empty_figure, sweep_figure

if TYPE_CHECKING:
    from dash import Dash

    from topoact.app.context import AppContext
    from topoact.mapper import MapperConfig
    from topoact.progress import ProgressFn
    from topoact.store import Run


logger = logging.getLogger(__name__)

TAB_LABEL = "Parameter sweep"
METRICS = ["nodes", "edges", "components", "cycles", "mean_purity"]
COLUMNS = ["n_intervals", "overlap", "eps_scale", "eps"] + METRICS
SWEEP_PROGRESS_TEXT = "topoact-sweep-progress-text"
#: the sweep's list fields: control id -> the MapperConfig field each entry sets
LIST_FIELDS = {ids.SWEEP_INTERVALS: "n_intervals", ids.SWEEP_OVERLAPS: "overlap", ids.SWEEP_SCALES: "eps_scale"}
METRIC_LABELS = {"nodes": "nodes", "edges": "edges", "components": "components", "cycles": "cycles",
                 "mean_purity": "mean purity (0–1)"}


def parse_list(text: str | None, cast: Callable[[str], Any], name: str) -> list:
    """``"3, 5; 8"`` -> sorted distinct ``[3, 5, 8]``; raises ValueError naming ``name`` and the bad entry."""
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


def list_errors(texts: dict[str, str | None]) -> dict[str, str]:
    """Messages in words for the sweep's bad list fields: ``{control id: message}``.

    Parameters
    ----------
    texts : dict
        ``{control id of LIST_FIELDS: the text typed}``; every comma-separated entry is checked
        by the library (:func:`topoact.app.panels.graph_form.field_errors`).
    """
    errors = {}
    for control, text in texts.items():
        name = LIST_FIELDS[control]
        entries = [part.strip() for part in str(text or "").replace(";", ",").split(",") if part.strip()]
        rule = f"{allowed(name)} each, separated by commas"
        if not entries:
            errors[control] = f"{CAPTIONS[name]}: give at least one value ({rule})"
            continue
        bad = [part for part in entries if field_errors({name: part})]
        if bad:
            errors[control] = f"{CAPTIONS[name]}: {rule}; not {', '.join(bad)}"
    return errors


def sweep_grid(base: MapperConfig, n_intervals: list[int], overlaps: list[float], scales: list[float] = (1.0,)) -> dict:
    """The ``sweep_run`` grid: the swept lists plus ``base``'s other fields (a MapperConfig).

    Raises
    ------
    ValueError
        When the base clusterer is not DBSCAN (the sweep varies DBSCAN's eps scale).
    """
    if base.clusterer != "dbscan":
        raise ValueError("the sweep varies DBSCAN's scale; choose the dbscan clusterer in the form")
    fixed = {k: v for k, v in base.to_dict().items() if k not in ("n_intervals", "overlap", "eps_scale")}
    return {**fixed, "n_intervals": list(n_intervals), "overlaps": list(overlaps), "eps_scales": list(scales)}


def run_sweep(run: Run, layer: str, grid: dict, progress: ProgressFn | None = None) -> list[dict]:
    """Background-job body: :func:`topoact.mapper.run_graphs.sweep_run`, as JSON-able summaries."""
    from topoact.mapper import run_graphs

    return _jsonable(run_graphs.sweep_run(run, layer, dict(grid), progress=progress))


def summary_rows(summaries: list[dict]) -> list[dict]:
    """Table rows: one per setting, ``row`` = its index in ``summaries``."""
    return [{"row": k, **{c: _round(s.get(c)) for c in COLUMNS}} for k, s in enumerate(summaries)]


def layout(ctx: AppContext) -> html.Div:
    """The sweep form, progress, heat map and table."""
    def text(control_id: str, value: str) -> dbc.Input:
        return dbc.Input(id=control_id, type="text", value=value, size="sm", autoComplete="off")

    form = html.Div([
        field("intervals (list)", text(ids.SWEEP_INTERVALS, "4, 6, 8, 12"), help=HELP["sweep_intervals"],
              control_id=ids.SWEEP_INTERVALS, width="14em"),
        field("overlaps (list, 0–1)", text(ids.SWEEP_OVERLAPS, "0.2, 0.3, 0.5"), help=HELP["sweep_overlaps"],
              control_id=ids.SWEEP_OVERLAPS, width="14em"),
        field("eps scales (list, × auto eps)", text(ids.SWEEP_SCALES, "1.0"), help=HELP["sweep_scales"],
              control_id=ids.SWEEP_SCALES, width="14em"),
        html.Div([
            dbc.Button("Run sweep", id=ids.SWEEP_BUTTON, n_clicks=0, size="sm", color="primary"),
            dbc.Button("Cancel", id=ids.CANCEL_SWEEP, n_clicks=0, disabled=True, size="sm", color="secondary",
                       outline=True, className="ms-2"),
        ], className="align-self-end mb-1"),
        field("heat map shows", dbc.Select(id=ids.SWEEP_METRIC, value="nodes", size="sm",
                                           options=[{"label": METRIC_LABELS[m], "value": m} for m in METRICS]),
              help=HELP["sweep_metric"], control_id=ids.SWEEP_METRIC, width="12em"),
    ], className="topoact-form-row")
    return html.Div([
        html.P("Mapper over a grid of cover settings; lens, clusterer, eps and metric come from the "
               "parameter form of the Mapper graph tab. Click a cell or a row to open that graph (it does "
               "not become the layer's default).", className="small text-secondary mb-2"),
        form,
        html.Div([html.Progress(id=ids.SWEEP_PROGRESS, value=PROGRESS_DEFAULT[0], max="1", style={"width": "12em"}),
                  html.Span(id=SWEEP_PROGRESS_TEXT, className="ms-2"),
                  html.Span(id=ids.SWEEP_STATUS, className="ms-2")],
                 className="small text-secondary my-1 d-flex align-items-center"),
        dcc.Store(id=ids.SWEEP_RESULT, data=None),
        dcc.Graph(id=ids.SWEEP_HEATMAP, figure=empty_figure("no sweep yet", height=300)),
        dash_table.DataTable(id=ids.SWEEP_TABLE, columns=[{"name": c, "id": c} for c in COLUMNS], data=[],
                             sort_action="native", style_cell={"fontSize": "0.85em", "padding": "2px 6px"}),
    ])


def register(app: Dash, ctx: AppContext) -> None:
    """The sweep job (background) and the cell / row -> graph callback."""

    @app.callback(
        Output(ids.SWEEP_RESULT, "data"), Output(ids.SWEEP_STATUS, "children"),
        Input(ids.SWEEP_BUTTON, "n_clicks"),
        State(ids.LAYER, "data"), State(ids.SWEEP_INTERVALS, "value"), State(ids.SWEEP_OVERLAPS, "value"),
        State(ids.SWEEP_SCALES, "value"), [State(component, "value") for component in FORM_IDS],
        **job_options(ids.SWEEP_PROGRESS, SWEEP_PROGRESS_TEXT, cancel=ids.CANCEL_SWEEP, buttons=[ids.SWEEP_BUTTON]),
    )
    def start(set_progress, n_clicks, layer, intervals_text, overlaps_text, scales_text, *form):
        """Runs in a worker process."""
        if not n_clicks or not layer:
            raise PreventUpdate
        errors = list_errors(dict(zip(LIST_FIELDS, (intervals_text, overlaps_text, scales_text))))
        if errors:  # each message is on its field's error line (``validate``)
            return no_update, "check the marked field: " + "; ".join(errors.values())
        bar = BarProgress(set_progress)
        try:
            grid = sweep_grid(form_config(*form), parse_list(intervals_text, int, "intervals"),
                              parse_list(overlaps_text, float, "overlap"), parse_list(scales_text, float, "eps scale"))
            summaries = run_sweep(ctx.run, layer, grid, progress=bar)
        except Exception as exc:  # noqa: BLE001 - shown in the panel
            return no_update, f"error: {exc}"
        return ({"layer": layer, "summaries": summaries},
                f"{len(summaries)} settings of layer {layer} ({bar.elapsed():.1f} s)")

    show_cancelled(app, ids.CANCEL_SWEEP, ids.SWEEP_STATUS)

    @app.callback([Output(error_id(control), "children") for control in LIST_FIELDS],
                  [Output(control, "invalid") for control in LIST_FIELDS],
                  [Input(control, "value") for control in LIST_FIELDS], prevent_initial_call=True)
    def validate(*texts):
        """Every bad list gets its message in words on its field's error line."""
        errors = list_errors(dict(zip(LIST_FIELDS, texts)))
        return (*[errors.get(c, "") for c in LIST_FIELDS], *[c in errors for c in LIST_FIELDS])

    @app.callback(Output(ids.SWEEP_HEATMAP, "figure"), Output(ids.SWEEP_TABLE, "data"),
                  Input(ids.SWEEP_RESULT, "data"), Input(ids.SWEEP_METRIC, "value"))
    def show(result, metric):
        if not result:
            return empty_figure("no sweep yet", height=300), []
        summaries = result["summaries"]
        scales = {s.get("eps_scale") for s in summaries}
        flat = [dict(s, params={"intervals": s.get("n_intervals"),
                                "setting": f"overlap {s.get('overlap')}" + (f" · eps×{s.get('eps_scale')}"
                                                                            if len(scales) > 1 else "")})
                for s in summaries]
        return sweep_figure(flat, x="intervals", y="setting", metric=metric), summary_rows(summaries)

    @app.callback(
        Output(ids.MAPPER_RESULT, "data", allow_duplicate=True),
        Output(ids.MAPPER_REQUEST, "data", allow_duplicate=True),
        Output(ids.TABS, "value"),
        Output(ids.LAYER_DROPDOWN, "value"),
        Input(ids.SWEEP_HEATMAP, "clickData"), Input(ids.SWEEP_TABLE, "active_cell"),
        State(ids.SWEEP_TABLE, "derived_viewport_data"), State(ids.SWEEP_RESULT, "data"),
        State(ids.LAYER, "data"),
        prevent_initial_call=True,
    )
    def open_setting(click, cell, table_rows, result, current_layer):
        """Show the clicked setting's graph (never its layer's new default)."""
        from topoact.mapper import MapperConfig

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
        layer = result["layer"]
        done, request = graph_request(ctx, [layer], MapperConfig.from_dict(result["summaries"][k]["params"]), layer)
        return (done or no_update, request or no_update, "main",
                no_update if layer == current_layer else layer)


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
