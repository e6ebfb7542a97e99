"""Feature-visualization panel: synthesize images for the clicked node (or an exemplar row).

Methods (issue 6): "Visualize" (node direction, default), "Inverse set at level…" (level as a
fraction of the real exemplars' range), "Class-agnostic from exemplars", "With generator
prior" (DGN-AM, enabled when a generator exists for the layer; "Train generator" starts one
as a job).

Choices made here:

* **Channel picker.** A multi-select list of the layer's channels (the valid range
  ``0..C-1`` is shown next to it) and a "levels" field: one level per picked channel
  (``0.2, 0.8``), or one value for all; empty -> the "level" field. One channel is an inverse
  set, several are the intersection of their inverse sets. With a node selected the request
  is tied to that node's layer; without one, the selected layer (``ids.LAYER``) is used.
  Without picked channels the inverse set is taken along the node's direction.
* **DGN-AM side by side.** "With generator prior" runs the pixel-space node visualization
  with the same steps, batch and seed first (a cache hit when it was already run) and then
  DGN-AM, and shows both in two labelled columns, so the user sees what the prior changes.
* **Exemplar -> class-agnostic.** Clicking an exemplar image in the node panel fills the
  "row" field, selects the class-agnostic method and starts the job for that one image (the
  result waits in this tab). A filled "row" with the class-agnostic method always means that
  exemplar, even when a node is selected; clear it to run on the node's top exemplars.

Every request is written into the ``REQUEST`` store; a background callback on it runs the
request in a worker process (progress bar, cancel; :mod:`topoact.app.background`) through the
disk cache of :mod:`topoact.features.service`, so a repeat is instant and survives a restart.
Placeholders are shown while a job runs; the synthesized PNGs (tiny, 32 px for CIFAR models) are
sent as data URIs and drawn pixelated next to the request's metrics.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import base64
import logging
import time

from dash import ALL, Input, Output, State, callback_context, dcc, html, no_update
from dash.exceptions import PreventUpdate

from topoact.app import ids
from topoact.app.background import PROGRESS_DEFAULT, BarProgress, job_options
from topoact.app.panels.node import EXEMPLAR_CLICK
from topoact.progress import ProgressFn

if TYPE_CHECKING:
    from dash import Dash

    from topoact.app.context import AppContext
    from topoact.store import Run


logger = logging.getLogger(__name__)

TAB_LABEL = "Feature visualization"

METHOD = "topoact-features-method"
STEPS = "topoact-features-steps"
BATCH = "topoact-features-batch"
SEED = "topoact-features-seed"
LEVEL = "topoact-features-level"
CHANNELS = "topoact-features-channels"
LEVELS = "topoact-features-levels"
CHANNEL_RANGE = "topoact-features-channel-range"
ROW = "topoact-features-row"
WEIGHT = "topoact-features-weight"
RUN_BUTTON = "topoact-features-run"
CANCEL = "topoact-features-cancel"
TRAIN_BUTTON = "topoact-features-train"
REQUEST = "topoact-features-request"
STATUS = "topoact-features-status"
PROGRESS = "topoact-features-progress"
PROGRESS_TEXT = "topoact-features-progress-text"
RESULTS = "topoact-features-results"
TARGET = "topoact-features-target"

THUMB_PX = 96
METHOD_OPTIONS = [
    {"label": "Visualize (node direction)", "value": "node"},
    {"label": "Inverse set at level…", "value": "inverse"},
    {"label": "Class-agnostic from exemplars", "value": "class_agnostic"},
    {"label": "With generator prior (DGN-AM)", "value": "dgn"},
]


def _number(id_, value, **kw):
    return dcc.Input(id=id_, type="number", value=value, debounce=True,
                     style={"width": "5em", "marginRight": "0.8em"}, **kw)


def layout(ctx: AppContext) -> html.Div:
    """Method choice, parameters, channel picker, run / cancel / train buttons, progress, results."""
    label = {"fontSize": "0.85em", "color": "#555", "marginRight": "0.3em"}
    return html.Div([
        html.Div("Select a node in the graph tab, or give an exemplar row.", id=TARGET,
                 style={"margin": "0.4em 0"}),
        dcc.RadioItems(id=METHOD, options=METHOD_OPTIONS, value="node", inline=True,
                       style={"marginBottom": "0.4em"}),
        html.Div([
            html.Span("steps", style=label), _number(STEPS, 256, min=1, max=4096),
            html.Span("images", style=label), _number(BATCH, 4, min=1, max=32),
            html.Span("seed", style=label), _number(SEED, 0, min=0),
            html.Span("level (0-1)", style=label), _number(LEVEL, 0.5, min=0, max=1, step=0.05),
            html.Span("channels", style=label),
            html.Div(dcc.Dropdown(id=CHANNELS, options=[], value=[], multi=True,
                                  placeholder="none: node direction"),
                     style={"minWidth": "12em", "marginRight": "0.3em"}),
            html.Span("", id=CHANNEL_RANGE, style={"fontSize": "0.8em", "color": "#777",
                                                    "marginRight": "0.8em"}),
            html.Span("levels", style=label),
            dcc.Input(id=LEVELS, type="text", placeholder="per channel, e.g. 0.2, 0.8", debounce=True,
                      style={"width": "9em", "marginRight": "0.8em"}),
            html.Span("distance weight", style=label), _number(WEIGHT, 1.0, min=0, step=0.1),
            html.Span("row", style=label), _number(ROW, None, min=0),
        ], style={"display": "flex", "flexWrap": "wrap", "alignItems": "center", "gap": "2px"}),
        html.Div([
            html.Button("Visualize", id=RUN_BUTTON, n_clicks=0),
            html.Button("Cancel", id=CANCEL, n_clicks=0, disabled=True, style={"marginLeft": "0.5em"}),
            html.Button("Train generator", id=TRAIN_BUTTON, n_clicks=0, style={"marginLeft": "0.5em"}),
            html.Progress(id=PROGRESS, value=PROGRESS_DEFAULT[0], max="1", style={"marginLeft": "1em", "width": "12em"}),
            html.Span(id=PROGRESS_TEXT, style={"marginLeft": "0.6em", "fontSize": "0.85em"}),
            html.Span(id=STATUS, style={"marginLeft": "0.6em", "fontSize": "0.85em"}),
        ], style={"margin": "0.5em 0"}),
        dcc.Store(id=REQUEST),
        html.Div(id=RESULTS),
    ])


def _parse_list(text, convert, what: str) -> list | None:
    """'a, b; c' -> [convert(a), ...]; empty -> None; raises ValueError naming the bad entry."""
    if text is None or not str(text).strip():
        return None
    out = []
    for part in str(text).replace(";", ",").split(","):
        part = part.strip()
        if part:
            try:
                out.append(convert(part))
            except ValueError:
                raise ValueError(f"{what} {part!r} is not {'an integer' if convert is int else 'a number'}") from None
    return out or None


def parse_channels(text: str | None) -> list[int] | None:
    """'3, 7' -> [3, 7]; empty -> None; raises ValueError naming the bad entry."""
    return _parse_list(text, int, "channel")


def parse_levels(text: str | None) -> list[float] | None:
    """'0.2, 0.8' -> [0.2, 0.8]; empty -> None; raises ValueError naming the bad entry."""
    return _parse_list(text, float, "level")


def _channel_list(channels) -> list[int] | None:
    if channels is None or isinstance(channels, str):
        return parse_channels(channels)
    if isinstance(channels, (int, float)):
        return [int(channels)]
    return [int(c) for c in channels] or None


def build_request(node_store, method, steps, batch, seed, level, channels, weight, row,
                  levels=None, layer=None) -> dict:
    """The JSON-able request a job runs (validated lightly here, fully by the service).

    ``channels``: list of ints (the picker) or text ``'3, 7'``; ``levels``: text with one
    level per channel (or one for all); ``layer``: the selected layer, used when no node is
    selected (channel inverse sets, exemplar rows).
    """
    method = method or "node"
    params = {"steps": int(steps or 256), "seed": int(seed or 0)}
    chans = _channel_list(channels) if method == "inverse" else None
    exemplar = method == "class_agnostic" and row is not None
    if method != "class_agnostic":
        params["batch"] = int(batch or 4)
    elif node_store and not exemplar:
        params["n_images"] = int(batch or 4)
    if method == "inverse":
        lv = 0.5 if level is None else float(level)
        per = parse_levels(levels)
        if chans:
            if per is None:
                per = [lv] * len(chans)
            elif len(per) == 1:
                per = per * len(chans)
            elif len(per) != len(chans):
                raise ValueError(f"{len(chans)} channels but {len(per)} levels: give one level per "
                                 "channel or a single level for all")
            params["channel"] = chans if len(chans) > 1 else chans[0]
            params["level"] = per if len(chans) > 1 else per[0]
        else:
            params["level"] = per[0] if per else lv
    if method == "class_agnostic":
        params["weight"] = float(1.0 if weight is None else weight)
    node_layer = (node_store or {}).get("layer")
    if exemplar:
        if not (node_layer or layer):
            raise ValueError("select a layer first")
        return {"kind": "exemplar", "row": int(row), "layer": node_layer or layer, "method": method,
                "params": params}
    if node_store:
        return {"kind": "node", "layer": node_store["layer"], "graph_key": node_store.get("graph_key"),
                "node": int(node_store["node"]), "method": method, "params": params}
    if method == "inverse" and chans:
        if not layer:
            raise ValueError("select a layer first")
        params.pop("channel")
        return {"kind": "units", "layer": layer, "channel": chans, "method": method, "params": params}
    if row is not None:
        raise ValueError("an exemplar row supports only the class-agnostic method")
    raise ValueError("select a node (or give an exemplar row, or pick channels for an inverse set) first")


def run_request(run: Run, request: dict, layer: str | None, progress: ProgressFn | None = None) -> dict:
    """Background-job body: call :mod:`topoact.features.service` for a request.

    Parameters
    ----------
    run : topoact.store.Run
    request : dict
        From :func:`build_request`.
    layer : str or None
        The selected layer (used by exemplar requests without a node).
    progress : callable, optional
        :mod:`topoact.progress` protocol, one bar for the whole request (a DGN-AM request runs
        pixel space on the first half and DGN-AM on the second).

    Returns
    -------
    dict
        The service's result, or ``{"comparison": [pixel, dgn]}``.
    """
    from topoact.features import service
    from topoact.progress import Stage

    def stage(start=0.0, stop=1.0, label=""):
        return Stage(progress, start, stop, label) if progress else None

    if request["kind"] == "node" and request["method"] == "dgn":
        # pixel space first (same steps / batch / seed; a cache hit when already run), then DGN-AM
        pixel_params = {k: v for k, v in request["params"].items() if k in ("steps", "batch", "seed")}
        pixel = service.visualize_node(run, request["layer"], request["graph_key"], request["node"], "node",
                                       pixel_params, progress=stage(0.0, 0.5, "pixel space"))
        dgn = service.visualize_node(run, request["layer"], request["graph_key"], request["node"], "dgn",
                                     request["params"], progress=stage(0.5, 1.0, "DGN-AM"))
        return {"comparison": [pixel, dgn]}
    if request["kind"] == "node":
        return service.visualize_node(run, request["layer"], request["graph_key"], request["node"],
                                      request["method"], request["params"], progress=stage())
    if request["kind"] == "units":
        return service.visualize_units(run, request["layer"], request["channel"], request["method"],
                                       request["params"], progress=stage())
    return service.visualize_exemplar(run, request.get("layer") or layer, request["row"], request["method"],
                                      request["params"], progress=stage())


def _data_uri(path) -> str:
    with open(path, "rb") as handle:
        return "data:image/png;base64," + base64.b64encode(handle.read()).decode()


def _metric_text(metrics: dict) -> list:
    keys = [("activation_mean", "activation (mean)"), ("activation_max", "activation (max)"),
            ("members_activation_mean", "members (mean)"), ("members_activation_max", "members (max)"),
            ("fraction_within", "within tolerance"), ("pixel_diversity", "pixel diversity"),
            ("feature_diversity", "feature diversity"), ("gain_mean", "activation gain"),
            ("pixel_distance_mean", "pixel distance")]
    rows = []
    for key, name in keys:
        if key in metrics and isinstance(metrics[key], (int, float)):
            rows.append(html.Tr([html.Td(name, style={"color": "#555", "paddingRight": "1em"}),
                                 html.Td(f"{metrics[key]:.3g}")]))
    return [html.Table(rows, style={"fontSize": "0.85em"})]


def result_children(run: Run, result: dict) -> list:
    """Images (data URIs, pixelated) and a metrics table for a service result."""
    images = [html.Img(src=_data_uri(run.path / rel), className="topoact-feature-image",
                       title=f"{result['method']} · {rel}",
                       style={"width": f"{THUMB_PX}px", "height": f"{THUMB_PX}px",
                              "imageRendering": "pixelated", "marginRight": "3px"})
              for rel in result["images"]]
    note = "cached" if result.get("cached") else f"{result.get('seconds', 0):.1f} s"
    return [html.Div(images, style={"display": "flex", "flexWrap": "wrap"}),
            html.Div(f"{result['method']} · layer {result['layer']} · {note}",
                     style={"fontSize": "0.8em", "color": "#555", "margin": "0.3em 0"}),
            *_metric_text(result.get("metrics", {}))]


COMPARE_TITLES = ("Pixel space (no prior)", "DGN-AM (generator prior)")


def comparison_children(run: Run, results: list) -> list:
    """Pixel-space and DGN-AM results of one node in two labelled columns."""
    columns = []
    for title, result in zip(COMPARE_TITLES, results):
        columns.append(html.Div([html.Div(title, style={"fontWeight": "bold", "fontSize": "0.9em"}),
                                 *result_children(run, result)],
                                className="topoact-feature-column",
                                style={"flex": "1", "minWidth": "14em", "paddingRight": "1em"}))
    return [html.Div(columns, className="topoact-feature-compare",
                     style={"display": "flex", "flexWrap": "wrap", "alignItems": "flex-start"})]


def job_children(run: Run, result: Any) -> list | None:
    """Children for a finished job's result (one result or a DGN-vs-pixel comparison)."""
    if isinstance(result, dict) and "comparison" in result:
        return comparison_children(run, result["comparison"])
    if isinstance(result, dict) and "images" in result:
        return result_children(run, result)
    return None


def channel_count(run: Run, layer: str | None) -> int | None:
    """Number of channels (units) of a collected layer, or None."""
    if not layer or layer not in run.layers:
        return None
    shape = run.activations(layer).shape
    return int(shape[1]) if len(shape) > 1 else None


def placeholders(n: int) -> list:
    """``n`` grey boxes shown where the synthesized images will appear."""
    return [html.Div(style={"width": f"{THUMB_PX}px", "height": f"{THUMB_PX}px", "background": "#eee",
                            "display": "inline-block", "marginRight": "3px"},
                     className="topoact-feature-placeholder") for _ in range(max(1, n))]


def register(app: Dash, ctx: AppContext) -> None:
    """Target display, requests (button or exemplar click), the background jobs, cancel."""

    @app.callback(Output(TARGET, "children"), Output(METHOD, "options"),
                  Output(CHANNELS, "options"), Output(CHANNEL_RANGE, "children"),
                  Input(ids.NODE, "data"), Input(ids.LAYER, "data"))
    def show_target(node_store, layer):
        from topoact.features import service

        layer = (node_store or {}).get("layer") or layer
        has_gen = bool(layer) and layer in ctx.run.layers and service.generator_available(ctx.run, layer)
        options = [dict(o, disabled=(o["value"] == "dgn" and not has_gen)) for o in METHOD_OPTIONS]
        n = channel_count(ctx.run, layer)
        channel_options = [{"label": str(c), "value": c} for c in range(n or 0)]
        valid = f"valid: 0–{n - 1} ({n} in {layer})" if n else "no layer selected"
        if not node_store:
            text = ("No node selected: pick channels for an inverse set of layer "
                    f"{layer}, or give an exemplar row for the class-agnostic method."
                    if layer else "No node selected: give an exemplar row for the class-agnostic method.")
            return text, options, channel_options, valid
        return (f"Node {node_store['node']} · layer {node_store['layer']}"
                + (" · generator available: DGN-AM is shown next to pixel space" if has_gen
                   else " · no generator for this layer yet"), options, channel_options, valid)

    def _request(request: dict, layer, batch) -> tuple:
        n = 1 if request["kind"] == "exemplar" else int(batch or 4)
        return {"request": request, "layer": layer, "at": time.time()}, "queued", placeholders(n)

    @app.callback(Output(REQUEST, "data"), Output(STATUS, "children"), Output(RESULTS, "children"),
                  Input(RUN_BUTTON, "n_clicks"),
                  State(ids.NODE, "data"), State(ids.LAYER, "data"), State(METHOD, "value"),
                  State(STEPS, "value"), State(BATCH, "value"), State(SEED, "value"),
                  State(LEVEL, "value"), State(CHANNELS, "value"), State(WEIGHT, "value"),
                  State(ROW, "value"), State(LEVELS, "value"), prevent_initial_call=True)
    def submit(n_clicks, node_store, layer, method, steps, batch, seed, level, channels, weight, row, levels):
        if not n_clicks:
            raise PreventUpdate
        try:
            request = build_request(node_store, method, steps, batch, seed, level, channels, weight, row,
                                    levels=levels, layer=layer)
        except ValueError as exc:
            return no_update, f"error: {exc}", no_update
        return _request(request, layer, batch)

    @app.callback(Output(ROW, "value"), Output(METHOD, "value"),
                  Output(REQUEST, "data", allow_duplicate=True), Output(STATUS, "children", allow_duplicate=True),
                  Output(RESULTS, "children", allow_duplicate=True),
                  Output(ids.TABS, "value", allow_duplicate=True),
                  Input({"type": EXEMPLAR_CLICK, "row": ALL}, "n_clicks"),
                  State(ids.NODE, "data"), State(ids.LAYER, "data"), State(STEPS, "value"),
                  State(SEED, "value"), State(WEIGHT, "value"), prevent_initial_call=True)
    def exemplar_clicked(clicks, node_store, layer, steps, seed, weight):
        trigger = callback_context.triggered_id
        if not isinstance(trigger, dict) or not any(clicks or []):
            raise PreventUpdate
        fired = [t for t in callback_context.triggered if t.get("value")]
        if not fired:
            raise PreventUpdate  # new exemplar images appeared (n_clicks 0), nothing clicked
        row = int(trigger["row"])
        try:
            request = build_request(node_store, "class_agnostic", steps, 1, seed, None, None, weight, row,
                                    layer=layer)
        except ValueError as exc:
            return no_update, no_update, no_update, f"error: {exc}", no_update, no_update
        stored, status, holder = _request(request, layer, 1)
        # Show the result where it appears: the feature-visualization tab.
        return row, "class_agnostic", stored, f"class-agnostic from exemplar row {row}: {status}", holder, \
            "tab-features"

    @app.callback(Output(STATUS, "children", allow_duplicate=True), Output(RESULTS, "children", allow_duplicate=True),
                  Input(REQUEST, "data"),
                  **job_options(PROGRESS, PROGRESS_TEXT, cancel=CANCEL, buttons=[RUN_BUTTON]))
    def visualize(set_progress, stored):
        """Runs in a worker process."""
        if not stored:
            raise PreventUpdate
        bar = BarProgress(set_progress)
        try:
            result = run_request(ctx.run, stored["request"], stored.get("layer"), bar)
        except Exception as exc:  # noqa: BLE001 - shown in the panel
            return f"error: {exc}", []
        children = job_children(ctx.run, result)
        if children is None:
            return f"done: {result}", no_update
        return f"done ({bar.elapsed():.1f} s)", children

    @app.callback(Output(STATUS, "children", allow_duplicate=True), Output(RESULTS, "children", allow_duplicate=True),
                  Input(CANCEL, "n_clicks"), prevent_initial_call=True)
    def cancelled(n_clicks):
        if not n_clicks:
            raise PreventUpdate
        return "cancelled", []

    @app.callback(Output(STATUS, "children", allow_duplicate=True),
                  Input(TRAIN_BUTTON, "n_clicks"), State(ids.NODE, "data"), State(ids.LAYER, "data"),
                  **job_options(PROGRESS, PROGRESS_TEXT, cancel=CANCEL, buttons=[TRAIN_BUTTON]))
    def train(set_progress, n_clicks, node_store, layer):
        """Runs in a worker process: train a DGN-AM generator for the layer."""
        from topoact.features import service

        if not n_clicks:
            raise PreventUpdate
        layer = (node_store or {}).get("layer") or layer
        if not layer:
            return "select a layer first"
        bar = BarProgress(set_progress)
        try:
            service.train_generator_for_run(ctx.run, layer, progress=bar)
        except Exception as exc:  # noqa: BLE001
            return f"error: {exc}"
        return f"generator for {layer} trained ({bar.elapsed():.1f} s)"
